"""Workflow triggers through the API: validation per type, create, atomic replace-all,
enable/disable, delete. One number starts at most one workflow per inbound message (and
per WhatsApp event type), so an active trigger that would compete is refused."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from convoflow.engine.advance import Advance
from convoflow.ids import new_id
from convoflow.services.common import (
    Actor,
    FieldProblem,
    delete_in_project,
    in_project,
    invalid,
)
from convoflow.services.process import Process
from convoflow.services.project_webhooks.events import TRIGGERABLE_EVENTS
from convoflow.services.whatsapp.number_ownership import ownership_problems
from convoflow.store import triggers as trigger_store
from convoflow.store import workflows as workflow_store

TRIGGER_TYPES = ("inbound_message", "api_call", "whatsapp_event", "project_event")
WHATSAPP_EVENTS = TRIGGERABLE_EVENTS
OPERATORS = ("eq", "lt", "lte", "gt", "gte")
EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


@dataclass(frozen=True)
class TriggerSpec:
    trigger_type: str
    active: bool = True
    phone_number_id: str | None = None
    event: str | None = None
    event_name: str | None = None
    property_key: str | None = None
    operator: str | None = None
    property_value: Any = None


def problems_of(spec: TriggerSpec, prefix: str = "trigger") -> list[FieldProblem]:
    """Every problem of one trigger, per its type's rules (kapso-reference.md §1.3)."""
    kind = spec.trigger_type
    if kind not in TRIGGER_TYPES:
        return [
            FieldProblem(
                f"{prefix}.trigger_type",
                f"Invalid trigger type {kind!r}; expected one of {', '.join(TRIGGER_TYPES)}",
                "invalid_trigger_type",
            )
        ]
    problems: list[FieldProblem] = []
    if kind == "inbound_message" and not spec.phone_number_id:
        problems.append(
            FieldProblem(
                f"{prefix}.phone_number_id",
                "is required for inbound_message triggers (the WhatsApp phone number id)",
                "required",
            )
        )
    if kind == "whatsapp_event" and spec.event not in WHATSAPP_EVENTS:
        problems.append(
            FieldProblem(
                f"{prefix}.event",
                f"must be one of {', '.join(WHATSAPP_EVENTS)} for whatsapp_event triggers; "
                f"got {spec.event!r}",
                "invalid_event",
            )
        )
    if kind == "project_event":
        problems.extend(_project_event_problems(spec, prefix))
    return problems


def _project_event_problems(spec: TriggerSpec, prefix: str) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    name = spec.event_name
    if not name or len(name) > 128 or not EVENT_NAME.match(name):
        problems.append(
            FieldProblem(
                f"{prefix}.event_name",
                "must be a lowercase dotted snake_case event name of at most 128 characters, "
                f"like 'conversation.csat_scored'; got {name!r}",
                "invalid_event_name",
            )
        )
    parts = (spec.property_key, spec.operator, spec.property_value)
    if any(part is not None for part in parts) and not all(part is not None for part in parts):
        problems.append(
            FieldProblem(
                f"{prefix}.property_key",
                "a property filter needs property_key, operator and a non-null property_value "
                "together (or none of them)",
                "incomplete_filter",
            )
        )
    elif spec.operator is not None and spec.operator != "eq":
        value = spec.property_value
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(
                FieldProblem(
                    f"{prefix}.property_value",
                    f"must be a number for operator {spec.operator!r}; got {value!r}",
                    "invalid_property_value",
                )
            )
    return problems


def _display_name(spec: TriggerSpec) -> str:
    if spec.trigger_type == "api_call":
        return "API Call Trigger"
    if spec.trigger_type == "inbound_message":
        return f"WhatsApp: {spec.phone_number_id}"
    if spec.trigger_type == "whatsapp_event":
        return f"WhatsApp event: {spec.event}"
    return f"Event: {spec.event_name}"


def _row(spec: TriggerSpec, actor: Actor, workflow_id: str, now: Any) -> dict[str, Any]:
    project_event = spec.trigger_type == "project_event"
    return {
        "id": new_id(),
        "project_id": actor.project_id,
        "workflow_id": workflow_id,
        "trigger_type": spec.trigger_type,
        "active": spec.active,
        "phone_number_id": spec.phone_number_id
        if spec.trigger_type in ("inbound_message", "whatsapp_event")
        else None,
        "event": spec.event if spec.trigger_type == "whatsapp_event" else None,
        "event_name": spec.event_name if project_event else None,
        "property_key": spec.property_key if project_event else None,
        "operator": spec.operator if project_event else None,
        "property_value": spec.property_value if project_event else None,
        "display_name": _display_name(spec),
        "created_at": now,
        "updated_at": now,
    }


async def _workflow(adv: Advance, actor: Actor, workflow_id: str) -> sa.RowMapping:
    row = await in_project(adv.conn, workflow_store.get_workflow, "workflow", workflow_id, actor)
    return row


