"""A workflow's conversation test suite (our extension, docs/testing-flows.md "In the
console"): `GET`/`PUT /workflows/{id}/test_suite` keep its YAML (checked on save, every
problem with its line), `POST /workflows/{id}/test_runs` runs it inside the server,
isolated from the project (testing/stored.py), and answers each case's outcome with the
diff `convoflow test` prints."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

from fastapi import Depends, Request, Response

from convoflow.api.auth import CurrentActor, EngineDep
from convoflow.api.bodies import api_router
from convoflow.api.models import TestSuiteBody
from convoflow.api.openapi import error_responses, success
from convoflow.api.response_models import TestRunData, TestSuiteData
from convoflow.api.responses import data
from convoflow.clock import utc_iso
from convoflow.services.workflows import test_suites
from convoflow.testing import stored
from convoflow.testing.runner import CaseResult

router = api_router(tags=["Workflows"])


async def get_suite_runs(request: Request) -> stored.SuiteRuns:
    runs: stored.SuiteRuns = request.app.state.suite_runs
    return runs


SuiteRunsDep = Annotated[stored.SuiteRuns, Depends(get_suite_runs)]


def _suite_view(found: test_suites.StoredSuite) -> dict[str, Any]:
    return {
        "workflow_id": str(found.workflow["id"]),
        "yaml": found.yaml,
        "updated_at": utc_iso(found.updated_at) if found.updated_at else None,
    }


def _case_view(result: CaseResult) -> dict[str, Any]:
    return {
        "name": result.case,
        "outcome": result.outcome,
        "seconds": round(result.seconds, 4),
        "step": result.step,
        "step_text": result.step_text,
        "lines": result.lines,
    }


@router.get(
    "/workflows/{workflow_id}/test_suite",
    summary="A workflow's conversation test suite (extension)",
    responses=success(TestSuiteData),
)
async def get_test_suite(workflow_id: str, actor: CurrentActor, engine: EngineDep) -> Response:
    return data(_suite_view(await test_suites.get(engine, actor, workflow_id)))


@router.put(
    "/workflows/{workflow_id}/test_suite",
    summary="Replace a workflow's test suite; 422 lists its problems by line (extension)",
    responses=success(TestSuiteData),
)
async def put_test_suite(
    workflow_id: str, body: TestSuiteBody, actor: CurrentActor, engine: EngineDep
) -> Response:
    saved = await stored.save(engine, actor, workflow_id, body.test_suite.yaml)
    return data(_suite_view(saved))


@router.post(
    "/workflows/{workflow_id}/test_runs",
    summary="Run the workflow's test suite against its current definition (extension)",
    # 409: the workflow has no test suite yet, or the project has a run going.
    responses={**success(TestRunData), **error_responses(409)},
)
async def run_test_suite(
    workflow_id: str, actor: CurrentActor, engine: EngineDep, runs: SuiteRunsDep
) -> Response:
    found, results = await runs.run(engine, actor, workflow_id)
    counts = Counter(r.outcome for r in results)
    return data(
        {
            "workflow_id": workflow_id,
            "workflow_version_id": found.workflow["current_version_id"],
            "suite": results[0].suite if results else str(found.workflow["name"]),
            "passed": all(r.ok for r in results),
            "counts": {o: counts[o] for o in ("passed", "failed", "error", "skipped")},
            "seconds": round(sum(r.seconds for r in results), 4),
            "cases": [_case_view(r) for r in results],
        }
    )
