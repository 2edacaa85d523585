"""A project's provider models: the LLMs its decide-`ai` nodes and AI fields call, named
by id or by `name`. The API key is write-only: stored encrypted, never returned, never
logged (views and events show only whether one is set)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from convoflow.engine.advance import Advance
from convoflow.engine.llm.model import PROVIDERS
from convoflow.ids import new_id
from convoflow.services.common import (
    UNSET,
    Actor,
    FieldProblem,
    NotFound,
    Patch,
    in_project,
    invalid,
    not_found,
    read_in_project,
    require,
)
from convoflow.services.process import Process
from convoflow.store import projects as project_store
from convoflow.store import provider_models as model_store

DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
}
KIND = "provider model"


@dataclass
class ModelFields(Patch):
    """A create's or a PATCH's fields; UNSET = not sent."""

    name: Any = UNSET
    provider: Any = UNSET
    model: Any = UNSET  # the provider's model id; default: name
    base_url: Any = UNSET  # default: the provider's public API
    api_key: Any = UNSET  # None clears it (a local server needs none)
    timeout_seconds: Any = UNSET


def _problems(fields: ModelFields) -> list[FieldProblem]:
    found = []
    if fields.provider is not UNSET and fields.provider not in PROVIDERS:
        found.append(
            FieldProblem("provider_model.provider", f"must be one of {', '.join(PROVIDERS)}")
        )
    if fields.name is not UNSET and not str(fields.name or "").strip():
        found.append(FieldProblem("provider_model.name", "must not be empty", "required"))
    if fields.base_url is not UNSET and fields.base_url is not None:  # None: the default
        parts = urlsplit(str(fields.base_url or ""))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            found.append(FieldProblem("provider_model.base_url", "must be an http(s):// URL"))
    timeout = fields.timeout_seconds
    if timeout is not UNSET and timeout is not None and not 0 < float(timeout) <= 600:
        found.append(FieldProblem("provider_model.timeout_seconds", "must be in (0, 600]"))
    return found


async def _name_free(adv: Advance, actor: Actor, name: str, exclude: str | None) -> None:
    other = await model_store.get_model_by_name(adv.conn, name, actor.project_id)
    if other is not None and other["id"] != exclude:
        problem = FieldProblem(
            "provider_model.name", f"{name!r} is already used by {other['id']}", "taken"
        )
        raise invalid([problem])


async def list_models(engine: Process, actor: Actor) -> list[sa.RowMapping]:
    async with engine.db.read() as conn:
        return await model_store.list_models(conn, actor.project_id)


async def get_model(engine: Process, actor: Actor, model_id: str) -> sa.RowMapping:
    return await read_in_project(engine.db, model_store.get_model, KIND, model_id, actor)


async def create(engine: Process, actor: Actor, fields: ModelFields) -> sa.RowMapping:
    if fields.provider is UNSET:
        fields.provider = "openai"
    problems = _problems(fields)
    if problems:
        raise invalid(problems)
    timeout = fields.value_or("timeout_seconds", None)

    async def run(adv: Advance) -> sa.RowMapping:
        await _name_free(adv, actor, fields.name, None)
        row = {
            "id": new_id(),
            "project_id": actor.project_id,
            "name": fields.name,
            "provider": fields.provider,
            "model": fields.value_or("model", None) or fields.name,
            "base_url": fields.value_or("base_url", None) or DEFAULT_BASE_URLS[fields.provider],
            "api_key": fields.value_or("api_key", None) or None,
            "settings": {"timeout_seconds": float(timeout)} if timeout else {},
            "created_at": adv.now,
            "updated_at": adv.now,
        }
        await model_store.insert_model(adv.conn, row)
        return require(
            await model_store.get_model(adv.conn, row["id"], actor.project_id), KIND, row["id"]
        )

    return await engine.runtime.op(run)


async def update(
    engine: Process, actor: Actor, model_id: str, fields: ModelFields
) -> sa.RowMapping:
    problems = _problems(fields)
    if problems:
        raise invalid(problems)

    async def run(adv: Advance) -> sa.RowMapping:
        row = await in_project(adv.conn, model_store.get_model, KIND, model_id, actor)
        values = fields.sent("name", "provider", "model", "base_url", "api_key")
        if "name" in values:
            await _name_free(adv, actor, values["name"], model_id)
        if fields.timeout_seconds is not UNSET:
            timeout = fields.timeout_seconds
            values["settings"] = {**(row["settings"] or {}), "timeout_seconds": timeout}
        await model_store.update_model(adv.conn, model_id, {**values, "updated_at": adv.now})
        return await in_project(adv.conn, model_store.get_model, KIND, model_id, actor)

    return await engine.runtime.op(run)


async def delete(engine: Process, actor: Actor, model_id: str) -> None:
    async def run(adv: Advance) -> None:
        if not await model_store.delete_model(adv.conn, model_id, actor.project_id):
            raise not_found(KIND, model_id)

    await engine.runtime.op(run)


async def resolve_id(engine: Process, actor: Actor, id_or_name: str) -> str:
    """The id of the project's model with this id or this name (the CLI takes either)."""
    async with engine.db.read() as conn:
        row = await model_store.get_model(conn, id_or_name, actor.project_id)
        if row is None:
            row = await model_store.get_model_by_name(conn, id_or_name, actor.project_id)
    return str(require(row, KIND, id_or_name)["id"])


async def ensure(engine: Process, actor: Actor, fields: ModelFields) -> None:
    """The project's model named `fields.name` made or updated to `fields` (the demo's
    model; a test run's or a terminal chat's models given on the command line or in the
    suite file)."""
    try:
        model_id = await resolve_id(engine, actor, str(fields.name))
    except NotFound:
        await create(engine, actor, fields)
    else:
        await update(engine, actor, model_id, fields)


async def allow_private_network(engine: Process, actor: Actor) -> None:
    """Let the project call private and loopback addresses (a local model server or the
    fake LLM): for throwaway and demo projects only, never a default."""

    async def run(adv: Advance) -> None:
        await project_store.merge_settings(
            adv.conn, actor.project_id, {"allow_private_network": True}
        )

    await engine.runtime.op(run)
