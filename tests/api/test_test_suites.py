"""A workflow's stored test suite (our extension): `GET`/`PUT /workflows/{id}/test_suite`
keeps the YAML and refuses a bad one with each problem's line; `POST .../test_runs` runs
it against the workflow's current definition inside the server, on a throwaway database
of its own (nothing appears in the project), and answers each case with the diff
`convoflow test` prints. Another project's workflow is a 404 like a missing one."""

from __future__ import annotations

import httpx

from convoflow.process import Process
from convoflow.services.common import Actor
from convoflow.services.workflows import test_suites
from tests.api.conftest import new_project
from tests.api.helpers import P, create_workflow
from tests.support import chain, node

SUITE = """\
# the canonical flow, as the console would store it
name: Age check suite
cases:
  - name: an adult
    steps:
      - expect_bot: "Hi! Before we start: how old are you?"
      - user: "42"
      - expect_bot: "Thanks! You are 42, so you're in the adult group."
      - expect_vars: {age: "42", segment: adult}
      - expect_status: ended

  - name: wrong on purpose
    steps:
      - user: "15"
      - expect_bot: "Thanks! You are 15, so you're in the adult group."

  - name: no answer for an hour asks again
    steps:
      - advance_time: 1h
      - expect_bot: "Sorry, I need your age as a number, e.g. 27."
      - expect_status: waiting
"""


async def _put(client: httpx.AsyncClient, workflow_id: str, text: str) -> httpx.Response:
    body = {"test_suite": {"yaml": text}}
    return await client.put(f"{P}/workflows/{workflow_id}/test_suite", json=body)


async def test_save_read_and_run_a_suite(client: httpx.AsyncClient) -> None:
    workflow = await create_workflow(client)  # a draft: its suite runs all the same
    empty = await client.get(f"{P}/workflows/{workflow['id']}/test_suite")
    assert empty.status_code == 200, empty.text
    assert empty.json()["data"] == {"workflow_id": workflow["id"], "yaml": "", "updated_at": None}
    none_yet = await client.post(f"{P}/workflows/{workflow['id']}/test_runs")
    assert none_yet.status_code == 409, none_yet.text
    assert "has no test suite yet" in none_yet.json()["error"]

    saved = await _put(client, workflow["id"], SUITE)
    assert saved.status_code == 200, saved.text
    read = (await client.get(f"{P}/workflows/{workflow['id']}/test_suite")).json()["data"]
    assert read["yaml"] == SUITE and read["updated_at"]

    response = await client.post(f"{P}/workflows/{workflow['id']}/test_runs")
    assert response.status_code == 200, response.text
    run = response.json()["data"]
    assert run["suite"] == "Age check suite"
    versions = (await client.get(f"{P}/workflows/{workflow['id']}/versions")).json()["data"]
    assert run["workflow_version_id"] == versions[0]["id"]
    assert run["passed"] is False
    assert run["counts"] == {"passed": 2, "failed": 1, "error": 0, "skipped": 0}
    outcomes = {case["name"]: case for case in run["cases"]}
    assert outcomes["an adult"]["outcome"] == "passed"
    assert outcomes["no answer for an hour asks again"]["outcome"] == "passed"
    wrong = outcomes["wrong on purpose"]
    assert wrong["outcome"] == "failed"
    assert wrong["step"] == 2
    assert wrong["step_text"].startswith("expect_bot: Thanks! You are 15")
    # The CLI's diff: expected and actual lines, and a caret at the first difference.
    assert any("adult group" in line for line in wrong["lines"]), wrong["lines"]
    assert any("minor group" in line for line in wrong["lines"]), wrong["lines"]
    assert any(line.strip() == "^" or "^" in line for line in wrong["lines"]), wrong["lines"]

    # Isolated: the run left no execution or conversation in the project.
    listed = await client.get(f"{P}/workflows/{workflow['id']}/executions")
    assert listed.json()["data"] == []
    conversations = await client.get(f"{P}/whatsapp/conversations")
    assert conversations.json()["data"] == []
    again = (await client.get(f"{P}/workflows/{workflow['id']}")).json()["data"]
    assert again["execution_count"] == workflow["execution_count"]


