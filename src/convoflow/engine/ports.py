"""What the parts of the step loop see of each other, typed apart so that they do not
import each other: `Runtime` builds `Advance`s (engine/runtime.py), an `Advance` runs
steps (engine/step.py, engine/steps/) and child calls (engine/children.py), and each of
those reaches back only through what is declared here.

- `RuntimeView`: the process's collaborators an advance and the use-cases built on it
  read through `adv.runtime` (database, clock, settings, caches, notifier, CPU pool).
  `engine/runtime.py: Runtime` is the one implementation.
- `AdvanceView`: what a step or a child call sees of the advance running it — the
  effects it collects (`Effects`), the runtime, the project's secrets, input that arrived
  while the execution was busy. `engine/advance.py: Advance` is the one implementation.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Protocol

from convoflow.clock import Clock
from convoflow.config import Settings
from convoflow.engine.cpu import CpuPool
from convoflow.engine.effects import Effects
from convoflow.engine.graphs import GraphCache
from convoflow.engine.notifier import Notifier
from convoflow.engine.project_settings import ProjectSettingsCache
from convoflow.engine.signals import UserInput
from convoflow.engine.state import ExecutionState
from convoflow.store.db import Database


class RuntimeView(Protocol):
    @property
    def db(self) -> Database: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def cpu(self) -> CpuPool: ...

    @property
    def graphs(self) -> GraphCache: ...

    @property
    def notifier(self) -> Notifier: ...

    @property
    def project_settings(self) -> ProjectSettingsCache: ...


class AdvanceView(Effects, ABC):
    runtime: RuntimeView
    # `${ENV:X}` templates may read the process environment (a setting, off by default).
    allow_process_env: bool

    @abstractmethod
    async def project_secrets(self, project_id: str) -> dict[str, str]:
        """The project's secrets, read once per advance."""

    @abstractmethod
    async def take_pending_input(self, state: ExecutionState) -> UserInput | None:
        """Input that reached `state`'s conversation while the execution was busy, claimed
        for it (None: nothing waits, or the process keeps no pending input)."""
