"""The fake LLM on a loopback port, for the AI tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from convoflow.config import Settings
from convoflow.fakes.llm.rules import Script
from convoflow.fakes.llm.server import FakeLLM
from convoflow.fakes.loopback import serve_app


@pytest.fixture
async def llm() -> AsyncIterator[tuple[FakeLLM, str]]:
    fake = FakeLLM(Script())
    async with serve_app(fake.app) as url:
        yield fake, url


@pytest.fixture
def settings() -> Settings:
    # The fake LLM listens on loopback; retries back off for milliseconds, not seconds.
    return Settings(
        allow_private_network=True,
        llm_backoff_seconds=0.01,
        worker_poll_seconds=0.05,
        rate_limit_per_minute=1_000_000,
        start_burst_per_second=1_000_000,
    )


# The API fixtures (the app in-process on both databases, a project and its key).
from tests.api.conftest import app, client, project  # noqa: E402, F401
