"""A multi-host rehearsal: two API processes and two worker processes, each with its own empty data folder,
sharing one PostgreSQL and one S3 server; a worker dies mid-batch and the other one finishes the job."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from batchsearch.db import create_db_engine
from batchsearch.jobs.store import SqlJobStore

from batch_servers import (
    BatchClient,
    Server,
    copy_index,
    deployment_settings,
    query_lines,
    start_worker,
    without_volatile,
)
from pg_server import missing_requirements as pg_missing, running_pg_cluster
from s3_server import missing_requirements as s3_missing, running_s3_process

LINES = 3_000
FAST_LEASE = {"lease_seconds": 3, "heartbeat_seconds": 0.5, "poll_seconds": 0.2}


@dataclass
class Cluster:
    """The processes of one deployment and the folders of their hosts."""

    apis: list[Server]
    workers: list[subprocess.Popen[bytes]]
    hosts: list[Path]
    database_url: str

    def holder_of(self, batch_id: str) -> subprocess.Popen[bytes]:
        """The worker process holding the job's lease (worker ids start with their pid)."""
        job = SqlJobStore(create_db_engine(self.database_url)).fetch(batch_id)
        pid = int(str(job.lease_owner).split("-")[0])
        return next(worker for worker in self.workers if worker.pid == pid)


@contextmanager
def running_cluster(batch_index: Path, root: Path, settings: dict[str, object],
                    env: dict[str, str]) -> Iterator[Cluster]:
    """Host 0 runs API 1 over a data folder holding an index (which it publishes to the shared store when it
    opens it); hosts 1-3 start empty: API 2 and two workers."""
    options: dict[str, Any] = {**FAST_LEASE, **settings, "env": env}
    hosts = [root / f"host{i}" for i in range(4)]
    for host in hosts:
        host.mkdir()
    copy_index(batch_index, hosts[0])
    apis: list[Server] = []
    workers: list[subprocess.Popen[bytes]] = []
    try:
        apis.append(Server(hosts[0], workers=0, **options))  # publishes the index before anyone else opens it
        apis.append(Server(hosts[1], workers=0, **options))
        workers += [start_worker(host, apis[0].port, **options) for host in hosts[2:]]
        yield Cluster(apis, workers, hosts, str(settings["database_url"]))
    finally:
        for worker in workers:
            worker.kill()
            worker.wait(timeout=30)
        for api in apis:
            api.stop()


@pytest.fixture
def cluster(batch_index: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """A cluster on the session's PostgreSQL and S3 servers."""
    settings, env = deployment_settings("postgresql+s3", request)
    with running_cluster(batch_index, tmp_path, settings, env) as cluster:
        yield cluster


def test_two_apis_two_workers_no_shared_folder_and_a_worker_killed_mid_batch(cluster: Cluster) -> None:
    key = cluster.apis[0].create_key("alice")
    first, second = (BatchClient(api.base_url, key) for api in cluster.apis)
    data = query_lines(LINES, bad_every=50)
    batch_id = first.submit(data)  # created through API 1, uploaded straight to S3
    second.wait(batch_id, lines_done=LINES // 4)  # polled through API 2
    holder = cluster.holder_of(batch_id)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    status = second.wait(batch_id, timeout=900)
    assert status["status"] == "completed" and status["lines_done"] == LINES
    assert status["output_file_url"].startswith("http://127.0.0.1:") and "X-Amz-Signature" in status["output_file_url"]
    output = second.download(status)

    reference = first.wait(first.submit(data), timeout=900)  # the surviving worker, uninterrupted
    assert output.count(b"\n") == LINES
    assert without_volatile(output) == without_volatile(first.download(reference))
    for host in cluster.hosts:
        assert not (host / "objects").exists()  # batch files live in S3 only
    assert any((host / "index-cache").is_dir() and any((host / "index-cache").rglob("meta.json"))
               for host in cluster.hosts[2:])  # the workers searched segments they downloaded


def tolerant_wait(client: BatchClient, batch_id: str, *, lines_done: int | None = None,
                  timeout: float = 900.0) -> dict[str, Any]:
    """Poll like a patient client: 503s (the database is away) are retried, not failures."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.http.get(f"/v1/search/batches/{batch_id}")
        if response.status_code == 200:
            status = response.json()
            if status["status"] in ("completed", "failed", "cancelled"):
                return dict(status)
            if lines_done is not None and status["lines_done"] >= lines_done:
                return dict(status)
        else:
            assert response.status_code == 503 and response.headers.get("retry-after"), response.text
        time.sleep(0.2)
    raise TimeoutError(f"batch {batch_id} did not get there in {timeout} s")


def test_postgresql_stopped_then_s3_unreachable_for_ten_seconds_mid_batch(
    batch_index: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    if pg_missing() or s3_missing():
        pytest.fail(f"this rehearsal needs {pg_missing() + s3_missing()}")
    with running_pg_cluster() as database, running_s3_process(tmp_path_factory.mktemp("s3-own")) as (s3, weed):
        settings = {"database_url": database.url, "object_store_url": f"s3://{s3.bucket}/outages",
                    "s3_endpoint_url": s3.endpoint_url}
        with running_cluster(batch_index, tmp_path, settings, dict(s3.env())) as cluster:
            client = BatchClient(cluster.apis[1].base_url, cluster.apis[0].create_key("alice"))
            data = query_lines(LINES, bad_every=50)
            batch_id = client.submit(data)
            tolerant_wait(client, batch_id, lines_done=LINES // 5)
            database.stop()
            time.sleep(10)
            database.start()
            middle = tolerant_wait(client, batch_id, lines_done=LINES // 2)
            weed.stop()
            time.sleep(10)
            weed.start()
            status = tolerant_wait(client, batch_id)
            assert middle["status"] == "processing" or middle["status"] == "completed"
            assert status["status"] == "completed" and status["lines_done"] == LINES, status
            output = client.download(status)
            reference = client.download(tolerant_wait(client, client.submit(data)))
    assert output.count(b"\n") == LINES  # nothing lost or written twice
    assert without_volatile(output) == without_volatile(reference)
