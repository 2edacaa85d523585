"""The agent node's built-in tools: what the model is offered (JSON schemas) and what each
call does. Every built-in tool acts inside the advancing transaction that also records
the model's answer, so a turn's tool effects commit with it or not at all: a crash never
repeats one (the model's answer is journaled, the job that delivers it runs again)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from convoflow.clock import utc_iso
from convoflow.engine.step import StepRun
from convoflow.engine.steps.emit_event import emit_project_event

# What a tool answers the model is cut to this (a large variable, a context dump).
MAX_RESULT_CHARS = 8_000

_STRING = {"type": "string"}
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
_CAPTIONED = ("image", "video", "document")  # WhatsApp refuses a caption on the others
_NO_ARGS: dict[str, Any] = {"type": "object", "properties": {}}


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


# name -> (description, JSON schema of the arguments)
SPECS: dict[str, tuple[str, dict[str, Any]]] = {
    "send_notification_to_user": (
        "Send a WhatsApp text message to the user.",
        _object(["message"], message=_STRING),
    ),
    "send_media": (
        "Send an image, video, audio, document or sticker to the user, by public URL or "
        "by the id of media uploaded to WhatsApp (`media_id`): give one of the two.",
        _object(
            ["media_type"],
            media_type={"type": "string", "enum": list(MEDIA_TYPES)},
            url=_STRING,
            media_id=_STRING,
            caption=_STRING,
            filename=_STRING,
        ),
    ),
    "get_execution_metadata": ("The ids and timing of this flow execution.", _NO_ARGS),
    "get_whatsapp_context": ("The conversation's channel context (phone numbers).", _NO_ARGS),
    "get_current_datetime": ("The current date and time, ISO-8601 in UTC.", _NO_ARGS),
    "save_variable": (
        "Save a value as a flow variable (vars.<name>) for later steps.",
        _object(["name", "value"], name=_STRING, value={}),
    ),
    "get_variable": ("Read a flow variable (vars.<name>).", _object(["name"], name=_STRING)),
    "complete_task": (
        "Finish: the task is done and the flow continues after this agent.",
        _object([], summary=_STRING),
    ),
    "handoff_to_human": (
        "Give the conversation to a human agent.",
        _object([], reason=_STRING),
    ),
    "enter_waiting": (
        "Wait for the user's next message before going on.",
        _object([], reason=_STRING),
    ),
    "emit_event": (
        "Record a project event (starts workflows triggered by it).",
        _object(["event_name"], event_name=_STRING, properties={"type": "object"}),
    ),
}
# Tools that end the turn's tool processing; the loop acts on them.
CONTROL_TOOLS = frozenset({"complete_task", "handoff_to_human", "enter_waiting"})


def offered(enabled: list[str]) -> list[str]:
    """The built-in tools offered: the node's `enabled_default_tools` (all when empty),
    less those not implemented yet (ask_about_file)."""
    wanted = enabled or list(SPECS)
    return [name for name in wanted if name in SPECS]


def tool_specs(names: list[str]) -> list[dict[str, Any]]:
    return [
        {"name": name, "description": SPECS[name][0], "parameters": SPECS[name][1]}
        for name in names
    ]


@dataclass(frozen=True)
class ToolAnswer:
    content: str
    ok: bool = True


def as_json(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text[:MAX_RESULT_CHARS]


def _text_arg(arguments: dict[str, Any], name: str) -> str | None:
    value = arguments.get(name)
    return value if isinstance(value, str) and value.strip() else None


async def run_builtin(run: StepRun, name: str, arguments: dict[str, Any]) -> ToolAnswer:
    """One data tool's effect and what the model is told (never raises for bad input:
    the model is told what was wrong and can try again)."""
    if name == "send_notification_to_user":
        text = _text_arg(arguments, "message")
        if text is None:
            return ToolAnswer("error: `message` must be a non-empty string", ok=False)
        run.send({"type": "text", "text": text})
        return ToolAnswer("sent")
    if name == "send_media":
        return _send_media(run, arguments)
    if name in ("save_variable", "get_variable"):
        variable = _text_arg(arguments, "name")
        if variable is None:
            return ToolAnswer("error: `name` must be a non-empty string", ok=False)
        if name == "get_variable":
            return ToolAnswer(as_json(run.vars.get(variable)))
        run.set_vars({variable: arguments.get("value")}, source="agent")
        return ToolAnswer(f"saved vars.{variable}")
    if name == "get_current_datetime":
        return ToolAnswer(utc_iso(run.now) or "")
    if name == "get_execution_metadata":
        execution = run.execution
        return ToolAnswer(
            as_json(
                {
                    "execution_id": execution.id,
                    "workflow_id": execution.workflow_id,
                    "tracking_id": execution.tracking_id,
                    "node_id": run.node.id,
                    "started_at": utc_iso(execution.started_at),
                    "conversation_id": execution.conversation_id,
                }
            )
        )
    if name == "get_whatsapp_context":
        return ToolAnswer(as_json(run.scope.get("context") or {}))
    if name == "emit_event":
        event_name = _text_arg(arguments, "event_name")
        properties = arguments.get("properties") or {}
        if event_name is None or not isinstance(properties, dict):
            return ToolAnswer("error: `event_name` (string), `properties` (object)", ok=False)
        event_id = emit_project_event(run, event_name, properties, run.now)
        return ToolAnswer(f"event {event_id} recorded")
    return ToolAnswer(f"error: no tool named {name!r}", ok=False)


def _send_media(run: StepRun, arguments: dict[str, Any]) -> ToolAnswer:
    kind = arguments.get("media_type")
    url = _text_arg(arguments, "url")
    media_id = _text_arg(arguments, "media_id")
    if kind not in MEDIA_TYPES:
        return ToolAnswer(f"error: `media_type` must be one of {', '.join(MEDIA_TYPES)}", ok=False)
    if (url is None) == (media_id is None):
        return ToolAnswer("error: give one of `url` and `media_id`", ok=False)
    if url is not None and not url.startswith(("https://", "http://")):
        return ToolAnswer("error: `url` must be an http(s) URL", ok=False)
    # An uploaded media id goes to WhatsApp as it is (`{"id": ...}`), like a send_media
    # from the API; Meta refuses an id that is not the number's.
    media: dict[str, Any] = {"id": media_id} if media_id else {"link": url}
    caption = _text_arg(arguments, "caption")
    if caption is not None:
        if kind not in _CAPTIONED:
            return ToolAnswer(f"error: a {kind} cannot have a caption", ok=False)
        media["caption"] = caption
    filename = _text_arg(arguments, "filename")
    if filename is not None and kind == "document":
        media["filename"] = filename
    run.send({"type": kind, kind: media})
    return ToolAnswer("sent")
