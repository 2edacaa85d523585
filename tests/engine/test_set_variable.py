"""set_variable: rendering and value_type coercion, and coercion failures."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import Chat, chain, events, node

CASES: list[tuple[str, Any, Any]] = [
    ("string", "hello {{vars.name}}", "hello Ana"),
    ("string", 42, "42"),
    ("string", {"a": 1}, '{"a": 1}'),
    ("number", "42", 42),
    ("number", " 3.5 ", 3.5),
    ("number", "{{vars.count}}", 7),
    ("number", "1e3", 1000.0),
    ("number", 12, 12),
    ("boolean", "yes", True),
    ("boolean", "TRUE", True),
    ("boolean", "0", False),
    ("boolean", "off", False),
    ("boolean", True, True),
    ("json", '{"a": [1, 2], "b": null}', {"a": [1, 2], "b": None}),
    ("json", "[1, 2, 3]", [1, 2, 3]),
    ("json", {"nested": "{{vars.name}}"}, {"nested": "Ana"}),
    ("json", "{{vars.profile}}", {"city": "Lima", "zip": 15001}),
]


async def test_coercion(engine):
    """Every case as its own set_variable node of one flow (one execution, fast)."""
    flow = chain(
        node("start", "start"),
        *(
            node(
                f"set_{i}",
                "set_variable",
                variable_name=f"out_{i}",
                variable_value=value,
                value_type=value_type,
            )
            for i, (value_type, value, _) in enumerate(CASES)
        ),
    )
    variables = {"name": "Ana", "count": 7, "profile": {"city": "Lima", "zip": 15001}}
    chat = await Chat.open(engine, flow, variables=variables)
    execution = await chat.execution()
    assert execution["status"] == "ended", execution["error_details"]
    for i, (value_type, value, expected) in enumerate(CASES):
        result = execution["context"]["vars"][f"out_{i}"]
        assert (result, type(result)) == (expected, type(expected)), (value_type, value)
    set_events = [
        e for e in await events(engine, execution["id"]) if e["event_type"] == "variables_set"
    ]
    assert [e["payload"] for e in set_events] == [
        {"variables": [f"out_{i}"], "source": "set_variable"} for i in range(len(CASES))
    ]


async def test_default_value_type_is_string_and_later_nodes_see_it(engine):
    flow = chain(
        node("start", "start"),
        node("set", "set_variable", variable_name="greeting", variable_value="hi {{vars.name}}"),
        node("say", "send_text", message="{{vars.greeting}}!"),
    )
    chat = await Chat.open(engine, flow, variables={"name": "Ana"})
    assert await chat.texts() == ["hi Ana!"]


@pytest.mark.parametrize(
    ("value_type", "value", "expected_error"),
    [
        ("number", "abc", "'abc' is not a number"),
        ("number", "{{vars.name}}", "'Ana' is not a number"),
        ("boolean", "maybe", "'maybe' is not a boolean"),
        ("json", "{not json", "value is not valid JSON"),
    ],
)
async def test_coercion_failure_fails_the_execution(engine, value_type, value, expected_error):
    flow = chain(
        node("start", "start"),
        node(
            "set", "set_variable", variable_name="out", variable_value=value, value_type=value_type
        ),
        node("after", "send_text", message="must not be sent"),
    )
    chat = await Chat.open(engine, flow, variables={"name": "Ana"})
    execution = await chat.execution()
    assert execution["status"] == "failed"
    assert await chat.texts() == []
    assert "out" not in execution["context"]["vars"]
    error = execution["error_details"]
    assert error["step_identifier"] == "set"
    assert error["code"] == "coercion_failed"
    assert error["message"].startswith(f"set_variable 'set': cannot set 'out' as {value_type}: ")
    assert expected_error in error["message"]
    kinds = [e["event_type"] for e in await events(engine, execution["id"])]
    assert kinds[-2:] == ["step_failed", "execution_failed"]
