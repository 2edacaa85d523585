"""Project webhooks through the API: CRUD of `/whatsapp/webhooks`, a test delivery, and
the delivery log (`/webhook_deliveries`). Changes made here reach this process's
publisher at once (the directory forgets the project's cached webhooks)."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import RowMapping

from convoflow.engine.advance import Advance
from convoflow.engine.egress import HTTP_URL_EXPECTED, HTTP_URL_PATTERN
from convoflow.ids import new_id
from convoflow.services.common import (
    Actor,
    FieldProblem,
    delete_in_project,
    in_project,
    invalid,
    read_in_project,
)
from convoflow.services.executions.reads import PageRequest
from convoflow.services.project_webhooks.events import EVENTS, Event, write_deliveries
from convoflow.services.whatsapp.number_ownership import check_owned
from convoflow.services.whatsapp.phone_numbers import whatsapp
from convoflow.store import webhooks as webhook_store
from convoflow.store.listing import KeysetPage

if TYPE_CHECKING:
    from convoflow.services.process import Process

# Kapso events accepted for compatibility but never produced by convoflow.
ACCEPTED_ONLY = (
    "whatsapp.conversation.inactive",
    "whatsapp.phone_number.created",
    "whatsapp.phone_number.deleted",
    "project.event",
)
PERIODS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
# What reads return in place of a custom header's value (names are shown, values never:
# they are often credentials). An update that sends a header back with this value keeps
# the stored one, so a client may round-trip what it read — but not to a new URL, where
# the kept values would be delivered to whoever chose that URL (see _headers_to_store).
MASKED_HEADER_VALUE = "********"
SETTINGS_KEYS = (
    "buffer_enabled",
    "buffer_window_seconds",
    "max_buffer_size",
    "buffer_events",
    "inactivity_minutes",
)


@dataclass(frozen=True)
class WebhookFields:
    """Create: `url` and `events` required. Update: None leaves a field unchanged."""

    url: str | None = None
    events: list[str] | None = None
    phone_number_id: str | None = None
    kind: str | None = None
    secret_key: str | None = None
    active: bool | None = None
    headers: dict[str, Any] | None = None
    payload_version: str | None = None
    buffer_enabled: bool | None = None
    buffer_window_seconds: int | None = None
    max_buffer_size: int | None = None
    buffer_events: list[str] | None = None
    inactivity_minutes: int | None = None


def _problems(spec: WebhookFields, creating: bool) -> list[FieldProblem]:
    p = "whatsapp_webhook"
    problems: list[FieldProblem] = []
    if (spec.url is not None or creating) and not re.fullmatch(HTTP_URL_PATTERN, spec.url or ""):
        problems.append(FieldProblem(f"{p}.url", f"must be {HTTP_URL_EXPECTED}; got {spec.url!r}"))
    if spec.kind not in (None, "kapso"):
        problems.append(
            FieldProblem(
                f"{p}.kind",
                "only 'kapso' (event) webhooks are supported; raw 'meta' forwarding is not",
            )
        )
    if spec.events is not None or creating:
        if not spec.events:
            problems.append(FieldProblem(f"{p}.events", "must list at least one event"))
        for index, name in enumerate(spec.events or []):
            if name not in EVENTS + ACCEPTED_ONLY:
                problems.append(
                    FieldProblem(
                        f"{p}.events[{index}]",
                        f"unknown event {name!r}; expected one of {', '.join(EVENTS)}",
                    )
                )
    window = spec.buffer_window_seconds
    if window is not None and not 1 <= window <= 60:
        problems.append(FieldProblem(f"{p}.buffer_window_seconds", "must be 1..60"))
    return problems


def _columns(spec: WebhookFields) -> dict[str, Any]:
    values = {f.name: getattr(spec, f.name) for f in fields(spec)}
    settings = {key: values.pop(key) for key in SETTINGS_KEYS}
    out = {key: value for key, value in values.items() if value is not None}
    settings = {key: value for key, value in settings.items() if value is not None}
    if settings:
        out["settings"] = settings
    return out


async def _check_number(adv: Advance, actor: Actor, phone_number_id: str | None) -> None:
    field = "whatsapp_webhook.phone_number_id"
    await check_owned(adv.conn, actor.project_id, phone_number_id, field)


async def create_webhook(engine: Process, actor: Actor, spec: WebhookFields) -> RowMapping:
    problems = _problems(spec, creating=True)
    if problems:
        raise invalid(problems)

    async def create(adv: Advance) -> RowMapping:
        await _check_number(adv, actor, spec.phone_number_id)
        row = {"kind": "kapso", "active": True, "headers": {}, "settings": {}, **_columns(spec)}
        row.update(id=new_id(), project_id=actor.project_id, created_at=adv.now, updated_at=adv.now)
        row["headers"] = _headers_to_store(row["headers"], {}, url_changes=False)
        await webhook_store.insert_webhook(adv.conn, row)
        created = await webhook_store.get_webhook(adv.conn, row["id"], actor.project_id)
        assert created is not None
        return created

    created = await engine.runtime.op(create)
    whatsapp(engine).directory.forget_webhooks(actor.project_id)
    return created


async def update_webhook(
    engine: Process, actor: Actor, webhook_id: str, spec: WebhookFields
) -> RowMapping:
    problems = _problems(spec, creating=False)
    if problems:
        raise invalid(problems)

    async def update(adv: Advance) -> RowMapping:
        found = await in_project(adv.conn, webhook_store.get_webhook, "webhook", webhook_id, actor)
        await _check_number(adv, actor, spec.phone_number_id)
        values = _columns(spec)
        stored = found["headers"] or {}
        url_changes = spec.url is not None and spec.url != found["url"]
        if "headers" in values or (url_changes and stored):
            values["headers"] = _headers_to_store(values.get("headers"), stored, url_changes)
        if "settings" in values:
            values["settings"] = {**(found["settings"] or {}), **values["settings"]}
        await webhook_store.update_webhook(adv.conn, webhook_id, {**values, "updated_at": adv.now})
        updated = await webhook_store.get_webhook(adv.conn, webhook_id, actor.project_id)
        assert updated is not None
        return updated

    updated = await engine.runtime.op(update)
    whatsapp(engine).directory.forget_webhooks(actor.project_id)
    return updated


def masked_headers(headers: dict[str, Any] | None) -> dict[str, str]:
    return {str(name): MASKED_HEADER_VALUE for name in (headers or {})}


def _headers_to_store(
    given: dict[str, Any] | None, stored: dict[str, Any], url_changes: bool
) -> dict[str, Any]:
    """The headers to store. A value sent back masked keeps the stored value of that name
    (names compared case-insensitively, as HTTP does); a masked value for a name not stored
    is refused rather than stored as a literal "********". When the URL changes, stored
    headers must be re-sent with real values (or removed with `headers: {}`): keeping them
    would let anyone holding a key redirect the masked credentials to a URL of their own."""
    field = "whatsapp_webhook.headers"
    if url_changes and stored and (given is None or MASKED_HEADER_VALUE in given.values()):
        raise invalid([FieldProblem(field, _URL_CHANGE_NEEDS_HEADERS, code="headers_required")])
    by_lower = {str(name).lower(): value for name, value in stored.items()}
    kept: dict[str, Any] = {}
    for name, value in (given or {}).items():
        if value == MASKED_HEADER_VALUE:
            if name.lower() not in by_lower:
                message = f"{name!r} has no stored value to keep; send its real value"
                raise invalid([FieldProblem(f"{field}.{name}", message)])
            value = by_lower[name.lower()]
        kept[name] = value
    return kept


_URL_CHANGE_NEEDS_HEADERS = (
    "the URL changes and this webhook has custom headers: send them again with their real "
    'values (not "********"), or "headers": {} to remove them'
)


async def delete_webhook(engine: Process, actor: Actor, webhook_id: str) -> None:
    await delete_in_project(
        engine.runtime, webhook_store.get_webhook, webhook_store.delete_webhook,
        "webhook", webhook_id, actor,
    )  # fmt: skip
    whatsapp(engine).directory.forget_webhooks(actor.project_id)


async def get_webhook(engine: Process, actor: Actor, webhook_id: str) -> RowMapping:
    return await read_in_project(engine.db, webhook_store.get_webhook, "webhook", webhook_id, actor)


async def list_webhooks(
    engine: Process, actor: Actor, *, kind: str | None, page: int, per_page: int
) -> tuple[list[RowMapping], int]:
    async with engine.db.read() as conn:
        return await webhook_store.list_webhooks(
            conn, actor.project_id, kind=kind, page=page, per_page=per_page
        )


async def send_test(engine: Process, actor: Actor, webhook_id: str, event_type: str | None) -> None:
    """Queue a delivery of a sample payload (`"test": true`) to this webhook."""
    webhook = await get_webhook(engine, actor, webhook_id)
    name = event_type or (list(webhook["events"] or []) or ["workflow.execution.failed"])[0]
    if name not in (webhook["events"] or []):
        raise invalid([FieldProblem("event_type", f"{name!r} is not one of this webhook's events")])

    async def queue(adv: Advance) -> None:
        event = Event(actor.project_id, name, {"test": True}, webhook["phone_number_id"])
        jobs = await write_deliveries(adv.conn, [{**webhook, "active": True}], event, adv.now)
        for job in jobs:
            adv.schedule_job(
                job["kind"], run_at=job["run_at"], dedupe_key=job["dedupe_key"],
                payload=job["payload"],
            )  # fmt: skip

    await engine.runtime.op(queue)


@dataclass(frozen=True)
class DeliveryFilters:
    status: str | None = None
    event: str | None = None
    webhook_id: str | None = None
    errors_only: bool = False
    period: str = "24h"


async def list_deliveries(
    engine: Process, actor: Actor, filters: DeliveryFilters, page: PageRequest
) -> KeysetPage:
    since = engine.clock.now() - PERIODS.get(filters.period, PERIODS["24h"])
    async with engine.db.read() as conn:
        return await webhook_store.delivery_page(
            conn,
            actor.project_id,
            status="failed" if filters.errors_only else filters.status,
            event=filters.event,
            webhook_id=filters.webhook_id,
            since=since,
            limit=page.limit,
            after=page.after,
            before=page.before,
        )
