"""The fake LLM on a loopback port, for the AI tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from convoflow.fakes.llm.rules import Script
from convoflow.fakes.llm.server import FakeLLM
from convoflow.fakes.loopback import serve_app


@pytest.fixture
async def llm() -> AsyncIterator[tuple[FakeLLM, str]]:
    fake = FakeLLM(Script())
    async with serve_app(fake.app) as url:
        yield fake, url


# The API fixtures (the app in-process on both databases, a project and its key).
from tests.api.conftest import app, client, project, settings  # noqa: E402, F401
