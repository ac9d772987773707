"""Batch Search on a real local Ray cluster: the ray executor gives the local executor's output, also when a
search actor or the worker driving it is killed mid-batch."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
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
    without_volatile,
)

LINES = query_lines(3000, bad_every=97)
FAST = {"lease_seconds": 5, "heartbeat_seconds": 1, "micro_batch_size": 16}


@pytest.fixture(scope="module")
def local_output(batch_index: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """What the local executor writes for LINES (the reference)."""
    return local_reference(batch_index, tmp_path_factory.mktemp("ray-reference"), LINES, **FAST)


@pytest.fixture
def ray_server(batch_index: Path, tmp_path: Path, ray_cluster: dict[str, str]) -> Iterator[Server]:
    """`serve` with one worker whose lines run on two search actors of the Ray cluster."""
    copy_index(batch_index, tmp_path)
    server = Server(tmp_path, workers=1, executor="ray", ray_actors=2, env=ray_cluster, **FAST)
    yield server
    server.stop()


def search_actors() -> list[psutil.Process]:
    """The Ray worker processes that hold a SearchActor (Ray names them in their process title)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any("SearchActor" in part for part in process.info["cmdline"] or ()):
            found.append(process)
    return found


def test_a_batch_on_ray_writes_what_the_local_executor_writes(ray_server: Server, local_output: bytes) -> None:
    client = BatchClient(ray_server.base_url, ray_server.create_key("alice"))
    status = client.wait(client.submit(LINES))
    assert status["status"] == "completed", status
    output = client.download(status)
    assert without_volatile(output) == local_output
    rows = [json.loads(line) for line in output.splitlines()]
    assert [row["line_number"] for row in rows] == list(range(1, 3001))
    counts = status["request_counts"]
    assert (counts["total"], counts["succeeded"], counts["errored"], counts["pending"]) == (3000, 2970, 30, 0)
    assert len(search_actors()) == 2  # the lines ran on the cluster's actors, not in the worker


def test_a_search_actor_killed_mid_batch_changes_nothing(ray_server: Server, local_output: bytes) -> None:
    client = BatchClient(ray_server.base_url, ray_server.create_key("alice"))
    batch_id = client.submit(LINES)
    client.wait(batch_id, lines_done=300)
    before = search_actors()
    assert len(before) == 2
    victim = before[0]
    victim.send_signal(signal.SIGKILL)
    status = client.wait(batch_id)
    assert status["status"] == "completed", status
    assert status["lines_done"] == 3000
    assert without_volatile(client.download(status)) == local_output  # every line once, none lost or doubled
    after = {process.pid for process in search_actors()}
    assert victim.pid not in after and len(after) == 2  # Ray restarted the killed actor


def test_a_killed_worker_leaves_the_job_to_another(batch_index: Path, tmp_path: Path, ray_cluster: dict[str, str],
                                                   local_output: bytes) -> None:
    copy_index(batch_index, tmp_path)
    server = Server(tmp_path, workers=0, **FAST)
    worker_settings = {"executor": "ray", "ray_actors": 2} | FAST
    try:
        client = BatchClient(server.base_url, server.create_key("alice"))
        first = start_worker(tmp_path, server.port, env=ray_cluster, **worker_settings)
        batch_id = client.submit(LINES)
        client.wait(batch_id, lines_done=300)
        first.send_signal(signal.SIGKILL)  # the Ray driver: its actors go with it, its lease runs out
        first.wait(timeout=30)
        halfway = client.status(batch_id)
        assert halfway["status"] == "processing" and halfway["lines_done"] < 3000
        second = start_worker(tmp_path, server.port, env=ray_cluster, **worker_settings)
        try:
            status = client.wait(batch_id)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=60)
        assert status["status"] == "completed", status
        assert without_volatile(client.download(status)) == local_output
    finally:
        server.stop()
