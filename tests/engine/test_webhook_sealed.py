"""A project secret in a webhook node's url query or JSON body (issue 8, item 4): the
action journal keeps the unrendered templates and the rendered url and body only as
Fernet tokens; no byte of any table and no API response (the execution, its events,
Kapso's shapes) holds the secret; the receiver gets the real values, on the first attempt
and on the retry the worker makes from the journal. And an error quoting a sealed url
(the SSRF guard names a url it refuses) names the template instead. SQLite and
PostgreSQL. (The logs of a real `convoflow serve` running such a node:
tests/observability/test_secret_logs.py.)"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from structlog.testing import capture_logs

from convoflow.api.app import create_app
from convoflow.clock import FakeClock
from convoflow.engine.advance import Advance
from convoflow.process import Process
from convoflow.services.projects.accounts import create_api_key
from convoflow.store.schema import action_journal
from tests.api.contract import assert_matches
from tests.engine.conftest import HttpServer
from tests.engine.test_webhook import webhook_flow
from tests.support import Chat, make_project, put_secret, table_rows
from tests.whatsapp_e2e.test_secrets_at_rest import raw_tables

P = "/platform/v1"
SECRET = "sealed-url-body-s3cret-5150"
URL_TEMPLATE = "/hook?key=${ENV:API_KEY}&who={{vars.name}}"
BODY_TEMPLATE = {"token": "${ENV:API_KEY}", "name": "{{vars.name}}", "fixed": [1, 2]}


async def _project_with_secret(engine: Process, name: str, value: str) -> tuple[str, str]:
    """A project allowed to call loopback, with the project secret `name`; (id, API key)."""
    project_id = await make_project(engine, allow_private_network=True)
    await put_secret(engine, project_id, name, value)

    async def create(adv: Advance) -> str:
        return await create_api_key(adv.conn, engine.clock, project_id, "tests")

    return project_id, await engine.runtime.op(create)


async def _api_texts(engine: Process, key: str, execution_id: str) -> list[str]:
    """What the API answers about the execution: its detail and every page of its events,
    each checked against Kapso's schema."""
    transport = httpx.ASGITransport(app=create_app(engine, run_worker=False))
    texts = []
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"X-API-Key": key}
    ) as api:
        detail = await api.get(f"{P}/workflow_executions/{execution_id}")
        assert detail.status_code == 200, detail.text
        assert_matches(detail.json(), "WorkflowExecutionResponse")
        texts.append(detail.text)
        params: dict[str, Any] = {"limit": 100}
        while True:
            page = await api.get(f"{P}/workflow_executions/{execution_id}/events", params=params)
            assert page.status_code == 200, page.text
            assert_matches(page.json(), "WorkflowEventListResponse")
            texts.append(page.text)
            after = page.json()["paging"].get("next")
            if not after:
                return texts
            params = {"limit": 100, "after": after}


async def test_a_secret_in_the_url_and_body_is_sealed_and_still_sent(
    engine: Process,
    clock: FakeClock,
    http_server: HttpServer,
) -> None:
    http_server.replies = [(503, "busy"), (200, {"done": True})]
    project_id, key = await _project_with_secret(engine, "API_KEY", SECRET)
    flow = webhook_flow(
        http_server.url + URL_TEMPLATE, body_template=BODY_TEMPLATE, save_response_to="resp"
    )
    chat = await Chat.open(engine, flow, project_id=project_id, variables={"name": "Ana"})
    [pending] = await table_rows(engine, action_journal)
    clock.advance(60)  # the retry, made from the journal
    await engine.worker.drain()
    execution = await chat.execution()
    assert execution["status"] == "ended", execution.get("error_details")

    # The receiver got the real values, both times, under one Idempotency-Key.
    assert len(http_server.requests) == 2
    for received in http_server.requests:
        query = parse_qs(urlsplit(received.path).query)
        assert query == {"key": [SECRET], "who": ["Ana"]}
        assert received.json == {"token": SECRET, "name": "Ana", "fixed": [1, 2]}
    assert len({r.headers["idempotency-key"] for r in http_server.requests}) == 1

    # The journal: the templates to read, the rendered values sealed.
    assert pending["status"] == "pending"
    request = pending["request"]
    assert request["url"] == http_server.url + URL_TEMPLATE
    assert request["body"] == BODY_TEMPLATE
    cipher = engine.db.cipher
    assert cipher is not None
    assert cipher.decrypt(request["url_sealed"]) == f"{http_server.url}/hook?key={SECRET}&who=Ana"
    assert SECRET in cipher.decrypt(request["body_sealed"])

    dump = repr(await raw_tables(engine.db.url))
    assert "Ana" in dump  # the rows are there, and readable
    assert SECRET not in dump
    api = await _api_texts(engine, key, execution["id"])
    assert "action_performed" in "".join(api)
    assert not [text for text in api if SECRET in text]


