"""Batch lines on Ray: a pool of actors, each holding one search engine, runs a job's micro-batches.

The worker that claimed the job stays the only writer: it reads the input, hands micro-batches to the actors
(a few ahead of the one it waits for) and writes parts and checkpoints in input order, as the local executor
does. An actor that dies is restarted by Ray and its micro-batch runs again there; nothing reaches the job
store before its result is back, so no line is written twice.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Generator, Iterable, Sequence

from batchsearch.config import Settings
from batchsearch.jobs.execute import MicroBatchExecutor, OutputLine
from batchsearch.jobs.lines import RawLine
from batchsearch.scaleout.cluster import actor_settings, cluster_cpus, connect
from batchsearch.scaleout.pool import ActorPool

log = logging.getLogger(__name__)


class SearchActor:
    """One engine for the life of the actor, opened once from the settings (the embedded index folder, or this
    host's cache of the shared index); each call searches one micro-batch over a job's pinned generation, on one
    CPU (the one Ray reserved for the actor: no lexical helper thread, one BLAS thread)."""

    def __init__(self, settings: Settings) -> None:
        from batchsearch.jobs.worker import open_engine_searcher
        from batchsearch.runtime import apply_blas_threads

        apply_blas_threads(settings)
        self._executor = MicroBatchExecutor(open_engine_searcher(settings, one_cpu=True),
                                            timeout_seconds=settings.query_timeout_seconds)

    def pid(self) -> int:
        """This actor's process id (it answers once the engine is loaded)."""
        return os.getpid()

    def run(self, lines: list[RawLine], owner: str | None, generation: int | None) -> list[OutputLine]:
        """The output of one micro-batch, in input order, encoded here (bytes travel back, not responses)."""
        return self._executor.encode(lines, owner, generation)


class RayBatchExecutor:
    """A BatchExecutor over `actors` SearchActors (default settings.ray_actors, else one per CPU of the cluster)."""

    def __init__(self, settings: Settings, *, actors: int | None = None) -> None:
        from batchsearch.services import index_store

        ray = connect()
        self._store = index_store(settings)
        size = actors or settings.ray_actors or cluster_cpus(ray)
        self._pool = ActorPool(ray, SearchActor, size, actor_settings(settings))
        self.pids: list[int] = self._pool.call_all("pid")
        log.info("ray executor: %d search actors ready (pids %s)", size, self.pids)

    def current_generation(self) -> int | None:
        """The newest published index generation (which a job starting now pins)."""
        return int(self._store.current_generation())

    def map(self, batches: Iterable[Sequence[RawLine]], owner: str | None,
            generation: int | None) -> Generator[list[OutputLine], None, None]:
        """Each micro-batch's output in input order, the actors working on the next ones meanwhile."""
        yield from self._pool.map("run", (list(lines) for lines in batches), owner, generation)

    def close(self) -> None:
        """Stop the actors."""
        self._pool.close()
