"""Create options: Idempotency-Key (same job for the same key and body) and priority (higher first, FIFO within)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest


from batch_fakes import AsgiBatches, FakeSearcher, jsonl

pytestmark = pytest.mark.anyio


async def create(api: AsgiBatches, body: dict | None = None, key: str | None = None, api_key: str | None = None):  # type: ignore[no-untyped-def,type-arg]
    headers = {"Idempotency-Key": key} if key else {}
    if api_key:
        headers["X-API-KEY"] = api_key
    return await api.client.post("/v1/search/batches", json=body, headers=headers)


async def test_same_key_same_body_gives_the_same_batch(api: AsgiBatches) -> None:
    first = await create(api, {"priority": 1}, key="nightly-2026-11-28")
    again = await create(api, {"priority": 1}, key="nightly-2026-11-28")
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    conflict = await create(api, {"priority": 2}, key="nightly-2026-11-28")
    assert conflict.status_code == 409 and "different request body" in conflict.json()["message"]
    other_tenant = await create(api, {"priority": 1}, key="nightly-2026-11-28", api_key=api.other)
    assert other_tenant.json()["batch_id"] != first.json()["batch_id"]
    fresh = await create(api, {"priority": 1}, key="another-key")
    assert fresh.json()["batch_id"] != first.json()["batch_id"]
    no_key = [await create(api) for _ in range(2)]
    assert no_key[0].json()["batch_id"] != no_key[1].json()["batch_id"]
    assert (await create(api, key="x" * 256)).status_code == 400


async def test_a_key_is_free_again_after_the_window(api: AsgiBatches) -> None:
    api.service.clock = lambda: datetime.now(UTC) - timedelta(hours=25)
    old = (await create(api, key="k")).json()
    api.service.clock = lambda: datetime.now(UTC)
    new = await create(api, {"priority": 5}, key="k")
    assert new.status_code == 200 and new.json()["batch_id"] != old["batch_id"]
    assert (await create(api, {"priority": 5}, key="k")).json() == new.json()


async def test_concurrent_creates_with_one_key_make_one_job(api: AsgiBatches) -> None:
    results: list[str] = []

    def make() -> None:
        results.append(api.service.create("alice", idempotency_key="race", request_hash="h").job.id)

    threads = [threading.Thread(target=make) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1 and len(results) == 6


async def test_higher_priority_runs_first_fifo_within_a_priority(api: AsgiBatches) -> None:
    low1 = await api.submit(jsonl(2))
    high1 = await api.submit(jsonl(2), {"priority": 10})
    low2 = await api.submit(jsonl(2))
    high2 = await api.submit(jsonl(2), {"priority": 10})
    urgent = await api.submit(jsonl(2), {"priority": 50})
    positions = {b: (await api.status(b))["queue_position"] for b in (low1, high1, low2, high2, urgent)}
    assert positions == {urgent: 1, high1: 2, high2: 3, low1: 4, low2: 5}
    assert (await api.status(high1))["priority"] == 10
    api.work(FakeSearcher())
    started = sorted((low1, high1, low2, high2, urgent), key=lambda b: api.service.backend.get(b).started_at)  # type: ignore[union-attr]
    assert started == [urgent, high1, high2, low1, low2]
    assert (await create(api, {"priority": 1.5})).status_code == 400
    assert (await create(api, {"priority": 5000})).status_code == 400


async def chunked(data: bytes, piece: int = 1000):  # type: ignore[no-untyped-def]
    """The body as an async stream: sent without Content-Length, as chunked transfer encoding."""
    for start in range(0, len(data), piece):
        yield data[start:start + piece]


async def test_a_chunked_create_body_is_read_with_its_options(api: AsgiBatches) -> None:
    body = b'{"priority": 7, "validate_first": true, "padding": "' + b"x" * 5000 + b'"}'
    created = await api.client.post("/v1/search/batches", content=chunked(body))
    assert created.status_code == 200, created.text
    job = api.service.backend.get(created.json()["batch_id"])
    assert job is not None and (job.priority, job.validate_first) == (7, True)


async def test_a_create_body_over_64_kib_is_413_with_or_without_content_length(api: AsgiBatches) -> None:
    body = b'{"priority": 1, "padding": "' + b"x" * (64 * 1024) + b'"}'
    for content in (body, chunked(body, piece=16 * 1024)):
        response = await api.client.post("/v1/search/batches", content=content)
        assert response.status_code == 413, response.text
        assert "65536" in response.json()["message"]
