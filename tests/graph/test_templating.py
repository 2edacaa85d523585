"""Templating: placeholders, secrets, formatting, and properties checked with hypothesis."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convoflow.graph.templating import (
    format_value,
    referenced_paths,
    referenced_secrets,
    render_template,
    render_value,
    resolve_path,
)

SCOPE: dict[str, Any] = {
    "vars": {
        "name": "Ana",
        "age": 27,
        "score": 4.0,
        "ratio": 0.25,
        "vip": True,
        "nothing": None,
        "user": {"address": {"city": "Lima"}},
        "items": [{"sku": "A1"}, {"sku": "B2"}],
        "last_user_input": "hola",
    },
    "system": {"flow_id": "f-1", "whatsapp_config": {"phone_number_id": "1065"}},
    "context": {"phone_number": "+51999"},
    "metadata": {"request": {"ip": "127.0.0.1"}},
}


def render(template: str, **kwargs: Any) -> tuple[str, list[str]]:
    result = render_template(template, SCOPE, **kwargs)
    return result.text, result.missing


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Hi {{vars.name}}!", "Hi Ana!"),
        ("Hi {{name}}!", "Hi Ana!"),
        ("Hi {{ vars.name }}!", "Hi Ana!"),
        ("{{last_user_input}}", "hola"),
        ("{{vars.user.address.city}}", "Lima"),
        ("{{vars.items.1.sku}}", "B2"),
        ("{{system.whatsapp_config.phone_number_id}}", "1065"),
        ("{{context.phone_number}}", "+51999"),
        ("{{metadata.request.ip}}", "127.0.0.1"),
        ("{{vars.age}}", "27"),
        ("{{vars.score}}", "4"),
        ("{{vars.ratio}}", "0.25"),
        ("{{vars.vip}}", "true"),
        ("[{{vars.nothing}}]", "[]"),
        ("{{vars.user}}", '{"address":{"city":"Lima"}}'),
        ("{{vars.items}}", '[{"sku":"A1"},{"sku":"B2"}]'),
        ("{{ not a path }} {{}} {x}", "{{ not a path }} {{}} {x}"),
    ],
)
def test_render(template: str, expected: str) -> None:
    assert render(template) == (expected, [])


def test_missing_paths_render_empty_and_are_reported() -> None:
    text, missing = render(
        "a{{vars.nope}}b{{ghost}}c{{vars.items.9}}d{{vars.name.first}}e{{vars.nope}}"
    )
    assert text == "abcde"
    assert missing == ["vars.nope", "vars.ghost", "vars.items.9", "vars.name.first"]


def test_secrets_from_mapping_then_process_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CF_TEST_TOKEN", "from-env")
    assert render("Bearer ${ENV:API_KEY}", secrets={"API_KEY": "s3cr3t"}) == ("Bearer s3cr3t", [])
    assert render("${ENV:CF_TEST_TOKEN}") == ("", ["ENV:CF_TEST_TOKEN"])
    assert render("${ENV:CF_TEST_TOKEN}", allow_process_env=True) == ("from-env", [])
    assert render(
        "${ENV:CF_TEST_TOKEN}", secrets={"CF_TEST_TOKEN": "mapped"}, allow_process_env=True
    ) == (
        "mapped",
        [],
    )


def test_user_input_cannot_pull_secrets() -> None:
    scope = {"vars": {"msg": "${ENV:API_KEY}", "tpl": "{{vars.other}}"}}
    result = render_template("{{vars.msg}} {{vars.tpl}}", scope, secrets={"API_KEY": "s3cr3t"})
    assert result.text == "${ENV:API_KEY} {{vars.other}}"
    assert result.missing == []


def test_render_value_recurses_and_keeps_keys() -> None:
    body = {
        "{{vars.name}}": "{{vars.name}}",
        "user": "{{vars.user}}",
        "age": "{{vars.age}}",
        "vip": "{{ vars.vip }}",
        "label": "Age: {{vars.age}}",
        "list": ["{{vars.items}}", "x {{vars.missing}}", 3, None],
        "nothing": "{{vars.nothing}}",
        "auth": "${ENV:KEY}",
    }
    value, missing = render_value(body, SCOPE, secrets={"KEY": "k"})
    assert value == {
        "{{vars.name}}": "Ana",
        "user": {"address": {"city": "Lima"}},
        "age": 27,
        "vip": True,
        "label": "Age: 27",
        "list": [[{"sku": "A1"}, {"sku": "B2"}], "x ", 3, None],
        "nothing": "",
        "auth": "k",
    }
    assert missing == ["vars.missing"]


def test_render_value_copies_structured_values() -> None:
    scope: dict[str, Any] = {"vars": {"obj": {"a": [1]}}}
    value, _ = render_value("{{vars.obj}}", scope)
    value["a"].append(2)
    assert scope["vars"]["obj"] == {"a": [1]}


def test_referenced_paths_and_secrets() -> None:
    template = (
        "{{name}} {{vars.name}} {{system.flow_id}} ${ENV:A} ${ENV:B} ${ENV:A} {{ context.x.y }}"
    )
    assert referenced_paths(template) == ["vars.name", "system.flow_id", "context.x.y"]
    assert referenced_secrets(template) == ["A", "B"]


def test_resolve_path() -> None:
    assert resolve_path(SCOPE, "user.address.city") == (True, "Lima")
    assert resolve_path(SCOPE, "vars.nothing") == (True, None)
    assert resolve_path(SCOPE, "vars.nope") == (False, None)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (3.0, "3"),
        (2.5, "2.5"),
        ({"a": "é"}, '{"a":"é"}'),
        ([1, "x"], '[1,"x"]'),
        ("s", "s"),
    ],
)
def test_format_value(value: Any, text: str) -> None:
    assert format_value(value) == text


# ---------------------------------------------------------------- properties

plain_text = st.text().filter(lambda s: "{{" not in s and "${" not in s)
segment = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
json_value = st.recursive(
    scalar,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(plain_text)
def test_text_without_placeholders_is_identity(text: str) -> None:
    assert render_template(text, SCOPE).text == text
    assert render_value(text, SCOPE) == (text, [])


@given(st.lists(segment, min_size=1, max_size=4), json_value, plain_text, plain_text)
def test_value_at_any_path_renders_as_its_string_form(
    path: list[str], value: Any, before: str, after: str
) -> None:
    nested: Any = value
    for part in reversed(path):
        nested = {part: nested}
    scope = {"vars": nested}
    dotted = "vars." + ".".join(path)
    result = render_template(before + "{{" + dotted + "}}" + after, scope)
    assert result.text == before + format_value(value) + after
    assert result.missing == []
    if isinstance(value, dict | list):
        assert json.loads(format_value(value)) == value


@given(st.text(), st.dictionaries(st.text(max_size=8), json_value, max_size=4))
def test_never_raises_on_arbitrary_text(template: str, variables: dict[str, Any]) -> None:
    result = render_template(template, {"vars": variables})
    assert isinstance(result.text, str)
    render_value({"k": [template]}, {"vars": variables})


@given(st.lists(segment, min_size=1, max_size=4))
def test_missing_paths_are_always_empty_and_reported(path: list[str]) -> None:
    dotted = "vars." + ".".join(path)
    result = render_template("<{{" + dotted + "}}>", {"vars": {}})
    assert result.text == "<>"
    assert result.missing == [dotted]
