"""Honest progress on GET /v1/search/batches/{id}: request_counts, phase, outcome, rate, queue position."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import timedelta

import pytest

from batchsearch.jobs.model import Checkpoint, LineCounts

from batch_fakes import AsgiBatches, FakeSearcher, jsonl

pytestmark = pytest.mark.anyio
BIGDATA_FIELDS = {"batch_id", "status", "estimated_completion_time", "output_file_url"}


BATCH_SETTINGS = {"micro_batch_size": 8}  # for the shared `api` fixture


async def test_counts_of_a_completed_job_with_every_kind_of_line(api: AsgiBatches) -> None:
    lines = [json.dumps({"query": {"text": t}}).encode() for t in ("a", "boom", "c", "d")] + [b"{bad"]
    batch_id = await api.submit(b"\n".join(lines) + b"\n")
    api.work(FakeSearcher(crash=["boom"]))
    status = await api.status(batch_id)
    assert BIGDATA_FIELDS <= set(status) and status["status"] == "completed"
    assert status["request_counts"] == {"total": 5, "succeeded": 3, "errored": 1, "timed_out": 0, "failed": 1,
                                        "pending": 0}
    assert status["outcome"] == "partially_succeeded" and status["phase"] == "done"
    assert status["lines_per_second"] > 0 and status["queue_position"] is None
    rows = [json.loads(line) for line in (await api.fetch(status["output_file_url"])).content.splitlines()]
    assert [r["status"] for r in rows] == ["success", "exception", "success", "success", "error"]


async def test_zero_successes_is_never_plain_success(api: AsgiBatches) -> None:
    batch_id = await api.submit(b"{bad\n{worse\n")
    api.work()
    status = await api.status(batch_id)
    assert status["status"] == "completed" and status["outcome"] == "none_succeeded"
    assert status["request_counts"]["succeeded"] == 0 and status["request_counts"]["errored"] == 2


async def test_waiting_jobs_have_a_queue_position_and_pending_counts(api: AsgiBatches) -> None:
    created = (await api.client.post("/v1/search/batches")).json()
    assert (await api.status(created["batch_id"]))["phase"] == "awaiting_upload"
    first, second = await api.submit(jsonl(10)), await api.submit(jsonl(20))
    one, two = await api.status(first), await api.status(second)
    assert (one["queue_position"], two["queue_position"]) == (1, 2)
    assert one["phase"] == "queued" and two["request_counts"]["pending"] == 20
    assert one["lines_per_second"] is None


async def test_all_lines_done_but_output_not_written_says_finalizing(api: AsgiBatches) -> None:
    batch_id = await api.submit(jsonl(8))
    backend, now = api.service.backend, api.service.clock()
    backend.claim("w1", now, now + timedelta(seconds=30))
    backend.save_checkpoint(batch_id, "w1", Checkpoint(8, 100, 8, 40.0, LineCounts(success=8)),
                            now + timedelta(seconds=30))
    status = await api.status(batch_id)
    assert status["status"] == "processing" and status["phase"] == "finalizing"
    assert status["request_counts"]["pending"] == 0 and status["request_counts"]["succeeded"] == 8
    assert status["lines_per_second"] == 40.0


async def test_counts_while_running_always_add_up(api: AsgiBatches) -> None:
    batch_id = await api.submit(jsonl(200, bad_every=9))
    thread = threading.Thread(target=api.work, args=(FakeSearcher(delay=0.002),))
    thread.start()
    seen = []
    while thread.is_alive():
        status = await api.status(batch_id)
        counts = status["request_counts"]
        done = counts["succeeded"] + counts["errored"] + counts["timed_out"] + counts["failed"]
        assert done + counts["pending"] == 200
        if status["status"] == "processing":
            assert done == status["lines_done"]
            seen.append(done)
        await asyncio.sleep(0.01)
    thread.join()
    final = (await api.status(batch_id))["request_counts"]
    assert final == {"total": 200, "succeeded": 178, "errored": 22, "timed_out": 0, "failed": 0, "pending": 0}
    assert seen == sorted(seen)
