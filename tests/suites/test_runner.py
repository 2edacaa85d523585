"""The runner in-process, without a subprocess: list rows, send delays, the suite
file's own checks. The driver is the real one."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from convoflow.testing.local import LocalDriver
from convoflow.testing.model import parse_duration
from convoflow.testing.parsing import SuiteError, load_suite, parse_suite
from convoflow.testing.runner import CaseResult, run_suites
from tests.support import chain, node


def list_flow() -> dict:
    sections = [
        {"title": "Sizes", "rows": [{"id": "s", "title": "Small"}, {"id": "l", "title": "Large"}]}
    ]
    return chain(
        node("start", "start"),
        node("pick", "send_interactive", interactive_type="list", body_text="Pick a size",
             list_button_text="Sizes", list_sections=sections),
        node("wait", "wait_for_response", save_response_to="size"),
        node("later", "send_text", message="One {{vars.size}}, coming.", delay_seconds=600),
    )  # fmt: skip


async def run(tmp_path: Path, text: str) -> list[CaseResult]:
    definition = list_flow()
    (tmp_path / "flow.json").write_text(json.dumps({"name": "sizes", "definition": definition}))
    (tmp_path / "s.test.yaml").write_text("flow: flow.json\n" + text)
    driver = LocalDriver()
    try:
        return await run_suites(driver, [load_suite(tmp_path / "s.test.yaml")], lambda r: None)
    finally:
        await driver.close()


async def test_list_rows_and_a_send_delay(tmp_path):
    results = await run(
        tmp_path,
        """cases:
  - name: large
    steps:
      - expect_bot: {type: interactive, contains: "Pick", list_rows: [s, Large]}
      - user: {list_row: l}
      - expect_vars: {size: Large, last_user_message.id: l}
      - expect_status: running
      - advance_time: 10m
      - expect_bot: "One Large, coming."
      - expect_status: ended
  - name: row not offered
    steps:
      - user: {list_row: medium}
""",
    )
    assert [r.outcome for r in results] == ["passed", "failed"], results
    assert results[1].lines[0] == "the last bot message offers no list row 'medium'"
    assert results[1].lines[1] == "it offers: ['Small (s)', 'Large (l)']"


def test_durations():
    assert parse_duration("2h") == 7200
    assert parse_duration("1.5m") == 90
    assert parse_duration(30) == 30
    assert parse_duration("1w") == 604800
    for bad in ("soon", "-1s", 0, True, "2 hours"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_suite_file_checks(tmp_path):
    (tmp_path / "flow.json").write_text(json.dumps(list_flow()))
    (tmp_path / "s.test.yaml").write_text(
        """flow: flow.json
cases:
  - name: a
    steps:
      - user: hi
      - set_vars: {x: 1}
  - name: a
    steps:
      - expect_bot: {}
"""
    )
    with pytest.raises(SuiteError) as raised:
        load_suite(tmp_path / "s.test.yaml")
    problems = raised.value.problems
    assert any("step 2: set_vars after the flow started" in p for p in problems), problems
    assert any("give at least one of text, contains" in p for p in problems), problems
    assert "case name 'a' is used twice" in problems
    (tmp_path / "t.test.yaml").write_text("cases: [{name: a, steps: [{user: x}]}]\n")
    with pytest.raises(SuiteError, match="name the flow"):
        load_suite(tmp_path / "t.test.yaml")
    (tmp_path / "u.test.yaml").write_text("flow: [unclosed\n")
    with pytest.raises(SuiteError, match="not valid YAML"):
        load_suite(tmp_path / "u.test.yaml")


async def test_a_failed_execution_is_named_when_a_message_is_missing(tmp_path):
    definition = chain(
        node("start", "start"),
        node("ask", "send_text", message="Number?"),
        node("wait", "wait_for_response", save_response_to="n"),
        node("set", "set_variable", variable_name="half", variable_value="{{vars.n}}",
             value_type="number"),
        node("say", "send_text", message="Half: {{vars.half}}"),
    )  # fmt: skip
    (tmp_path / "flow.json").write_text(json.dumps(definition))
    (tmp_path / "f.test.yaml").write_text(
        "flow: flow.json\ncases:\n  - name: not a number\n    steps:\n"
        "      - user: abc\n      - expect_bot: {contains: Half}\n"
    )
    driver = LocalDriver()
    try:
        (result,) = await run_suites(driver, [load_suite(tmp_path / "f.test.yaml")], print)
    finally:
        await driver.close()
    assert result.outcome == "failed"
    assert "but the bot sent no more messages this turn; it sent:" in result.lines
    assert result.lines[-1].startswith("the execution is failed: "), result.lines


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("cases: []\nvars: &a {x: *a}\n", 2),  # a value that contains itself
        # "billion laughs": refused at the first anchor, before anything is expanded
        ("a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\ncases: []\n", 1),
        ("cases: []\nvars:\n  x: &a 1\n", 3),  # an anchor alone is refused too
    ],
)
def test_yaml_anchors_and_aliases_are_refused(text: str, line: int) -> None:
    with pytest.raises(SuiteError) as raised:
        parse_suite(text, Path("s.test.yaml"), stored=True)
    assert raised.value.lines == [line], raised.value.problems
    (problem,) = raised.value.problems
    assert problem.startswith("YAML anchors and aliases (&name, *name) are not allowed")


async def test_an_unexpected_error_errors_its_case_and_the_others_run(tmp_path, caplog):
    definition = chain(node("start", "start"), node("hi", "send_text", message="Hi"))
    text = """cases:
  - name: before
    steps: [{expect_bot: Hi}]
  - name: broken
    steps: [{expect_bot: Hi}]
  - name: after
    steps: [{expect_bot: Hi}]
"""
    suite = parse_suite(text, Path("s.yaml"), stored=True, definition=definition, name="s")
    # A value that contains itself, as a YAML alias could make before they were refused:
    # the engine cannot write it (a real error from the real engine, not a stand-in).
    looped: dict = {}
    looped["x"] = looped
    suite.cases[1] = replace(suite.cases[1], variables={"looped": looped})
    driver = LocalDriver()
    try:
        results = await run_suites(driver, [suite], lambda r: None)
    finally:
        await driver.close()
    assert [r.outcome for r in results] == ["passed", "error", "passed"], results
    assert results[1].lines[0].startswith("unexpected error ("), results[1].lines
    assert "test case 'broken' of suite 's': unexpected error" in caplog.text
