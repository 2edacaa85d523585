"""The execution status machine (engine/status.py): Kapso's transition table."""

from __future__ import annotations

import itertools

import pytest

from convoflow.engine import status as st

ALLOWED = {
    ("running", "waiting"),
    ("running", "ended"),
    ("running", "failed"),
    ("running", "handoff"),
    ("waiting", "running"),
    ("waiting", "ended"),
    ("waiting", "failed"),
    ("waiting", "handoff"),
    ("handoff", "running"),
    ("handoff", "ended"),
    ("handoff", "failed"),
    # Staying put is fine while the execution is live and not with a human.
    ("running", "running"),
    ("waiting", "waiting"),
}


def test_statuses_and_groups():
    assert st.ALL_STATUSES == ("running", "waiting", "ended", "failed", "handoff")
    assert {"ended", "failed"} == st.TERMINAL
    assert {"running", "waiting", "handoff"} == st.ACTIVE
    assert st.TERMINAL.isdisjoint(st.ACTIVE)
    assert set(st.ALL_STATUSES) == st.TERMINAL | st.ACTIVE


@pytest.mark.parametrize(("current", "target"), list(itertools.product(st.ALL_STATUSES, repeat=2)))
def test_transition_table(current, target):
    allowed = (current, target) in ALLOWED
    assert st.can_transition(current, target) is allowed
    if allowed:
        st.check_transition(current, target)
    else:
        with pytest.raises(st.InvalidTransition) as raised:
            st.check_transition(current, target)
        assert str(raised.value) == f"Invalid transition from {current} to {target}"
        assert (raised.value.current, raised.value.target) == (current, target)


def test_terminal_statuses_are_never_left():
    for terminal, target in itertools.product(st.TERMINAL, st.ALL_STATUSES):
        assert not st.can_transition(terminal, target)


def test_unknown_status_cannot_transition():
    assert not st.can_transition("paused", "running")
    assert not st.can_transition("running", "paused")


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        ("running", "ended", True),
        ("waiting", "ended", True),
        ("handoff", "ended", True),
        ("running", "handoff", True),
        ("waiting", "handoff", True),
        ("running", "waiting", True),
        ("handoff", "waiting", True),  # a human hands the conversation back
        ("waiting", "waiting", False),  # not a change
        ("handoff", "handoff", False),
        ("waiting", "running", False),  # only the engine runs executions
        ("running", "failed", False),  # the API cannot fail an execution
        ("ended", "waiting", False),
        ("failed", "ended", False),
        ("ended", "handoff", False),
    ],
)
def test_api_transitions(current, target, allowed):
    assert st.can_api_transition(current, target) is allowed


def test_waiting_reasons_use_kapso_vocabulary():
    assert (st.WAIT_FOR_RESPONSE, st.WAIT_AGENT, st.WAIT_CALL, st.WAIT_MANUAL) == (
        "wait_for_response",
        "agent",
        "call_workflow",
        "manual",
    )
