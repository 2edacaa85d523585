"""WhatsApp numbers of a project (Kapso's phone numbers / "WhatsApp configs"), shared by
the API and `convoflow phone-numbers`. Secrets go in and never come out: every read
returns public columns only, and nothing here logs a secret."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import RowMapping

from convoflow.channels.whatsapp.errors import GraphError
from convoflow.channels.whatsapp.webhook_bodies import unknown_object_message
from convoflow.engine.advance import Advance
from convoflow.ids import new_id
from convoflow.services.common import (
    Actor,
    Conflict,
    FieldProblem,
    Invalid,
    Unavailable,
    in_project,
    invalid,
    read_in_project,
)
from convoflow.store import phone_numbers as number_store

if TYPE_CHECKING:
    from convoflow.services.process import Process
    from convoflow.services.whatsapp.parts import WhatsAppServices

# Meta's ids are digits. Anything else would also end up in a Graph request path
# (fullmatch: `$` alone lets a trailing newline through).
_ID = re.compile(r"[0-9]{1,64}")
# Meta's tokens are printable ASCII; anything else cannot even go in an HTTP header.
_TOKEN = re.compile(r"^[\x21-\x7e]{1,4000}$")
# What the Graph API's answer fills in (it wins over what the request said).
GRAPH_FIELDS = ("display_phone_number", "verified_name", "quality_rating")


@dataclass(frozen=True)
class NumberSpec:
    phone_number_id: str
    access_token: str
    app_secret: str | None = None
    verify_token: str | None = None
    display_phone_number: str | None = None
    business_account_id: str | None = None
    name: str | None = None
    inbound_processing_enabled: bool = True


@dataclass(frozen=True)
class NumberChanges:
    """PATCH: None leaves a field as it is."""

    name: str | None = None
    display_phone_number: str | None = None
    business_account_id: str | None = None
    access_token: str | None = None
    app_secret: str | None = None
    verify_token: str | None = None
    inbound_processing_enabled: bool | None = None


@dataclass(frozen=True)
class NumberPage:
    rows: list[RowMapping]
    total: int
    page: int
    per_page: int


def whatsapp(engine: Process) -> WhatsAppServices:
    if engine.whatsapp is None:
        raise RuntimeError("the WhatsApp channel is not installed in this engine")
    return engine.whatsapp


def _problems(spec: NumberSpec, prefix: str) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    if not _ID.fullmatch(spec.phone_number_id or ""):
        problems.append(
            FieldProblem(
                f"{prefix}.phone_number_id",
                "must be Meta's phone number id: digits only, at most 64 of them; got "
                f"{spec.phone_number_id!r}",
            )
        )
    if not (spec.access_token or "").strip():
        problems.append(
            FieldProblem(f"{prefix}.access_token", "is required (the number's Graph API token)")
        )
    elif not _TOKEN.match(spec.access_token):
        problems.append(_bad_token(f"{prefix}.access_token"))
    if spec.business_account_id is not None and not _ID.fullmatch(spec.business_account_id):
        problems.append(
            FieldProblem(f"{prefix}.business_account_id", "must be Meta's WABA id (digits)")
        )
    return problems


def _bad_token(field: str) -> FieldProblem:
    return FieldProblem(
        field, "must be a Graph API access token: printable ASCII without spaces (e.g. EAAG...)"
    )


def _unverified(prefix: str, phone_number_id: str, error: GraphError) -> Invalid:
    meta = {"code": error.code, "subcode": error.subcode}
    return invalid(
        [
            FieldProblem(
                f"{prefix}.phone_number_id",
                f"could not be verified with this access token: the Graph API answered "
                f'"{error.message}". Expected Meta\'s phone number id and an access token '
                "that may use it (whatsapp_business_messaging)",
                "phone_number_not_verified",
                {"meta_error": meta},
            )
        ]
    )


async def _graph_facts(
    engine: Process, phone_number_id: str, access_token: str, prefix: str
) -> dict[str, Any]:
    """Proof that the token controls the number (a Graph read of it), and what Meta
    says about it. Made before any transaction: it is a network call."""
    try:
        info = await whatsapp(engine).client.phone_number_info(phone_number_id, access_token)
    except GraphError as exc:
        if _transient(exc):
            raise _unreachable(phone_number_id, exc) from None
        raise _unverified(prefix, phone_number_id, exc) from None
    facts = {key: info.get(key) for key in GRAPH_FIELDS}
    return {key: str(value) for key, value in facts.items() if isinstance(value, str) and value}


def _transient(error: GraphError) -> bool:
    """No answer (network error, timeout), Meta failing on its side (5xx) or throttling
    (429): says nothing about the token, so it is no refusal (422) either."""
    return error.http_status is None or error.http_status >= 500 or error.http_status == 429


def _unreachable(phone_number_id: str, error: GraphError) -> Unavailable:
    answer = "no answer" if error.http_status is None else f"HTTP {error.http_status}"
    return Unavailable(
        f"could not reach the WhatsApp Graph API to verify phone number {phone_number_id} "
        f"({answer}: {error.message}); nothing was changed: try again in a moment"
    )


def _taken(prefix: str, phone_number_id: str) -> Invalid:
    """What a number connected to another project answers: exactly what Meta's answer
    for an unknown number gives, so the API is no oracle of other projects' numbers."""
    error = GraphError(unknown_object_message(phone_number_id), code=100, subcode=33)
    return _unverified(prefix, phone_number_id, error)


