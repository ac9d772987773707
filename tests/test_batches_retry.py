"""Retry only what failed: POST .../retry re-runs timeout/exception lines in the same job and output."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest

from batchsearch.db import create_db_engine
from batchsearch.jobs.worker import Worker

from batch_fakes import AsgiBatches, FakeSearcher
from test_jobs_runner import Clock, Crash, CrashingStore

pytestmark = pytest.mark.anyio
TEXTS = ["a", "boom", "c", "slow", "e", "boom", "g", "h", "i", "j"]


BATCH_SETTINGS = {"micro_batch_size": 3, "query_timeout_seconds": 0.3}  # for the shared `api` fixture


def data() -> bytes:
    lines = [{"query": {"text": t}} for t in TEXTS] + [{"custom_id": "bad", "query": {"max_chunks": 1}}]
    return b"\n".join(json.dumps(line).encode() for line in lines) + b"\n"


async def output(api: AsgiBatches, batch_id: str) -> list[bytes]:
    status = await api.status(batch_id)
    return (await api.fetch(status["output_file_url"])).content.splitlines()


async def test_retry_reruns_only_timeouts_and_exceptions_in_place(api: AsgiBatches) -> None:
    batch_id = await api.submit(data())
    api.work(FakeSearcher(crash=["boom"], slow={"slow": 1.0}))
    first = await output(api, batch_id)
    assert [json.loads(r)["status"] for r in first].count("success") == 7
    assert (await api.status(batch_id))["request_counts"] | {} == {
        "total": 11, "succeeded": 7, "errored": 1, "timed_out": 1, "failed": 2, "pending": 0}

    retried = await api.client.post(f"/v1/search/batches/{batch_id}/retry")
    assert retried.status_code == 200 and retried.json()["status"] == "pending" and retried.json()["retries"] == 1
    again = FakeSearcher(crash=["boom"])  # the timeout recovers, the crashes do not
    api.work(again)
    assert sorted(again.calls) == [1, 1, 1, 1, 2]  # only the 3 failed lines were searched again
    second = await output(api, batch_id)
    rows = [json.loads(r) for r in second]
    assert [r["line_number"] for r in rows] == list(range(1, 12))
    kept = [i for i, t in enumerate(TEXTS + ["bad"]) if t not in ("boom", "slow")]
    assert [second[i] for i in kept] == [first[i] for i in kept]  # untouched lines are byte for byte the same
    assert (rows[3]["status"], rows[3]["attempts"]) == ("success", 2)
    assert [(rows[i]["status"], rows[i]["attempts"]) for i in (1, 5)] == [("exception", 2)] * 2
    assert rows[0]["attempts"] == 1 and rows[10]["custom_id"] == "bad"
    status = await api.status(batch_id)
    assert status["status"] == "completed" and status["request_counts"]["failed"] == 2
    assert status["request_counts"]["succeeded"] == 8 and status["request_counts"]["timed_out"] == 0

    await api.client.post(f"/v1/search/batches/{batch_id}/retry")
    api.work(FakeSearcher())
    rows = [json.loads(r) for r in await output(api, batch_id)]
    assert [(rows[i]["status"], rows[i]["attempts"]) for i in (1, 3, 5)] == [("success", 3), ("success", 2),
                                                                            ("success", 3)]
    final = await api.status(batch_id)
    assert final["outcome"] == "partially_succeeded" and final["request_counts"]["succeeded"] == 10
    nothing = await api.client.post(f"/v1/search/batches/{batch_id}/retry")
    assert nothing.status_code == 409 and "no timeout or exception" in nothing.json()["message"]


async def test_only_completed_jobs_can_be_retried(api: AsgiBatches) -> None:
    batch_id = await api.submit(data())
    response = await api.client.post(f"/v1/search/batches/{batch_id}/retry")
    assert response.status_code == 409
    assert (await api.client.post(f"/v1/search/batches/{batch_id}/retry", headers={"X-API-KEY": api.other})).status_code == 404


async def test_a_retry_interrupted_by_a_crash_resumes_without_loss(api: AsgiBatches) -> None:
    batch_id = await api.submit(data())
    api.work(FakeSearcher(crash=["boom"]))
    first = await output(api, batch_id)
    await api.client.post(f"/v1/search/batches/{batch_id}/retry")
    clock = Clock()
    service = api.service
    crashing = CrashingStore(create_db_engine(service.settings.resolved_database_url()), crash_at=3)
    with pytest.raises(Crash):
        Worker(service.settings, crashing, service.objects, FakeSearcher(), clock=clock).run_once(threading.Event())
    service.clock = clock
    clock.offset = timedelta(seconds=service.settings.lease_seconds + 1)
    api.work(FakeSearcher())
    rows = [json.loads(r) for r in await output(api, batch_id)]
    assert [r["line_number"] for r in rows] == list(range(1, 12))
    assert [(r["status"], r.get("attempts", 1)) for r in rows][1] == ("success", 2)
    assert sum(r["status"] == "success" for r in rows) == 10 and len(first) == 11


class CancelDuringRetry(FakeSearcher):
    """Cancels the job from outside when it is asked to search the line 'slow' again."""

    def __init__(self, api: AsgiBatches, batch_id: str) -> None:
        super().__init__()
        self.api, self.batch_id = api, batch_id

    def search_many(self, queries, *, owner, generation=None):  # type: ignore[no-untyped-def]
        if any(q.text == "slow" for q in queries):
            self.api.service.cancel(self.api.service.backend.get(self.batch_id))  # type: ignore[arg-type]
        return super().search_many(queries, owner=owner, generation=generation)


async def test_a_cancelled_retry_keeps_every_line_and_counts_them(api: AsgiBatches) -> None:
    batch_id = await api.submit(data())
    api.work(FakeSearcher(crash=["boom"], slow={"slow": 1.0}))
    first = await output(api, batch_id)
    await api.client.post(f"/v1/search/batches/{batch_id}/retry")
    api.work(CancelDuringRetry(api, batch_id))  # lines 1-3 re-run and kept; the cancel stops it at line 4
    status = await api.status(batch_id)
    assert status["status"] == "cancelled" and status["lines_done"] == 11
    rows = [json.loads(r) for r in await output(api, batch_id)]
    assert [r["line_number"] for r in rows] == list(range(1, 12))
    assert (rows[1]["status"], rows[1]["attempts"]) == ("success", 2)  # re-run before the cancel
    assert rows[3]["status"] == "timeout" and rows[5]["status"] == "exception"  # earlier output, kept
    assert (await output(api, batch_id))[6:] == first[6:]
    assert status["request_counts"] == {"total": 11, "succeeded": 8, "errored": 1, "timed_out": 1, "failed": 1,
                                        "pending": 0}
