"""Which WhatsApp number an API start sends from, the way a user expects.

Order: the request's number (which must be the project's); else the number of the
user's active conversation in the project; else the workflow's inbound_message trigger
number, if there is exactly one; else the project's only number. Otherwise the start is
refused at the API call (422), saying which field to pass; before, it was accepted and
then failed asynchronously with "no WhatsApp number to send from".
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from convoflow.services.common import FieldProblem, invalid
from convoflow.services.whatsapp.number_ownership import check_owned
from convoflow.store import phone_numbers as number_store


async def choose_number(
    conn: AsyncConnection,
    *,
    project_id: str,
    workflow_id: str,
    requested: str | None,
    wa_id: str,
    field: str,
) -> str:
    if requested is not None:
        await check_owned(conn, project_id, requested, field)
        return requested
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
    if count == 0:
        message = (
            "is required: this project has no WhatsApp number to send from; connect one "
            f"(POST /platform/v1/whatsapp/phone_numbers), {sandbox}"
        )
    else:
        message = (
            f"is required: this project has {count} WhatsApp numbers and none is implied "
            "(no active conversation with this user, and the workflow's inbound_message "
            "triggers do not name exactly one); pass the phone_number_id of one listed by "
            f"GET /platform/v1/whatsapp/phone_numbers, {sandbox}"
        )
    return FieldProblem(field, message, "phone_number_required", {"numbers_count": count})
