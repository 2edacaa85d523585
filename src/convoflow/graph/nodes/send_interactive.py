"""``send_interactive``: buttons, lists, CTA links, WhatsApp Flows; does not wait itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from pydantic_core import PydanticCustomError

from convoflow.graph.nodes._base import (
    AiText,
    Loc,
    MessageFields,
    NodeType,
    TextLimit,
    choice,
    problem,
    raise_problems,
    require_text,
    too_long,
    validate_with_extra,
)

INTERACTIVE_TYPES = (
    "button",
    "list",
    "cta_url",
    "flow",
    "product",
    "product_list",
    "catalog_message",
    "location_request_message",
)
HEADER_TYPES = ("none", "text", "image", "video", "document")
MAX_BODY_TEXT = 1024
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_SECTIONS = 10
MAX_ROWS = 10  # in total, across all sections
MAX_ROW_TITLE = 24
MAX_ROW_DESCRIPTION = 72
# WhatsApp limits Kapso does not check; reported as text_too_long warnings.
LINTED_LIMITS = {
    "footer_text": 60,
    "header_text": 60,
    "list_button_text": 20,
    "cta_display_text": 20,
}
MAX_SECTION_TITLE = 24


class InteractiveButton(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    title: str

    check_id = field_validator("id")(require_text)

    @field_validator("title")
    @classmethod
    def _title_fits(cls, value: str) -> str:
        require_text(value)
        if len(value) > MAX_BUTTON_TITLE:
            raise too_long("button_title_too_long", value, MAX_BUTTON_TITLE)
        return value


class ListRow(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    title: str
    description: str | None = None

    check_id = field_validator("id")(require_text)

    @field_validator("title")
    @classmethod
    def _title_fits(cls, value: str) -> str:
        require_text(value)
        if len(value) > MAX_ROW_TITLE:
            raise too_long("list_row_title_too_long", value, MAX_ROW_TITLE)
        return value

    @field_validator("description")
    @classmethod
    def _description_fits(cls, value: str | None) -> str | None:
        if value is not None and len(value) > MAX_ROW_DESCRIPTION:
            raise too_long("list_row_description_too_long", value, MAX_ROW_DESCRIPTION)
        return value


class ListSection(BaseModel):
    model_config = ConfigDict(extra="allow")

    title: str | None = None
    rows: list[ListRow] = []


def _duplicate_ids(items: list[Any], code: str, loc_of: Callable[[int], Loc]) -> list[Any]:
    seen: set[str] = set()
    found: list[tuple[Loc, PydanticCustomError]] = []
    for index, item in enumerate(items):
        item_id = item.get("id") if isinstance(item, dict) else None
        if isinstance(item_id, str) and item_id:
            if item_id in seen:
                found.append((loc_of(index), problem(code, "'{id}' is used twice", id=item_id)))
            seen.add(item_id)
    return found


class SendInteractiveConfig(MessageFields):
    interactive_type: Annotated[
        Literal[
            "button",
            "list",
            "cta_url",
            "flow",
            "product",
            "product_list",
            "catalog_message",
            "location_request_message",
        ],
        choice("invalid_interactive_type", INTERACTIVE_TYPES),
    ]
    body_text: AiText
    footer_text: AiText | None = None
    header_type: Annotated[
        Literal["none", "text", "image", "video", "document"] | None,
        choice("invalid_header_type", HEADER_TYPES),
    ] = None
    header_text: AiText | None = None
    header_media_url: str | None = None
    buttons: list[InteractiveButton] = []
    list_button_text: str | None = None
    list_sections: list[ListSection] = []
    cta_display_text: str | None = None
    cta_url: str | None = None
    flow_id: str | None = None
    flow_cta: str | None = None
    flow_token: str | None = None
    flow_action: Literal["navigate", "data_exchange"] | None = None
    flow_action_payload: dict[str, Any] | None = None
    header_config: dict[str, Any] | None = None
    action_config: dict[str, Any] | None = None

    @field_validator("body_text")
    @classmethod
    def _body_fits(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        if isinstance(value, str):
            require_text(value)
            if len(value) > MAX_BODY_TEXT:
                raise too_long("body_text_too_long", value, MAX_BODY_TEXT)
        return value

    @field_validator("buttons", mode="wrap")
    @classmethod
    def _buttons_fit(cls, value: Any, handler: Callable[[Any], Any]) -> Any:
        extra: list[tuple[Loc, PydanticCustomError]] = []
        if isinstance(value, list):
            if len(value) > MAX_BUTTONS:
                extra.append(((), _count_error("too_many_buttons", len(value), MAX_BUTTONS)))
            extra += _duplicate_ids(value, "duplicate_button_id", lambda i: (i, "id"))
        return validate_with_extra("buttons", value, handler, extra)

    @field_validator("list_sections", mode="wrap")
    @classmethod
    def _sections_fit(cls, value: Any, handler: Callable[[Any], Any]) -> Any:
        extra: list[tuple[Loc, PydanticCustomError]] = []
        if isinstance(value, list):
            if len(value) > MAX_SECTIONS:
                extra.append(((), _count_error("too_many_list_sections", len(value), MAX_SECTIONS)))
            rows: list[Any] = []
            row_locs: list[Loc] = []
            for s_index, section in enumerate(value):
                section_rows = section.get("rows") if isinstance(section, dict) else None
                if not isinstance(section_rows, list):
                    continue  # the item validation reports the bad shape
                for r_index, row in enumerate(section_rows):
                    rows.append(row)
                    row_locs.append((s_index, "rows", r_index, "id"))
            if len(rows) > MAX_ROWS:
                extra.append(((), _count_error("too_many_list_rows", len(rows), MAX_ROWS)))
            extra += _duplicate_ids(rows, "duplicate_list_row_id", lambda i: row_locs[i])
        return validate_with_extra("list_sections", value, handler, extra)

    @model_validator(mode="after")
    def _type_specific_fields(self) -> SendInteractiveConfig:
        missing: list[tuple[Loc, PydanticCustomError, Any]] = []
        kind = self.interactive_type
        if kind == "button" and not self.buttons:
            missing.append((("buttons",), problem("missing_buttons", "needs 1 to 3 buttons"), []))
        if kind == "list" and not self.list_sections:
            error = problem("missing_list_sections", "needs at least one section with rows")
            missing.append((("list_sections",), error, []))
        required: list[str] = []
        if kind == "cta_url":
            required = ["cta_display_text", "cta_url"]
        elif kind == "flow":
            required = ["flow_id"]
        if self.header_type == "text":
            required.append("header_text")
        elif self.header_type in ("image", "video", "document"):
            required.append("header_media_url")
        for name in required:
            value = getattr(self, name)
            present = isinstance(value, str) and value.strip()
            if not (present or isinstance(value, dict)):  # a dict: an AI field
                error = problem("empty_required_field", f"is required for this {kind} message")
                missing.append(((name,), error, value))
        raise_problems("SendInteractiveConfig", missing)
        return self

    def text_limits(self) -> list[TextLimit]:
        limits = [
            TextLimit(name, len(value), limit)
            for name, limit in LINTED_LIMITS.items()
            if isinstance(value := getattr(self, name), str)
        ]
        for index, section in enumerate(self.list_sections):
            if section.title is not None:
                name = f"list_sections[{index}].title"
                limits.append(TextLimit(name, len(section.title), MAX_SECTION_TITLE))
        return limits


def _count_error(code: str, count: int, limit: int) -> PydanticCustomError:
    return problem(code, "has {count} items; at most {limit} allowed", count=count, limit=limit)


NODE = NodeType(
    name="send_interactive",
    config=SendInteractiveConfig,
    display_name="Send Interactive Message",
    stepable_type="FlowActionStep",
    icon="buttons",
    key_fields=("body_text", "buttons"),
)