async def add_number(
    engine: Process,
    actor: Actor,
    spec: NumberSpec,
    prefix: str = "whatsapp_phone_number",
    *,
    verify: bool = True,
) -> RowMapping:
    """`verify=False` only for the CLI's `--no-verify` (an operator with a shell)."""
    problems = _problems(spec, prefix)
    if problems:
        raise invalid(problems)
    number_id = spec.phone_number_id
    facts = await _graph_facts(engine, number_id, spec.access_token, prefix) if verify else {}

    async def create(adv: Advance) -> RowMapping:
        existing = await number_store.get_public(adv.conn, number_id)
        if existing is not None and existing["project_id"] != actor.project_id and verify:
            raise _taken(prefix, number_id)
        if existing is not None:
            where = "this project" if existing["project_id"] == actor.project_id else "a project"
            raise Conflict(
                f"phone number {number_id} is already configured in {where}; "
                "update it with PATCH /whatsapp/phone_numbers/{phone_number_id}"
            )
        row = {f.name: getattr(spec, f.name) for f in fields(spec)}
        row.update(facts)
        row.update(id=new_id(), project_id=actor.project_id, created_at=adv.now, updated_at=adv.now)
        await number_store.insert_phone_number(adv.conn, row)
        created = await number_store.get_public(adv.conn, number_id)
        assert created is not None
        return created

    created = await engine.runtime.op(create)
    whatsapp(engine).directory.forget_number(number_id)
    return created


async def update_number(
    engine: Process, actor: Actor, phone_number_id: str, changes: NumberChanges
) -> RowMapping:
    values = {f.name: getattr(changes, f.name) for f in fields(changes)}
    values = {key: value for key, value in values.items() if value is not None}
    if "access_token" in values and not str(values["access_token"]).strip():
        raise invalid([FieldProblem("whatsapp_phone_number.access_token", "must not be empty")])
    if "access_token" in values and not _TOKEN.match(str(values["access_token"])):
        raise invalid([_bad_token("whatsapp_phone_number.access_token")])
    if "access_token" in values:  # a new token must prove control of the number too
        await get_number(engine, actor, phone_number_id)
        token = str(values["access_token"])
        values.update(await _graph_facts(engine, phone_number_id, token, "whatsapp_phone_number"))

    async def update(adv: Advance) -> RowMapping:
        found = await in_project(
            adv.conn, number_store.get_public, "phone number", phone_number_id, actor
        )
        if values:
            await number_store.update_phone_number(
                adv.conn, found["id"], {**values, "updated_at": adv.now}
            )
        updated = await number_store.get_public(adv.conn, phone_number_id)
        assert updated is not None
        return updated

    updated = await engine.runtime.op(update)
    whatsapp(engine).directory.forget_number(phone_number_id)
    return updated


async def get_number(engine: Process, actor: Actor, phone_number_id: str) -> RowMapping:
    return await read_in_project(
        engine.db, number_store.get_public, "phone number", phone_number_id, actor
    )


async def list_numbers(
    engine: Process,
    actor: Actor,
    *,
    page: int = 1,
    per_page: int = 20,
    **filters: Any,
) -> NumberPage:
    async with engine.db.read() as conn:
        rows, total = await number_store.list_public(
            conn, actor.project_id, page=page, per_page=per_page, **filters
        )
    return NumberPage(rows, total, page, per_page)


async def mark_verified(engine: Process, phone_number_id: str, when: datetime) -> None:
    """Meta's GET handshake succeeded for this number (Kapso's `webhook_verified_at`)."""

    async def mark(adv: Advance) -> None:
        found = await number_store.get_public(adv.conn, phone_number_id)
        if found is not None:
            await number_store.update_phone_number(
                adv.conn, found["id"], {"webhook_verified_at": when}
            )

    await engine.runtime.op(mark)


async def numbers_of_workflow(engine: Process, actor: Actor, workflow_id: str) -> list[RowMapping]:
    """The numbers whose inbound_message triggers start the workflow."""
    async with engine.db.read() as conn:
        return await number_store.for_workflow(conn, workflow_id, actor.project_id)
