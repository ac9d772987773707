"""Prometheus metrics of one API process: its own requests and ingests (counters and histograms in a registry
per app), and the batch queue shared by every process (read from the database at scrape time).

Labels are aggregate only: method, route template (never the raw path), status, job status, line outcome;
never a tenant, a key or a job id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from batchsearch.clock import Clock, utcnow
from batchsearch.index.records import DocumentRecord
from batchsearch.index.store import IndexStore, Snapshot
from batchsearch.observability.logs import log_request
from batchsearch.observability.queue import read_queue_stats

log = logging.getLogger(__name__)
UNMATCHED_ROUTE = "unmatched"  # requests no route answers (404s of unknown paths) share one label
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass
class ApiMetrics:
    """The metrics of one app: its registry and the instruments its middleware and ingests feed."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    ingested_documents: Counter
    ingested_chunks: Counter

    @classmethod
    def create(cls) -> ApiMetrics:
        """Fresh instruments in a registry of their own (several apps in one process never share counts)."""
        registry = CollectorRegistry()
        return cls(
            registry,
            Counter("batchsearch_http_requests", "HTTP requests answered, by method, route template and status.",
                    ["method", "route", "status"], registry=registry),
            Histogram("batchsearch_http_request_duration_seconds",
                      "Time from request to the end of the response, by method, route template and status.",
                      ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=registry),
            Counter("batchsearch_ingest_documents", "Documents this process indexed (own-content uploads).",
                    registry=registry),
            Counter("batchsearch_ingest_chunks", "Chunks this process indexed (own-content uploads).",
                    registry=registry),
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        labels = (method, route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    def observe_indexed(self, docs: list[DocumentRecord]) -> None:
        """Count documents (and their chunks) published to the index."""
        self.ingested_documents.inc(len(docs))
        self.ingested_chunks.inc(sum(len(doc.chunks) for doc in docs))

    def render(self) -> bytes:
        """The registry in the Prometheus text format (runs the database queries of the queue collector)."""
        return generate_latest(self.registry)


class QueueCollector(Collector):
    """Batch queue gauges read from the shared job tables at every scrape; a database that does not answer
    gives `batchsearch_database_up 0` and no queue gauges, never a failed scrape."""

    def __init__(self, engine: Engine, lease_seconds: float, clock: Clock = utcnow) -> None:
        self._engine = engine
        self._lease_seconds = lease_seconds
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        """The gauges of this moment."""
        up = GaugeMetricFamily("batchsearch_database_up", "1 when the job database answered this scrape.")
        try:
            stats = read_queue_stats(self._engine, self._clock(), self._lease_seconds)
        except Exception as exc:  # any driver error: the scrape still answers, saying the database is away
            log.warning("metrics: reading the batch queue failed: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield _labelled("batchsearch_batch_jobs", "Batch jobs by status (queued: uploaded and waiting for a worker).",
                        "status", stats.jobs_by_status)
        yield _labelled("batchsearch_batch_lines", "Batch lines by outcome, summed over the jobs on record.",
                        "outcome", stats.lines_by_outcome)
        yield _gauge("batchsearch_batch_remaining_lines", "Lines of queued and processing jobs not searched yet.",
                     stats.remaining_lines)
        yield _gauge("batchsearch_batch_active_leases", "Jobs a worker holds under a live lease.", stats.active_leases)
        yield _gauge("batchsearch_batch_lines_per_second",
                     "Batch throughput: the measured rates (moving average over recent micro-batches) of the jobs "
                     "under a live lease, summed.", stats.lines_per_second)
        yield _gauge("batchsearch_batch_live_workers", "Workers that reported within one lease.", stats.live_workers)

    def describe(self) -> Iterable[Metric]:
        """Nothing: registering the collector must not query the database."""
        return []


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _labelled(name: str, documentation: str, label: str, values: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key, value in values.items():
        family.add_metric([key], value)
    return family


def route_template(scope: Scope) -> str:
    """The template of the route that answered (e.g. /v1/search/batches/{batch_id}), never the raw path."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


def request_context(scope: Scope) -> dict[str, str | None]:
    """What the app learned about a request while answering it: request id, key name, batch id."""
    state = scope.get("state") or {}
    principal = state.get("principal")
    return {
        "request_id": state.get("request_id"),
        "key_name": getattr(principal, "name", None),
        "batch_id": (scope.get("path_params") or {}).get("batch_id"),
    }


class RequestObserver:
    """Pure ASGI middleware: counts and times every HTTP request by route template and status and writes its
    log line, once the response is over (or failed: a response never started counts as 500)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, watching the status it gets."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            self.metrics.observe_request(scope["method"], route, status, seconds)
            log_request(scope["method"], route, status, seconds, request_context(scope))


def meter_index_publishes(store: IndexStore, metrics: ApiMetrics) -> None:
    """Count every document `store` publishes from now on. The store's publish is the one step every ingest
    path goes through, so the instance's method is wrapped rather than each caller."""
    publish: Callable[..., Snapshot] = store.publish

    def metered(docs: list[DocumentRecord], dim: int, removed_ids: Iterable[str] = ()) -> Snapshot:
        snapshot = publish(docs, dim, removed_ids)
        metrics.observe_indexed(docs)
        return snapshot

    setattr(store, "publish", metered)  # noqa: B010 (an instance attribute on purpose, see above)
