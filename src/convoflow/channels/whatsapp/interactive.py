"""Kapso `send_interactive` fields (rendered) -> Meta's `interactive` object.

Limits are checked here, before the network call, so a flow author gets "button title
'…' is 23 characters; WhatsApp allows 20" instead of Meta's generic (#131009).
Sources: whatsapp-cloud-api.md §2.3 (Meta docs [M6][M7], Meta's Node SDK [M9]).
"""

from __future__ import annotations

from typing import Any

from convoflow.channels.whatsapp._json import obj, objs, text

MAX_BODY = 1024
MAX_HEADER_TEXT = 60
MAX_FOOTER = 60
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_BUTTON_ID = 256
MAX_LIST_BUTTON = 20
MAX_SECTIONS = 10
MAX_ROWS = 10  # in total, across all sections
MAX_SECTION_TITLE = 24
MAX_ROW_TITLE = 24
MAX_ROW_DESCRIPTION = 72
MAX_ROW_ID = 200
MAX_CTA_TEXT = 20
MAX_FLOW_CTA = 20
MEDIA_HEADERS = ("image", "video", "document")
DEFAULT_LIST_BUTTON = "Options"
DEFAULT_FLOW_CTA = "Open"


class OutboundMessageError(ValueError):
    """A message WhatsApp would refuse; the text says which field and which limit."""


def check_length(value: str, limit: int, what: str) -> str:
    if len(value) > limit:
        raise OutboundMessageError(
            f"{what} {value[:40]!r} is {len(value)} characters; WhatsApp allows {limit}"
        )
    return value


def required_text(config: dict[str, Any], key: str, what: str) -> str:
    value = text(config.get(key))
    if value is None or not value.strip():
        raise OutboundMessageError(f"{what} ({key}) is required and was empty")
    return value


def build_interactive(config: dict[str, Any]) -> dict[str, Any]:
    """Meta's `interactive` object from Kapso fields; a Meta-shaped object (a dict `body`
    and no `interactive_type`, e.g. from the messages API) is passed through."""
    if "interactive_type" not in config and isinstance(config.get("body"), dict):
        return dict(config)
    kind = text(config.get("interactive_type"))
    builder = _BUILDERS.get(kind or "")
    if builder is None:
        action = config.get("action_config")
        if kind and isinstance(action, dict):
            return {"type": kind, "body": _body(config), "action": action}
        raise OutboundMessageError(
            f"interactive_type {kind!r} cannot be sent; supported: {', '.join(_BUILDERS)}"
        )
    interactive: dict[str, Any] = {"type": kind}
    header = _header(config, kind or "")
    if header is not None:
        interactive["header"] = header
    interactive["body"] = _body(config)
    footer = text(config.get("footer_text"))
    if footer:
        interactive["footer"] = {"text": check_length(footer, MAX_FOOTER, "footer_text")}
    interactive["action"] = builder(config)
    return interactive


def _body(config: dict[str, Any]) -> dict[str, str]:
    return {"text": check_length(required_text(config, "body_text", "body"), MAX_BODY, "body")}


def _header(config: dict[str, Any], kind: str) -> dict[str, Any] | None:
    if kind == "location_request_message":
        return None  # Meta allows only a body on location requests
    header_type = text(config.get("header_type"))
    header_text = text(config.get("header_text"))
    if header_type is None and header_text:
        header_type = "text"
    if header_type in (None, "none"):
        legacy = obj(config.get("header_config"))
        return legacy if legacy.get("type") else None
    if header_type == "text":
        value = required_text(config, "header_text", "header text")
        return {"type": "text", "text": check_length(value, MAX_HEADER_TEXT, "header_text")}
    if header_type in MEDIA_HEADERS:
        if kind == "list":
            raise OutboundMessageError("a list message can only have a text header")
        link = required_text(config, "header_media_url", f"{header_type} header URL")
        return {"type": header_type, header_type: {"link": link}}
    raise OutboundMessageError(f"header_type {header_type!r} is not one of text, image, ...")


def _unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise OutboundMessageError(f"{what} {value!r} is used twice in one message")
        seen.add(value)


