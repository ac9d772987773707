"""Worker processes: a pool keeping n alive, run_workers (`batchsearch worker`), run_api_and_workers (`serve`)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from multiprocessing.process import BaseProcess

from starlette.types import ASGIApp

from batchsearch.config import Settings
from batchsearch.jobs.worker import SearcherFactory, run_worker
from batchsearch.observability.logs import configure_logging

log = logging.getLogger(__name__)
MONITOR_SECONDS = 0.5


def _process_main(settings: Settings, searcher_factory: SearcherFactory | None, parent_pid: int) -> None:
    """Body of one worker process (spawned: a fresh interpreter that loads its own engine)."""
    configure_logging(settings.log_format)
    run_worker(settings, searcher_factory, parent_pid=parent_pid)


class WorkerPool:
    """Starts n worker processes, restarts any that die, and stops them all on request."""

    def __init__(self, settings: Settings, n: int, searcher_factory: SearcherFactory | None = None) -> None:
        self._settings = settings
        self._n = n
        self._factory = searcher_factory
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[BaseProcess] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._monitor = threading.Thread(target=self._watch, name="worker-pool", daemon=True)

    @property
    def processes(self) -> list[BaseProcess]:
        """The current worker processes."""
        with self._lock:
            return list(self._processes)

    def start(self) -> None:
        """Start the n workers and the thread that restarts them."""
        with self._lock:
            self._processes = [self._spawn() for _ in range(self._n)]
        self._monitor.start()

    def _spawn(self) -> BaseProcess:
        """Start one worker process."""
        process = self._context.Process(
            target=_process_main,
            args=(self._settings, self._factory, os.getpid()),
            name="batchsearch-worker",
            daemon=False,
        )
        process.start()
        log.info("started worker process %s", process.pid)
        return process

    def _watch(self) -> None:
        """Replace worker processes that exit while the pool is running."""
        while not self._stopping.wait(MONITOR_SECONDS):
            with self._lock:
                for i, process in enumerate(self._processes):
                    if not process.is_alive() and not self._stopping.is_set():
                        log.warning("worker process %s exited with %s; restarting", process.pid, process.exitcode)
                        self._processes[i] = self._spawn()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask every worker to finish its micro-batch and exit; kill those still running after `timeout`."""
        self._stopping.set()
        if self._monitor.is_alive():
            self._monitor.join()
        for process in self.processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        for process in self.processes:
            process.join(timeout)
            if process.is_alive():
                process.kill()
                process.join()


def run_workers(settings: Settings, n: int, searcher_factory: SearcherFactory | None = None) -> None:
    """Run n worker processes until SIGTERM/SIGINT (blocking); n == 1 still uses a child process."""
    configure_logging(settings.log_format)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _signum, _frame: stop.set())
    pool = WorkerPool(settings, n, searcher_factory)
    pool.start()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        pool.stop()


def run_api_and_workers(app: ASGIApp, settings: Settings, searcher_factory: SearcherFactory | None = None) -> None:
    """`batchsearch serve`: uvicorn on host:port plus settings.workers worker processes (blocking)."""
    import uvicorn

    configure_logging(settings.log_format)
    # uvicorn re-raises SIGTERM after its graceful shutdown; a Python handler keeps that from killing
    # this process before the pool below has stopped its workers.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: None)
    pool = WorkerPool(settings, settings.workers, searcher_factory) if settings.workers else None
    if pool is not None:
        pool.start()
    try:
        # log_config=None: uvicorn's own lines go through our handler, in the configured format
        # h11 bounds the request line plus headers (httptools has no bound): beyond it, 400 and the connection closed
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", log_config=None, http="h11",
                    h11_max_incomplete_event_size=settings.max_request_header_bytes)
    finally:
        if pool is not None:
            pool.stop()
