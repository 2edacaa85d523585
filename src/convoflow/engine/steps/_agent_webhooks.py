"""The agent node's webhook tools (`flow_agent_webhooks`): what the model is offered, the
journaled HTTP call a tool call becomes, and what the model is told of the answer.

A webhook tool call is a journaled `webhook` action keyed per turn and tool call, made by
the worker like a webhook node's call (same Idempotency-Key on a retry, SSRF guard); its
result is journaled, so a crash after it never calls the webhook again."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import jmespath
from jmespath.exceptions import JMESPathError

from convoflow.engine.step import StepRun
from convoflow.engine.steps._agent_tools import ToolAnswer, as_json
from convoflow.graph.nodes.agent import AgentWebhook

DEFAULT_TIMEOUT_SECONDS = 10
NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}}


def webhook_named(run: StepRun, name: str) -> AgentWebhook | None:
    return next((w for w in run.config.flow_agent_webhooks if w.name == name), None)


def webhook_specs(webhooks: list[AgentWebhook]) -> list[dict[str, Any]]:
    return [
        {
            "name": webhook.name,
            "description": webhook.description or f"Call the {webhook.name} webhook.",
            "parameters": webhook.body_schema or NO_ARGUMENTS,
        }
        for webhook in webhooks
    ]


async def webhook_request(
    run: StepRun, webhook: AgentWebhook, arguments: dict[str, Any], key: str
) -> dict[str, Any] | ToolAnswer:
    """The journaled request: url, headers and `body` rendered like a webhook node's, the
    model's arguments merged over the body (or sent as the query of a GET)."""
    if not webhook.url:
        return ToolAnswer(f"error: webhook tool {webhook.name!r} has no url", ok=False)
    method = (webhook.http_method or "POST").upper()
    field = f"flow_agent_webhooks.{webhook.name}"
    url = await run.render(webhook.url, f"{field}.url")
    headers = await run.render_any(webhook.headers or {}, f"{field}.headers")
    body: Any = await run.render_any(webhook.body, f"{field}.body")
    if method == "GET":
        if arguments:
            url += ("&" if "?" in url else "?") + urlencode(
                {k: v if isinstance(v, str) else as_json(v) for k, v in arguments.items()}
            )
        body = None
    elif isinstance(body, dict) or body is None:
        body = {**(body or {}), **arguments}
    return {
        "url": url,
        "method": method,
        "headers": {str(k): str(v) for k, v in dict(headers).items()},
        "body": body,
        "timeout": DEFAULT_TIMEOUT_SECONDS,
        "max_attempts": 3,
        "idempotency_key": key,
        "project_id": run.execution.project_id,
    }


def webhook_answer(webhook: AgentWebhook | None, result: dict[str, Any]) -> ToolAnswer:
    """What the model reads: the (queried) body, or the error."""
    if not result.get("ok"):
        why = result.get("error") or f"HTTP {result.get('status')}"
        return ToolAnswer(as_json({"error": why, "status": result.get("status")}), ok=False)
    body = result.get("body")
    query = webhook.jmespath_query if webhook is not None else None
    if query:
        try:
            body = jmespath.search(query, body)
        except JMESPathError as exc:
            return ToolAnswer(f"error: jmespath_query {query!r} failed: {exc}", ok=False)
    return ToolAnswer(as_json(body))
