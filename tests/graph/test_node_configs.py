"""Each node type's config model: Kapso field names, defaults and limits."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from convoflow.graph.nodes import (
    NODE_TYPES,
    WAITING_NODE_TYPES,
    AgentConfig,
    CallConfig,
    DecideConfig,
    SendInteractiveConfig,
    SendTextConfig,
    SetVariableConfig,
    UnknownNodeType,
    WaitForResponseConfig,
    WebhookConfig,
    parse_config,
    pauses,
)

MINIMAL: dict[str, dict[str, Any]] = {
    "start": {},
    "send_text": {"message": "hi"},
    "send_template": {"template_id": "7b0e4b0e-0000-4000-8000-000000000001"},
    "send_interactive": {
        "interactive_type": "button",
        "body_text": "Pick",
        "buttons": [{"id": "a", "title": "A"}],
    },
    "wait_for_response": {},
    "decide": {"conditions": [{"label": "yes"}]},
    "function": {"function_id": "f1"},
    "webhook": {"url": "https://example.com/hook"},
    "agent": {},
    "call": {"workflow_id": "w1"},
    "handoff": {},
    "set_variable": {"variable_name": "x", "variable_value": "1"},
    "emit_event": {"event_name": "order.paid"},
}

# A new node type fails the first test below until it has a minimal config here.
ALL_TYPES = list(MINIMAL)


def error_types(node_type: str, config: dict[str, Any]) -> list[tuple[str, tuple[Any, ...]]]:
    with pytest.raises(ValidationError) as info:
        parse_config(node_type, config)
    return [(err["type"], tuple(err["loc"])) for err in info.value.errors()]


def test_all_thirteen_types_have_one_module_each() -> None:
    assert sorted(NODE_TYPES) == sorted(ALL_TYPES)
    for node_type in ALL_TYPES:
        module = importlib.import_module(f"convoflow.graph.nodes.{node_type}")
        assert node_type == module.NODE.name
        assert issubclass(NODE_TYPES[node_type], BaseModel)


@pytest.mark.parametrize("node_type", ALL_TYPES)
def test_minimal_configs_parse(node_type: str) -> None:
    assert isinstance(parse_config(node_type, MINIMAL[node_type]), NODE_TYPES[node_type])


@pytest.mark.parametrize("node_type", ALL_TYPES)
def test_unknown_config_keys_round_trip(node_type: str) -> None:
    config = parse_config(node_type, {**MINIMAL[node_type], "some_future_key": {"a": 1}})
    assert config.model_dump()["some_future_key"] == {"a": 1}


def test_parse_config_unknown_type() -> None:
    with pytest.raises(UnknownNodeType):
        parse_config("pipedream", {})


def test_waiting_node_types() -> None:
    assert {"wait_for_response", "agent", "call"} == WAITING_NODE_TYPES
    for node_type in ALL_TYPES:
        config = parse_config(node_type, MINIMAL[node_type])
        assert pauses(node_type, config) == (node_type in WAITING_NODE_TYPES)
    assert SendTextConfig(message="x", delay_seconds=5).is_waiting()
    assert not SendTextConfig(message="x", delay_seconds=0).is_waiting()


def test_common_message_fields_accepted() -> None:
    common = {
        "phone_number_id": "1065",
        "whatsapp_config_id": "c1",
        "to_phone_number": "+15550001111",
        "provider_model_id": "m1",
        "provider_model_name": "gpt-5-mini",
        "ai_field_config": {"message": {"mode": "prompt", "prompt": "Greet {{vars.name}}"}},
    }
    for node_type in ("send_text", "send_template", "send_interactive"):
        dumped = parse_config(node_type, {**MINIMAL[node_type], **common}).model_dump()
        assert {key: dumped[key] for key in common} == common


def test_send_text_limits() -> None:
    assert SendTextConfig(message="x" * 4096).message == "x" * 4096
    assert error_types("send_text", {"message": "x" * 4097}) == [("message_too_long", ("message",))]
    assert error_types("send_text", {"message": "  "}) == [("empty_required_field", ("message",))]
    assert error_types("send_text", {}) == [("missing", ("message",))]
    assert error_types("send_text", {"message": "x", "delay_seconds": -1}) == [
        ("invalid_delay", ("delay_seconds",))
    ]
    assert error_types("send_text", {"message": 5}) == [("invalid_config", ("message",))]
    assert SendTextConfig.model_validate({"message": {"$ai": {}}}).message == {"$ai": {}}


def button(index: int, title: str | None = None) -> dict[str, str]:
    return {"id": f"b{index}", "title": title or f"Button {index}"}


def interactive(**overrides: Any) -> dict[str, Any]:
    return {"interactive_type": "button", "body_text": "Pick one", **overrides}


def test_interactive_buttons_limits() -> None:
    ok = parse_config("send_interactive", interactive(buttons=[button(i) for i in range(3)]))
    assert isinstance(ok, SendInteractiveConfig) and len(ok.buttons) == 3
    assert error_types("send_interactive", interactive(buttons=[button(i) for i in range(4)])) == [
        ("too_many_buttons", ("buttons",))
    ]
    assert error_types("send_interactive", interactive(buttons=[button(1, "x" * 21)])) == [
        ("button_title_too_long", ("buttons", 0, "title"))
    ]
    parse_config("send_interactive", interactive(buttons=[button(1, "x" * 20)]))
    assert error_types("send_interactive", interactive(buttons=[])) == [
        ("missing_buttons", ("buttons",))
    ]
    dup = [{"id": "a", "title": "A"}, {"id": "a", "title": "B"}]
    assert error_types("send_interactive", interactive(buttons=dup)) == [
        ("duplicate_button_id", ("buttons", 1, "id"))
    ]


def test_interactive_reports_count_and_item_problems_together() -> None:
    buttons = [button(i) for i in range(4)] + [button(9, "y" * 30)]
    assert sorted(error_types("send_interactive", interactive(buttons=buttons))) == [
        ("button_title_too_long", ("buttons", 4, "title")),
        ("too_many_buttons", ("buttons",)),
    ]


def rows(count: int, start: int = 0) -> list[dict[str, str]]:
    return [{"id": f"r{i}", "title": f"Row {i}"} for i in range(start, start + count)]


def list_config(sections: list[dict[str, Any]]) -> dict[str, Any]:
    return interactive(interactive_type="list", list_button_text="Menu", list_sections=sections)


def test_interactive_list_limits() -> None:
    parse_config("send_interactive", list_config([{"title": "A", "rows": rows(10)}]))
    ten_sections = [{"rows": rows(1, i)} for i in range(10)]
    parse_config("send_interactive", list_config(ten_sections))
    eleven = [{"rows": rows(1, i)} for i in range(11)]
    assert sorted(error_types("send_interactive", list_config(eleven))) == [
        ("too_many_list_rows", ("list_sections",)),
        ("too_many_list_sections", ("list_sections",)),
    ]
    split_rows = [{"rows": rows(6)}, {"rows": rows(5, 6)}]
    assert error_types("send_interactive", list_config(split_rows)) == [
        ("too_many_list_rows", ("list_sections",))
    ]
    long_title = [{"rows": [{"id": "r", "title": "t" * 25}]}]
    assert error_types("send_interactive", list_config(long_title)) == [
        ("list_row_title_too_long", ("list_sections", 0, "rows", 0, "title"))
    ]
    long_desc = [{"rows": [{"id": "r", "title": "t", "description": "d" * 73}]}]
    assert error_types("send_interactive", list_config(long_desc)) == [
        ("list_row_description_too_long", ("list_sections", 0, "rows", 0, "description"))
    ]
    assert error_types("send_interactive", list_config([])) == [
        ("missing_list_sections", ("list_sections",))
    ]
    dup_rows = [{"rows": rows(1)}, {"rows": rows(1)}]
    assert error_types("send_interactive", list_config(dup_rows)) == [
        ("duplicate_list_row_id", ("list_sections", 1, "rows", 0, "id"))
    ]


def test_interactive_body_and_type_specific_fields() -> None:
    assert error_types(
        "send_interactive", interactive(body_text="b" * 1025, buttons=[button(1)])
    ) == [("body_text_too_long", ("body_text",))]
    assert error_types("send_interactive", interactive(interactive_type="carousel")) == [
        ("invalid_interactive_type", ("interactive_type",))
    ]
    cta = interactive(interactive_type="cta_url", cta_display_text="Open")
    assert error_types("send_interactive", cta) == [("empty_required_field", ("cta_url",))]
    header = interactive(buttons=[button(1)], header_type="image")
    assert error_types("send_interactive", header) == [
        ("empty_required_field", ("header_media_url",))
    ]
    flow = interactive(interactive_type="flow")
    assert error_types("send_interactive", flow) == [("empty_required_field", ("flow_id",))]
    parse_config("send_interactive", interactive(interactive_type="location_request_message"))


def test_wait_for_response_timeout_bounds() -> None:
    for seconds in (10, 604_800):
        config = parse_config(
            "wait_for_response", {"has_timeout": True, "timeout_seconds": seconds}
        )
        assert isinstance(config, WaitForResponseConfig) and config.timeout_seconds == seconds
    for seconds in (9, 0, -5, 604_801):
        assert error_types("wait_for_response", {"timeout_seconds": seconds}) == [
            ("invalid_timeout", ("timeout_seconds",))
        ]
    assert error_types("wait_for_response", {"has_timeout": True}) == [
        ("invalid_timeout", ("timeout_seconds",))
    ]
    defaults = WaitForResponseConfig()
    assert (defaults.has_timeout, defaults.timeout_seconds, defaults.save_response_to) == (
        False,
        None,
        None,
    )


def test_webhook_defaults_and_method() -> None:
    config = WebhookConfig(url="https://x")
    assert (config.method, config.continue_on_error, config.save_error_to) == ("POST", False, None)
    assert (config.timeout_seconds, config.max_attempts, config.headers) == (10, 3, {})
    assert WebhookConfig.model_validate({"url": "https://x", "method": "get"}).method == "GET"
    assert error_types("webhook", {"url": "https://x", "method": "FETCH"}) == [
        ("invalid_webhook_method", ("method",))
    ]
    assert error_types("webhook", {"url": ""}) == [("empty_required_field", ("url",))]
    assert error_types("webhook", {"url": "https://x", "timeout_seconds": 61}) == [
        ("invalid_timeout", ("timeout_seconds",))
    ]
    legacy = WebhookConfig.model_validate({"url": "https://x", "headers": '{"X-Key": "1"}'})
    assert legacy.headers == {"X-Key": "1"}
    assert error_types("webhook", {"url": "https://x", "headers": "not json"}) == [
        ("invalid_config", ("headers",))
    ]


def test_set_variable_value_types() -> None:
    assert SetVariableConfig(variable_name="x", variable_value=1).value_type == "string"
    for value_type in ("string", "number", "boolean", "json"):
        parse_config(
            "set_variable", {"variable_name": "x", "variable_value": 1, "value_type": value_type}
        )
    bad = {"variable_name": "x", "variable_value": 1, "value_type": "date"}
    assert error_types("set_variable", bad) == [("literal_error", ("value_type",))]
    assert error_types("set_variable", {"variable_name": "x"}) == [("missing", ("variable_value",))]
    assert error_types("set_variable", {"variable_name": " ", "variable_value": 1}) == [
        ("empty_required_field", ("variable_name",))
    ]
    parse_config("set_variable", {"variable_name": "x", "variable_value": None})


def test_decide_defaults_and_rules() -> None:
    config = DecideConfig.model_validate({"conditions": [{"label": "a"}]})
    assert (config.decision_type, config.llm_temperature, config.llm_max_tokens) == (
        "ai",
        0.0,
        10_000,
    )
    assert config.llm_configuration == {}
    assert error_types("decide", {"decision_type": "random", "conditions": [{"label": "a"}]}) == [
        ("invalid_decision_type", ("decision_type",))
    ]
    assert error_types("decide", {"decision_type": "function", "conditions": [{"label": "a"}]}) == [
        ("empty_required_field", ("function_id",))
    ]
    rules = {"decision_type": "rules", "conditions": [{"label": "a", "expression": "vars.x >"}]}
    assert error_types("decide", rules) == [("invalid_expression", ("conditions", 0, "expression"))]
    blank = DecideConfig.model_validate(
        {"decision_type": "rules", "conditions": [{"label": "a", "expression": "  "}]}
    )
    assert blank.conditions[0].is_default


def test_agent_defaults_and_enums() -> None:
    config = AgentConfig()
    assert (config.temperature, config.max_iterations, config.max_tokens) == (0.0, 80, 8192)
    assert config.prompt_cache_ttl == "5m"
    assert config.message_delivery_mode == "auto_send_assistant_text"
    for effort in ("none", "minimal", "low", "medium", "high", "xhigh", "max"):
        parse_config("agent", {"reasoning_effort": effort})
    assert error_types("agent", {"reasoning_effort": "extreme"}) == [
        ("invalid_reasoning_effort", ("reasoning_effort",))
    ]
    assert error_types("agent", {"enabled_default_tools": ["complete_task", "rm_rf"]}) == [
        ("unknown_agent_default_tool", ("enabled_default_tools", 1))
    ]
    assert error_types("agent", {"flow_agent_function_tools": [{"function_id": "f"}]}) == [
        ("empty_required_field", ("flow_agent_function_tools", 0, "name"))
    ]
    # Kapso's MCP server shape: name, description, url, headers.
    server = {"name": "orders", "url": "https://mcp.example.com/mcp", "headers": {"A": "b"}}
    [parsed] = parse_config("agent", {"flow_agent_mcp_servers": [server]}).flow_agent_mcp_servers
    assert (parsed.name, parsed.url, parsed.headers) == ("orders", server["url"], {"A": "b"})
    assert error_types("agent", {"flow_agent_mcp_servers": [{"name": "x", "url": " "}]}) == [
        ("empty_required_field", ("flow_agent_mcp_servers", 0, "url"))
    ]

    # A body that is itself one AI field has no place to put the value (was an IndexError
    # at run time, failing the execution).
    root = {"name": "t", "url": "https://x", "body": {"$ai": {}}}
    assert error_types("agent", {"flow_agent_webhooks": [root]}) == [
        ("invalid_config", ("flow_agent_webhooks", 0, "body"))
    ]
    nested = {**root, "body": {"note": {"$ai": {}}}}
    parse_config("agent", {"flow_agent_webhooks": [nested]})


def test_explicit_nulls_mean_defaults() -> None:
    config = AgentConfig.model_validate(
        {"temperature": None, "max_iterations": None, "enabled_default_tools": None}
    )
    assert (config.temperature, config.max_iterations, config.enabled_default_tools) == (
        0.0,
        80,
        [],
    )
    assert CallConfig.model_validate({"workflow_id": "w", "save_error_to": None}).save_error_to == (
        "subworkflow_error"
    )


def test_call_requires_target() -> None:
    assert CallConfig(workflow_id="w").save_error_to == "subworkflow_error"
    assert error_types("call", {}) == [("empty_required_field", ("workflow_id",))]
    parse_config("call", {"workflow_name": "child"})


def test_emit_event_name_and_properties() -> None:
    parse_config(
        "emit_event", {"event_name": "conversation.csat_scored", "properties": {"score": 5}}
    )
    for name in ("Order.Paid", "order..paid", "1order", "order-paid", "a" * 129):
        assert error_types("emit_event", {"event_name": name}) == [
            ("invalid_project_event_name", ("event_name",))
        ]
    many = {f"k{i}": i for i in range(26)}
    assert error_types("emit_event", {"event_name": "a", "properties": many}) == [
        ("too_many_project_event_properties", ("properties",))
    ]
    nested = {"event_name": "a", "properties": {"obj": {"x": 1}}}
    assert error_types("emit_event", nested) == [
        ("invalid_project_event_property_value", ("properties", "obj"))
    ]
    long_key = {"event_name": "a", "properties": {"k" * 65: 1}}
    assert error_types("emit_event", long_key) == [
        ("project_event_property_key_too_long", ("properties", "k" * 65))
    ]
    big_string = {"event_name": "a", "properties": {"s": "x" * 1025}}
    assert error_types("emit_event", big_string) == [
        ("project_event_property_string_too_large", ("properties", "s"))
    ]
    huge = {"event_name": "a", "properties": {f"k{i}": "x" * 1000 for i in range(9)}}
    assert error_types("emit_event", huge) == [
        ("project_event_properties_too_large", ("properties",))
    ]
    empty_key = {"event_name": "a", "properties": {" ": 1}}
    assert error_types("emit_event", empty_key) == [
        ("empty_project_event_property_key", ("properties", " "))
    ]
