"""schemathesis with every check over our own /openapi.json, against `convoflow serve` in
a process of its own, on SQLite and PostgreSQL: no 5xx, and every answer is one the
document declares (status, content type, body schema); schema-valid requests are
accepted and schema-invalid ones refused.

Half of the generated cases get the ids of real objects in their path (a workflow with a
waiting execution, a trigger, an event, a conversation, a function), so the fuzzing
reaches the services and the database, not only the 404 branch. Bounded: a few examples
per operation and generation mode.

The only failures tolerated are the ones `known_exception` names, each listed with its
reason in docs/api.md ("What schemathesis may report").
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS
from schemathesis.core.failures import FailureGroup

from tests.api.fuzz_server import live_server, seed
from tests.conftest import BACKENDS, Templates, fresh_database

# Server-sent event streams (docs/api.md "Live streams") answer 200 and then never end.
STREAM_SUFFIX = "/events/stream"
EXAMPLES = {GenerationMode.POSITIVE: 4, GenerationMode.NEGATIVE: 2}


@pytest.fixture(scope="module", params=BACKENDS)
def fuzz_target(
    request: pytest.FixtureRequest,
    templates: Templates,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:
    url, cleanup = fresh_database(templates, request.param, tmp_path_factory.mktemp("fuzz"))
    try:
        key, ids = seed(url)
        with live_server(url) as base:
            yield {"base": base, "key": key, "ids": ids, "counter": itertools.count()}
    finally:
        cleanup()


def test_openapi_tells_the_truth(fuzz_target: dict[str, Any]) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_target['base']}/openapi.json")
    # Every request carries the seeded project's key (X-API-Key, below): generated
    # credentials would only fuzz the 401 branch, and a generated `Authorization` beside
    # a valid X-API-Key (which wins) made "invalid" requests that are in fact valid.
    schema.config.generation.update(with_security_parameters=False)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        if operation.path.endswith(STREAM_SUFFIX):
            continue  # a live stream never ends: tests/api/test_streams.py covers them
        for mode, examples in EXAMPLES.items():
            if mode is GenerationMode.NEGATIVE and not _can_be_invalid(operation):
                continue
            _fuzz(operation, mode, examples, fuzz_target, failures)
    assert operations >= 60, f"only {operations} operations in /openapi.json"
    # One line per operation and problem: its label and the check's first words.
    summary = sorted({" | ".join(failure.split("\n", 2)[:2])[:400] for failure in failures})
    assert not failures, (
        f"{len(failures)} contract failures:\n"
        + "\n".join(summary)
        + "\n\n"
        + "\n\n".join(failures)
    )


# Keywords that make some value of a parameter invalid (an unconstrained string has none).
CONSTRAINTS = {"enum", "const", "pattern", "format", "maxLength", "minLength"}
CONSTRAINTS |= {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}


def _constrained(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    options = schema.get("anyOf") or schema.get("oneOf") or schema.get("allOf")
    if options:
        return any(_constrained(option) for option in options)
    return schema.get("type", "string") != "string" or bool(CONSTRAINTS & schema.keys())


def _can_be_invalid(operation: Any) -> bool:
    """Whether schemathesis can make a request to `operation` invalid: without a body, a
    required query or header parameter, or a constrained parameter, hypothesis draws
    hundreds of cases before it gives up (Unsatisfiable), a third of the run's time."""
    raw = operation.definition.raw
    if "requestBody" in raw:
        return True
    return any(
        (param.get("required") and param.get("in") != "path") or _constrained(param.get("schema"))
        for param in raw.get("parameters", [])
    )


def _fuzz(
    operation: Any, mode: GenerationMode, examples: int, target: dict[str, Any], out: list[str]
) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis_settings(
        max_examples=examples,
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
            case.validate_response(response, checks=CHECKS.get_all())
        except FailureGroup as group:  # collected, so one run reports every operation
            for failure in group.exceptions:
                if known_exception(case, response, failure) is None:
                    out.append(
                        f"{operation.label} [{mode.value}] {response.status_code} "
                        f"{failure.title}: {response.text[:300]}\n{failure.message[:600]}\n"
                        f"{case.as_curl_command()}"
                    )

    try:
        run()
    except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
        assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no valid request"


# 422s that depend on stored state, which no schema can say (docs/api.md lists them).
STATE_CODES = {
    "taken",
    "not_found",
    "unknown_phone_number",
    "conflict",
    "phone_number_not_verified",
    "syntax",  # deploying a JavaScript function whose stored code does not compile
}
# A stored test suite is YAML text checked against the suite format (docs/testing-flows.md).
SUITE_CODES = {"invalid_suite", "too_many_cases"}
STATE_MESSAGES = re.compile(
    r"Invalid transition from|cannot be resumed|is archived|is draft|has no active api_call trigger"
    r"|is not active|cannot be deployed|no WhatsApp number|is not a WhatsApp number"
)


def known_exception(case: Any, response: Any, failure: Any) -> str | None:
    """Why this failure is expected (docs/api.md), or None when it is a real one."""
    if type(failure).__name__ != "RejectedPositiveData":
        return None
    query = case.query or {}
    if response.status_code == 400 and ("after" in query or "before" in query):
        return "cursors are opaque strings; only the ones we issued decode"
    if response.status_code != 422:
        return None
    body = response.json()
    details = [d for d in body.get("details") or [] if isinstance(d, dict)]
    if details and all(str(d.get("code")) in STATE_CODES for d in details):
        return "a unique name taken, or an id that is not one of the project's objects"
    if details and all(str(d.get("code")) in SUITE_CODES for d in details):
        return "a stored test suite's YAML must be a suite, which a string's schema cannot say"
    if details and all("node_id" in d for d in details):
        return "activating (or starting) a workflow whose stored graph has problems"
    if not details and STATE_MESSAGES.search(str(body.get("error"))):
        return "the object's state (an execution's or workflow's status, its triggers)"
    return None
