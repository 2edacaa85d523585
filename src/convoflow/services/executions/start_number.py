"""Which WhatsApp number an API start sends from, the way a user expects.

Order: the number the request names (`phone_number_id`, else Kapso's deprecated
`whatsapp_config_id`; each must be the project's); else the number of the user's
conversation in the project (the newest active one, else the newest ended one); else the
workflow's inbound_message trigger number, if there is exactly one; else the project's
only number. Otherwise the start is refused at the API call (422), saying which field to
pass; before, it was accepted and then failed asynchronously with "no WhatsApp number to
send from".
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.services.common import FieldProblem, invalid
from convoflow.services.whatsapp.number_ownership import check_owned, not_owned_problem
from convoflow.store import phone_numbers as number_store


@dataclass(frozen=True)
class NamedNumber:
    """What a start body says about the number, and how each API names the fields."""

    phone_number_id: str | None
    whatsapp_config_id: str | None
    number_field: str
    config_field: str
    # Whether `whatsapp_config_id` may be our id of the number (a UUID): /api/v1's string
    # field may; /platform/v1's is an integer, so only a phone_number_id fits it.
    config_id_may_be_ours: bool = False


async def named_number(conn: AsyncConnection, project_id: str, named: NamedNumber) -> str | None:
    """The phone_number_id the request names, or None. Every number it names must be
    the project's (422 naming the field otherwise), even the one that does not win:
    `phone_number_id` is preferred over `whatsapp_config_id`, as in Kapso."""
    await check_owned(conn, project_id, named.phone_number_id, named.number_field)
    if named.whatsapp_config_id is None:
        return named.phone_number_id
    row = await number_store.get_by_config_id(conn, named.whatsapp_config_id, project_id)
    if row is None:
        problem = not_owned_problem(
            named.config_field, named.whatsapp_config_id, config_id=named.config_id_may_be_ours
        )
        raise invalid([problem])
    return named.phone_number_id or str(row["phone_number_id"])


async def choose_number(
    conn: AsyncConnection, *, project_id: str, workflow_id: str, wa_id: str, field: str
) -> str:
    """The number of a WhatsApp start that names none."""
    current = await number_store.number_of_latest_conversation(conn, project_id, wa_id)
    if current is not None:
        return current
    triggered = await number_store.for_workflow(conn, workflow_id, project_id)
    if len(triggered) == 1:
        return str(triggered[0]["phone_number_id"])
    owned = await number_store.project_number_ids(conn, project_id, limit=2)
    if len(owned) == 1:
        return owned[0]
    count = len(owned) if len(owned) < 2 else await number_store.count_for_project(conn, project_id)
    raise invalid([_number_required(field, count)])


def _number_required(field: str, count: int) -> FieldProblem:
    sandbox = 'or pass context.channel = "sandbox" to run the workflow without WhatsApp'
    if field.endswith("whatsapp_config_id"):  # /api/v1 names the number this way only
        what = "pass whatsapp_config_id: the id or the phone_number_id of a number listed by"
    else:
        what = "pass the phone_number_id of one listed by"
    if count == 0:
        message = (
            "is required: this project has no WhatsApp number to send from (0 WhatsApp "
            f"numbers); connect one (POST /platform/v1/whatsapp/phone_numbers), {sandbox}"
        )
    else:
        message = (
            f"is required: this project has {count} WhatsApp numbers and none is implied "
            "(no conversation with this user, and the workflow's inbound_message "
            f"triggers do not name exactly one); {what} GET "
            f"/platform/v1/whatsapp/phone_numbers, {sandbox}"
        )
    return FieldProblem(field, message, "phone_number_required", {"numbers_count": count})
