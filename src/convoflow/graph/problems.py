"""What validation reports: problems with stable codes, split into errors and warnings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One validation error or lint warning.

    ``code`` is stable (clients branch on it); ``message`` is for people and says what was
    expected; ``field`` is the path inside the node (``config.buttons[2].title``) or inside
    the definition (``edges[3].target``).
    """

    code: str
    message: str
    node_id: str | None = None
    field: str | None = None
    edge_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "node_id": self.node_id,
            "field": self.field,
            "edge_id": self.edge_id,
        }


@dataclass
class ValidationReport:
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "errors": [problem.to_dict() for problem in self.errors],
            "warnings": [problem.to_dict() for problem in self.warnings],
        }

    def error(self, code: str, message: str, **where: str | None) -> None:
        self.errors.append(Problem(code, message, **where))

    def warning(self, code: str, message: str, **where: str | None) -> None:
        self.warnings.append(Problem(code, message, **where))

    def summary(self, limit: int = 3) -> str:
        """A one-line description of the first errors, for exception messages and logs."""
        if self.valid:
            return "definition is valid"
        shown = "; ".join(problem.message for problem in self.errors[:limit])
        more = len(self.errors) - limit
        return shown + (f" (and {more} more)" if more > 0 else "")
