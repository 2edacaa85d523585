"""schemathesis over our own /openapi.json, in process (ASGI), on SQLite and PostgreSQL:
no request it generates may get a 5xx.

Half of the generated cases get the ids of real objects in their path (a workflow with a
waiting execution, a trigger, an event, a conversation, a function), so the fuzzing
reaches the services and the database, not only the 404 branch. Bounded: a few dozen
examples per operation.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi

from convoflow.api.app import create_app
from convoflow.config import Settings
from convoflow.engine.advance import Advance
from convoflow.services import functions, triggers, workflow_api
from convoflow.services.common import Actor
from convoflow.services.container import Engine, build_engine
from convoflow.services.execution_api import StartRequest, start
from convoflow.services.projects import create_api_key, create_project
from convoflow.services.workflow_api import WorkflowChanges
from tests.api.helpers import canonical
from tests.conftest import BACKENDS, Templates, fresh_database

EXAMPLES_PER_OPERATION = 30
SETTINGS = Settings(rate_limit_per_minute=10**9, start_burst_per_second=10**9)


async def _seed(engine: Engine) -> tuple[str, dict[str, str]]:
    """A key, and real ids for each path parameter name."""

    async def project(adv: Advance) -> tuple[str, str]:
        project_id = await create_project(adv.conn, engine.clock, "fuzz")
        return project_id, await create_api_key(adv.conn, engine.clock, project_id)

    project_id, key = await engine.runtime.op(project)
    actor = Actor(project_id=project_id, key_id="seed", key_name="seed")
    workflow = await workflow_api.create(engine, actor, name="Seed", definition=canonical())
    workflow_id = str(workflow["id"])
    await workflow_api.update(engine, actor, workflow_id, WorkflowChanges(status="active"))
    trigger = await triggers.create(
        engine, actor, workflow_id, triggers.TriggerSpec(trigger_type="api_call")
    )
    _, accepted = await start(
        engine,
        actor,
        workflow_id,
        StartRequest(phone_number="+15550001111", context={"channel": "sandbox"}),
        render=lambda info: (202, dict(info.row)),
    )
    function = await functions.create(
        engine, actor, functions.FunctionFields(name="Seed function", code="x")
    )
    async with engine.db.read() as conn:
        from convoflow.store import execution_queries

        events = await execution_queries.timeline(conn, str(accepted["id"]))
    ids = {
        "workflow_id": workflow_id,
        "trigger_id": str(trigger["id"]),
        "execution_id": str(accepted["id"]),
        "event_id": str(events[0]["id"]),
        "conversation_id": str(accepted["conversation_id"]),
        "function_id": str(function["id"]),
        "flow_id": workflow_id,
    }
    return key, ids


@pytest.fixture(scope="module", params=BACKENDS)
def fuzz_target(
    request: pytest.FixtureRequest,
    templates: Templates,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:
    url, cleanup = fresh_database(templates, request.param, tmp_path_factory.mktemp("fuzz"))

    async def seed() -> tuple[str, dict[str, str]]:
        engine = build_engine(url, settings=SETTINGS, pool_size=2)
        try:
            return await _seed(engine)
        finally:
            await engine.close()

    key, ids = asyncio.run(seed())
    # Built outside any event loop: schemathesis runs the app (and its lifespan, which
    # closes this engine) in its own loop thread.
    engine = build_engine(url, settings=SETTINGS, pool_size=5)
    app = create_app(engine, run_worker=False, close_engine=True)
    try:
        yield {"app": app, "key": key, "ids": ids, "counter": itertools.count()}
    finally:
        asgi.shutdown_lifespans()
        cleanup()


def test_no_server_errors(fuzz_target: dict[str, Any]) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_target["app"])
    server_errors: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        _fuzz(operation, fuzz_target, server_errors)
    assert operations >= 35, f"only {operations} operations in /openapi.json"
    assert not server_errors, "\n\n".join(server_errors[:10])


def _fuzz(operation: Any, target: dict[str, Any], server_errors: list[str]) -> None:
    @given(case=operation.as_strategy())
    @hypothesis_settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
        derandomize=True,
        database=None,
    )
    def run(case: Any) -> None:
        if case.path_parameters and next(target["counter"]) % 2 == 0:
            for name in case.path_parameters:
                if name in target["ids"]:
                    case.path_parameters[name] = target["ids"][name]
        response = case.call(headers={"X-API-Key": target["key"]})
        try:
            case.validate_response(response, checks=[not_a_server_error])
        except Exception as failure:  # collected, so one run reports every operation
            server_errors.append(f"{operation.label}: {response.status_code} {failure}")

    run()
