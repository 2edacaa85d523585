"""A phone_number_id that comes from a request must be a number of the caller's project.

Numbers are unique across projects (the number names the project of every inbound
message), so a request that names another project's number would reach that project's
users and conversations. Every such use is refused with a 422 naming the field; the
message is the same whether the number is unknown or another project's (no existence
oracle).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.services.common import FieldProblem, Invalid, invalid
from convoflow.store import phone_numbers as number_store

# Config fields of message-sending nodes that name the number to send from.
NODE_NUMBER_FIELDS = ("phone_number_id", "whatsapp_config_id")


def not_owned_problem(
    field: str, phone_number_id: str, *, config_id: bool = False, **extra: Any
) -> FieldProblem:
    """`config_id`: the field is Kapso's `whatsapp_config_id`, which may be our id of
    the number as well as Meta's phone_number_id."""
    expected = "the id or the phone_number_id" if config_id else "the phone_number_id"
    return FieldProblem(
        field,
        f"phone number {phone_number_id} is not configured in this project; expected "
        f"{expected} of one of its numbers (GET /platform/v1/whatsapp/phone_numbers)",
        "unknown_phone_number",
        extra,
    )


def not_owned(field: str, phone_number_id: str) -> Invalid:
    return invalid([not_owned_problem(field, phone_number_id)])


async def ownership_problems(
    conn: AsyncConnection, project_id: str, phone_number_id: str | None, field: str
) -> list[FieldProblem]:
    """[] when the number is absent or belongs to the project, else the problem."""
    if phone_number_id is None:
        return []
    if await number_store.owned_ids(conn, project_id, [phone_number_id]):
        return []
    return [not_owned_problem(field, phone_number_id)]


async def check_owned(
    conn: AsyncConnection, project_id: str, phone_number_id: str | None, field: str
) -> None:
    """Raise a 422-kind error naming `field` unless the number belongs to the project."""
    problems = await ownership_problems(conn, project_id, phone_number_id, field)
    if problems:
        raise invalid(problems)


def _node_numbers(definition: Any) -> list[tuple[str, str, str]]:
    """(node id, config field, value) of every literal number a node's config names.
    Templated values (`{{vars.x}}`) are only known at send time, where the channel
    refuses another project's number."""
    found: list[tuple[str, str, str]] = []
    nodes = definition.get("nodes") if isinstance(definition, dict) else None
    for node in nodes if isinstance(nodes, list) else []:
        data = node.get("data") if isinstance(node, dict) else None
        config = data.get("config") if isinstance(data, dict) else None
        if not isinstance(config, dict):
            continue
        for name in NODE_NUMBER_FIELDS:
            value = config.get(name)
            if isinstance(value, str) and value.strip() and "{{" not in value:
                found.append((str(node.get("id")), name, value.strip()))
    return found


async def definition_number_problems(
    conn: AsyncConnection, project_id: str, definition: Any
) -> list[FieldProblem]:
    """One problem per node config naming a number that is not the project's. A
    `whatsapp_config_id` may also be our id of the number (Kapso's config id)."""
    used = _node_numbers(definition)
    if not used:
        return []
    values = [value for _, _, value in used]
    owned = await number_store.owned_ids(conn, project_id, values)
    owned |= await number_store.owned_ids(conn, project_id, values, config_ids=True)
    return [
        not_owned_problem(
            f"definition.nodes[{node_id}].config.{name}",
            value,
            config_id=name == "whatsapp_config_id",
            node_id=node_id,
        )
        for node_id, name, value in used
        if value not in owned
    ]
