"""Process settings, read from the environment (prefix ``CONVOFLOW_``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./convoflow.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONVOFLOW_", env_file=".env", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    # Fernet keys for the secrets stored in the database, comma-separated, newest first
    # (store/cipher.py). Required with PostgreSQL; with SQLite `convoflow migrate` makes a
    # key file beside the database when this is unset.
    secret_key: SecretStr | None = None
    # `${ENV:NAME}` falls back to the process environment only when this is set: secrets
    # normally come from the project's secret store, and leaking arbitrary process env
    # into outbound requests must be an explicit choice.
    allow_process_env_secrets: bool = False
    # Loopback/private targets for webhook and function nodes; a per-project setting can
    # also allow them. Off by default: SSRF guard.
    allow_private_network: bool = False
    # LLM calls (decide `ai`, AI fields): attempts per call and the first backoff, doubled
    # after each retryable failure (429, 5xx, timeout).
    llm_max_attempts: int = 3
    llm_backoff_seconds: float = 1.0
    # JavaScript functions (engine/js/): run time and isolate heap per invocation, and how
    # many run at once (one worker process each).
    js_timeout_seconds: float = 5.0
    js_max_memory_mb: int = 64
    js_workers: int = 2
    graph_base_url: str = "https://graph.facebook.com/v23.0"
    graph_timeout_seconds: float = 10.0
    # Per sending number, per process (Meta's default throughput is 80 msg/s a number).
    graph_rate_per_second: float = 80.0
    # Minimum gap between two sends to the same user; 0 turns pacing off.
    graph_conversation_interval_seconds: float = 0.05
    max_steps_without_wait: int = 500
    # How long a claimed job / outbox row belongs to its worker; after a crash it is
    # claimable again once this passes.
    job_lease_seconds: float = 30.0
    outbox_lease_seconds: float = 60.0
    # How long a send attempt whose result a crash lost waits for a status webhook that
    # proves it went out, before it is sent again (docs/security.md).
    send_reconcile_seconds: float = 30.0
    worker_poll_seconds: float = 0.5
    # On SIGTERM, how long `convoflow serve` lets its worker finish the jobs it holds; one
    # still running then is cut short (rolled back) and retried after its lease.
    worker_stop_seconds: float = 10.0
    # A live stream (server-sent events) reads again after this long when no commit woke
    # it: the delay of a change made by another process that did not NOTIFY (docs/api.md).
    stream_poll_seconds: float = 1.0
    # Live streams one API key may hold open at once in this process (docs/api.md): past
    # it a new one is a 429 before it opens.
    max_streams_per_key: int = Field(default=20, ge=1)
    # ... and all the keys of one project together (a project mints keys at will):
    # unset, 5 times the per-key cap.
    max_streams_per_project: int | None = Field(default=None, ge=1)
    # HTTP API limits, counted in memory per process (docs/api.md): requests per minute
    # per API key, and workflow starts per second per (API key, workflow).
    rate_limit_per_minute: int = 1000
    start_burst_per_second: int = 30
    # Request size limits (docs/api.md, Limits): the body of a request that carries a
    # workflow definition, and the nodes one definition may hold (Twilio Studio's cap).
    max_definition_bytes: int = 2_000_000
    max_nodes: int = 2000
    # Worker processes that check and compile large definitions (engine/cpu.py), so the
    # event loop's process keeps answering; 0 runs them in a thread instead.
    definition_workers: int = Field(default=1, ge=0, le=16)
    # Meta webhooks whose signature does not verify, per source address per minute;
    # valid ones are never limited.
    bad_signature_per_minute: int = 30
    log_level: str = "INFO"
    # JSON lines (one object per line) instead of readable console lines.
    log_json: bool = False
    # GET /metrics answers loopback clients only, unless this is set: then every client
    # (loopback too: a reverse proxy on the same host looks like one) must send it as
    # `Authorization: Bearer <token>`.
    metrics_token: str | None = None


def secret_key_of(settings: Settings) -> str | None:
    return settings.secret_key.get_secret_value() if settings.secret_key is not None else None


def streams_per_project(settings: Settings) -> int:
    """The project-wide cap on live streams: set, or 5 times the per-key cap."""
    if settings.max_streams_per_project is not None:
        return settings.max_streams_per_project
    return 5 * settings.max_streams_per_key


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
