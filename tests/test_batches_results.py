"""Results while running: GET .../results?from_line=N tails the finished prefix; Range resumes the output file."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from batchsearch.storage.ranges import UnsatisfiableRangeError, parse_range

from batch_fakes import AsgiBatches, FakeSearcher, jsonl

pytestmark = pytest.mark.anyio
LINES = 20_000


BATCH_SETTINGS = {"micro_batch_size": 500}  # for the shared `api` fixture


async def test_tailing_a_running_batch_yields_exactly_the_final_output(api: AsgiBatches) -> None:
    batch_id = await api.submit(jsonl(LINES, bad_every=97))
    worker = threading.Thread(target=api.work, args=(FakeSearcher(delay=0.00005),))
    worker.start()
    tailed, next_line, polls, partial_polls = bytearray(), 1, 0, 0
    while True:
        response = await api.client.get(f"/v1/search/batches/{batch_id}/results", params={"from_line": next_line})
        assert response.status_code == 200 and response.headers["content-type"].startswith("application/jsonl")
        body = response.content
        assert body == b"" or body.endswith(b"\n")
        assert int(response.headers["x-batchsearch-next-line"]) == next_line + body.count(b"\n")
        tailed += body
        next_line += body.count(b"\n")
        polls += 1
        partial_polls += 0 < next_line - 1 < LINES
        if response.headers["x-batchsearch-status"] == "completed" and next_line > LINES:
            break
        await asyncio.sleep(0.02)
    worker.join()
    status = await api.status(batch_id)
    final = (await api.fetch(status["output_file_url"])).content
    assert bytes(tailed) == final and final.count(b"\n") == LINES
    assert partial_polls >= 2, "never saw the job half done"
    rows = [json.loads(line) for line in final.splitlines()[:200]]
    assert [r["line_number"] for r in rows] == list(range(1, 201))


async def test_from_line_in_the_middle_of_a_part_and_of_the_output(api: AsgiBatches) -> None:
    api.service.settings = api.service.settings.model_copy(update={"micro_batch_size": 7})
    batch_id = await api.submit(jsonl(30))
    job = api.service.backend.get(batch_id)
    assert job is not None
    empty = await api.client.get(f"/v1/search/batches/{batch_id}/results")
    assert empty.content == b"" and empty.headers["x-batchsearch-next-line"] == "1"
    api.work()
    status = await api.status(batch_id)
    final = (await api.fetch(status["output_file_url"])).content.splitlines(keepends=True)
    for start in (1, 5, 8, 30):
        response = await api.client.get(f"/v1/search/batches/{batch_id}/results?from_line={start}")
        assert response.content == b"".join(final[start - 1 :])
    past = await api.client.get(f"/v1/search/batches/{batch_id}/results?from_line=31")
    assert past.content == b"" and past.headers["x-batchsearch-next-line"] == "31"
    assert (await api.client.get(f"/v1/search/batches/{batch_id}/results?from_line=0")).status_code == 400
    other = await api.client.get(f"/v1/search/batches/{batch_id}/results", headers={"X-API-KEY": api.other})
    assert other.status_code == 404


async def test_range_requests_resume_the_output_download(api: AsgiBatches) -> None:
    batch_id = await api.submit(jsonl(50))
    api.work()
    url = (await api.status(batch_id))["output_file_url"]
    whole = await api.fetch(url)
    size = len(whole.content)
    assert whole.headers["accept-ranges"] == "bytes"
    first = await api.fetch(url, Range="bytes=0-99")
    assert first.status_code == 206 and first.content == whole.content[:100]
    assert first.headers["content-range"] == f"bytes 0-99/{size}"
    rest = await api.fetch(url, Range="bytes=100-")
    assert rest.status_code == 206 and first.content + rest.content == whole.content
    tail = await api.fetch(url, Range="bytes=-10")
    assert tail.content == whole.content[-10:]
    assert (await api.fetch(url, Range=f"bytes={size}-")).status_code == 416
    assert (await api.fetch(url, Range="bytes=0-1,5-6")).status_code == 200  # several ranges: whole file


def test_parse_range() -> None:
    assert parse_range(None, 10) is None and parse_range("items=0-1", 10) is None
    assert parse_range("bytes=2-4", 10).content_range() == "bytes 2-4/10"  # type: ignore[union-attr]
    assert parse_range("bytes=5-99", 10).last == 9  # type: ignore[union-attr]
    assert parse_range("bytes=-3", 10).first == 7  # type: ignore[union-attr]
    for bad in ("bytes=10-", "bytes=4-2", "bytes=-0"):
        with pytest.raises(UnsatisfiableRangeError):
            parse_range(bad, 10)
