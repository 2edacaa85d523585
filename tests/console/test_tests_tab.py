"""The flow's "Tests" page: a suite with a typo is refused with its line marked; fixed,
saved and run, the results table shows each case, the failing one with the diff
`convoflow test` prints; the run left no execution in the flow; a reload keeps the suite."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect

from tests.console.conftest import BrowserProblems, Server, screenshot
from tests.console.test_build_and_chat import sign_in
from tests.support import example

SUITE = """\
cases:
  - name: an adult is put in the adult group
    steps:
      - expect_bot: "Hi! Before we start: how old are you?"
      - user: "42"
      - expect_bot: {contains: "adult group"}
      - expect_vars: {segment: adult}
      - expect_status: ended
  - name: no answer for an hour asks again
    steps:
      - advance_time: 1h
      - expect_bot: "Sorry, I need your age as a number, e.g. 27."
  - name: a minor (this expectation is wrong on purpose)
    steps:
      - user: "15"
      - expect_bot: "Thanks! You are 15, so you're in the adult group."
"""


def _flow(server: Server) -> tuple[httpx.Client, str]:
    http = httpx.Client(base_url=f"{server.url}/platform/v1", headers={"X-API-Key": server.api_key})
    body = {"workflow": {"name": "Age check", "definition": example("canonical")}}
    return http, str(http.post("/workflows", json=body).json()["data"]["id"])


def test_edit_save_and_run_a_suite(
    page: Any, server: Server, browser_problems: BrowserProblems
) -> None:
    http, workflow_id = _flow(server)
    sign_in(page, server)
    page.goto(f"{server.url}/console/flows/{workflow_id}")
    page.get_by_role("button", name="Tests", exact=True).click()
    expect(page).to_have_url(f"{server.url}/console/flows/{workflow_id}/tests")
    expect(page.get_by_role("heading", name="Tests of Age check")).to_be_visible()
    yaml = page.get_by_label("Test suite (YAML)")
    expect(yaml).to_contain_text("cases:")  # a starter suite until one is saved

    # A typo: refused with its line (the API's 422 is expected).
    browser_problems.expected.append(422)
    yaml.fill(SUITE.replace("expect_status: ended", "expect_stat: ended"))
    page.get_by_role("button", name="Save", exact=True).click()
    problems = page.get_by_role("list", name="Problems in the suite")
    expect(problems).to_contain_text("unknown step 'expect_stat'")
    expect(problems.get_by_role("button", name="line 8")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("The suite was not saved")
    screenshot(page, "tests-problems")

    yaml.fill(SUITE)
    page.get_by_role("button", name="Run tests").click()  # saves, then runs
    expect(page.get_by_test_id("run-summary")).to_contain_text(
        "Failed: 2 passed, 1 failed, 0 errors, 0 skipped"
    )
    expect(problems).to_have_count(0)
    rows = page.locator("tr.case")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("✓ pass")
    expect(rows.nth(1)).to_contain_text("✓ pass")
    failed = rows.nth(2)
    expect(failed).to_contain_text("✗ fail")
    expect(failed).to_contain_text("at step 2: expect_bot: Thanks! You are 15")
    expect(failed.locator("pre.diff .want")).to_contain_text("adult group")
    expect(failed.locator("pre.diff .got")).to_contain_text("minor group")
    expect(failed.locator("pre.diff .caret")).to_have_count(1)
    screenshot(page, "tests")

    # Isolated: nothing ran in the project; the suite is stored with the flow.
    assert http.get(f"/workflows/{workflow_id}/executions").json()["data"] == []
    assert http.get(f"/workflows/{workflow_id}/test_suite").json()["data"]["yaml"] == SUITE
    page.reload()
    expect(page.get_by_label("Test suite (YAML)")).to_have_value(SUITE)
    expect(page.get_by_role("button", name="Saved")).to_be_disabled()

    # At phone width the editor and the results stack and stay usable.
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("button", name="Run tests").click()
    expect(page.locator("tr.case")).to_have_count(3)
    expect(page.get_by_label("Test suite (YAML)")).to_be_visible()
    screenshot(page, "tests-phone")
    http.close()
