"""``agent``: a multi-turn LLM loop that stays on the node until it completes or hands off."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from convoflow.graph.nodes._base import (
    Loc,
    NodeConfig,
    NodeType,
    choice,
    problem,
    validate_with_extra,
)

REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
DEFAULT_TOOLS = (
    "send_notification_to_user",
    "send_media",
    "get_execution_metadata",
    "get_whatsapp_context",
    "get_current_datetime",
    "save_variable",
    "get_variable",
    "ask_about_file",
    "complete_task",
    "handoff_to_human",
    "enter_waiting",
    "emit_event",
)


class _Tool(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(default="", validate_default=True)  # a nameless tool cannot be called
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _name_given(cls, value: str) -> str:
        if not value.strip():
            raise problem("empty_required_field", "tool name must not be empty")
        return value


class AgentFunctionTool(_Tool):
    function_id: str | None = None
    function_name: str | None = None
    input_schema: dict[str, Any] = {}


class _HttpTool(_Tool):
    """A tool reached over HTTP: a url (rendered at run time) and headers."""

    url: str | None = None
    headers: dict[str, Any] | None = None

    @field_validator("url")
    @classmethod
    def _url_given(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise problem("empty_required_field", "url must not be empty")
        return value


class AgentWebhook(_HttpTool):
    http_method: str | None = None
    body: Any = None
    body_schema: dict[str, Any] | None = None
    jmespath_query: str | None = None
    ai_field_config: dict[str, Any] = {}

    @field_validator("body")
    @classmethod
    def _body_not_one_ai_field(cls, value: Any) -> Any:
        # An AI field is put at its place in the body; the body itself has no place to
        # put it in (and a tool argument needs a name the field's path gives).
        if isinstance(value, dict) and set(value) == {"$ai"}:
            raise problem(
                "invalid_config",
                'the whole body cannot be an AI field; put {"$ai": {}} under a key',
            )
        return value


class AgentMcpServer(_HttpTool):
    """An MCP server (streamable HTTP) whose tools the agent is offered (docs/ai.md). Its
    headers (e.g. `Authorization: Bearer ${ENV:MCP_TOKEN}`) are rendered like a webhook
    tool's, never logged, and sealed in the action journal."""


def _unknown_tools(value: list[Any]) -> list[tuple[Loc, PydanticCustomError]]:
    return [
        (
            (index,),
            problem(
                "unknown_agent_default_tool",
                "is {tool}; known tools: {known}",
                tool=repr(tool),
                known=", ".join(DEFAULT_TOOLS),
            ),
        )
        for index, tool in enumerate(value)
        if isinstance(tool, str) and tool not in DEFAULT_TOOLS
    ]


class AgentConfig(NodeConfig):
    system_prompt: str | None = None
    provider_model_id: str | None = None
    provider_model_name: str | None = None
    temperature: float = 0.0
    max_iterations: int = 80
    max_tokens: int = 8192
    reasoning_effort: Annotated[
        Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None,
        choice("invalid_reasoning_effort", REASONING_EFFORTS),
    ] = None
    prompt_cache_ttl: Literal["5m", "1h"] = "5m"
    observer_prompt_mode: Literal["analysis_only", "interactive_chat"] | None = None
    message_delivery_mode: Literal["auto_send_assistant_text", "tool_only"] = (
        "auto_send_assistant_text"
    )
    enabled_default_tools: list[str] = []
    default_tool_configs: dict[str, Any] = {}
    # Titles: what the console's generated form calls them (GET /node_types).
    flow_agent_function_tools: list[AgentFunctionTool] = Field([], title="Function tools")
    flow_agent_webhooks: list[AgentWebhook] = Field([], title="Webhook tools")
    flow_agent_knowledge_bases: list[dict[str, Any]] = Field([], title="Knowledge bases")
    flow_agent_mcp_servers: list[AgentMcpServer] = Field([], title="MCP servers")
    flow_agent_app_integration_tools: list[dict[str, Any]] = []
    flow_agent_resources: list[dict[str, Any]] = []
    sandbox_enabled: bool = False
    sandbox_network_mode: Literal["allow_all", "allow_list"] | None = None
    sandbox_allowed_outbound_hosts: list[str] = []

    @field_validator("enabled_default_tools", mode="wrap")
    @classmethod
    def _known_tools(cls, value: Any, handler: Callable[[Any], Any]) -> Any:
        extra = _unknown_tools(value) if isinstance(value, list) else []
        return validate_with_extra("enabled_default_tools", value, handler, extra)

    @field_validator("max_iterations", "max_tokens")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise problem("invalid_config", "is {value}; must be at least 1", value=value)
        return value

    def writes_any_variable(self) -> bool:
        return True  # save_variable tool, function tools returning vars

    def unsupported_options(self) -> list[tuple[str, str]]:
        """(field, why) of the options set here that convoflow cannot honour whatever the
        provider model (a lint in the editor; the engine reports them on entering)."""
        out = []
        if (self.default_tool_configs.get("emit_event") or {}).get("event_definition_ids"):
            out.append(
                (
                    "default_tool_configs.emit_event.event_definition_ids",
                    "convoflow has no event definitions: emit_event takes any event name",
                )
            )
        if "ask_about_file" in self.enabled_default_tools:
            out.append(("ask_about_file", "not offered: files are not read by the agent yet"))
        unsupported = {
            "flow_agent_app_integration_tools": "no app integrations in convoflow",
            "flow_agent_resources": "no agent resources (repositories) in convoflow",
            "sandbox_enabled": "no code sandbox for agents in convoflow",
        }
        out += [(field, why) for field, why in unsupported.items() if getattr(self, field)]
        return out


NODE = NodeType(
    name="agent",
    config=AgentConfig,
    display_name="Agent",
    stepable_type="FlowAgentStep",
    waits=True,  # the agent parks the execution while it talks with the user
    icon="sparkles",
    key_fields=("system_prompt",),
)
