"""The composition root: one running convoflow process (API server, CLI command or test)
is built here, and only here: database, runtime (with its job handlers, listeners and
pending-input source), channels, dispatcher and worker. Every object gets what it needs
at construction, so the API server, the CLI and the tests run the same code paths.

`Process` (what is built) is defined in services/process.py, below this module, because
the use-cases receive it; it is re-exported here for the API, the CLI and the tests."""

from __future__ import annotations

import httpx

from convoflow.channels.base import Channel
from convoflow.channels.sandbox import SandboxChannel
from convoflow.clock import Clock, SystemClock
from convoflow.config import Settings, get_settings, secret_key_of, streams_per_project
from convoflow.engine.cpu import CpuPool
from convoflow.engine.dispatcher import Dispatcher
from convoflow.engine.hooks import EngineHooks
from convoflow.engine.llm.client import LLMClient
from convoflow.engine.runtime import Runtime
from convoflow.engine.worker import Worker
from convoflow.observability.metrics import Metrics
from convoflow.services.conversations import routing
from convoflow.services.executions.in_flight import ResumesInFlight
from convoflow.services.executions.project_events import handle_project_event_job
from convoflow.services.health.probe import DatabaseProbe
from convoflow.services.process import Process
from convoflow.services.projects.key_cache import KeyCache
from convoflow.services.streams.slots import StreamSlots
from convoflow.services.whatsapp.setup import build_whatsapp
from convoflow.store.cipher import SecretCipher, load_cipher
from convoflow.store.db import Database

__all__ = ["Process", "build_process"]


def build_process(
    database_url: str | None = None,
    *,
    clock: Clock | None = None,
    settings: Settings | None = None,
    http: httpx.AsyncClient | None = None,
    channels: dict[str, Channel] | None = None,
    worker_id: str | None = None,
    pool_size: int = 10,
    cipher: SecretCipher | None = None,
    llm: LLMClient | None = None,
) -> Process:
    """Raises SecretKeyError when no secret key can be found (PostgreSQL without
    CONVOFLOW_SECRET_KEY, SQLite without it or its key file). `llm`: a model client of
    the caller's (None: the runtime's own, through its egress)."""
    settings = settings or get_settings()
    url = database_url or settings.database_url
    if cipher is None:
        cipher = load_cipher(secret_key_of(settings), url)
    db = Database(url, pool_size=pool_size, cipher=cipher)
    # WhatsApp: numbers from the phone_numbers table, Graph URL from settings.
    whatsapp = build_whatsapp(db, settings)
    clock = clock or SystemClock()
    # API keys: this process's cache, told by the notifier when a key is revoked.
    key_cache = KeyCache(clock)
    # Large definitions are checked and compiled here, away from the event loop's GIL.
    cpu = CpuPool(settings.definition_workers)
    runtime = Runtime(
        db,
        clock=clock,
        settings=settings,
        http=http,
        llm=llm,
        metrics=Metrics(),
        job_handlers={
            routing.ROUTE_JOB: routing.handle_route_job,
            "project_event": handle_project_event_job,
            **whatsapp.job_handlers,
        },
        hooks=EngineHooks(whatsapp.listeners, whatsapp.send_listeners),
        pending_input_source=routing.take_pending_input,
        key_revoked_listeners=(key_cache.forget_key,),
        cpu=cpu,
    )
    all_channels: dict[str, Channel] = {"sandbox": SandboxChannel(), "whatsapp": whatsapp.channel}
    all_channels.update(channels or {})
    dispatcher = Dispatcher(runtime, all_channels)
    worker = Worker(runtime, dispatcher, worker_id=worker_id)
    return Process(
        db=db,
        runtime=runtime,
        dispatcher=dispatcher,
        worker=worker,
        key_cache=key_cache,
        resumes=ResumesInFlight(),
        health=DatabaseProbe(db.ping),
        streams=StreamSlots(settings.max_streams_per_key, streams_per_project(settings)),
        channels=all_channels,
        whatsapp=whatsapp,
        cpu=cpu,
    )
