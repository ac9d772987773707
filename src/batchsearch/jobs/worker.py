"""A worker process: claim jobs FIFO under a lease, heartbeat, run them; `python -m batchsearch.jobs.worker`."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy.exc

from batchsearch.clock import Clock, utcnow
from batchsearch.config import Settings
from batchsearch.db import create_db_engine
from batchsearch.errors import ServiceUnavailableError
from batchsearch.jobs import parts
from batchsearch.jobs.execute import BatchExecutor, LineSearcher, MicroBatchExecutor, PlanningSearcher
from batchsearch.index.snapshot_ids import snapshot_key
from batchsearch.jobs.finalize import Finalizer
from batchsearch.jobs.intake import InputLimits, Intake
from batchsearch.jobs.lines import JsonObject, Outcome
from batchsearch.jobs.model import UPLOAD_GRACE_SECONDS, Job, JobBackend
from batchsearch.jobs.retention import purge_expired
from batchsearch.jobs.runner import JobRunner, RunnerConfig
from batchsearch.jobs.status import QueueView, StatusContext, render_status
from batchsearch.jobs.store import SqlJobStore
from batchsearch.jobs.webhook_targets import parse_networks
from batchsearch.jobs.webhooks import WebhookDispatcher, WebhookPolicy
from batchsearch.models.search import Query
from batchsearch.observability.logs import configure_logging
from batchsearch.services import index_store, sweep_index_garbage
from batchsearch.storage import open_object_store
from batchsearch.storage.protocol import ObjectStore
from batchsearch.usage import UsageStore

if TYPE_CHECKING:
    from batchsearch.index.store import Snapshot
    from batchsearch.search.engine import SearchEngine

log = logging.getLogger(__name__)
SearcherFactory = Callable[[Settings], LineSearcher]
ORPHAN_EXIT_CODE = 3
SWEEP_SECONDS = 10.0
MAX_BACKOFF_SECONDS = 10.0


class EngineLineSearcher:
    """The real search engine as a LineSearcher; a job's lines all search the generation it pinned."""

    def __init__(self, engine: SearchEngine) -> None:
        self._engine = engine
        self._pinned: Snapshot | None = None

    def current_generation(self) -> int | None:
        """The newest published index generation."""
        return int(self._engine.store.current_generation())

    def search_many(self, queries: Sequence[Query], *, owner: str | None, generation: int | None) -> list[Outcome]:
        """The engine's responses (or errors), one per query, over index `generation` (None: the newest)."""
        return list(self._engine.search_many(queries, owner=owner, snapshot=self._snapshot(generation)))

    def _snapshot(self, generation: int | None) -> Snapshot | None:
        """The snapshot of `generation`, opened once and kept while the same generation is asked for."""
        if generation is None:
            return None
        if self._pinned is None or self._pinned.generation != generation:
            self._pinned = self._engine.store.open_generation(generation)
        return self._pinned


def open_engine_searcher(settings: Settings, *, one_cpu: bool = False) -> LineSearcher:
    """Load the index these settings name (embedded, or shared through the object store) and the embedder once
    for this process; `one_cpu`: every search on one thread (no lexical helper thread)."""
    from batchsearch.embeddings import build_embedder
    from batchsearch.search.engine import SearchEngine

    from batchsearch.kg import KnowledgeGraph

    engine = SearchEngine(index_store(settings), build_embedder(settings), fusion=settings.fusion,
                          snapshot_key=snapshot_key(settings.resolved_signing_secret()), lexical_thread=not one_cpu,
                          dense=settings.dense)
    detector = KnowledgeGraph.open_or_build(settings.data_dir / "kg").detector()  # as the API's: enrichment, smart mode
    return PlanningSearcher(EngineLineSearcher(engine), detector, utcnow)


def new_worker_id() -> str:
    """A worker id that names the host process, for logs and the workers table."""
    return f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


class Heartbeat:
    """A thread that keeps the worker registered, renews the current job's lease and exits when orphaned."""

    def __init__(self, backend: JobBackend, worker_id: str, settings: Settings, clock: Clock, parent_pid: int | None):
        self._backend = backend
        self._worker_id = worker_id
        self._settings = settings
        self._clock = clock
        self._parent_pid = parent_pid
        self._job_id: str | None = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="batch-heartbeat", daemon=True)
        self.rate: Callable[[], float | None] = lambda: None

    def start(self) -> None:
        """Start beating."""
        self.beat()
        self._thread.start()

    def stop(self) -> None:
        """Stop beating."""
        self._stopped.set()
        self._thread.join(timeout=5)

    def watch(self, job_id: str | None) -> None:
        """Renew this job's lease on every beat (None: no job)."""
        self._job_id = job_id

    def _loop(self) -> None:
        """Beat every heartbeat_seconds until stopped."""
        while not self._stopped.wait(self._settings.heartbeat_seconds):
            try:
                self.beat()
            except Exception:
                log.exception("heartbeat failed")

    def beat(self) -> None:
        """One beat: exit if orphaned, report alive, extend the lease."""
        if self._parent_pid is not None and os.getppid() != self._parent_pid:
            log.error("worker %s: parent process died; exiting", self._worker_id)
            os._exit(ORPHAN_EXIT_CODE)
        now = self._clock()
        self._backend.report_worker(self._worker_id, now, self.rate())
        job_id = self._job_id
        if job_id is not None:
            self._backend.renew_lease(job_id, self._worker_id, now + timedelta(seconds=self._settings.lease_seconds))


