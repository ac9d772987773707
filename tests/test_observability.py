"""Observability: /metrics (Prometheus text), structured JSON logs of requests and job transitions, /readyz."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from batchsearch.api.app import create_app
from batchsearch.config import Settings
from batchsearch.observability.logs import configure_logging

from batch_fakes import AsgiBatches, jsonl
from batch_servers import BatchClient, Server, copy_index, free_port, query_lines, settings_env
from pg_server import missing_requirements, running_pg_cluster

pytestmark = pytest.mark.anyio
STATUS_ROUTE = "/v1/search/batches/{batch_id}"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_metrics(text: str) -> Samples:
    """Every sample of a Prometheus text exposition, keyed by name and sorted labels (the parser fails on
    anything that is not valid exposition text)."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    """One sample's value, or None when it is not exposed."""
    return samples.get((name, tuple(sorted(labels.items()))))


async def scrape(api: AsgiBatches) -> tuple[Samples, str]:
    """GET /metrics without an API key: the parsed samples and the raw text."""
    response = await api.client.get("/metrics", headers={"X-API-KEY": ""})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse_metrics(response.text), response.text


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """configure_logging('json') into a buffer for the test; the root logger's handlers are restored after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    buffer = io.StringIO()
    configure_logging("json", stream=buffer)
    yield buffer
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def json_lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    """Every line written, each parsed as one JSON object."""
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line]


# ---- /metrics --------------------------------------------------------------------------------------------

async def test_requests_are_counted_by_route_template_and_status(api: AsgiBatches) -> None:
    batch_id = await api.submit(jsonl(3))
    for _ in range(2):
        assert (await api.client.get(f"/v1/search/batches/{batch_id}")).status_code == 200
    assert (await api.client.get("/v1/search/batches/not-a-job")).status_code == 404
    assert (await api.client.get(f"/v1/search/batches/{batch_id}", headers={"X-API-KEY": ""})).status_code == 401
    assert (await api.client.get("/no/such/route")).status_code == 404

    samples, text = await scrape(api)
    requests = "batchsearch_http_requests_total"
    assert sample(samples, requests, method="GET", route=STATUS_ROUTE, status="200") == 2
    assert sample(samples, requests, method="GET", route=STATUS_ROUTE, status="404") == 1
    assert sample(samples, requests, method="GET", route=STATUS_ROUTE, status="401") == 1
    assert sample(samples, requests, method="POST", route="/v1/search/batches", status="200") == 1
    assert sample(samples, requests, method="GET", route="unmatched", status="404") == 1
    assert sample(samples, "batchsearch_http_request_duration_seconds_count",
                  method="GET", route=STATUS_ROUTE, status="200") == 2
    # aggregate only: no raw path, job id, key or tenant name in any label
    for forbidden in (batch_id, "not-a-job", "/no/such/route", "alice", api.key):
        assert forbidden not in text


async def test_queue_depth_leases_and_lines_by_outcome_come_from_the_database(api: AsgiBatches) -> None:
    for _ in range(2):  # created, never uploaded: pending
        assert (await api.client.post("/v1/search/batches")).status_code == 200
    done_id = await api.submit(jsonl(10, bad_every=5))  # lines 5 and 10 are not JSON
    waiting_id = await api.submit(jsonl(4))

    samples, _ = await scrape(api)
    assert sample(samples, "batchsearch_database_up") == 1
    assert sample(samples, "batchsearch_batch_jobs", status="pending") == 2
    assert sample(samples, "batchsearch_batch_jobs", status="queued") == 2
    assert sample(samples, "batchsearch_batch_jobs", status="completed") == 0
    assert sample(samples, "batchsearch_batch_remaining_lines") == 14
    assert sample(samples, "batchsearch_batch_active_leases") == 0

    worker = api.worker()
    assert worker.run_once(threading.Event())  # the older job: runs to the end
    assert (await api.status(done_id))["status"] == "completed"
    service = api.service
    now = service.clock()
    claimed = service.backend.claim("observer-test", now, now + timedelta(seconds=30))
    assert claimed is not None and claimed.id == waiting_id

    samples, _ = await scrape(api)
    assert sample(samples, "batchsearch_batch_jobs", status="completed") == 1
    assert sample(samples, "batchsearch_batch_jobs", status="processing") == 1
    assert sample(samples, "batchsearch_batch_jobs", status="queued") == 0
    assert sample(samples, "batchsearch_batch_lines", outcome="success") == 8
    assert sample(samples, "batchsearch_batch_lines", outcome="error") == 2
    assert sample(samples, "batchsearch_batch_lines", outcome="timeout") == 0
    assert sample(samples, "batchsearch_batch_active_leases") == 1
    assert sample(samples, "batchsearch_batch_remaining_lines") == 4


@pytest.mark.deployment("sqlite+file")
async def test_an_unreachable_database_still_gives_a_scrape(api: AsgiBatches, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlalchemy.exc

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise sqlalchemy.exc.OperationalError("connect", {}, Exception("connection refused"))

    monkeypatch.setattr(api.app.state.db, "connect", refuse)  # fault injection: the database is away
    samples, _ = await scrape(api)
    assert sample(samples, "batchsearch_database_up") == 0
    assert sample(samples, "batchsearch_batch_jobs", status="pending") is None


@pytest.mark.deployment("sqlite+file")
async def test_documents_indexed_by_this_process_are_counted(api: AsgiBatches) -> None:
    created = await api.client.post("/contents/v1/documents", json={"file_name": "note.txt"})
    assert created.status_code == 200, created.text
    url = urlsplit(created.json()["url"])
    text = b"Acme Corp raised its revenue guidance after a strong quarter of cloud computing growth."
    assert (await api.client.put(f"{url.path}?{url.query}", content=text)).status_code == 200
    with anyio.fail_after(120):
        while (await api.client.get(f"/contents/v1/documents/{created.json()['id']}")).json()["status"] \
                not in ("completed", "failed"):
            await anyio.sleep(0.05)

    samples, _ = await scrape(api)
    assert sample(samples, "batchsearch_ingest_documents_total") == 1
    chunks = sample(samples, "batchsearch_ingest_chunks_total")
    assert chunks is not None and chunks >= 1


@pytest.mark.deployment("sqlite+file")
async def test_metrics_can_be_turned_off(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, metrics_enabled=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        assert (await client.get("/metrics")).status_code == 404
        assert (await client.get("/healthz")).status_code == 200


# ---- logs ------------------------------------------------------------------------------------------------

@pytest.mark.deployment("sqlite+file")
async def test_json_logs_carry_request_id_key_name_and_batch_id(api: AsgiBatches, log_lines: io.StringIO) -> None:
    batch_id = await api.submit(jsonl(3))
    missing = await api.client.get("/v1/search/batches/not-a-job")
    assert missing.status_code == 404
    api.work()

    lines = json_lines(log_lines)
    requests = [line for line in lines if line["logger"] == "batchsearch.requests"]
    failed = [line for line in requests if line["status"] == 404]
    assert len(failed) == 1
    assert failed[0]["request_id"] == missing.json()["requestId"]  # the id the client was given
    assert failed[0] | {"duration_ms": 0} == failed[0] | {
        "level": "INFO", "method": "GET", "route": STATUS_ROUTE, "key_name": "alice", "batch_id": "not-a-job",
        "duration_ms": 0}
    assert all(line["request_id"] and line["time"] for line in requests)
    assert {line["route"] for line in requests} >= {"/v1/search/batches", "/files/{key:path}"}

    transitions = [line for line in lines if line.get("batch_id") == batch_id and "event" in line]
    assert [(line["event"], line["status"]) for line in transitions] == [
        ("job_created", "pending"), ("job_uploaded", "queued"), ("job_claimed", "processing"),
        ("job_ran", "completed")]
    assert transitions[-1]["lines_done"] == 3 and transitions[-1]["worker_id"]
    cancelled = (await api.client.post("/v1/search/batches")).json()["batch_id"]
    assert (await api.client.post(f"/v1/search/batches/{cancelled}/cancel")).status_code == 200
    events = [line["event"] for line in json_lines(log_lines) if line.get("batch_id") == cancelled and "event" in line]
    assert events == ["job_created", "job_cancelled"]


def test_text_logs_show_the_context_after_the_message() -> None:
    buffer = io.StringIO()
    logger = logging.getLogger("batchsearch.test_text_logs")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        configure_logging("text", stream=buffer)
        logger.info("job %s moved", "b-1", extra={"batch_id": "b-1", "key_name": None})
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    line = buffer.getvalue().strip()
    assert line.endswith("batchsearch.test_text_logs INFO job b-1 moved [batch_id=b-1]")


def test_a_logged_exception_stays_one_json_line() -> None:
    buffer = io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        configure_logging("json", stream=buffer)
        try:
            raise ValueError("broken\nacross lines")
        except ValueError:
            logging.getLogger("batchsearch.test").exception("it failed", extra={"batch_id": "b-2"})
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    [line] = buffer.getvalue().splitlines()
    parsed = json.loads(line)
    assert parsed["message"] == "it failed" and parsed["batch_id"] == "b-2"
    assert "ValueError: broken" in parsed["exc_info"]


# ---- /readyz ---------------------------------------------------------------------------------------------

@pytest.mark.deployment("sqlite+file")
async def test_readyz_is_200_with_the_index_and_database_up(api: AsgiBatches) -> None:
    response = await api.client.get("/readyz", headers={"X-API-KEY": ""})
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"index": "ok", "database": "ok"}}


@pytest.mark.deployment("sqlite+file")
async def test_readyz_is_503_naming_the_index_when_it_cannot_load(api: AsgiBatches) -> None:
    store = api.app.state.engine.store
    store.root.mkdir(parents=True, exist_ok=True)
    (store.root / "CURRENT").write_text("7")  # a generation whose manifest does not exist
    response = await api.client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["index"].startswith("failed")
    assert response.json()["checks"]["database"] == "ok"


async def test_readyz_is_503_while_postgresql_is_stopped(tmp_path: Path) -> None:
    missing = missing_requirements()
    if missing:
        pytest.skip("needs " + " and ".join(missing))
    with running_pg_cluster() as cluster:
        app = create_app(Settings(data_dir=tmp_path, database_url=cluster.url))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            assert (await client.get("/readyz")).status_code == 200
            cluster.stop()
            down = await client.get("/readyz")
            assert down.status_code == 503
            assert down.json()["status"] == "unavailable"
            assert down.json()["checks"]["index"] == "ok"
            assert down.json()["checks"]["database"].startswith("failed")
            assert (await client.get("/healthz")).status_code == 200  # alive, only not ready
            cluster.start()
            assert (await client.get("/readyz")).status_code == 200


# ---- a real server -----------------------------------------------------------------------------------------

def test_a_real_server_and_its_worker_log_json_and_expose_metrics(batch_index: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "server"
    copy_index(batch_index, data_dir)
    server = Server(data_dir, workers=1, log_format="json")
    try:
        client = BatchClient(server.base_url, server.create_key("carol"))
        batch_id = client.submit(query_lines(12))
        assert client.wait(batch_id)["status"] == "completed"
        metrics = parse_metrics(httpx.get(f"{server.base_url}/metrics", timeout=30).text)
    finally:
        server.stop()
    assert sample(metrics, "batchsearch_batch_lines", outcome="success") == 12
    assert sample(metrics, "batchsearch_batch_jobs", status="completed") == 1
    assert sample(metrics, "batchsearch_http_requests_total", method="GET", route=STATUS_ROUTE, status="200")

    lines = [json.loads(line) for line in Path(server.log.name).read_text().splitlines() if line.strip()]
    assert any(line.get("route") == STATUS_ROUTE and line.get("key_name") == "carol" and line.get("request_id")
               and line.get("batch_id") == batch_id for line in lines)
    ran = [line for line in lines if line.get("event") == "job_ran" and line.get("batch_id") == batch_id]
    assert ran and ran[-1]["status"] == "completed"
    assert {line["process"] for line in ran}.isdisjoint({server.process.pid})  # written by the worker process


# ---- the CLI option --------------------------------------------------------------------------------------

def run_cli_until(args: list[str], data_dir: Path, port: int, wanted: Callable[[dict[str, Any]], bool],
                  timeout: float = 120) -> list[dict[str, Any]]:
    """Start `batchsearch ARGS` (env as the test servers get it), read its stderr until a JSON line satisfies
    `wanted`, stop it with SIGTERM; the JSON lines it wrote."""
    process = subprocess.Popen([sys.executable, "-m", "batchsearch.cli", *args], env=settings_env(data_dir, port),
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, start_new_session=True)
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if line.startswith("{"):
                found.append(json.loads(line))
                if wanted(found[-1]):
                    break
            assert time.monotonic() < deadline, "the wanted log line never came"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return found


def poke_health(port: int) -> None:
    """GET /healthz until the server on `port` answers (bounded: about two minutes)."""
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)


def test_serve_log_format_json_writes_request_lines_as_json(tmp_path: Path) -> None:
    port = free_port()
    threading.Thread(target=poke_health, args=(port,), daemon=True).start()
    lines = run_cli_until(["serve", "--workers", "0", "--log-format", "json"], tmp_path, port,
                          lambda line: line.get("route") == "/healthz" and line.get("status") == 200)
    assert lines[-1]["logger"] == "batchsearch.requests"
    assert lines[-1]["method"] == "GET" and lines[-1]["level"] == "INFO" and lines[-1]["request_id"]


def test_worker_log_format_json_reaches_the_pool_lines(tmp_path: Path) -> None:
    lines = run_cli_until(["worker", "--workers", "1", "--log-format", "json"], tmp_path, free_port(),
                          lambda line: line.get("logger") == "batchsearch.jobs.supervisor")
    assert lines[-1]["message"].startswith("started worker process")


def test_an_unknown_log_format_is_a_usage_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from batchsearch.cli import app

    result = CliRunner().invoke(app, ["serve", "--log-format", "xml", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "Invalid value for '--log-format'" in result.output
