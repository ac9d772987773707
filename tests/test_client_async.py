"""batchsearch.AsyncClient: the same calls and errors as Client, against a real uvicorn and a scripted server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import batchsearch
from batchsearch.client import BatchProgress
from batch_fakes import status_document
from sdk_server import LiveServer, Reply, ScriptedServer, dead_url, error_body

pytestmark = pytest.mark.anyio
OK = {"results": [], "metadata": {"request_id": "r"}, "usage": {"api_query_units": 0}}


@pytest.fixture
async def client(live_server: LiveServer) -> AsyncIterator[batchsearch.AsyncClient]:
    async with batchsearch.AsyncClient(live_server.base_url, live_server.api_key) as c:
        yield c


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    recorded: list[float] = []

    async def record(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr("batchsearch.client.async_._sleep", record)
    return recorded


async def test_search_and_validation_errors(client: batchsearch.AsyncClient) -> None:
    response = await client.search({"text": "earnings call guidance", "max_chunks": 2})
    assert response["results"] and response["usage"]["api_query_units"] > 0
    with pytest.raises(batchsearch.ValidationError) as caught:
        await client.search({"text": "x", "filters": {"entitty": {}}})
    assert caught.value.request_id and "entitty" in caught.value.message


async def test_run_with_progress_then_cancel_conflicts(client: batchsearch.AsyncClient, tmp_path: Path) -> None:
    queries = tmp_path / "q.jsonl"
    queries.write_text("".join(json.dumps({"query": {"text": f"outlook {i}", "max_chunks": 1}}) + "\n" for i in range(12)))
    events: list[BatchProgress] = []
    final = await client.batches.run(queries, tmp_path / "out.jsonl", on_progress=events.append, timeout=120)
    assert final["status"] == "completed"
    assert [e.phase for e in events][0] == "upload" and events[-1].phase == "download"
    assert max(e.done for e in events if e.phase == "processing") == 12
    assert batchsearch.count_statuses(tmp_path / "out.jsonl") == {"success": 12}
    with pytest.raises(batchsearch.ConflictError, match="already completed"):
        await client.batches.cancel(final["batch_id"])


async def test_step_by_step_and_not_found(client: batchsearch.AsyncClient, tmp_path: Path) -> None:
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"query": {"text": "dividend"}}\n')
    created = await client.batches.create()
    await client.batches.upload(created, queries)
    assert (await client.batches.wait(created["batch_id"], timeout=60))["status"] == "completed"
    path = await client.batches.download(created["batch_id"], tmp_path / "out.jsonl")
    assert [r["line_number"] for r in batchsearch.iter_results(path)] == [1]
    with pytest.raises(batchsearch.NotFoundError):
        await client.batches.get("no-such-batch")


async def test_knowledge_graph(client: batchsearch.AsyncClient) -> None:
    microsoft = (await client.kg.find_companies("Microsoft", limit=1))[0]
    assert microsoft["name"].startswith("Microsoft")
    assert (await client.kg.by_isin(microsoft["isin_values"][0]))["id"] == microsoft["id"]
    assert microsoft["id"] in await client.kg.entities([microsoft["id"]])
    assert await client.kg.sources("Veritas")
    assert "Technology" in await client.kg.sectors()


async def test_503_twice_then_success(sleeps: list[float]) -> None:
    busy = Reply(503, error_body(503, "UNAVAILABLE", "busy"), {"Retry-After": "1"})
    with ScriptedServer(busy, busy, Reply(200, OK)) as server:
        async with batchsearch.AsyncClient(server.url, "k") as client:
            assert await client.search({"text": "x"}) == OK
    assert len(server.requests) == 3 and sleeps == [1.0, 1.0]


async def test_400_is_not_retried(sleeps: list[float]) -> None:
    with ScriptedServer(Reply(400, error_body(400, "VALIDATION_ERROR", "bad", "req-9")), Reply(200, OK)) as server:
        async with batchsearch.AsyncClient(server.url, "k") as client:
            with pytest.raises(batchsearch.ValidationError) as caught:
                await client.search({"text": "x"})
    assert len(server.requests) == 1 and sleeps == []
    assert caught.value.request_id == "req-9"


async def test_connection_refused(sleeps: list[float]) -> None:
    async with batchsearch.AsyncClient(dead_url(), "k", max_retries=2) as client:
        with pytest.raises(batchsearch.APIConnectionError, match="cannot reach the server"):
            await client.batches.get("b1")
    assert len(sleeps) == 2


async def test_upload_is_jsonl_without_the_key_and_wait_grows(sleeps: list[float], tmp_path: Path) -> None:
    file = tmp_path / "q.jsonl"
    file.write_bytes(b'{"query": {"text": "a"}}\n' * 15_000)
    pending, completed = status_document("pending"), status_document("completed", lines_total=15_000)
    replies = [Reply(200, b"")] + [Reply(200, pending)] * 3 + [Reply(200, completed)]
    with ScriptedServer(*replies) as server:
        async with batchsearch.AsyncClient(server.url, "secret") as client:
            await client.batches.upload(server.url + "/files/in?signature=s", file)
            await client.batches.wait("b1")
    put = server.requests[0]
    assert put["headers"]["content-type"] == "application/jsonl" and "x-api-key" not in put["headers"]
    assert put["body"] == file.read_bytes()
    assert all(r["headers"]["x-api-key"] == "secret" for r in server.requests[1:])
    assert sleeps == [0.5, 0.75, 1.125]
