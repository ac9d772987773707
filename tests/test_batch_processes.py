"""Batch Search on search processes of this machine (executor "processes"): the local executor's output, also when
a search process or the worker driving them is killed mid-batch."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from batch_servers import (
    BatchClient,
    Server,
    copy_index,
    local_reference,
    query_lines,
    start_worker,
    wait_for,
    without_volatile,
)

LINES = query_lines(3000, bad_every=97)
FAST = {"lease_seconds": 5, "heartbeat_seconds": 1, "micro_batch_size": 16}
SETTINGS = {"executor": "processes", "search_processes": 2} | FAST
# worker_mid_batch's: the server, a client of it, the worker, the batch id and the worker's search processes
MidBatch = tuple[Server, BatchClient, subprocess.Popen[bytes], str, list[psutil.Process]]


@pytest.fixture(scope="module")
def local_output(batch_index: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """What the local executor writes for LINES (the reference)."""
    return local_reference(batch_index, tmp_path_factory.mktemp("processes-reference"), LINES, **FAST)


@pytest.fixture
def server(batch_index: Path, tmp_path: Path) -> Iterator[Server]:
    """`serve` with one worker whose lines run on two search processes."""
    copy_index(batch_index, tmp_path)
    server = Server(tmp_path, workers=1, **SETTINGS)
    yield server
    server.stop()


def search_processes(root: int) -> list[psutil.Process]:
    """The search processes under process `root`: processes multiprocessing started (spawn_main) that started
    none themselves (`serve` starts its workers that way too)."""
    def spawned(process: psutil.Process) -> bool:
        try:
            return any("spawn_main" in part for part in process.cmdline())
        except psutil.NoSuchProcess:
            return False

    try:
        children = psutil.Process(root).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        try:
            if spawned(child) and not any(spawned(grandchild) for grandchild in child.children()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def test_a_batch_on_search_processes_writes_what_the_local_executor_writes(server: Server,
                                                                           local_output: bytes) -> None:
    client = BatchClient(server.base_url, server.create_key("alice"))
    status = client.wait(client.submit(LINES))
    assert status["status"] == "completed", status
    output = client.download(status)
    assert without_volatile(output) == local_output
    rows = [json.loads(line) for line in output.splitlines()]
    assert [row["line_number"] for row in rows] == list(range(1, 3001))
    counts = status["request_counts"]
    assert (counts["total"], counts["succeeded"], counts["errored"], counts["pending"]) == (3000, 2970, 30, 0)
    assert len(search_processes(server.process.pid)) == 2  # the lines ran there, not in the worker


def test_a_search_process_killed_mid_batch_changes_nothing(server: Server, local_output: bytes) -> None:
    client = BatchClient(server.base_url, server.create_key("alice"))
    batch_id = client.submit(LINES)
    client.wait(batch_id, lines_done=300)
    before = search_processes(server.process.pid)
    assert len(before) == 2
    victim = before[0]
    victim.send_signal(signal.SIGKILL)
    status = client.wait(batch_id)
    assert status["status"] == "completed", status
    assert status["lines_done"] == 3000
    assert without_volatile(client.download(status)) == local_output  # every line once, none lost or doubled
    after = {process.pid for process in search_processes(server.process.pid)}
    assert victim.pid not in after and len(after) == 2  # the pool was started again, its survivor stopped


@contextmanager
def worker_mid_batch(batch_index: Path, tmp_path: Path) -> Iterator[MidBatch]:
    """`serve` without workers and one worker started beside it on two search processes, 300 lines into a batch of
    LINES: (server, client, worker, batch id, its search processes); the server stops at the end."""
    copy_index(batch_index, tmp_path)
    server = Server(tmp_path, workers=0, **FAST)
    try:
        client = BatchClient(server.base_url, server.create_key("alice"))
        worker = start_worker(tmp_path, server.port, **SETTINGS)
        batch_id = client.submit(LINES)
        client.wait(batch_id, lines_done=300)
        searchers = search_processes(worker.pid)
        assert len(searchers) == 2
        yield server, client, worker, batch_id, searchers
    finally:
        server.stop()


def all_gone(processes: list[psutil.Process]) -> bool:
    """Whether every one of `processes` has exited (a zombie left to its parent counts as gone)."""
    return not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in processes)


def test_a_killed_worker_takes_its_search_processes_along_and_leaves_the_job_to_another(
        batch_index: Path, tmp_path: Path, local_output: bytes) -> None:
    with worker_mid_batch(batch_index, tmp_path) as (server, client, first, batch_id, orphans):
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        wait_for(lambda: all_gone(orphans), 30)
        halfway = client.status(batch_id)
        assert halfway["status"] == "processing" and halfway["lines_done"] < 3000
        second = start_worker(tmp_path, server.port, **SETTINGS)
        try:
            status = client.wait(batch_id)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=60)
        assert status["status"] == "completed", status
        assert without_volatile(client.download(status)) == local_output


def test_the_executor_maps_in_input_order_and_survives_an_abandoned_map(batch_index: Path, tmp_path: Path) -> None:
    from batchsearch.config import Settings
    from batchsearch.jobs.execute import MicroBatchExecutor
    from batchsearch.jobs.lines import iter_lines
    from batchsearch.jobs.processes import ProcessBatchExecutor
    from batchsearch.jobs.worker import open_engine_searcher

    copy_index(batch_index, tmp_path)
    settings = Settings.model_validate({"data_dir": tmp_path, "blas_threads": 1})
    lines = list(iter_lines([query_lines(200, bad_every=17)]))
    batches = [lines[i : i + 16] for i in range(0, len(lines), 16)]
    local = MicroBatchExecutor(open_engine_searcher(settings, one_cpu=True), timeout_seconds=30)
    generation = local.current_generation()
    expected = [without_volatile(b"".join(out.data for out in local.encode(b, None, generation))) for b in batches]
    executor = ProcessBatchExecutor(settings, processes=2)
    try:
        assert len(executor.pids) == 2 and executor.current_generation() == generation
        abandoned = executor.map(batches, None, generation)
        next(abandoned)
        abandoned.close()  # a job stopped early: what was queued is dropped, the processes stay
        got = [without_volatile(b"".join(out.data for out in outs))
               for outs in executor.map(batches, None, generation)]
        assert got == expected
        assert [json.loads(row)["line_number"] for chunk in got for row in chunk.splitlines()] == list(range(1, 201))
    finally:
        executor.close()
        local.close()
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                   for pid in executor.pids)


def test_search_processes_leave_ctrl_c_to_their_worker(batch_index: Path, tmp_path: Path,
                                                       local_output: bytes) -> None:
    """A terminal's Ctrl-C reaches the whole process group: the search processes keep serving the worker's
    micro-batch, and go when the worker stops."""
    with worker_mid_batch(batch_index, tmp_path) as (_, client, worker, batch_id, searchers):
        for process in searchers:
            process.send_signal(signal.SIGINT)
        status = client.wait(batch_id)
        assert status["status"] == "completed", status
        assert without_volatile(client.download(status)) == local_output
        assert {p.pid for p in search_processes(worker.pid)} == {p.pid for p in searchers}  # none replaced
        worker.send_signal(signal.SIGINT)
        assert worker.wait(timeout=60) == 0
        wait_for(lambda: all_gone(searchers), 30)
