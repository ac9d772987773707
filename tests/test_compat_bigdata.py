"""A Bigdata.com Batch Search client script, written as the vendor samples write it, run against batchsearch.

Plain httpx, no SDK: create with a lowercase `x-api-key` and no body, PUT the file to the presigned
URL with `Content-Type: application/jsonl` and no key, poll GET every second, download
`output_file_url` with a plain GET and read `response.results` (spec sections 2-3).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx

from sdk_server import LiveServer

# the input lines of spec section 3.1, verbatim (the entity ids are Bigdata's: unknown here, so no hits)
SPEC_LINES = [
    {"query": {"text": "Impact of tariffs on semiconductor industry", "filters": {"timestamp": {"start": "2026-01-01", "end": "2026-02-24"}}, "max_chunks": 10}},
    {"query": {"text": "Central bank interest rate decisions", "filters": {"timestamp": {"start": "2026-01-01", "end": "2026-02-24"}}, "max_chunks": 10}},
    {"query": {"text": "AAPL Apple Inc. latest news", "auto_enrich_filters": False, "filters": {"timestamp": {"start": "2026-03-10T11:05:52Z", "end": "2026-03-11T11:05:52Z"}, "entity": {"any_of": ["D8442A"], "all_of": [], "none_of": []}}, "ranking_params": {"freshness_boost": 2, "source_boost": 1}, "max_chunks": 3}},
    {"query": {"auto_enrich_filters": False, "text": "The company is affected by the Trump administration's policies", "filters": {"timestamp": {"start": "2025-08-15T16:55:37", "end": "2026-02-13T16:55:37"}, "entity": {"any_of": ["7B1E50", "4784D2", "125808", "716DCV", "7FBEA5", "CBE04E", "389E4A", "AC9F5D", "6E61EC", "FB7724"], "all_of": ["22C3AF"]}}, "ranking_params": {"source_boost": 0, "freshness_boost": 0, "reranker": {"enabled": True, "threshold": 0.7}}, "max_chunks": 50}},
]
OWN_LINES = [
    {"query": {"text": "quarterly earnings and revenue guidance", "max_chunks": 5}},
    {"query": {"text": "x", "max_chunks": 5000}},
]
STATUSES = {"pending", "processing", "completed", "failed", "cancelled"}
DOCUMENT_ID = re.compile(r"^[A-F0-9]{32}$")
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def run_batch_like_the_vendor_script(base_url: str, api_key: str, input_path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The how-to script's flow; returns (every status body seen, the result records)."""
    headers = {"x-api-key": api_key}
    create = httpx.post(f"{base_url}/v1/search/batches", headers=headers, timeout=30)
    assert create.status_code == 200, create.text
    job = create.json()
    batch_id, presigned_url = job["batch_id"], job["presigned_url"]

    with open(input_path, "rb") as fh:
        upload = httpx.put(presigned_url, content=fh.read(), headers={"Content-Type": "application/jsonl"}, timeout=60)
    assert upload.status_code == 200, upload.text

    seen = []
    deadline = time.monotonic() + 120
    while True:
        info = httpx.get(f"{base_url}/v1/search/batches/{batch_id}", headers=headers, timeout=30)
        assert info.status_code == 200, info.text
        seen.append(info.json())
        if seen[-1]["status"] == "completed":
            break
        assert seen[-1]["status"] not in ("failed", "cancelled", "error"), seen[-1]
        assert time.monotonic() < deadline, seen[-1]
        time.sleep(1)

    download = httpx.get(seen[-1]["output_file_url"], timeout=60)
    assert download.status_code == 200
    return seen, [json.loads(line) for line in download.text.splitlines() if line.strip()]


def test_the_vendor_flow_runs_unchanged(live_server: LiveServer, tmp_path: Path) -> None:
    lines = SPEC_LINES + OWN_LINES
    input_path = tmp_path / "queries.jsonl"
    input_path.write_text("".join(json.dumps(line) + "\n" for line in lines))

    seen, results = run_batch_like_the_vendor_script(live_server.base_url, live_server.api_key, input_path)

    for info in seen:
        assert {"batch_id", "status", "output_file_url"} <= set(info) and info["status"] in STATUSES
        if info.get("estimated_completion_time"):
            assert ISO.match(info["estimated_completion_time"])
    assert [r["line_number"] for r in results] == list(range(1, len(lines) + 1))  # 1-indexed, input order
    for record, line in zip(results, lines, strict=True):
        assert record["query"] == line["query"]  # the inner query object, verbatim
        assert record.get("query", {}).get("text") == line["query"]["text"]
    *ok, bad = results
    for record in ok:
        assert (record["status"], record["code"]) == ("success", 200) and "error" not in record
        assert {"results", "metadata", "usage"} <= set(record["response"])
        assert isinstance(record["response"]["results"], list)
    assert (bad["status"], bad["code"]) == ("error", 400) and "less than or equal to 1000" in bad["error"]
    documents = [doc for record in ok for doc in record["response"]["results"]]
    assert documents, "the plain query should find something"
    for doc in documents:
        assert DOCUMENT_ID.match(doc["id"]) and {"id", "name", "rank"} <= set(doc["source"])
        for chunk in doc["chunks"]:
            assert {"cnum", "text", "relevance", "sentiment", "detections"} <= set(chunk)


def test_create_accepts_the_cookbook_body_and_any_header_case(live_server: LiveServer) -> None:
    response = httpx.post(f"{live_server.base_url}/v1/search/batches", json={"organizationId": None, "userId": None},
                          headers={"X-API-KEY": live_server.api_key})
    assert response.status_code == 200
    assert set(response.json()) >= {"batch_id", "presigned_url"}


def test_the_cookbook_post_then_get_fallback_works(live_server: LiveServer) -> None:
    headers = {"x-api-key": live_server.api_key}
    batch_id = httpx.post(f"{live_server.base_url}/v1/search/batches", headers=headers).json()["batch_id"]
    first = httpx.post(f"{live_server.base_url}/v1/search/batches/{batch_id}", headers=headers)
    assert first.status_code in (404, 405)
    fallback = httpx.get(f"{live_server.base_url}/v1/search/batches/{batch_id}", headers=headers)
    assert fallback.json()["status"] == "pending"


def test_presigned_urls_need_no_key_and_reject_tampering(live_server: LiveServer) -> None:
    job = httpx.post(f"{live_server.base_url}/v1/search/batches", headers={"x-api-key": live_server.api_key}).json()
    tampered = job["presigned_url"].replace("signature=", "signature=0")
    body = b'{"query": {"text": "dividend"}}\n'
    assert httpx.put(tampered, content=body, headers={"Content-Type": "application/jsonl"}).status_code == 403
    assert httpx.put(job["presigned_url"], content=body, headers={"Content-Type": "application/jsonl"}).status_code == 200
