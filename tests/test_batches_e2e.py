"""Batch Search end to end over real HTTP: a real uvicorn, real worker processes and the real engine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from batch_servers import DEPLOYMENTS, BatchClient, Server, copy_index, deployment_settings, query_lines, tampered


@pytest.fixture(params=DEPLOYMENTS)
def server(batch_index: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    """`serve` with one worker process, on SQLite and local files or on real PostgreSQL and S3 servers."""
    copy_index(batch_index, tmp_path)
    settings, env = deployment_settings(request.param, request)
    server = Server(tmp_path, workers=1, lease_seconds=5, heartbeat_seconds=1, env=env, **settings)
    yield server
    server.stop()


def test_ten_thousand_lines_with_one_percent_malformed(server: Server) -> None:
    client = BatchClient(server.base_url, server.create_key("alice"))
    batch_id = client.submit(query_lines(10_000, bad_every=100))
    status = client.wait(batch_id)
    assert status["status"] == "completed", status
    rows = [json.loads(line) for line in client.download(status).splitlines()]
    assert len(rows) == 10_000
    assert [r["line_number"] for r in rows] == list(range(1, 10_001))
    errors = [r for r in rows if r["status"] != "success"]
    assert [r["line_number"] for r in errors] == list(range(100, 10_001, 100))
    assert all(r["code"] == 400 and "JSON decode error" in r["error"] and r["query"] is None for r in errors)
    ok = [r for r in rows if r["status"] == "success"]
    assert all(r["code"] == 200 and "error" not in r for r in ok)
    assert all(set(r["response"]) >= {"results", "metadata", "usage"} for r in ok)
    assert ok[0]["query"]["max_chunks"] == 3 and ok[0]["response"]["results"]


def test_error_lines_carry_the_sync_endpoint_message(server: Server) -> None:
    key = server.create_key("alice")
    client = BatchClient(server.base_url, key)
    bodies = [b'{"query": {"text": "x", "max_chunks": 5000}}', b'{"text": "no query"}', b"{broken"]
    status = client.wait(client.submit(b"\n".join(bodies) + b"\n"))
    rows = [json.loads(line) for line in client.download(status).splitlines()]
    for body, row in zip(bodies, rows):
        sync = httpx.post(f"{server.base_url}/v1/search", content=body, headers={"X-API-KEY": key,
                                                                                "Content-Type": "application/json"})
        assert (row["status"], row["code"]) == ("error", sync.status_code == 400 and 400)
        assert row["error"] == sync.json()["message"], body


def test_tenant_isolation_and_signed_urls_over_http(server: Server) -> None:
    alice = BatchClient(server.base_url, server.create_key("alice"))
    bob = BatchClient(server.base_url, server.create_key("bob"))
    batch_id = alice.submit(query_lines(5))
    assert bob.http.get(f"/v1/search/batches/{batch_id}").status_code == 404
    assert bob.http.post(f"/v1/search/batches/{batch_id}/cancel").status_code == 404
    status = alice.wait(batch_id)
    assert httpx.get(tampered(status["output_file_url"])).status_code == 403
    assert httpx.get(status["output_file_url"]).status_code == 200
