"""Provider-neutral shapes of one model call: what we ask (`LLMRequest`) and what came
back (`LLMResult`). Tool calling is part of both (the agent node builds on it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Role = Literal["user", "assistant", "tool"]
PROVIDERS = ("openai", "anthropic")


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Message:
    """`tool` messages answer one tool call (`tool_call_id`); assistant messages may carry
    the tool calls they made."""

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True)
class Provider:
    """Where and how to call one model (a provider model row, key decrypted)."""

    kind: str  # openai | anthropic
    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class LLMRequest:
    messages: tuple[Message, ...]
    system: str | None = None
    temperature: float | None = None
    max_tokens: int = 1024
    tools: tuple[ToolSpec, ...] = ()
    timeout_seconds: float = 30.0
    # OpenAI reasoning models' `reasoning_effort` (none, minimal, low, medium, high, ...).
    reasoning_effort: str | None = None
    # Anthropic prompt caching: `cache_control` breakpoints with this ttl ("5m", "1h").
    cache_ttl: str | None = None


@dataclass(frozen=True)
class LLMResult:
    """`ok` False: `error` says why (after the retries); usage and latency are of the
    last attempt, `attempts` counts them all."""

    ok: bool
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    stop_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: int | None = None
    attempts: int = 0
    status: int | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """What is journaled and put on the step event."""
        data = asdict(self)
        data["tool_calls"] = [asdict(call) for call in self.tool_calls]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LLMResult:
        calls = tuple(ToolCall(**call) for call in data.get("tool_calls") or [])
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**{**known, "tool_calls": calls})


class MalformedResponse(ValueError):
    """The provider answered 2xx with a body that is not its documented shape."""
