"""Client and AsyncClient run one scenario against the same script: the same requests, sleeps, progress and results.

The scenario touches every shared flow (a retried call, create with an idempotency key, a metered
upload, a polled wait, a download that renews its URL, streamed results, chunked entity lookups,
a mapped error), so a difference between the two clients' IO shows up as a difference here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

import batchsearch
from batchsearch.client import BatchProgress
from sdk_server import Reply, ScriptedServer, error_body

OK = {"results": [], "metadata": {"request_id": "r"}, "usage": {"api_query_units": 0}}
OUTPUT = b'{"line_number": 1, "status": "success"}\n\n{"line_number": 2, "status": "error"}\n'
IDS = ["E0"] + [f"ZZ{i:04d}" for i in range(150)]


def status(state: str, url: str | None = None, **extra: object) -> dict[str, object]:
    return {"batch_id": "b1", "status": state, "output_file_url": url, "lines_total": 2, "lines_done": 0} | extra


def script(base: str) -> list[Reply]:
    """The server's answers, in the order the scenario asks."""
    busy = Reply(503, error_body(503, "UNAVAILABLE", "busy"), {"Retry-After": "2"})
    expired = Reply(403, error_body(403, "FORBIDDEN", "URL expired"))
    return [busy, Reply(200, OK),
            Reply(200, {"batch_id": "b1", "presigned_url": base + "/files/in?sig=s"}),
            Reply(200, b""),
            Reply(200, status("pending")), Reply(200, status("processing", lines_done=1)),
            Reply(200, status("completed", base + "/files/out?sig=old", lines_done=2)),
            expired, Reply(200, status("completed", base + "/files/out?sig=new", lines_done=2)), Reply(200, OUTPUT),
            Reply(200, OUTPUT),
            Reply(200, {"results": {"E0": {"id": "E0"}}}), Reply(200, {"results": {}}),
            Reply(404, error_body(404, "NOT_FOUND", "Batch job b9 not found", "req-404"))]


def run_sync(url: str, file: Path, out: Path, events: list[BatchProgress]) -> list[Any]:
    seen: list[Any] = []
    with batchsearch.Client(url, "k") as client:
        seen.append(client.search({"text": "x"}))
        created = client.batches.create(idempotency_key="key-1")
        client.batches.upload(created, file, on_progress=events.append)
        final = client.batches.wait(created["batch_id"], on_progress=events.append)
        seen += [final, client.batches.download(final, out, on_progress=events.append).read_text()]
        seen.append(list(client.batches.results("b1", from_line=2)))
        seen.append(client.kg.entities(IDS))
        with pytest.raises(batchsearch.NotFoundError) as caught:
            client.batches.get("b9")
    return seen + [(caught.value.status_code, caught.value.error_code, caught.value.request_id)]


async def run_async(url: str, file: Path, out: Path, events: list[BatchProgress]) -> list[Any]:
    seen: list[Any] = []
    async with batchsearch.AsyncClient(url, "k") as client:
        seen.append(await client.search({"text": "x"}))
        created = await client.batches.create(idempotency_key="key-1")
        await client.batches.upload(created, file, on_progress=events.append)
        final = await client.batches.wait(created["batch_id"], on_progress=events.append)
        seen += [final, (await client.batches.download(final, out, on_progress=events.append)).read_text()]
        seen.append([row async for row in client.batches.results("b1", from_line=2)])
        seen.append(await client.kg.entities(IDS))
        with pytest.raises(batchsearch.NotFoundError) as caught:
            await client.batches.get("b9")
    return seen + [(caught.value.status_code, caught.value.error_code, caught.value.request_id)]


def observe(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run the scenario through one client; everything it did, as the server and the callbacks saw it."""
    sleeps: list[float] = []
    events: list[BatchProgress] = []
    file, out = tmp_path / "q.jsonl", tmp_path / f"{kind}.jsonl"
    file.write_bytes(b'{"query": {"text": "a"}}\n' * 12_000)  # two upload chunks
    with ScriptedServer(Reply()) as server:
        server.replies[:] = script(server.url)
        if kind == "sync":
            monkeypatch.setattr("batchsearch.client.sync._sleep", sleeps.append)
            seen = run_sync(server.url, file, out, events)
        else:
            async def record(seconds: float) -> None:
                sleeps.append(seconds)

            monkeypatch.setattr("batchsearch.client.async_._sleep", record)
            seen = anyio.run(run_async, server.url, file, out, events)
    headers = ("content-type", "content-length", "x-api-key", "idempotency-key")
    requests = [(r["method"], r["path"], r["body"], {h: r["headers"].get(h) for h in headers})
                for r in server.requests]
    seen = json.loads(json.dumps(seen).replace(server.url, "http://server"))  # each server has its own port
    return {"seen": seen, "requests": requests, "sleeps": sleeps, "partial_left": out.with_suffix(".partial").exists(),
            "events": [(e.batch_id, e.phase, e.done, e.total) for e in events]}


def test_client_and_async_client_do_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sync = observe("sync", tmp_path, monkeypatch)
    async_ = observe("async", tmp_path, monkeypatch)
    assert sync == async_

    assert sync["sleeps"] == [2.0, 0.5, 0.75]
    assert [(method, path) for method, path, _, _ in sync["requests"]] == [
        ("POST", "/v1/search"), ("POST", "/v1/search"), ("POST", "/v1/search/batches"), ("PUT", "/files/in?sig=s"),
        ("GET", "/v1/search/batches/b1"), ("GET", "/v1/search/batches/b1"), ("GET", "/v1/search/batches/b1"),
        ("GET", "/files/out?sig=old"), ("GET", "/v1/search/batches/b1"), ("GET", "/files/out?sig=new"),
        ("GET", "/v1/search/batches/b1/results?from_line=2"),
        ("POST", "/v1/knowledge-graph/entities/id"), ("POST", "/v1/knowledge-graph/entities/id"),
        ("GET", "/v1/search/batches/b9")]
    create, put = sync["requests"][2], sync["requests"][3]
    assert create[3]["idempotency-key"] == "key-1" and create[2] == b""
    assert put[3]["x-api-key"] is None and put[3]["content-type"] == "application/jsonl"
    assert [len(json.loads(r[2])["values"]) for r in sync["requests"][11:13]] == [100, 51]

    search, final, downloaded, rows, entities, error = sync["seen"]
    assert search == OK and final["status"] == "completed" and downloaded == OUTPUT.decode()
    assert rows == [{"line_number": 1, "status": "success"}, {"line_number": 2, "status": "error"}]
    assert entities == {"E0": {"id": "E0"}}
    assert error == [404, "NOT_FOUND", "req-404"]
    assert [(phase, done) for _, phase, done, _ in sync["events"]] == [
        ("upload", 262_144), ("upload", 300_000), ("processing", 0), ("processing", 1), ("processing", 2),
        ("download", len(OUTPUT))]
    assert not sync["partial_left"]
