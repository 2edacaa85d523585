"""Pydantic models of Kapso's workflow definition (ReactFlow-style ``{nodes, edges}``).

Lenient on input, as Kapso's clients are: position, node ``type``, ``display_name`` and
edge ``id`` may be omitted, a missing or null edge label means ``next``, and unknown keys
on nodes and edges (from a Kapso export) are ignored.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

DEFAULT_EDGE_LABEL = "next"
NODE_ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]*$"


class Position(BaseModel):
    """Canvas position; purely cosmetic."""

    # "1e400" or "inf" would parse to a float no JSON column can store.
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    x: float = 0
    y: float = 0


class NodeData(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    # Kapso's older flows API used camelCase inside ``data``.
    node_type: str = Field(validation_alias=AliasChoices("node_type", "nodeType"))
    config: dict[str, Any] = {}
    display_name: str | None = Field(
        default=None, validation_alias=AliasChoices("display_name", "displayName")
    )

    @field_validator("config", mode="before")
    @classmethod
    def _null_config_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


class Node(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    type: str | None = "flow-node"
    position: Position = Position()
    data: NodeData

    @field_validator("position", mode="before")
    @classmethod
    def _null_position_is_origin(cls, value: Any) -> Any:
        return Position() if value is None else value


class Edge(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    source: str
    target: str
    label: str = DEFAULT_EDGE_LABEL
    type: str | None = "default"
    flow_condition_id: str | None = None

    @field_validator("label", mode="before")
    @classmethod
    def _null_label_is_next(cls, value: Any) -> Any:
        return DEFAULT_EDGE_LABEL if value is None else value


class Definition(BaseModel):
    model_config = ConfigDict(extra="ignore")

    nodes: list[Node]
    edges: list[Edge] = []

    @field_validator("edges", mode="before")
    @classmethod
    def _null_edges_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


# Envelopes a definition may arrive in: API bodies, Kapso's GET responses, CLI exports.
_ENVELOPES = ("workflow", "flow", "data")


def _unwrap_envelope(document: Any) -> Any:
    for _ in range(2):  # {"data": {...}} from a GET, {"workflow": {...}} from a request body
        if not isinstance(document, dict) or "nodes" in document or "definition" in document:
            break
        inner = next((document[key] for key in _ENVELOPES if key in document), None)
        if not isinstance(inner, dict):
            break
        document = inner
    return document


def load_flow_document(raw: Any) -> tuple[str | None, str | None, Any]:
    """Split a flow file into (name, description, raw definition).

    Accepts a bare definition ``{nodes, edges}``, Kapso's builder document
    ``{name, description, definition}``, and either wrapped in ``{"workflow": ...}``,
    ``{"flow": ...}`` or ``{"data": ...}``. Never raises; the definition is returned
    unvalidated (pass it to ``validate_definition``).
    """
    document = _unwrap_envelope(raw)
    if isinstance(document, dict) and "definition" in document and "nodes" not in document:
        name = document.get("name")
        description = document.get("description")
        return (
            name if isinstance(name, str) else None,
            description if isinstance(description, str) else None,
            document["definition"],
        )
    return None, None, document
