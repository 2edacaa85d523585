"""Run a suite's cases, step by step, through a driver; a case stops at its first failing
step (the steps after it would test a conversation that already went elsewhere)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from convoflow.testing.driver import Conversation, Driver, DriverError, Reply
from convoflow.testing.matcher import check_bot, check_status, check_vars, options
from convoflow.testing.model import (
    AdvanceTimeStep,
    ButtonReply,
    ExpectBotStep,
    ExpectStatusStep,
    ExpectVarsStep,
    LoadedCase,
    SetVarsStep,
    Step,
    Suite,
    UserStep,
)

PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"

logger = logging.getLogger(__name__)


@dataclass
class CaseResult:
    suite: str
    case: str
    outcome: str  # passed | failed | error | skipped
    seconds: float = 0.0
    step: int | None = None  # the step that failed or could not run (1-based)
    step_text: str = ""
    lines: list[str] = field(default_factory=list)  # the diff / the reason

    @property
    def ok(self) -> bool:
        return self.outcome in (PASSED, SKIPPED)


class StepFailed(Exception):
    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def describe_step(step: Step) -> str:
    """The step as its YAML line (shown in failures)."""
    return ", ".join(
        f"{key}: {value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}"
        for key, value in step.model_dump(exclude_none=True).items()
    )


class CaseRun:
    """One case's state: the bot messages of the current turn and what is to be sent."""

    def __init__(self, conversation: Conversation, case: LoadedCase) -> None:
        self.conversation = conversation
        self.case = case
        self.started = False
        self.turn: list[dict[str, Any]] = []  # bot messages since the last user/time step
        self.matched = 0
        self.last_bot: dict[str, Any] | None = None
        self.pending_vars: dict[str, Any] = dict(case.variables)

    def _new_turn(self, messages: list[dict[str, Any]]) -> None:
        self.turn, self.matched = messages, 0
        if messages:
            self.last_bot = messages[-1]

    async def _ensure_started(self) -> None:
        if not self.started:
            self.started = True
            variables, self.pending_vars = self.pending_vars, {}
            self._new_turn(await self.conversation.start(variables))

    async def run_step(self, step: Step) -> None:
        if isinstance(step, SetVarsStep):
            self.pending_vars.update(step.set_vars)  # start variables, or with the next reply
            return
        await self._ensure_started()
        if isinstance(step, UserStep):
            reply = self._reply(step)
            status = (await self.conversation.snapshot()).status
            if status in ("ended", "failed"):
                raise StepFailed([f"the user cannot reply: the execution is {status}"])
            variables, self.pending_vars = self.pending_vars or None, {}
            self._new_turn(await self.conversation.send(reply, variables))
        elif isinstance(step, AdvanceTimeStep):
            self._new_turn(await self.conversation.advance_time(step.advance_time))
        elif isinstance(step, ExpectBotStep):
            message = self.turn[self.matched] if self.matched < len(self.turn) else None
            self.matched += 1
            lines = check_bot(step.expectation(), message, self.turn)
            if lines:
                # A flow that failed says nothing more; say why instead of only "no message".
                snapshot = await self.conversation.snapshot()
                if snapshot.error:
                    lines.append(f"the execution is {snapshot.status}: {snapshot.error}")
            _raise_if(lines)
        elif isinstance(step, ExpectVarsStep):
            _raise_if(check_vars(step.expect_vars, await self.conversation.snapshot()))
        elif isinstance(step, ExpectStatusStep):
            _raise_if(check_status(step.expect_status, await self.conversation.snapshot()))

    def _reply(self, step: UserStep) -> Reply:
        if isinstance(step.user, str):
            return Reply(kind="text", text=step.user)
        kind, wanted = (
            ("buttons", step.user.button)
            if isinstance(step.user, ButtonReply)
            else ("list_rows", step.user.list_row)
        )
        offered = options(self.last_bot, kind)
        for option in offered:
            if wanted in (str(option.get("id")), str(option.get("title"))):
                reply_kind = "button_reply" if kind == "buttons" else "list_reply"
                return Reply(reply_kind, str(option.get("title")), str(option.get("id")))
        titles = [f"{o.get('title')} ({o.get('id')})" for o in offered]
        raise StepFailed(
            [
                f"the last bot message offers no {kind[:-1].replace('_', ' ')} {wanted!r}",
                f"it offers: {titles or 'nothing to tap'}",
            ]
        )


def _raise_if(lines: list[str] | None) -> None:
    if lines:
        raise StepFailed(lines)


async def run_case(driver: Driver, flow: str, suite: Suite, case: LoadedCase) -> CaseResult:
    began = time.perf_counter()
    result = CaseResult(suite=suite.name, case=case.name, outcome=PASSED)
    if case.skip is not None:
        result.outcome, result.lines = SKIPPED, [f"skipped: {case.skip}"]
        return result
    try:
        run = CaseRun(await driver.conversation(flow), case)
        for number, step in enumerate(case.steps, start=1):
            result.step, result.step_text = number, describe_step(step)
            await run.run_step(step)
        result.step, result.step_text = None, ""
    except StepFailed as exc:
        result.outcome, result.lines = FAILED, exc.lines
    except DriverError as exc:
        result.outcome, result.lines = ERROR, [str(exc)]
    except Exception as exc:
        # A stored suite runs inside the server: one case that trips an unexpected error
        # (a value the engine cannot store, a bug of ours) is that case's `error`, and the
        # other cases still run; the traceback goes to the log.
        logger.exception("test case %r of suite %r: unexpected error", case.name, suite.name)
        result.outcome, result.lines = ERROR, [_unexpected(exc)]
    result.seconds = time.perf_counter() - began
    return result


async def run_suites(
    driver: Driver, suites: list[Suite], on_result: Callable[[CaseResult], None]
) -> list[CaseResult]:
    results: list[CaseResult] = []
    for suite in suites:
        try:
            flow = await driver.prepare(suite)
        except Exception as exc:  # DriverError, or a bug: every case errors
            if not isinstance(exc, DriverError):
                logger.exception("test suite %r: unexpected error preparing it", suite.name)
            reason = str(exc) if isinstance(exc, DriverError) else _unexpected(exc)
            for case in suite.cases:
                result = CaseResult(suite.name, case.name, ERROR, lines=[reason])
                results.append(result)
                on_result(result)
            continue
        for case in suite.cases:
            result = await run_case(driver, flow, suite, case)
            results.append(result)
            on_result(result)
    return results


def _unexpected(exc: Exception) -> str:
    return f"unexpected error ({type(exc).__name__}): {exc}".splitlines()[0][:500]