def _buttons(config: dict[str, Any]) -> dict[str, Any]:
    buttons = objs(config.get("buttons"))
    if not 1 <= len(buttons) <= MAX_BUTTONS:
        raise OutboundMessageError(
            f"a button message needs 1 to {MAX_BUTTONS} buttons; it has {len(buttons)}"
        )
    built: list[dict[str, Any]] = []
    for button in buttons:
        button_id = check_length(required_text(button, "id", "button id"), MAX_BUTTON_ID, "id")
        title = required_text(button, "title", "button title")
        check_length(title, MAX_BUTTON_TITLE, "button title")
        built.append({"type": "reply", "reply": {"id": button_id, "title": title}})
    _unique([b["reply"]["id"] for b in built], "button id")
    _unique([b["reply"]["title"] for b in built], "button title")
    return {"buttons": built}


def _list(config: dict[str, Any]) -> dict[str, Any]:
    sections = objs(config.get("list_sections"))
    if not 1 <= len(sections) <= MAX_SECTIONS:
        raise OutboundMessageError(
            f"a list needs 1 to {MAX_SECTIONS} sections; it has {len(sections)}"
        )
    button = text(config.get("list_button_text")) or DEFAULT_LIST_BUTTON
    built_sections, row_ids = [], []
    for section in sections:
        built: dict[str, Any] = {}
        title = text(section.get("title"))
        if title:
            built["title"] = check_length(title, MAX_SECTION_TITLE, "section title")
        elif len(sections) > 1:
            raise OutboundMessageError("every section needs a title when a list has several")
        built["rows"] = [_row(row) for row in objs(section.get("rows"))]
        row_ids += [row["id"] for row in built["rows"]]
        built_sections.append(built)
    if not 1 <= len(row_ids) <= MAX_ROWS:
        raise OutboundMessageError(
            f"a list needs 1 to {MAX_ROWS} rows in total; it has {len(row_ids)}"
        )
    _unique(row_ids, "list row id")
    return {
        "button": check_length(button, MAX_LIST_BUTTON, "list_button_text"),
        "sections": built_sections,
    }


def _row(row: dict[str, Any]) -> dict[str, Any]:
    built = {
        "id": check_length(required_text(row, "id", "list row id"), MAX_ROW_ID, "list row id"),
        "title": check_length(
            required_text(row, "title", "list row title"), MAX_ROW_TITLE, "list row title"
        ),
    }
    description = text(row.get("description"))
    if description:
        built["description"] = check_length(description, MAX_ROW_DESCRIPTION, "row description")
    return built


def _cta_url(config: dict[str, Any]) -> dict[str, Any]:
    display = required_text(config, "cta_display_text", "link button text")
    url = required_text(config, "cta_url", "link URL").strip()
    if not url.lower().startswith(("https://", "http://")):
        raise OutboundMessageError(f"cta_url {url[:60]!r} must start with https:// or http://")
    return {
        "name": "cta_url",
        "parameters": {
            "display_text": check_length(display, MAX_CTA_TEXT, "cta_display_text"),
            "url": url,
        },
    }


def _flow(config: dict[str, Any]) -> dict[str, Any]:
    cta = text(config.get("flow_cta")) or DEFAULT_FLOW_CTA
    parameters: dict[str, Any] = {
        "flow_message_version": "3",
        "flow_id": required_text(config, "flow_id", "WhatsApp Flow id"),
        "flow_cta": check_length(cta, MAX_FLOW_CTA, "flow_cta"),
    }
    token = text(config.get("flow_token"))
    if token:
        parameters["flow_token"] = token
    flow_action = text(config.get("flow_action"))
    payload = config.get("flow_action_payload")
    if flow_action:
        parameters["flow_action"] = flow_action
    if isinstance(payload, dict) and payload and flow_action != "data_exchange":
        # Meta: the payload ({screen, data?}) goes with navigate and must be omitted
        # for data_exchange.
        parameters["flow_action_payload"] = payload
    return {"name": "flow", "parameters": parameters}


def _location_request(config: dict[str, Any]) -> dict[str, Any]:
    return {"name": "send_location"}


_BUILDERS = {
    "button": _buttons,
    "list": _list,
    "cta_url": _cta_url,
    "flow": _flow,
    "location_request_message": _location_request,
}
