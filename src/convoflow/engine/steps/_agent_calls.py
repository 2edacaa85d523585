"""The agent node's tools from its config: webhook tools (`flow_agent_webhooks`), function
tools (`flow_agent_function_tools`) and knowledge bases (`_agent_knowledge.py`): what the
model is offered, the journaled call a tool call becomes, and what the model is told of
the answer.

Such a tool call is a journaled `webhook` or `function` action keyed per turn and tool
call, made by the worker like a webhook or function node's call (same Idempotency-Key on
a retry, SSRF guard); its result is journaled, so a crash after it never calls again."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import jmespath
from jmespath.exceptions import JMESPathError

from convoflow.engine.sealed import seal_body, seal_headers, seal_url
from convoflow.engine.signals import Fail
from convoflow.engine.step import StepRun
from convoflow.engine.steps._agent_knowledge import knowledge_specs, knowledge_text, search
from convoflow.engine.steps._agent_tools import ToolAnswer, as_json
from convoflow.engine.steps._agent_webhook_fields import fill, parameters
from convoflow.engine.steps.function import function_request
from convoflow.graph.nodes.agent import AgentFunctionTool, AgentWebhook
from convoflow.store.cipher import SecretKeyError

DEFAULT_TIMEOUT_SECONDS = 10
NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}}


def webhook_named(run: StepRun, name: str) -> AgentWebhook | None:
    return next((w for w in run.config.flow_agent_webhooks if w.name == name), None)


def function_named(run: StepRun, name: str) -> AgentFunctionTool | None:
    return next((f for f in run.config.flow_agent_function_tools if f.name == name), None)


def call_specs(run: StepRun) -> list[dict[str, Any]]:
    """The webhook and function tools, as offered to the model."""
    config = run.config
    return (
        [
            {
                "name": webhook.name,
                "description": webhook.description or f"Call the {webhook.name} webhook.",
                "parameters": parameters(webhook, webhook.body_schema or NO_ARGUMENTS),
            }
            for webhook in config.flow_agent_webhooks
        ]
        + [
            {
                "name": tool.name,
                "description": tool.description or f"Run the {tool.name} function.",
                "parameters": tool.input_schema or NO_ARGUMENTS,
            }
            for tool in config.flow_agent_function_tools
        ]
        + knowledge_specs(config)
    )


async def prepare_call(
    run: StepRun, name: str, arguments: dict[str, Any], key: str
) -> tuple[str, dict[str, Any]] | ToolAnswer | None:
    """The action (kind, journaled request) a call of the tool `name` becomes; a
    ToolAnswer when it is answered at once (a knowledge base) or cannot be made; None
    when no such tool exists."""
    text = knowledge_text(run.config, name)
    if text is not None:
        query = arguments.get("query")
        if not isinstance(query, str) or not query.strip():
            return ToolAnswer("error: `query` must be a non-empty string", ok=False)
        passages = search(text, query)
        return ToolAnswer("\n\n".join(passages) if passages else "no passage matches the query")
    webhook = webhook_named(run, name)
    if webhook is not None:
        request = await webhook_request(run, webhook, arguments, key)
        return request if isinstance(request, ToolAnswer) else ("webhook", request)
    tool = function_named(run, name)
    if tool is None:
        return None
    found = await function_request(run, tool.function_id)
    if isinstance(found, Fail):
        return ToolAnswer(f"error: {found.message}", ok=False)
    # Kapso's function-tool payload: the model's arguments as `input`, plus the context.
    body = {"input": arguments, **found["body"]}
    return "function", {**found, "body": body, "idempotency_key": key}


def call_answer(run: StepRun, kind: str, name: str, result: dict[str, Any]) -> ToolAnswer:
    if kind == "webhook":
        return webhook_answer(webhook_named(run, name), result)
    if not result.get("ok"):
        return _failed(result)
    body = result.get("body")
    if isinstance(body, dict) and isinstance(body.get("vars"), dict) and body["vars"]:
        run.set_vars(body["vars"], source="agent_function")
    return ToolAnswer(as_json(body))


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
    if method != "GET":
        arguments = dict(arguments)
        body, missing = fill(webhook, body, arguments)
        if missing:
            return ToolAnswer(missing, ok=False)
    if method == "GET":
        if arguments:
            url += ("&" if "?" in url else "?") + urlencode(
                {k: v if isinstance(v, str) else as_json(v) for k, v in arguments.items()}
            )
        body = None
    elif isinstance(body, dict) or body is None:
        body = {**(body or {}), **arguments}
    cipher = run.advance.runtime.db.cipher
    try:
        # Sealed: a header often holds a `${ENV:X}` project secret (engine/sealed.py).
        sealed = seal_headers(cipher, {str(k): str(v) for k, v in dict(headers).items()})
        # So does a url or body naming one; the journal keeps the template (no arguments).
        url_fields = seal_url(cipher, webhook.url, url)
        body_fields = seal_body(cipher, webhook.body, body)
    except SecretKeyError as exc:
        return ToolAnswer(f"error: {exc}", ok=False)
    return {
        **url_fields,
        "method": method,
        "headers_sealed": sealed,
        **body_fields,
        "timeout": DEFAULT_TIMEOUT_SECONDS,
        "max_attempts": 3,
        "idempotency_key": key,
        "project_id": run.execution.project_id,
    }


def webhook_answer(webhook: AgentWebhook | None, result: dict[str, Any]) -> ToolAnswer:
    """What the model reads: the (queried) body, or the error."""
    if not result.get("ok"):
        return _failed(result)
    body = result.get("body")
    query = webhook.jmespath_query if webhook is not None else None
    if query:
        try:
            body = jmespath.search(query, body)
        except JMESPathError as exc:
            return ToolAnswer(f"error: jmespath_query {query!r} failed: {exc}", ok=False)
    return ToolAnswer(as_json(body))


def _failed(result: dict[str, Any]) -> ToolAnswer:
    why = result.get("error") or f"HTTP {result.get('status')}"
    return ToolAnswer(as_json({"error": why, "status": result.get("status")}), ok=False)