async def _check_number(
    adv: Advance, actor: Actor, spec: TriggerSpec, prefix: str
) -> list[FieldProblem]:
    """A trigger may only listen to a number of its own project."""
    if spec.trigger_type not in ("inbound_message", "whatsapp_event"):
        return []
    field = f"{prefix}.phone_number_id"
    number = spec.phone_number_id or None
    return await ownership_problems(adv.conn, actor.project_id, number, field)


async def _check_competition(
    adv: Advance, actor: Actor, workflow_id: str, spec: TriggerSpec, prefix: str
) -> list[FieldProblem]:
    if not spec.active or spec.trigger_type not in ("inbound_message", "whatsapp_event"):
        return []
    others = await trigger_store.active_conflicts(
        adv.conn,
        project_id=actor.project_id,
        trigger_type=spec.trigger_type,
        phone_number_id=spec.phone_number_id,
        event=spec.event if spec.trigger_type == "whatsapp_event" else None,
        exclude_workflow_id=workflow_id,
    )
    if not others:
        return []
    what = "inbound messages" if spec.trigger_type == "inbound_message" else spec.event
    return [
        FieldProblem(
            f"{prefix}.phone_number_id",
            f"phone number {spec.phone_number_id!r} already starts workflow "
            f"{others[0]['name']!r} ({others[0]['workflow_id']}) on {what}; deactivate that "
            "trigger first",
            "trigger_conflict",
        )
    ]


async def list_triggers(engine: Process, actor: Actor, workflow_id: str) -> list[sa.RowMapping]:
    async with engine.db.read() as conn:
        await in_project(conn, workflow_store.get_workflow, "workflow", workflow_id, actor)
        return await trigger_store.list_for_workflow(conn, workflow_id)


async def create(
    engine: Process, actor: Actor, workflow_id: str, spec: TriggerSpec
) -> sa.RowMapping:
    problems = problems_of(spec)

    async def run(adv: Advance) -> sa.RowMapping:
        await _workflow(adv, actor, workflow_id)
        found = problems + await _check_number(adv, actor, spec, "trigger")
        if found:
            raise invalid(found)
        conflict = await _check_competition(adv, actor, workflow_id, spec, "trigger")
        if conflict:
            raise invalid(conflict)
        row = _row(spec, actor, workflow_id, adv.now)
        await trigger_store.insert_triggers(adv.conn, [row])
        created = await trigger_store.get_trigger(adv.conn, row["id"], actor.project_id)
        assert created is not None
        return created

    return await engine.runtime.op(run)


async def replace_all(
    engine: Process, actor: Actor, workflow_id: str, specs: list[TriggerSpec]
) -> list[sa.RowMapping]:
    """All or nothing: every problem of every trigger is reported, and nothing changes."""
    problems = [p for i, spec in enumerate(specs) for p in problems_of(spec, f"triggers[{i}]")]

    async def run(adv: Advance) -> list[sa.RowMapping]:
        await _workflow(adv, actor, workflow_id)
        found = list(problems)
        for i, spec in enumerate(specs):
            found.extend(await _check_number(adv, actor, spec, f"triggers[{i}]"))
            found.extend(await _check_competition(adv, actor, workflow_id, spec, f"triggers[{i}]"))
        if found:
            raise invalid(found)
        await trigger_store.delete_for_workflow(adv.conn, workflow_id)
        rows = [_row(spec, actor, workflow_id, adv.now) for spec in specs]
        await trigger_store.insert_triggers(adv.conn, rows)
        return await trigger_store.list_for_workflow(adv.conn, workflow_id)

    return await engine.runtime.op(run)


async def set_active(engine: Process, actor: Actor, trigger_id: str, active: bool) -> sa.RowMapping:
    async def run(adv: Advance) -> sa.RowMapping:
        row = await in_project(adv.conn, trigger_store.get_trigger, "trigger", trigger_id, actor)
        if active and not row["active"]:
            spec = TriggerSpec(
                trigger_type=row["trigger_type"],
                phone_number_id=row["phone_number_id"],
                event=row["event"],
            )
            found = await _check_number(adv, actor, spec, "trigger")
            found += await _check_competition(adv, actor, row["workflow_id"], spec, "trigger")
            if found:
                raise invalid(found)
        await trigger_store.set_active(adv.conn, trigger_id, active, adv.now)
        updated = await trigger_store.get_trigger(adv.conn, trigger_id, actor.project_id)
        assert updated is not None
        return updated

    return await engine.runtime.op(run)


async def delete(engine: Process, actor: Actor, trigger_id: str) -> None:
    await delete_in_project(
        engine.runtime, trigger_store.get_trigger, trigger_store.delete_trigger,
        "trigger", trigger_id, actor,
    )  # fmt: skip
