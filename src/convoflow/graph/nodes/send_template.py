"""``send_template``: send an approved WhatsApp template (allowed outside the 24 h window)."""

from __future__ import annotations

from typing import Any

from pydantic import field_validator

from convoflow.graph.nodes._base import MessageFields, NodeType, require_text


class SendTemplateConfig(MessageFields):
    template_id: str
    template_name: str | None = None
    # Meta components, ``template_params``, or a positional object like {"1": "{{vars.x}}"}.
    parameters: Any = None

    check_template_id = field_validator("template_id")(require_text)


NODE = NodeType(
    name="send_template",
    config=SendTemplateConfig,
    display_name="Send Template",
    stepable_type="FlowActionStep",
    icon="template",
    key_fields=("template_name",),
)
