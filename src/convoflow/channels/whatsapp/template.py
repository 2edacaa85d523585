"""Our template message (`{id, name, parameters, language?, components?}`) -> Meta's
`template` object.

Kapso accepts `parameters` in several forms (openapi-workflows: "Meta components format,
`template_params`, arrays, and objects"); all are read here:
- a Meta `components` array: `[{"type": "body", "parameters": [...]}, ...]`
- `{"components": [...]}` or `{"template_params": <any of these>}`
- positional body values: `["Ana", "42"]` or `{"1": "Ana", "2": "42"}`
- named body values: `{"first_name": "Ana"}` -> `parameter_name` parameters
- Meta parameter objects: `[{"type": "text", "text": "Ana"}]`
"""

from __future__ import annotations

from typing import Any

from convoflow.channels.whatsapp._json import text
from convoflow.channels.whatsapp.interactive import OutboundMessageError

DEFAULT_LANGUAGE = "en_US"
COMPONENT_TYPES = frozenset(
    {"header", "body", "footer", "button", "buttons", "carousel", "limited_time_offer"}
)
PARAMETER_TYPES = frozenset(
    {"text", "currency", "date_time", "image", "video", "document", "location", "payload"}
)
MAX_PARAMETER_TEXT = 32768  # Meta's body-parameter limit; a header parameter allows 60


def build_template(template: dict[str, Any]) -> dict[str, Any]:
    name = text(template.get("name")) or text(template.get("id"))
    if not name or not name.strip():
        raise OutboundMessageError("a template message needs the template's name")
    built: dict[str, Any] = {"name": name, "language": _language(template)}
    explicit = template.get("components")
    components = (
        _components(explicit, "components")
        if explicit is not None
        else _components(template.get("parameters"), "parameters")
    )
    if components:
        built["components"] = components
    return built


def _language(template: dict[str, Any]) -> dict[str, Any]:
    language = template.get("language")
    if isinstance(language, dict) and text(language.get("code")):
        return dict(language)
    code = text(language) or text(template.get("language_code")) or DEFAULT_LANGUAGE
    return {"code": code}


def _components(value: Any, where: str) -> list[dict[str, Any]]:
    if value is None or value == "" or value == [] or value == {}:
        return []
    if isinstance(value, list):
        if all(_is_component(item) for item in value):
            return [dict(item) for item in value]
        return [_body(_parameter(item, f"{where}[{i}]") for i, item in enumerate(value))]
    if isinstance(value, dict):
        if "components" in value:
            return _components(value["components"], f"{where}.components")
        if "template_params" in value:
            return _components(value["template_params"], f"{where}.template_params")
        if _is_component(value):
            return [dict(value)]
        return [_body(_keyed_parameters(value, where))]
    raise OutboundMessageError(
        f"template {where} must be a list or an object, not {type(value).__name__}"
    )


def _is_component(item: Any) -> bool:
    return isinstance(item, dict) and item.get("type") in COMPONENT_TYPES


def _body(parameters: Any) -> dict[str, Any]:
    return {"type": "body", "parameters": list(parameters)}


def _keyed_parameters(values: dict[str, Any], where: str) -> list[dict[str, Any]]:
    positional = all(str(key).strip().isdigit() for key in values)
    if positional:
        ordered = sorted(values.items(), key=lambda item: int(str(item[0]).strip()))
        return [_parameter(value, f"{where}.{key}") for key, value in ordered]
    built = []
    for key, value in values.items():
        parameter = _parameter(value, f"{where}.{key}")
        parameter.setdefault("parameter_name", str(key))
        built.append(parameter)
    return built


def _parameter(value: Any, where: str) -> dict[str, Any]:
    if isinstance(value, dict):
        if value.get("type") in PARAMETER_TYPES:
            return dict(value)
        raise OutboundMessageError(
            f"template parameter {where} is an object without a known type "
            f"({', '.join(sorted(PARAMETER_TYPES))})"
        )
    rendered = text(value)
    if isinstance(value, bool):
        rendered = "true" if value else "false"
    if rendered is None or not rendered.strip():
        # Meta refuses empty parameters (#131008); say which one instead.
        raise OutboundMessageError(f"template parameter {where} is empty")
    if len(rendered) > MAX_PARAMETER_TEXT:
        raise OutboundMessageError(f"template parameter {where} is too long")
    return {"type": "text", "text": rendered}