class Worker:
    """Claims jobs one at a time (oldest first, expired leases included) and runs them."""

    def __init__(
        self,
        settings: Settings,
        backend: JobBackend,
        objects: ObjectStore,
        searcher: LineSearcher | BatchExecutor,
        *,
        clock: Clock = utcnow,
        parent_pid: int | None = None,
        usage: UsageStore | None = None,
    ) -> None:
        self.id = new_worker_id()
        self._settings = settings
        self._backend = backend
        self._objects = objects
        self._clock = clock
        self._executor = (searcher if isinstance(searcher, BatchExecutor)  # e.g. Ray actors
                          else MicroBatchExecutor(searcher, timeout_seconds=settings.query_timeout_seconds))
        config = RunnerConfig(
            micro_batch_size=settings.micro_batch_size,
            lease_seconds=settings.lease_seconds,
            max_bytes=settings.batch_max_bytes,
            max_lines=settings.batch_max_lines,
            max_attempts=settings.batch_max_attempts,
        )
        record = (lambda owner, chunks, searches: usage.record(owner, chunks=chunks, searches=searches)) if usage else None
        self._runner = JobRunner(config, backend, objects, self._executor, self.id, clock, record_usage=record)
        self._heartbeat = Heartbeat(backend, self.id, settings, clock, parent_pid)
        self._heartbeat.rate = lambda: self._runner.lines_per_s
        self._finalizer = Finalizer(backend, objects, self.id, settings.lease_seconds, clock)
        limits = InputLimits(settings.batch_max_bytes, settings.batch_max_lines, settings.quota_queued_lines)
        self._intake = Intake(backend, objects, limits, clock)
        self._next_sweep = 0.0
        self.webhooks = build_dispatcher(settings, backend, objects, clock)

    def run(self, stop: threading.Event) -> None:
        """Work until `stop` is set; the current micro-batch finishes and the lease is released."""
        self._heartbeat.start()
        notifier = threading.Thread(target=self._deliver_webhooks, args=(stop,), name="batch-webhooks", daemon=True)
        notifier.start()
        failures = 0
        try:
            while not stop.is_set():
                try:
                    busy = self.run_once(stop)
                    failures = 0
                except Exception:  # the database or the object store is unreachable: back off, then go on
                    failures += 1
                    log.exception("worker %s: cannot work right now (failure %d); backing off", self.id, failures)
                    stop.wait(min(self._settings.poll_seconds * 2**failures, MAX_BACKOFF_SECONDS))
                    continue
                if not busy:
                    stop.wait(self._settings.poll_seconds)
        finally:
            self._heartbeat.stop()
            self._executor.close()
            self._quietly(self._backend.remove_worker, self.id)
            notifier.join(timeout=self._settings.batch_webhook_timeout_seconds + 5)
            self.webhooks.close()

    def _deliver_webhooks(self, stop: threading.Event) -> None:
        """Deliver due webhooks every poll_seconds, beside the job being run."""
        while not stop.wait(self._settings.poll_seconds):
            try:
                self.webhooks.run_once()
            except Exception:
                log.exception("webhook delivery failed")

    def run_once(self, stop: threading.Event) -> bool:
        """Claim and run one job; False when there was nothing to do."""
        now = self._clock()
        self._sweep(now)
        self._take_in_uploads()
        self._finalize_orphans()
        job = self._backend.claim(self.id, now, now + timedelta(seconds=self._settings.lease_seconds))
        if job is None:
            return False
        context = {"batch_id": job.id, "worker_id": self.id}
        log.info("worker %s: running job %s from line %d", self.id, job.id, job.checkpoint_line + 1,
                 extra=context | {"event": "job_claimed", "status": job.status.value})
        self._heartbeat.watch(job.id)
        try:
            self._runner.run(job, stop)
        except Exception as exc:
            if is_outage(exc):  # not the job's fault: give it back uncounted, and back off (the caller does)
                log.warning("worker %s: job %s paused, a shared service is away: %s", self.id, job.id, exc,
                            extra=context | {"event": "job_paused"})
                self._quietly(lambda: self._backend.release(job.id, self.id, self._clock(), refund_attempt=True))
                raise
            # the job is retried (up to batch_max_attempts), the worker carries on
            log.exception("worker %s: job %s failed unexpectedly; releasing it", self.id, job.id,
                          extra=context | {"event": "job_released"})
            self._quietly(self._backend.release, job.id, self.id, self._clock())
        else:
            self._quietly(self._log_outcome, job.id)
        finally:
            self._heartbeat.watch(None)
        return True

    def _log_outcome(self, job_id: str) -> None:
        """Where the job stands after this worker ran it: completed, failed, cancelled, or still processing (this
        worker was asked to stop, or lost the lease)."""
        job = self._backend.get(job_id)
        if job is not None:
            log.info("worker %s: job %s is %s after %d of %s lines", self.id, job.id, job.status.value,
                     job.lines_done, job.lines_total, extra={"batch_id": job.id, "worker_id": self.id,
                                                             "event": "job_ran", "status": job.status.value,
                                                             "lines_done": job.lines_done})

    def _quietly(self, step: Callable[..., object], *args: object) -> None:
        """Run a clean-up step that may fail while the database is away (a lease then simply expires)."""
        try:
            step(*args)
        except Exception:
            log.exception("worker %s: %s failed", self.id, getattr(step, "__name__", "clean-up"))

    def _take_in_uploads(self) -> None:
        """Queue (or fail) jobs whose input was uploaded straight to the object store."""
        try:
            self._intake.sweep()
        except Exception:  # an unreachable store: the next call tries again
            log.exception("worker %s: taking in uploaded inputs failed", self.id)

    def _finalize_orphans(self) -> None:
        """Write the output of cancelled jobs whose worker died before it could (holding each under our lease)."""
        try:
            self._finalizer.sweep()
        except Exception:  # the next sweep tries again once the lease we took expires
            log.exception("worker %s: writing the output of a cancelled job failed", self.id)

    def _sweep(self, now: datetime) -> None:
        """Fail jobs whose upload URL expired unused; delete files past retention; collect old generations of a
        shared index (at most every SWEEP_SECONDS)."""
        if time.monotonic() >= self._next_sweep:
            self._backend.fail_expired_uploads(now - timedelta(seconds=UPLOAD_GRACE_SECONDS))
            purge_expired(self._backend, self._objects, now, self._settings.batch_retention_days)
            sweep_index_garbage(self._settings, self._objects)
            self._next_sweep = time.monotonic() + SWEEP_SECONDS