async def test_a_bad_suite_is_refused_with_its_lines(client: httpx.AsyncClient) -> None:
    workflow = await create_workflow(client)
    text = """\
flow: canonical.json
cases:
  - name: one
    steps:
      - user: "42"
      - expect_boot: "typo"
      - advance_time: soon
"""
    response = await _put(client, workflow["id"], text)
    assert response.status_code == 422, response.text
    details = response.json()["details"]
    by_line = {d["line"]: d["message"] for d in details}
    assert "a stored suite runs its own workflow" in by_line[1], details
    assert "unknown step 'expect_boot'" in by_line[6], details
    assert "'soon' is not a duration" in by_line[7], details
    assert all(d["field"] == "test_suite.yaml" for d in details)
    # Nothing was saved.
    read = (await client.get(f"{P}/workflows/{workflow['id']}/test_suite")).json()["data"]
    assert read["yaml"] == ""

    broken = await _put(client, workflow["id"], "cases:\n  - name: [unclosed\n")
    assert broken.status_code == 422
    (problem,) = broken.json()["details"]
    assert problem["message"].startswith("not valid YAML") and problem["line"] == 3

    # An empty text clears a saved suite.
    assert (await _put(client, workflow["id"], SUITE)).status_code == 200
    assert (await _put(client, workflow["id"], "")).status_code == 200
    read = (await client.get(f"{P}/workflows/{workflow['id']}/test_suite")).json()["data"]
    assert read["yaml"] == ""


async def test_an_invalid_draft_errors_each_case(client: httpx.AsyncClient) -> None:
    # A draft with an empty message: saved (drafts may be invalid), not runnable.
    definition = chain(node("start", "start"), node("hello", "send_text", message=""))
    workflow = await create_workflow(client, "Broken", definition)
    assert (await _put(client, workflow["id"], SUITE)).status_code == 200
    run = (await client.post(f"{P}/workflows/{workflow['id']}/test_runs")).json()["data"]
    assert run["counts"]["error"] == 3, run
    assert "the workflow's definition is not valid" in run["cases"][0]["lines"][0]


async def test_another_projects_workflow_is_not_found(
    client: httpx.AsyncClient, engine: Process
) -> None:
    workflow = await create_workflow(client)
    assert (await _put(client, workflow["id"], SUITE)).status_code == 200
    _, other_key = await new_project(engine, "other")
    other = {"X-API-Key": other_key}
    path = f"{P}/workflows/{workflow['id']}"
    assert (await client.get(f"{path}/test_suite", headers=other)).status_code == 404
    body = {"test_suite": {"yaml": SUITE}}
    assert (await client.put(f"{path}/test_suite", json=body, headers=other)).status_code == 404
    # A bad suite for another project's workflow is still a 404, not its problems.
    bad = {"test_suite": {"yaml": "cases: 3"}}
    assert (await client.put(f"{path}/test_suite", json=bad, headers=other)).status_code == 404
    assert (await client.post(f"{path}/test_runs", headers=other)).status_code == 404
    missing = f"{P}/workflows/00000000-0000-7000-8000-000000000000/test_runs"
    assert (await client.post(missing)).status_code == 404


ALIASED = """\
vars: &a {x: *a}
cases:
  - name: one
    steps:
      - expect_bot: "Hi! Before we start: how old are you?"
"""


async def test_yaml_aliases_are_refused_on_save_and_on_run(
    client: httpx.AsyncClient, engine: Process, project: tuple[str, str]
) -> None:
    workflow = await create_workflow(client)
    response = await _put(client, workflow["id"], ALIASED)
    assert response.status_code == 422, response.text
    (problem,) = response.json()["details"]
    assert problem["line"] == 1, problem
    assert "anchors and aliases" in problem["message"], problem
    # One stored before the rule (written past the API's check): its run is the same 422,
    # never a 500 from writing a value that contains itself.
    await test_suites.put(engine, Actor(project_id=project[0]), workflow["id"], ALIASED)
    run = await client.post(f"{P}/workflows/{workflow['id']}/test_runs")
    assert run.status_code == 422, run.text
    assert "anchors and aliases" in run.json()["details"][0]["message"]
