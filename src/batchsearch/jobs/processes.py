"""Batch lines on this machine's CPUs: a pool of search processes, each holding one engine, runs a job's
micro-batches (executor "processes").

One Python process searches at most about one and a half CPUs: the lexical helper thread and the dense products
release the GIL, but planning, fusion and building responses hold it, and two threads contending for it spend
CPU handing it over (1M chunks, 2 CPUs, bench/search_throughput.py: one process with its helper thread 369
queries/s, two one-CPU processes side by side 433 together). So the worker that claimed a job reads the input, hands micro-batches
to the processes (a few ahead of the one it waits for) and writes parts and checkpoints in input order, as the
local executor does; each process opens the index itself (memory maps: the page cache holds one copy of the
columns and codes for all of them) and encodes its output lines, so bytes travel back, not responses.

A process that dies (killed, out of memory) breaks the pool: the pool is started again and the micro-batches that
were in flight run again there, up to TASK_RETRIES times each; nothing reaches the job store before a result is
back, so no line is written twice. A search process whose worker dies exits on its own.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Generator, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

from batchsearch.config import Settings
from batchsearch.jobs.execute import OutputLine
from batchsearch.jobs.lines import RawLine

if TYPE_CHECKING:
    from batchsearch.scaleout.batch import SearchActor

log = logging.getLogger(__name__)
TASK_RETRIES = 3  # runs of one micro-batch in restarted pools before the map raises
AHEAD_PER_PROCESS = 2  # micro-batches queued per process: the next one is there when a process finishes
START_TIMEOUT_SECONDS = 600.0  # loading the index and the encoder in every process
ORPHAN_CHECK_SECONDS = 1.0
ORPHAN_EXIT_CODE = 3

_searcher: SearchActor | None = None  # this search process's engine, set by _start


def _start(settings: Settings, parent: int) -> None:
    """Initialiser of a search process: leave Ctrl-C to the worker, exit when the worker `parent` is gone, then
    load the engine. A terminal's Ctrl-C reaches the whole process group: the worker finishes its micro-batch on
    these processes and then shuts them down, instead of seeing them die under it and starting new ones. SIGTERM
    keeps its default: it is how a broken pool stops the processes it has left."""
    # one engine on one CPU, as on a Ray actor
    from batchsearch.scaleout.batch import SearchActor

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(ORPHAN_CHECK_SECONDS)
        os._exit(ORPHAN_EXIT_CODE)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()
    global _searcher
    _searcher = SearchActor(settings)


def _pid() -> int:
    return os.getpid()


def _run(lines: list[RawLine], owner: str | None, generation: int | None) -> list[OutputLine]:
    assert _searcher is not None, "the pool's initialiser loads the engine first"
    return _searcher.run(lines, owner, generation)


def _submit(pool: ProcessPoolExecutor, lines: list[RawLine], owner: str | None,
            generation: int | None) -> Future[list[OutputLine]]:
    """A micro-batch's result to come; a pool broken already gives one that raises BrokenProcessPool, as a pool
    that breaks while it runs does."""
    try:
        return pool.submit(_run, lines, owner, generation)
    except BrokenProcessPool as exc:
        failed: Future[list[OutputLine]] = Future()
        failed.set_exception(exc)
        return failed


class ProcessBatchExecutor:
    """A BatchExecutor over `processes` search processes of this machine (default settings.search_processes,
    else one per CPU)."""

    def __init__(self, settings: Settings, *, processes: int | None = None) -> None:
        from batchsearch.scaleout.cluster import actor_settings
        from batchsearch.services import index_store

        self._store = index_store(settings)
        self._settings = actor_settings(settings)  # one BLAS thread each, absolute folders
        self.size = processes or settings.search_processes or os.cpu_count() or 1
        self.pids: list[int] = []  # the search processes' ids
        self._pool: ProcessPoolExecutor | None = self._start_pool()
        log.info("process executor: %d search processes ready (pids %s)", self.size, self.pids)

    def current_generation(self) -> int | None:
        """The newest published index generation (which a job starting now pins)."""
        return int(self._store.current_generation())

    def map(self, batches: Iterable[Sequence[RawLine]], owner: str | None,
            generation: int | None) -> Generator[list[OutputLine], None, None]:
        """Each micro-batch's output in input order, the other processes working on the next ones meanwhile;
        closing the generator cancels what is still queued."""
        if self._pool is None:  # an earlier restart failed: try again for this job
            self._pool = self._start_pool()
        pool = self._pool
        source = iter(batches)
        queued: deque[tuple[list[RawLine], Future[list[OutputLine]], int]] = deque()  # (lines, result, runs)
        exhausted = False
        try:
            while True:
                while not exhausted and len(queued) < AHEAD_PER_PROCESS * self.size:
                    lines = next(source, None)
                    if lines is None:
                        exhausted = True
                        break
                    batch = list(lines)
                    queued.append((batch, _submit(pool, batch, owner, generation), 1))
                if not queued:
                    return
                future = queued[0][1]
                try:
                    result = future.result()
                except BrokenProcessPool:
                    queued = self._restart(queued, owner, generation)
                    assert self._pool is not None
                    pool = self._pool
                    continue
                queued.popleft()
                yield result
        finally:
            for _, future, _ in queued:
                future.cancel()

    def close(self) -> None:
        """Stop the search processes."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _start_pool(self) -> ProcessPoolExecutor:
        """A pool of self.size processes, returned once every one has loaded its engine."""
        pool = ProcessPoolExecutor(max_workers=self.size, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_start, initargs=(self._settings, os.getpid()))
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        seen: set[int] = set()
        # each submission without an idle process starts one; a process answers once its initialiser is done
        try:
            while len(seen) < self.size:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"search processes not ready after {START_TIMEOUT_SECONDS:.0f} s")
                seen.update(f.result() for f in [pool.submit(_pid) for _ in range(self.size)])
                if len(seen) < self.size:  # the others are still loading: let them, rather than ask in a loop
                    time.sleep(0.1)
        except BrokenProcessPool as exc:  # an initialiser failed: its error is in this process's log
            pool.shutdown(wait=False, cancel_futures=True)
            raise RuntimeError("a search process could not load the engine (see its error above)") from exc
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        self.pids = sorted(seen)
        return pool

    def _restart(self, queued: deque[tuple[list[RawLine], Future[list[OutputLine]], int]], owner: str | None,
                 generation: int | None) -> deque[tuple[list[RawLine], Future[list[OutputLine]], int]]:
        """A new pool after a search process died, with the micro-batches in flight submitted to it again."""
        log.warning("a search process died; starting the pool again (%d micro-batches in flight)", len(queued))
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self._pool = self._start_pool()
        again: deque[tuple[list[RawLine], Future[list[OutputLine]], int]] = deque()
        for lines, _, runs in queued:
            if runs >= TASK_RETRIES:
                raise RuntimeError(f"a micro-batch of {len(lines)} lines failed {runs} times: its search process died")
            again.append((lines, _submit(self._pool, lines, owner, generation), runs + 1))
        return again