def is_outage(exc: BaseException) -> bool:
    """Whether an error means the database or the object store is away (rather than a broken job)."""
    return isinstance(exc, ServiceUnavailableError | sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError)


def build_dispatcher(settings: Settings, backend: JobBackend, objects: ObjectStore, clock: Clock) -> WebhookDispatcher:
    """The webhook dispatcher of a worker: status documents rendered as GET /v1/search/batches/{id} shows them."""

    key = snapshot_key(settings.resolved_signing_secret())

    def render(job: Job) -> JsonObject:
        now = clock()
        url = parts.download_url(objects, job, now, settings.download_url_ttl_seconds)
        return render_status(job, StatusContext(now, url, QueueView(), settings.batch_retention_days, key))

    policy = WebhookPolicy(
        backoff_seconds=settings.batch_webhook_backoff_seconds,
        max_backoff_seconds=settings.batch_webhook_max_backoff_seconds,
        give_up_after_seconds=settings.batch_webhook_give_up_seconds,
        timeout_seconds=settings.batch_webhook_timeout_seconds,
        max_attempts=settings.batch_webhook_max_attempts,
        concurrency=settings.batch_webhook_concurrency,
        allowed_networks=parse_networks(settings.batch_webhook_allowed_networks),
    )
    return WebhookDispatcher(backend, render, policy, clock)


def build_worker(settings: Settings, searcher: LineSearcher | BatchExecutor, *,
                 parent_pid: int | None = None) -> Worker:
    """A worker over the configured database and object store; lines run in this process with `searcher`, or
    where a BatchExecutor sends them."""
    engine = create_db_engine(settings.resolved_database_url())
    return Worker(settings, SqlJobStore(engine), open_object_store(settings), searcher, parent_pid=parent_pid,
                  usage=UsageStore(engine))


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT ask the worker to stop after the current micro-batch."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _signum, _frame: stop.set())


def run_worker(
    settings: Settings, searcher_factory: SearcherFactory | None = None, *, parent_pid: int | None = None
) -> None:
    """Run one worker in this process until SIGTERM/SIGINT (blocking)."""
    stop = threading.Event()
    _stop_on_signals(stop)
    build_worker(settings, open_executor(settings, searcher_factory), parent_pid=parent_pid).run(stop)


def open_executor(settings: Settings, searcher_factory: SearcherFactory | None = None) -> LineSearcher | BatchExecutor:
    """Where this worker's lines run: in this process over the searcher the factory opens (executor local), in
    search processes of this machine (executor processes) or on Ray actors (executor ray) that each open the
    engine."""
    if settings.executor == "ray":
        from batchsearch.scaleout.batch import RayBatchExecutor

        return RayBatchExecutor(settings)
    if settings.executor == "processes":
        from batchsearch.jobs.processes import ProcessBatchExecutor

        return ProcessBatchExecutor(settings)
    return (searcher_factory or open_engine_searcher)(settings)


def main() -> None:
    """Entry point of `python -m batchsearch.jobs.worker`: one worker with settings from the environment."""
    settings = Settings.model_validate({})
    configure_logging(settings.log_format)
    run_worker(settings)


if __name__ == "__main__":
    main()
