"""Browser tests of the web console: a real `convoflow serve` (SQLite, its worker) on a
loopback port, driven by Playwright for Python with Debian's chromium. `make test` builds
the console and installs chromium first (scripts/ensure-chromium.sh); run alone, these
tests fail with what to do when either is missing, never skip."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from convoflow.api.console import DIST

CHROMIUM = os.environ.get("CONVOFLOW_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps calling home on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@dataclass
class Server:
    url: str
    api_key: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "convoflow", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"{url} did not answer"
        time.sleep(0.1)


@contextmanager
def running_server(
    folder: Path, extra_env: dict[str, str] | None = None, port: int | None = None
) -> Iterator[Server]:
    """`convoflow serve` on a new SQLite file with project acme and its key; `extra_env`
    adds settings (e.g. CONVOFLOW_GRAPH_BASE_URL for the fake Graph API)."""
    if not (DIST / "index.html").is_file():
        pytest.fail("the console is not built: run `make console` (make test does)")
    env = {**os.environ, "CONVOFLOW_DATABASE_URL": f"sqlite+aiosqlite:///{folder}/console.db"}
    env.update(extra_env or {})
    _cli(env, "migrate")
    _cli(env, "projects", "create", "acme")
    api_key = _cli(env, "api-keys", "create", "--project", "acme").strip().splitlines()[-1]
    port = port or free_port()
    log = (folder / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "convoflow", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/healthz", process, folder / "server.log")
        yield Server(url, api_key)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("console")) as running:
        yield running


@dataclass
class BrowserProblems:
    """Console errors, uncaught exceptions and failed requests seen by a page. Chromium
    logs every 4xx answer as a console error; a test that provokes one on purpose (a
    refused activation) names its status in `expected`, once per provoked answer."""

    seen: list[str] = field(default_factory=list)
    expected: list[int] = field(default_factory=list)

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        for status in self.expected:
            if f"status of {status}" in message.text:
                self.expected.remove(status)
                return
        self.seen.append(f"console: {message.text}")

    def watch(self, page: Any) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.seen.append(f"exception: {exc}"))
        page.on("requestfailed", self._request_failed)

    def _request_failed(self, request: Any) -> None:
        # A request the page abandoned because the test navigated away (page.goto right
        # after signing in, while the flows list still loads) is aborted by the browser:
        # nothing failed. Every other failure (refused, reset, DNS, ...) counts.
        if request.failure == "net::ERR_ABORTED":
            return
        self.seen.append(f"failed: {request.method} {request.url} ({request.failure})")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make browser` (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def browser_problems() -> BrowserProblems:
    return BrowserProblems()


@pytest.fixture
def page(browser: Any, browser_problems: BrowserProblems) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    opened = context.new_page()
    problems = browser_problems
    problems.watch(opened)
    opened.set_default_timeout(15_000)
    yield opened
    context.close()
    assert problems.seen == [], "\n".join(problems.seen)


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def start_on_sandbox(http: httpx.Client, name: str, definition: dict[str, Any], phone: str) -> str:
    """Through the API: `definition` as an active workflow with an api_call trigger, started
    on the sandbox channel for `phone`; the execution's id."""
    workflow = http.post("/workflows", json={"workflow": {"name": name, "definition": definition}})
    workflow_id = workflow.json()["data"]["id"]
    trigger = {"trigger": {"trigger_type": "api_call"}}
    assert http.post(f"/workflows/{workflow_id}/triggers", json=trigger).status_code == 201
    activate = {"workflow": {"status": "active"}}
    assert http.patch(f"/workflows/{workflow_id}", json=activate).status_code == 200
    context = {"channel": "sandbox"}
    body = {"workflow_execution": {"phone_number": phone, "context": context}}
    started = http.post(f"/workflows/{workflow_id}/executions", json=body)
    assert started.status_code == 202, started.text
    return str(started.json()["data"]["id"])
