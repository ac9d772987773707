"""Crash safety with real processes: SIGKILL a worker, or `serve` itself, mid-batch; nothing lost or doubled."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from batchsearch.config import Settings
from batchsearch.jobs import parts
from batchsearch.storage import open_object_store

from batch_servers import (
    BatchClient,
    Server,
    copy_index,
    DEPLOYMENTS,
    deployment_settings,
    query_lines,
    start_worker,
    without_volatile,
)

LINES = 5_000
FAST_LEASE = {"lease_seconds": 3, "heartbeat_seconds": 0.5, "poll_seconds": 0.2}


@pytest.fixture(params=DEPLOYMENTS)
def deployment(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Settings (and `env`) of the processes of one test: fast leases, on SQLite and local files or on real
    PostgreSQL and S3 servers."""
    settings, env = deployment_settings(request.param, request)
    for name, value in env.items():  # this process reads the store too
        monkeypatch.setenv(name, value)
    return {**FAST_LEASE, **settings, "env": env}


def check_complete(output: bytes, reference: bytes) -> None:
    """Every line once, in order, identical to an uninterrupted run but for request ids and timestamps."""
    assert output.count(b"\n") == LINES
    assert without_volatile(output) == without_volatile(reference)


def test_sigkill_worker_mid_batch_then_a_new_worker_finishes(
    batch_index: Path, tmp_path: Path, deployment: dict[str, Any]
) -> None:
    copy_index(batch_index, tmp_path)
    server = Server(tmp_path, workers=0, **deployment)
    workers = []
    try:
        client = BatchClient(server.base_url, server.create_key("alice"))
        workers.append(start_worker(tmp_path, server.port, **deployment))
        batch_id = client.submit(query_lines(LINES, bad_every=50))
        at_kill = client.wait(batch_id, lines_done=LINES // 3)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=30)
        assert at_kill["status"] == "processing" and 0 < at_kill["lines_done"] < LINES
        time.sleep(1)
        assert client.status(batch_id)["status"] == "processing"

        workers.append(start_worker(tmp_path, server.port, **deployment))
        status = client.wait(batch_id, timeout=900)
        assert status["status"] == "completed" and status["lines_done"] == LINES
        reference_id = client.submit(query_lines(LINES, bad_every=50))
        reference = client.wait(reference_id, timeout=900)
        check_complete(client.download(status), client.download(reference))
    finally:
        for worker in workers:
            worker.kill()
            worker.wait(timeout=30)
        server.stop()


def test_sigkill_serve_mid_batch_then_restart_finishes(
    batch_index: Path, tmp_path: Path, deployment: dict[str, Any]
) -> None:
    copy_index(batch_index, tmp_path)
    server = Server(tmp_path, workers=1, **deployment)
    client = BatchClient(server.base_url, server.create_key("alice"))
    batch_id = client.submit(query_lines(LINES, bad_every=50))
    at_kill = client.wait(batch_id, lines_done=LINES // 3)
    children = psutil.Process(server.process.pid).children(recursive=True)
    assert children, "serve started no worker process"
    server.kill()
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, "worker processes outlived their serve process"
    assert 0 < at_kill["lines_done"] < LINES

    restarted = Server(tmp_path, port=server.port, workers=1, **deployment)
    try:
        status = client.wait(batch_id, timeout=900)
        assert status["status"] == "completed" and status["lines_done"] == LINES
        reference = client.wait(client.submit(query_lines(LINES, bad_every=50)), timeout=900)
        check_complete(client.download(status), client.download(reference))
    finally:
        restarted.stop()
        server.log.close()


def output_keys(data_dir: Path, batch_id: str, deployment: dict[str, Any]) -> list[str]:
    """The output files a job has in the deployment's object store."""
    settings = {k: v for k, v in deployment.items() if k in ("object_store_url", "s3_endpoint_url", "database_url")}
    store = open_object_store(Settings(data_dir=data_dir, signing_secret="test-secret", **settings))
    return [key for key in store.list_keys(parts.job_prefix(batch_id)) if "/output" in key]


def test_cancel_then_sigkill_the_worker_holding_the_job_a_sweep_writes_the_output(
    batch_index: Path, tmp_path: Path, deployment: dict[str, Any]
) -> None:
    copy_index(batch_index, tmp_path)
    server = Server(tmp_path, workers=0, **deployment)  # the API alone: it must never write an output
    workers = [start_worker(tmp_path, server.port, **deployment)]
    try:
        client = BatchClient(server.base_url, server.create_key("alice"))
        data = query_lines(2_000, bad_every=50)
        batch_id = client.submit(data)
        client.wait(batch_id, lines_done=300)
        workers[0].send_signal(signal.SIGSTOP)  # frozen mid-batch, still holding the lease
        cancelled = client.http.post(f"/v1/search/batches/{batch_id}/cancel").json()
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=30)
        assert cancelled["status"] == "cancelled" and cancelled["phase"] == "finalizing"
        time.sleep(FAST_LEASE["lease_seconds"] + 2)  # the lease expired; no worker runs
        waiting = client.status(batch_id)
        assert waiting["phase"] == "finalizing" and waiting["output_file_url"] is None
        assert output_keys(tmp_path, batch_id, deployment) == []

        workers.append(start_worker(tmp_path, server.port, **deployment))
        deadline = time.monotonic() + 120
        while (status := client.status(batch_id))["output_file_url"] is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert status["phase"] == "done" and status["status"] == "cancelled"
        done = status["lines_done"]
        assert 300 <= done < 2_000 and status["request_counts"]["pending"] == 2_000 - done
        partial = client.download(status)
        reference = client.download(client.wait(client.submit(data), timeout=900))
        assert without_volatile(partial).splitlines() == without_volatile(reference).splitlines()[:done]
    finally:
        for worker in workers:
            worker.kill()
            worker.wait(timeout=30)
        server.stop()
