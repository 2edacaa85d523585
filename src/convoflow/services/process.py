"""What one running process is made of, as the use-cases receive it (their `engine`
argument): the database, the runtime, the channels, the WhatsApp parts, the key cache,
the resumes in flight, the live streams open, the database probe `/healthz` answers from.

It is defined here, below the composition root, so that services depend on the parts they
are given and never on how they are built: `convoflow/process.py: build_process` (which
imports services for their job handlers and listeners) builds one and is the only place
that does.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from convoflow.channels.base import Channel
from convoflow.clock import Clock
from convoflow.engine.cpu import CpuPool
from convoflow.engine.dispatcher import Dispatcher
from convoflow.engine.runtime import Runtime
from convoflow.engine.worker import Worker
from convoflow.services.executions.in_flight import ResumesInFlight
from convoflow.services.health.probe import DatabaseProbe
from convoflow.services.projects.key_cache import KeyCache
from convoflow.services.streams.slots import StreamSlots
from convoflow.services.whatsapp.parts import WhatsAppServices
from convoflow.store.db import Database


@dataclass
class Process:
    """What one process runs on; services and the API receive it (often named `engine`)."""

    db: Database
    runtime: Runtime
    dispatcher: Dispatcher
    worker: Worker
    key_cache: KeyCache
    # Executions this process is resuming (a second concurrent resume is a 409).
    resumes: ResumesInFlight
    # Pings the database in the background once started (the API's lifespan starts it).
    health: DatabaseProbe
    # Live streams open per API key (services/streams/slots.py: capped per process).
    streams: StreamSlots
    channels: dict[str, Channel] = field(default_factory=dict)
    whatsapp: WhatsAppServices | None = None
    # Large definitions are checked and compiled in its worker processes (engine/cpu.py).
    cpu: CpuPool = field(default_factory=lambda: CpuPool(0))

    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    async def close(self) -> None:
        await self.health.stop()
        await self.runtime.close()
        if self.whatsapp is not None:
            await self.whatsapp.aclose()
        await self.db.dispose()
        await asyncio.to_thread(self.cpu.shutdown)
