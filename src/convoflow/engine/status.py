"""Execution statuses and Kapso's transition table."""

from __future__ import annotations

from typing import Final, Literal

Status = Literal["running", "waiting", "ended", "failed", "handoff"]

RUNNING: Final = "running"
WAITING: Final = "waiting"
ENDED: Final = "ended"
FAILED: Final = "failed"
HANDOFF: Final = "handoff"

ALL_STATUSES: Final = (RUNNING, WAITING, ENDED, FAILED, HANDOFF)
TERMINAL: Final = frozenset({ENDED, FAILED})
# Executions that own their conversation: an inbound message goes to them.
ACTIVE: Final = frozenset({RUNNING, WAITING, HANDOFF})

TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    RUNNING: frozenset({WAITING, ENDED, FAILED, HANDOFF}),
    WAITING: frozenset({RUNNING, ENDED, FAILED, HANDOFF}),
    HANDOFF: frozenset({RUNNING, ENDED, FAILED}),
    ENDED: frozenset(),
    FAILED: frozenset(),
}

# What `PATCH /workflow_executions/{id}` may ask for. handoff -> waiting is allowed through
# the API (a human hands the conversation back: the execution waits for the next message).
API_SETTABLE: Final = frozenset({ENDED, HANDOFF, WAITING})

# Kapso's vocabulary for `waiting_reason` (DECISIONS.md).
WAIT_FOR_RESPONSE: Final = "wait_for_response"
WAIT_AGENT: Final = "agent"
WAIT_CALL: Final = "call_workflow"
WAIT_MANUAL: Final = "manual"


class InvalidTransition(Exception):
    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"Invalid transition from {current} to {target}")
        self.current = current
        self.target = target


def can_transition(current: str, target: str) -> bool:
    if current == target:
        return current in (RUNNING, WAITING)
    return target in TRANSITIONS.get(current, frozenset())


def check_transition(current: str, target: str) -> None:
    if not can_transition(current, target):
        raise InvalidTransition(current, target)


def can_api_transition(current: str, target: str) -> bool:
    if target not in API_SETTABLE:
        return False
    if current == HANDOFF and target == WAITING:
        return True
    return target != current and can_transition(current, target)
