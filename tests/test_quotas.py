"""Per-key quotas and rates (issue 12, M2): 429 with Retry-After naming the limit; another key is not limited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from batchsearch.api.ratelimit import Rate, TokenBucket
from batchsearch.config import Settings

from batch_fakes import AsgiBatches, jsonl

pytestmark = pytest.mark.anyio
BATCH_SETTINGS = {"quota_active_jobs": 3, "quota_queued_lines": 25}  # for the shared `api` fixture


def assert_429(response: Any, code: str, setting: str) -> None:
    assert response.status_code == 429, response.text
    assert int(response.headers["Retry-After"]) >= 1
    body = response.json()
    assert body["errorCode"] == code and setting in body["message"]


async def test_active_jobs_quota_answers_429_until_a_job_ends(api: AsgiBatches) -> None:
    created = [(await api.client.post("/v1/search/batches")).json()["batch_id"] for _ in range(3)]
    assert_429(await api.client.post("/v1/search/batches"), "QUOTA_EXCEEDED", "quota_active_jobs")
    assert (await api.client.post("/v1/search/batches", headers={"X-API-KEY": api.other})).status_code == 200
    assert (await api.client.post(f"/v1/search/batches/{created[0]}/cancel")).status_code == 200
    assert (await api.client.post("/v1/search/batches")).status_code == 200


@pytest.mark.deployment("sqlite+file")  # S3 uploads bypass the API: a worker's sweep takes them in
async def test_queued_lines_quota_answers_429_and_the_upload_can_be_retried(api: AsgiBatches) -> None:
    await api.submit(jsonl(20))
    waiting = (await api.client.post("/v1/search/batches")).json()
    assert (await api.put(waiting["presigned_url"], jsonl(5))).status_code == 200  # exactly the 25 allowed
    later = (await api.client.post("/v1/search/batches")).json()
    assert_429(await api.put(later["presigned_url"], jsonl(1)), "QUOTA_EXCEEDED", "quota_queued_lines")
    assert (await api.status(later["batch_id"]))["status"] == "pending"  # refused before reading: retry later
    api.work()
    assert (await api.put(later["presigned_url"], jsonl(1))).status_code == 200


@pytest.mark.deployment("sqlite+file")
async def test_a_file_larger_than_the_lines_left_is_refused_while_streaming(api: AsgiBatches) -> None:
    await api.submit(jsonl(20))
    created = (await api.client.post("/v1/search/batches")).json()
    assert_429(await api.put(created["presigned_url"], jsonl(6)), "QUOTA_EXCEEDED", "quota_queued_lines")
    assert (await api.status(created["batch_id"]))["status"] == "failed"


@pytest.mark.deployment("postgresql+s3")
async def test_inputs_uploaded_straight_to_s3_wait_for_room_under_the_lines_quota(api: AsgiBatches) -> None:
    first = await api.submit(jsonl(20))  # the worker's intake sweep takes S3 uploads in (api.put runs one)
    too_big = await api.submit(jsonl(6))  # 5 lines left: the sweep fails it with the quota's message
    fits = await api.submit(jsonl(5))
    waits = await api.submit(jsonl(1))  # no room left: it stays pending, its input kept
    shown = [await api.status(b) for b in (first, too_big, fits, waits)]
    assert [(s["status"], s["phase"]) for s in shown] == [
        ("pending", "queued"), ("failed", "done"), ("pending", "queued"), ("pending", "awaiting_upload")]
    assert "quota_queued_lines" in shown[1]["error"]
    api.work()  # the earlier jobs finish, so the sweep takes the waiting input in and it runs
    assert (await api.status(waits))["status"] == "completed"


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[AsgiBatches]:
    settings = Settings(data_dir=tmp_path, public_url="http://test", rate_poll_per_second=0.001, rate_poll_burst=2,
                        rate_search_per_second=0.001, rate_search_burst=1)
    batches = AsgiBatches(settings)
    async with batches.client:
        yield batches


async def test_polling_is_rate_limited_per_key(limited: AsgiBatches) -> None:
    batch = (await limited.client.post("/v1/search/batches")).json()["batch_id"]  # creating is not polling
    assert (await limited.client.get("/v1/search/batches")).status_code == 200
    assert (await limited.client.get(f"/v1/search/batches/{batch}")).status_code == 200
    refused = await limited.client.get(f"/v1/search/batches/{batch}/results")
    assert_429(refused, "RATE_LIMITED", "rate_poll_per_second")
    assert int(refused.headers["Retry-After"]) >= 900  # one token per 1000 s
    assert (await limited.client.get("/v1/search/batches", headers={"X-API-KEY": limited.other})).status_code == 200
    assert (await limited.client.post(f"/v1/search/batches/{batch}/cancel")).status_code == 200  # not a poll


async def test_searches_are_rate_limited_per_key(limited: AsgiBatches) -> None:
    body = {"query": {"text": "anything"}}
    assert (await limited.client.post("/v1/search", json=body)).status_code != 429
    assert_429(await limited.client.post("/v1/search", json=body), "RATE_LIMITED", "rate_search_per_second")
    assert_429(await limited.client.post("/v1/knowledge-graph/companies", json={"query": "a"}),
               "RATE_LIMITED", "rate_search_per_second")
    assert (await limited.client.post("/v1/search", json=body, headers={"X-API-KEY": limited.other})).status_code != 429
    assert (await limited.client.get("/v1/search/batches")).status_code == 200  # polls have their own bucket


def test_a_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    bucket = TokenBucket(Rate(2.0, 3, "rate_search_per_second"), 3.0, 0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)
    assert bucket.take(0.5) == 0.0 and bucket.take(0.5) == pytest.approx(0.5)
    assert bucket.is_full(100.0) and bucket.tokens == 3.0


@pytest.mark.parametrize(("method", "path", "kind"), [
    ("POST", "/v1/search", "search"), ("POST", "/v1/search/volume", "search"),
    ("POST", "/v1/search/co-mentions/entities", "search"), ("POST", "/v1/search/co-mentions/topics", "search"),
    ("POST", "/v1/knowledge-graph/companies", "search"), ("GET", "/v1/search/batches", "poll"),
    ("GET", "/v1/search/batches/abc", "poll"), ("POST", "/v1/search/batches", None), ("PUT", "/files/x", None)])
def test_search_like_routes_count_as_searches_and_batch_reads_as_polls(method: str, path: str, kind: str | None) -> None:
    from batchsearch.api.ratelimit import request_kind

    assert request_kind(method, path) == kind


@pytest.mark.parametrize(("method", "path", "kind"), [
    ("GET", "/v1/documents/ABC", "search"), ("GET", "/v1/documents/ABC/annotated", None),
    ("GET", "/v1/subscription/quotas", "poll")])
def test_document_fetches_count_as_searches_and_quota_reads_as_polls(method: str, path: str, kind: str | None) -> None:
    from batchsearch.api.ratelimit import request_kind

    assert request_kind(method, path) == kind
