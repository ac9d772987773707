"""batchsearch.Client against a real uvicorn on 127.0.0.1: search, knowledge graph, the batch flow, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import batchsearch
from batchsearch.client import BatchProgress
from sdk_server import LiveServer, corpus_documents, dead_url


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[batchsearch.Client]:
    with batchsearch.Client(live_server.base_url, live_server.api_key) as c:
        yield c


def mentioned_company(sdk_index: Path) -> str:
    """The company the generated corpus mentions most."""
    counts: dict[str, int] = {}
    for doc in corpus_documents(sdk_index):
        for mention in doc["_mentions"]:
            counts[mention["id"]] = counts.get(mention["id"], 0) + 1
    return max(counts, key=lambda cid: counts[cid])


def write_queries(path: Path, texts: list[str], *extra: str) -> Path:
    lines = [json.dumps({"query": {"text": t, "max_chunks": 2}}) for t in texts] + list(extra)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_search_returns_the_wire_response(client: batchsearch.Client) -> None:
    response = client.search({"text": "quarterly results and guidance", "max_chunks": 3})
    assert set(response) >= {"results", "metadata", "usage"}
    assert 1 <= sum(len(doc["chunks"]) for doc in response["results"]) <= 3
    assert response["metadata"]["request_id"]


def test_search_with_an_entity_filter_only_returns_that_entity(client: batchsearch.Client, sdk_index: Path) -> None:
    company = mentioned_company(sdk_index)
    response = client.search({"text": "results", "filters": {"entity": {"any_of": [company]}}, "max_chunks": 20},
                             include_audit=True)
    assert response["results"]
    assert "audit" in response["metadata"]
    for doc in response["results"]:
        for chunk in doc["chunks"]:
            assert company in {d["id"] for d in chunk["detections"]}


def test_validation_error_is_the_servers_exception_with_its_request_id(client: batchsearch.Client) -> None:
    with pytest.raises(batchsearch.ValidationError) as caught:
        client.search({"text": "x", "max_chunks": 5000})
    err = caught.value
    assert err.status_code == 400 and err.error_code == "VALIDATION_ERROR"
    assert "less than or equal to 1000" in err.message
    assert err.request_id


def test_missing_and_wrong_keys_raise_401_and_403(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BATCHSEARCH_API_KEY", raising=False)
    with batchsearch.Client(live_server.base_url) as anonymous, pytest.raises(batchsearch.AuthenticationError):
        anonymous.search({"text": "x"})
    with batchsearch.Client(live_server.base_url, "bs_wrong") as wrong, pytest.raises(batchsearch.PermissionDeniedError):
        wrong.batches.create()


def test_url_and_key_come_from_the_environment(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCHSEARCH_URL", live_server.base_url + "/")
    monkeypatch.setenv("BATCHSEARCH_API_KEY", live_server.api_key)
    with batchsearch.Client() as from_env:
        assert from_env.base_url == live_server.base_url
        assert from_env.kg.sectors()


def test_unknown_batch_is_not_found(client: batchsearch.Client) -> None:
    with pytest.raises(batchsearch.NotFoundError) as caught:
        client.batches.get("00000000-0000-0000-0000-000000000000")
    assert caught.value.status_code == 404 and caught.value.request_id


def test_another_owners_batch_is_not_found(client: batchsearch.Client, live_server: LiveServer, tmp_path: Path) -> None:
    created = client.batches.submit(write_queries(tmp_path / "q.jsonl", ["revenue"]))
    with batchsearch.Client(live_server.base_url, live_server.create_key("bob")) as bob:
        with pytest.raises(batchsearch.NotFoundError):
            bob.batches.get(created["batch_id"])


def test_run_reports_progress_in_order_and_downloads_every_line(client: batchsearch.Client, tmp_path: Path) -> None:
    queries = write_queries(tmp_path / "q.jsonl", [f"revenue growth {i}" for i in range(30)], "{not json")
    events: list[BatchProgress] = []
    status = client.batches.run(queries, tmp_path / "out.jsonl", on_progress=events.append, timeout=120)

    assert status["status"] == "completed" and status["lines_total"] == 31
    phases = [e.phase for e in events]
    assert phases[0] == "upload" and phases[-1] == "download"
    assert phases == sorted(phases, key=["upload", "processing", "download"].index)
    assert {e.batch_id for e in events} == {status["batch_id"]}
    for phase in ("upload", "processing", "download"):
        done = [e.done for e in events if e.phase == phase]
        assert done == sorted(done), phase
        last = [e for e in events if e.phase == phase][-1]
        assert last.done == last.total, phase
    assert [e for e in events if e.phase == "upload"][-1].total == queries.stat().st_size
    rows = list(batchsearch.iter_results(tmp_path / "out.jsonl"))
    assert [r["line_number"] for r in rows] == list(range(1, 32))
    assert batchsearch.count_statuses(tmp_path / "out.jsonl") == {"success": 30, "error": 1}
    assert not (tmp_path / "out.jsonl.partial").exists()


def test_submit_get_wait_download_step_by_step(client: batchsearch.Client, tmp_path: Path) -> None:
    created = client.batches.submit(write_queries(tmp_path / "q.jsonl", ["dividend", "lawsuit"]))
    assert set(created) >= {"batch_id", "presigned_url"}
    assert client.batches.get(created["batch_id"])["status"] in {"pending", "processing", "completed"}
    final = client.batches.wait(created["batch_id"], timeout=60)
    assert final["status"] == "completed"
    path = client.batches.download(created["batch_id"], tmp_path / "out.jsonl")
    assert [r["status"] for r in batchsearch.iter_results(path)] == ["success", "success"]


def test_upload_to_a_url_then_wait(client: batchsearch.Client, tmp_path: Path) -> None:
    created = client.batches.create()
    client.batches.upload(created["presigned_url"], write_queries(tmp_path / "q.jsonl", ["margin"]))
    assert client.batches.wait(created["batch_id"], timeout=60)["lines_total"] == 1


def test_a_bad_upload_raises_and_the_job_fails(client: batchsearch.Client, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    created = client.batches.create()
    with pytest.raises(batchsearch.BatchSearchError) as caught:
        client.batches.upload(created, empty)
    assert 400 <= caught.value.status_code < 500
    assert client.batches.get(created["batch_id"])["status"] == "failed"


def test_download_before_output_is_a_conflict(client: batchsearch.Client, tmp_path: Path) -> None:
    created = client.batches.create()
    with pytest.raises(batchsearch.ConflictError, match="pending"):
        client.batches.download(created["batch_id"], tmp_path / "never-written.jsonl")
    assert list(tmp_path.iterdir()) == []


def test_cancel_a_pending_batch_then_cancelling_again_conflicts(client: batchsearch.Client) -> None:
    created = client.batches.create()
    assert client.batches.cancel(created["batch_id"])["status"] == "cancelled"
    with pytest.raises(batchsearch.ConflictError):
        client.batches.cancel(created["batch_id"])
    assert client.batches.wait(created["batch_id"], timeout=10)["status"] == "cancelled"


def test_wait_times_out_with_the_job_left_running(client: batchsearch.Client) -> None:
    created = client.batches.create()  # never uploaded: stays pending
    with pytest.raises(batchsearch.SearchTimeoutError, match="still pending"):
        client.batches.wait(created["batch_id"], timeout=0.3)


def test_a_missing_input_file_fails_before_any_job_is_created(client: batchsearch.Client, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        client.batches.submit(tmp_path / "missing.jsonl")


def test_knowledge_graph_lookups(client: batchsearch.Client, sdk_index: Path) -> None:
    apple = client.kg.find_companies("Apple", limit=3)
    assert apple[0]["name"].startswith("Apple")
    assert client.kg.find_companies(countries=["US"], sectors=["Technology"], limit=2)
    isin = apple[0]["isin_values"][0]
    assert client.kg.by_isin(isin)["id"] == apple[0]["id"]
    with pytest.raises(batchsearch.NotFoundError):
        client.kg.by_isin("XX0000000000")
    company = mentioned_company(sdk_index)
    many = [company] + [f"ZZ{i:04d}" for i in range(150)]  # more than one request's worth of ids
    assert list(client.kg.entities(many)) == [company]
    sources = client.kg.sources(categories=["news"])
    assert sources and all("news" in s["categories"] for s in sources)


def test_connection_refused_is_an_api_connection_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("batchsearch.client.sync._sleep", lambda seconds: None)
    url = dead_url()
    with batchsearch.Client(url, "bs_x", max_retries=1) as client:
        with pytest.raises(batchsearch.APIConnectionError) as caught:
            client.search({"text": "x"})
    assert caught.value.url == url
    assert isinstance(caught.value, batchsearch.ServiceUnavailableError)


def test_search_rejects_a_non_dict_query(client: batchsearch.Client) -> None:
    query: Any = "just text"
    with pytest.raises(TypeError, match="query must be a dict"):
        client.search(query)
