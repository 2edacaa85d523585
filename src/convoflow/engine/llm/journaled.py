"""An LLM call as a journaled action (kind `llm`): what the step journals (no secret: the
provider model is named by id and its key read when the call is made) and how the
action job performs it. The journaled result is the model's answer, so a crash after
it was recorded never asks the model again."""

from __future__ import annotations

from typing import Any

from convoflow.engine.actions import RetryLater
from convoflow.engine.llm.client import LLMClient
from convoflow.engine.llm.conversation import ConversationCache, ConversationLost
from convoflow.engine.llm.model import LLMRequest, LLMResult, Provider, ToolSpec
from convoflow.store import provider_models as model_store
from convoflow.store.db import Database

KIND = "llm"
DEFAULT_TIMEOUT_SECONDS = 20.0


def llm_action(
    model: Any,
    *,
    project_id: str,
    system: str,
    messages: list[dict[str, Any]],
    temperature: float | None,
    max_tokens: int,
    idempotency_key: str,
    purpose: str,
    tools: list[dict[str, Any]] | None = None,
    earlier: dict[str, Any] | None = None,
    reasoning_effort: str | None = None,
    cache_ttl: str | None = None,
) -> dict[str, Any]:
    """The journaled request of one call to the provider model row `model`. `earlier`
    (an agent's later turns): the journaled turns whose conversation comes before
    `messages` (engine/llm/conversation.py)."""
    timeout = (model["settings"] or {}).get("timeout_seconds") or DEFAULT_TIMEOUT_SECONDS
    return {
        "provider_model_id": model["id"],
        "provider_model_name": model["name"],
        "project_id": project_id,
        "purpose": purpose,
        "system": system,
        "messages": messages,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "timeout": float(timeout),
        "idempotency_key": idempotency_key,
        "tools": tools or [],
        **({"earlier": earlier} if earlier else {}),
        **({"reasoning_effort": reasoning_effort} if reasoning_effort else {}),
        **({"cache_ttl": cache_ttl} if cache_ttl else {}),
    }


async def perform_llm(
    db: Database,
    llm: LLMClient,
    conversations: ConversationCache,
    request: dict[str, Any],
    *,
    attempt: int,
    max_seconds: float,
) -> dict[str, Any] | RetryLater:
    """One attempt; a retryable failure is rescheduled (RetryLater) until the client's
    max_attempts. `max_seconds` caps the timeout below the job's lease, so no other
    worker claims the job while this call is still waiting for the model."""
    project_id = str(request["project_id"])
    row_name = request.get("provider_model_name")
    async with db.read() as conn:
        row = await model_store.get_model(conn, str(request["provider_model_id"]), project_id)
        try:
            messages = await conversations.messages(conn, request) if row is not None else ()
        except ConversationLost as exc:
            return {
                **LLMResult(ok=False, error=str(exc)).to_json(),
                "provider_model_name": row_name,
            }
    if row is None:
        missing = f"provider model {row_name!r} no longer exists"
        return {**LLMResult(ok=False, error=missing).to_json(), "provider_model_name": row_name}
    provider = Provider(row["provider"], row["base_url"], row["model"], row["api_key"])
    timeout = float(request.get("timeout") or DEFAULT_TIMEOUT_SECONDS)
    call = LLMRequest(
        messages=messages,
        tools=tuple(ToolSpec(**tool) for tool in request.get("tools") or []),
        system=request.get("system"),
        temperature=request.get("temperature"),
        max_tokens=int(request.get("max_tokens") or 1024),
        timeout_seconds=min(timeout, max_seconds),
        reasoning_effort=request.get("reasoning_effort"),
        cache_ttl=request.get("cache_ttl"),
    )
    result, retry_in = await llm.attempt(provider, call, project_id=project_id, attempt=attempt)
    if retry_in is not None:
        return RetryLater(retry_in, result.error or "retryable")
    return {**result.to_json(), "provider_model_name": row["name"]}
