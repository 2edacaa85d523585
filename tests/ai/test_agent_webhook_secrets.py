"""A webhook tool of the agent node whose url and body name a project secret
(`${ENV:NAME}`), against the fake LLM over real HTTP, on SQLite and PostgreSQL: the
target gets the secret; the journal, the events and what the model is sent never hold it
(issue 8, item 4). Split from test_agent.py, whose fixtures it shares."""

from __future__ import annotations

from typing import Any

from convoflow.fakes.llm.rules import Rule
from convoflow.fakes.llm.server import FakeLLM
from convoflow.process import Process
from convoflow.store.schema import action_journal
from tests.ai.test_agent import START, _chat, _project, call
from tests.ai.test_agent import orders as orders  # the webhook target fixture
from tests.support import events, put_secret, table_rows

ORDERS_KEY = "orders-key-sealed-7731"  # a project secret, in a webhook tool's url and body


async def test_a_secret_in_a_webhook_tools_url_and_body_is_sealed(
    engine: Process, llm: tuple[FakeLLM, str], orders: tuple[list[dict[str, Any]], str]
) -> None:
    """The tool's url query and body name a project secret: the order service gets it, the
    journal keeps the templates (the rendered url and body sealed), and neither the
    journal, the events nor what the model is sent hold it (issue 8, item 4)."""
    fake, url = llm
    seen, orders_url = orders
    fake.script.replace(
        [
            Rule(contains=START, tool_call=call("lookup_order", order_id="A1")),
            Rule(contains='"shipped"', tool_call=call("complete_task")),
        ]
    )
    project_id = await _project(engine, url)
    await put_secret(engine, project_id, "ORDERS_KEY", ORDERS_KEY)
    lookup = {
        "name": "lookup_order",
        "url": f"{orders_url}/orders?key=${{ENV:ORDERS_KEY}}",
        "http_method": "POST",
        "body": {"auth": "${ENV:ORDERS_KEY}"},
        "body_schema": {"type": "object", "properties": {"order_id": {"type": "string"}}},
        "jmespath_query": "order.status",
    }
    chat = await _chat(engine, url, project_id=project_id, flow_agent_webhooks=[lookup])
    execution = await chat.execution()
    assert execution["status"] == "ended", execution.get("error_details")
    assert [(s["query"], s["body"]) for s in seen] == [
        (f"key={ORDERS_KEY}", {"auth": ORDERS_KEY, "order_id": "A1"})
    ]
    journal = await table_rows(engine, action_journal)
    [tool] = [row["request"] for row in journal if row["kind"] == "webhook"]
    assert (tool["url"], tool["body"]) == (lookup["url"], lookup["body"])
    assert tool["url_sealed"] and tool["body_sealed"]
    assert ORDERS_KEY not in repr(journal)
    assert ORDERS_KEY not in repr(await events(engine, execution["id"]))
    assert ORDERS_KEY not in repr(fake.requests)
