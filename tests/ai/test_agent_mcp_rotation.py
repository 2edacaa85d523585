"""`convoflow secrets rotate` re-encrypts the MCP server headers sealed in the action
journal: an agent's MCP call journaled (pending) under the old key is made, with its
secret header, by a process that has only the new key once rotation has run (SQLite and
PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from convoflow.clock import FakeClock
from convoflow.config import Settings
from convoflow.engine.sealed import SEALED_FIELDS
from convoflow.fakes.llm.rules import Rule
from convoflow.fakes.llm.server import FakeLLM
from convoflow.process import build_process
from convoflow.services.conversations import sandbox
from convoflow.store.cipher import SecretCipher
from convoflow.store.schema import action_journal
from tests.ai.test_agent import START, _project, agent_flow
from tests.ai.test_agent_mcp import TOKEN, TOOL, Orders, call, mcp_server
from tests.ai.test_agent_mcp import orders as orders  # the MCP server fixture
from tests.store.test_secret_keys import rotate_to
from tests.support import Chat, put_secret, table_rows


def _sealed_tokens(journal: list[dict[str, Any]]) -> list[str]:
    """Every sealed token (headers, url) of the journal's `mcp` requests (calls, listings)."""
    tokens: list[str] = []
    for row in journal:
        if row["kind"] != "mcp":
            continue
        holders = [row["request"], *(row["request"].get("servers") or [])]
        tokens += [h[f] for h in holders for f in SEALED_FIELDS if h.get(f)]
    return tokens


async def test_rotation_reseals_a_pending_mcp_call_and_the_old_key_can_go(
    db_url: str, clock: FakeClock, settings: Settings, llm: tuple[FakeLLM, str], orders: Orders,
    tmp_path: Path,
) -> None:  # fmt: skip
    fake, url = llm
    fake.script.replace(
        [
            Rule(contains=START, tool_call=call(TOOL, order_id="A1")),
            Rule(contains='"shipped"', tool_call=call("complete_task")),
        ]
    )
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = build_process(db_url, clock=clock, settings=settings, cipher=SecretCipher([old]))
    try:
        project_id = await _project(before, url)
        await put_secret(before, project_id, "MCP_TOKEN", TOKEN)
        server = mcp_server(
            f"{orders.url}?key=${{ENV:MCP_TOKEN}}",
            headers={"Authorization": "Bearer ${ENV:MCP_TOKEN}"},
        )
        chat = await Chat.open(
            before, agent_flow(flow_agent_mcp_servers=[server]), project_id=project_id,
            variables={"customer": "Ana"}, start=False,
        )  # fmt: skip
        await sandbox.start(before, chat.conversation_id, {"customer": "Ana"})
        pending: list[dict[str, Any]] = []
        for _ in range(50):
            await before.worker.run_once()
            journal = await table_rows(before, action_journal)
            pending = [r for r in journal if r["kind"] == "mcp" and r["status"] == "pending"]
            if any(":tool:" in r["idempotency_key"] for r in pending):
                break
        assert [r["request"]["op"] for r in pending] == ["call"], journal
        assert orders.calls == []  # journaled, not made
    finally:
        await before.close()
    # Listing and call (headers, url): sealed under the old key, which the new cannot open.
    sealed = _sealed_tokens(journal)
    assert len(sealed) == 4
    for token in sealed:
        Fernet(old).decrypt(token.encode())

    output = await rotate_to(db_url, tmp_path, new, old)
    # The provider model's API key, the project secret, the two sealed headers and urls.
    assert "re-encrypted 6 secret value(s)" in output, output

    after = build_process(db_url, clock=clock, settings=settings, cipher=SecretCipher([new]))
    try:
        for token in _sealed_tokens(await table_rows(after, action_journal)):
            Fernet(new).decrypt(token.encode())
            try:
                Fernet(old).decrypt(token.encode())
                raise AssertionError("a sealed header is still under the old key")
            except InvalidToken:
                pass
        await after.worker.drain()
        chat.engine = after
        execution = await chat.execution()
        assert execution["status"] == "ended", execution.get("error_details")
    finally:
        await after.close()
    # The call was made once, with the header opened by the new key alone.
    assert orders.calls == ["A1"]
    assert {h.get("authorization") for h in orders.headers} == {f"Bearer {TOKEN}"}
    assert set(orders.queries) == {f"key={TOKEN}"}
    assert fake.requests[-1]["body"]["messages"][-1]["content"].find('"shipped"') >= 0
