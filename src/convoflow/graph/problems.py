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
    # The JSON itself has the wrong shape (a node that is not an object, a list where an
    # object belongs...): such a definition cannot even be stored as a draft.
    malformed: bool = False

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

    @property
    def malformed(self) -> list[Problem]:
        """The errors that make the definition unstorable (see ``Problem.malformed``)."""
        return [problem for problem in self.errors if problem.malformed]

    def error(self, code: str, message: str, **where: str | None) -> None:
        self.errors.append(_problem(code, message, where))

    def shape_error(self, code: str, message: str, **where: str | None) -> None:
        """An error that makes the definition unstorable (``Problem.malformed``)."""
        self.errors.append(_problem(code, message, where, malformed=True))

    def warning(self, code: str, message: str, **where: str | None) -> None:
        self.warnings.append(_problem(code, message, where))

    def summary(self, limit: int = 3) -> str:
        """A one-line description of the first errors, for exception messages and logs."""
        if self.valid:
            return "definition is valid"
        shown = "; ".join(problem.message for problem in self.errors[:limit])
        more = len(self.errors) - limit
        return shown + (f" (and {more} more)" if more > 0 else "")


_WHERE = frozenset({"node_id", "field", "edge_id"})


def _problem(
    code: str, message: str, where: dict[str, str | None], *, malformed: bool = False
) -> Problem:
    if not _WHERE.issuperset(where):
        raise TypeError(f"unexpected problem location keys: {sorted(set(where) - _WHERE)}")
    return Problem(
        code,
        message,
        node_id=where.get("node_id"),
        field=where.get("field"),
        edge_id=where.get("edge_id"),
        malformed=malformed,
    )
