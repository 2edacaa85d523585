"""Prometheus metrics of one process, in a registry of its own (built with the engine in
convoflow.process and passed to what records into it; prometheus-client's global
REGISTRY is never touched, so two engines in one process — the tests — never mix).

Counters and histograms are recorded where things happen (one call each: an advance
committed, a send answered, a webhook acknowledged, a project-webhook attempt failed).
Gauges about the shared database (executions by status, job queue depth and the
oldest due job, outbox lag, sends held as uncertain) are read at scrape time by
`/metrics` and handed to `StoreCollector`, so every process reports the same, current
figures.

The same module writes the per-message log lines: one per inbound message handed on by
routing, one per send, each with the execution id, conversation id and wamid — never
the message text.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from convoflow.channels.base import Delivery, SendResult
    from convoflow.store.metrics import StoreFigures

log = structlog.get_logger("convoflow.messages")

# Advances and webhook acknowledgements are milliseconds when healthy; seconds mean a
# database in trouble.
_FAST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class StoreCollector(Collector):
    """Gauges from the last `StoreFigures` read (by the scrape that is collecting)."""

    def __init__(self) -> None:
        self.figures: StoreFigures | None = None
        self.now: datetime | None = None

    def collect(self) -> Iterable[Metric]:
        figures, now = self.figures, self.now
        if figures is None or now is None:
            return []
        return list(_store_families(figures, now))


def _store_families(figures: StoreFigures, now: datetime) -> Iterator[Metric]:
    executions = GaugeMetricFamily(
        "convoflow_executions", "Executions by status (all projects)", labels=["status"]
    )
    for status, count in sorted(figures.executions_by_status.items()):
        executions.add_metric([status], count)
    yield executions
    queued = GaugeMetricFamily("convoflow_jobs", "Jobs in the queue, by kind", labels=["kind"])
    due = GaugeMetricFamily(
        "convoflow_jobs_due", "Jobs whose run time has come, by kind", labels=["kind"]
    )
    oldest = GaugeMetricFamily(
        "convoflow_jobs_oldest_due_seconds",
        "How long the oldest due job of each kind has waited for a worker (0: none due)",
        labels=["kind"],
    )
    for kind, count in sorted(figures.jobs_by_kind.items()):
        queued.add_metric([kind], count)
        due.add_metric([kind], figures.due_jobs_by_kind.get(kind, 0))
        oldest.add_metric([kind], _age(figures.oldest_due_by_kind.get(kind), now))
    yield queued
    yield due
    yield oldest
    yield GaugeMetricFamily(
        "convoflow_outbox_unsent", "Outbound messages not yet sent", value=figures.outbox_unsent
    )
    yield GaugeMetricFamily(
        "convoflow_outbox_lag_seconds",
        "Age of the oldest outbound message not yet sent (0: none)",
        value=_age(figures.oldest_unsent_at, now),
    )
    yield GaugeMetricFamily(
        "convoflow_outbox_uncertain",
        "Sends a crash left without a result, held for a status webhook before a resend",
        value=figures.outbox_uncertain,
    )


def _age(since: datetime | None, now: datetime) -> float:
    return max(0.0, (now - since).total_seconds()) if since is not None else 0.0


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.advances = Counter(
            "convoflow_advances", "Executions advanced (steps run), committed", registry=r
        )
        self.advance_seconds = Histogram(
            "convoflow_advance_seconds",
            "Time from an operation that advanced executions being submitted to its commit",
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        self.webhook_ack_seconds = Histogram(
            "convoflow_whatsapp_webhook_ack_seconds",
            "Time to answer Meta's POST /webhooks/whatsapp, by HTTP status",
            ["status"],
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        self.sends = Counter(
            "convoflow_sends", "Send attempts by channel and result", ["channel", "result"],
            registry=r,
        )  # fmt: skip
        self.graph_errors = Counter(
            "convoflow_graph_api_errors",
            "Failed Graph API sends by Meta error code ('network': no answer)",
            ["code"],
            registry=r,
        )
        self.webhook_delivery_failures = Counter(
            "convoflow_project_webhook_delivery_failures",
            "Failed project-webhook delivery attempts (final: no retry follows)",
            ["final"],
            registry=r,
        )
        for final in ("true", "false"):  # present from the start, at 0
            self.webhook_delivery_failures.labels(final)
        self.store = StoreCollector()
        r.register(self.store)

    # --- recorders: one call at each place where something happens ----------------------

    def advanced(self, count: int, started: float) -> None:
        """`count` executions advanced by an operation submitted at `started`
        (time.perf_counter()) has just committed."""
        self.advances.inc(count)
        self.advance_seconds.observe(time.perf_counter() - started)

    def webhook_acknowledged(self, status: int, started: float) -> None:
        self.webhook_ack_seconds.labels(str(status)).observe(time.perf_counter() - started)

    def send_answered(self, channel: str, delivery: Delivery, result: SendResult) -> None:
        """A channel answered a send (a transactional one: once its transaction
        committed): count it, and log it (ids, never text)."""
        outbox = delivery.outbox
        error = result.error or {}
        self.sends.labels(channel, result.status).inc()
        if result.status != "sent" and "action" in error:  # described by the Graph policy
            code = error.get("code")
            self.graph_errors.labels("network" if code is None else str(code)).inc()
        log.info(
            "message sent" if result.status == "sent" else "message not sent",
            direction="outbound",
            channel=channel,
            result=result.status,
            execution_id=outbox["execution_id"],
            conversation_id=outbox["conversation_id"],
            outbox_id=outbox["id"],
            wamid=result.provider_message_id,
            attempt=outbox["attempts"],
            error_code=error.get("code"),
        )

    def webhook_delivery_failed(self, final: bool) -> None:
        self.webhook_delivery_failures.labels("true" if final else "false").inc()

    # --- scraping ------------------------------------------------------------------------

    def render(self, figures: StoreFigures | None, now: datetime) -> bytes:
        """The Prometheus text exposition, with the store's figures read just now
        (None: unavailable, their gauges are left out)."""
        self.store.figures, self.store.now = figures, now
        return generate_latest(self.registry)


def log_inbound(rows: Iterable[Any], routing: str, execution_id: str | None) -> None:
    """One line per inbound message handed on by routing (call after the commit)."""
    for row in rows:
        log.info(
            "message received",
            direction="inbound",
            routing=routing,
            execution_id=execution_id,
            conversation_id=row["conversation_id"],
            message_id=row["id"],
            wamid=row["provider_message_id"],
        )