async def test_an_error_quoting_a_sealed_url_names_its_template(
    engine: Process, http_server: HttpServer
) -> None:
    # The whole url a secret (as a chat service's incoming-webhook url is), and not one
    # the SSRF guard accepts: its refusal quotes the url.
    hook = "ftp://hooks.example/services/T000/" + SECRET
    project_id, key = await _project_with_secret(engine, "HOOK_URL", hook)
    flow = webhook_flow("${ENV:HOOK_URL}", body_template={"text": "hi"})
    chat = await Chat.open(engine, flow, project_id=project_id)
    execution = await chat.execution()
    assert execution["status"] == "failed"
    [journal] = await table_rows(engine, action_journal)
    assert journal["request"]["url"] == "${ENV:HOOK_URL}"
    assert "url '${ENV:HOOK_URL}' must start with http://" in journal["result"]["error"]
    assert http_server.requests == []
    assert SECRET not in repr(await raw_tables(engine.db.url))
    api = await _api_texts(engine, key, execution["id"])
    assert "${ENV:HOOK_URL}" in "".join(api)  # the error says which url, as its template
    assert not [text for text in api if SECRET in text]


async def _failed_without_secret(
    engine: Process, clock: FakeClock, key: str, chat: Chat, logs: list[dict[str, Any]], caplog: Any
) -> dict[str, Any]:
    """Retries run out (the first two failures are retryable); the execution failed and
    no table, API answer or log line (structlog's `logs`, the libraries' `caplog`) holds
    SECRET. The failed journal entry."""
    caplog.set_level(logging.DEBUG)  # httpx's and httpcore's loggers included
    for _ in range(3):
        clock.advance(120)
        await engine.worker.drain()
    execution = await chat.execution()
    assert execution["status"] == "failed", execution
    [journal] = await table_rows(engine, action_journal)
    assert journal["result"]["error"]
    assert SECRET not in repr(await raw_tables(engine.db.url))
    api = await _api_texts(engine, key, execution["id"])
    assert not [text for text in api if SECRET in text]
    assert caplog.records and SECRET not in caplog.text
    assert SECRET not in repr(logs)  # what the engine logs (structlog), if anything
    assert SECRET not in repr(logs)  # what the engine logs (structlog), if anything
    return journal


async def test_an_error_about_a_secret_host_names_the_template(
    engine: Process, clock: FakeClock, caplog: Any
) -> None:
    # The host itself the secret, with capitals: the guard's DNS failure quoted the host
    # (lower-cased), which no replacement of the url string caught.
    project_id = await make_project(engine)  # no private network: the guard resolves
    await put_secret(engine, project_id, "H", SECRET.upper())

    async def create(adv: Advance) -> str:
        return await create_api_key(adv.conn, engine.clock, project_id, "tests")

    key = await engine.runtime.op(create)
    flow = webhook_flow("https://${ENV:H}.invalid/x", body_template={"text": "hi"})
    with capture_logs() as logs:
        chat = await Chat.open(engine, flow, project_id=project_id)
        journal = await _failed_without_secret(engine, clock, key, chat, logs, caplog)
    assert "the host of url 'https://${ENV:H}.invalid/x'" in journal["result"]["error"]
    assert SECRET.lower() not in repr(await raw_tables(engine.db.url)).lower()


async def test_an_error_about_a_long_secret_url_names_the_template(
    engine: Process, clock: FakeClock, http_server: HttpServer, caplog: Any
) -> None:
    # A url longer than an error is kept (500 characters), its secret in the query, the
    # guard refusing its scheme: the error was cut before the url was replaced, so the
    # cut url (secret and all) no longer matched and stayed.
    path = "/" + "p" * 400
    hook = f"ftp://hooks.example{path}?key={SECRET}&pad=" + "q" * 200
    project_id, key = await _project_with_secret(engine, "HOOK", hook)
    flow = webhook_flow("${ENV:HOOK}", body_template={"text": "hi"})
    caplog.set_level(logging.DEBUG)
    with capture_logs() as logs:
        chat = await Chat.open(engine, flow, project_id=project_id)
        execution = await chat.execution()
    assert execution["status"] == "failed"
    [journal] = await table_rows(engine, action_journal)
    assert "url '${ENV:HOOK}' must start with http://" in journal["result"]["error"]
    assert http_server.requests == []
    assert SECRET not in repr(await raw_tables(engine.db.url))
    api = await _api_texts(engine, key, execution["id"])
    assert not [text for text in api if SECRET in text]
    assert caplog.records and SECRET not in caplog.text
    assert SECRET not in repr(logs)  # what the engine logs (structlog), if anything
