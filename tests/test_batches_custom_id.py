"""Custom ids: `"custom_id"` next to `query` is echoed on the output line; a bad one is an error line naming it."""

from __future__ import annotations

import json

import pytest


from batch_fakes import AsgiBatches

pytestmark = pytest.mark.anyio


BATCH_SETTINGS = {"micro_batch_size": 4}  # for the shared `api` fixture


async def test_custom_ids_are_echoed_and_bad_ones_name_the_field(api: AsgiBatches) -> None:
    lines = [
        {"custom_id": "AAPL-2026_q1", "query": {"text": "apple"}},
        {"query": {"text": "no id"}},
        {"custom_id": "x" * 64, "query": {"text": "longest id"}},
        {"custom_id": "x" * 65, "query": {"text": "too long"}},
        {"custom_id": "has space", "query": {"text": "bad chars"}},
        {"custom_id": 17, "query": {"text": "not a string"}},
        {"custom_id": "", "query": {"text": "empty"}},
        {"custom_id": "ok-but-bad-query", "query": {"max_chunks": 3}},
    ]
    batch_id = await api.submit(b"\n".join(json.dumps(line).encode() for line in lines) + b"\n")
    api.work()
    status = await api.status(batch_id)
    rows = [json.loads(line) for line in (await api.fetch(status["output_file_url"])).content.splitlines()]
    assert [r.get("custom_id") for r in rows] == ["AAPL-2026_q1", None, "x" * 64, None, None, None, None,
                                                  "ok-but-bad-query"]
    assert [r["status"] for r in rows] == ["success", "success", "success", "error", "error", "error", "error", "error"]
    assert "custom_id" not in rows[1]
    for row in rows[3:7]:
        assert row["code"] == 400 and row["error"].split("\n")[1] == "custom_id"
        assert row["query"] == lines[row["line_number"] - 1]["query"]
    assert "pattern" in rows[3]["error"] and "valid string" in rows[5]["error"]
    assert rows[7]["error"].split("\n")[1] == "query"  # no text and no filter
    assert rows[0]["response"]["results"][0]["text"] == "apple"
    assert status["request_counts"]["errored"] == 5
