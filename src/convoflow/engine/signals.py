"""What can wake a parked execution (signals) and what a step can answer (outcomes).

Steps never touch the database or the network directly for their effects: they return
one of these values and the runtime applies it inside the advancing transaction. That
keeps every step's effect part of the one commit per advance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# --- signals: delivered to the node an execution is parked on -------------------------


@dataclass(frozen=True)
class UserInput:
    """A reply from the user (WhatsApp message, API resume, sandbox chat line)."""

    value: Any  # becomes vars.last_user_input
    message: dict[str, Any] | None = None  # normalised message -> vars.last_user_message
    variables: dict[str, Any] | None = None  # merged into vars first (API resume)
    source: str = "api"
    message_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class TimerFired:
    purpose: str  # "wait_timeout" | "delay"
    key: str


@dataclass(frozen=True)
class ActionDone:
    """The journaled outcome of an external call (webhook, function)."""

    key: str
    result: dict[str, Any]


@dataclass(frozen=True)
class ChildFinished:
    child_id: str
    status: str  # ended | failed
    vars: dict[str, Any]
    error: dict[str, Any] | None
    workflow_id: str
    workflow_name: str


Signal = UserInput | TimerFired | ActionDone | ChildFinished

# --- outcomes: what a step tells the runtime to do next --------------------------------


@dataclass(frozen=True)
class Next:
    """Leave the node along the edge with this label (no such edge = the execution ends)."""

    label: str = "next"


@dataclass(frozen=True)
class Park:
    """Stay on this node until a signal arrives."""

    status: str  # waiting | running
    cursor: dict[str, Any]
    waiting_reason: str | None = None
    timer_at: datetime | None = None
    timer_purpose: str | None = None


@dataclass(frozen=True)
class AwaitAction:
    """Make an external call outside the transaction; the result comes back as ActionDone."""

    kind: str  # webhook | function | llm
    request: dict[str, Any]
    # The journal's idempotency key; None: the visit's step key. A step that makes several
    # calls in one visit (one per AI field) names each.
    key: str | None = None
    # Step state kept on the cursor while the call is made (the agent's conversation);
    # the step reads it back from `run.execution.cursor` when the result arrives.
    carry: dict[str, Any] | None = None


@dataclass(frozen=True)
class CallChild:
    workflow_id: str


@dataclass(frozen=True)
class Fail:
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Handoff:
    reason: str | None = None
    context_data: Any = None


Outcome = Next | Park | AwaitAction | CallChild | Fail | Handoff
