"""Process settings, read from the environment (prefix ``CONVOFLOW_``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./convoflow.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONVOFLOW_", env_file=".env", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    # `${ENV:NAME}` falls back to the process environment only when this is set: secrets
    # normally come from the project's secret store, and leaking arbitrary process env
    # into outbound requests must be an explicit choice.
    allow_process_env_secrets: bool = False
    # Loopback/private targets for webhook and function nodes; a per-project setting can
    # also allow them. Off by default: SSRF guard.
    allow_private_network: bool = False
    graph_base_url: str = "https://graph.facebook.com/v23.0"
    max_steps_without_wait: int = 500
    job_lease_seconds: float = 30.0
    worker_poll_seconds: float = 0.5
    log_level: str = "INFO"
    log_json: bool = False


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
