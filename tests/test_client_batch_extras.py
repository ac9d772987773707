"""The SDK's batch extras against a real server: list, delete, retry, validate, results, create options."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

import batchsearch
from batchsearch.cli import app
from sdk_server import LiveServer, Reply, ScriptedServer

CREATED = {"batch_id": "b-1", "presigned_url": "http://127.0.0.1:9/upload"}


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[batchsearch.Client]:
    with batchsearch.Client(live_server.base_url, live_server.api_key) as c:
        yield c


@pytest.fixture
def fresh(live_server: LiveServer, request: pytest.FixtureRequest) -> Iterator[batchsearch.Client]:
    """A client of an owner with no jobs yet."""
    with batchsearch.Client(live_server.base_url, live_server.create_key(f"owner-{request.node.name}")) as c:
        yield c


def write_queries(path: Path, texts: list[str], *extra: str) -> Path:
    lines = [json.dumps({"query": {"text": t, "max_chunks": 2}}) for t in texts] + list(extra)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_list_pages_with_the_cursor_and_iter_all_follows_it(fresh: batchsearch.Client) -> None:
    ids = [fresh.batches.create()["batch_id"] for _ in range(3)]
    first = fresh.batches.list(limit=2)
    assert [job["batch_id"] for job in first["data"]] == ids[::-1][:2]
    assert first["has_more"] and first["next_after"] == ids[1]
    second = fresh.batches.list(limit=2, after=first["next_after"])
    assert [job["batch_id"] for job in second["data"]] == [ids[0]]
    assert not second["has_more"] and second["next_after"] is None
    assert [job["batch_id"] for job in fresh.batches.iter_all()] == ids[::-1]
    assert [job["batch_id"] for job in fresh.batches.iter_all(status="pending")] == ids[::-1]
    assert list(fresh.batches.iter_all(status="completed")) == []
    with pytest.raises(batchsearch.ValidationError):
        fresh.batches.list(status="sleeping")


def test_iter_all_follows_more_than_one_page(fresh: batchsearch.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("batchsearch.client._shared.LIST_PAGE_SIZE", 2)
    ids = [fresh.batches.create()["batch_id"] for _ in range(5)]
    assert [job["batch_id"] for job in fresh.batches.iter_all()] == ids[::-1]


def test_delete_a_pending_job_conflicts_then_a_finished_one_is_gone(fresh: batchsearch.Client) -> None:
    created = fresh.batches.create()  # never uploaded: pending
    with pytest.raises(batchsearch.ConflictError, match="cancel it before deleting"):
        fresh.batches.delete(created["batch_id"])
    fresh.batches.cancel(created["batch_id"])
    assert fresh.batches.delete(created["batch_id"]) == {"batch_id": created["batch_id"], "deleted": True}
    with pytest.raises(batchsearch.NotFoundError):
        fresh.batches.get(created["batch_id"])
    assert list(fresh.batches.iter_all()) == []


def test_retry_of_a_job_with_nothing_to_retry_conflicts(client: batchsearch.Client, tmp_path: Path) -> None:
    created = client.batches.submit(write_queries(tmp_path / "q.jsonl", ["dividend"]))
    assert client.batches.wait(created["batch_id"], timeout=60)["status"] == "completed"
    with pytest.raises(batchsearch.ConflictError, match="no timeout or exception lines"):
        client.batches.retry(created["batch_id"])
    pending = client.batches.create()
    with pytest.raises(batchsearch.ConflictError, match="only a completed job"):
        client.batches.retry(pending["batch_id"])


def test_validate_reports_the_bad_line_with_its_field(fresh: batchsearch.Client, tmp_path: Path) -> None:
    bad = json.dumps({"query": {"text": "x", "max_chunks": 5000}})
    path = write_queries(tmp_path / "q.jsonl", ["revenue"], bad, json.dumps({"query": {"text": "y"}}))
    report = fresh.batches.validate(path)
    assert report["valid"] is False
    assert (report["lines_total"], report["lines_valid"], report["lines_invalid"]) == (3, 2, 1)
    assert [(p["line"], p["field"]) for p in report["problems"]] == [(2, "query.max_chunks")]
    assert list(fresh.batches.iter_all()) == []  # nothing was queued
    good = fresh.batches.validate(write_queries(tmp_path / "good.jsonl", ["a", "b"]))
    assert good["valid"] is True and good["problems"] == []


def test_results_from_a_line_equal_the_downloaded_file_from_that_line(client: batchsearch.Client,
                                                                       tmp_path: Path) -> None:
    queries = write_queries(tmp_path / "q.jsonl", [f"revenue growth {i}" for i in range(6)], "{not json")
    status = client.batches.run(queries, tmp_path / "out.jsonl", timeout=120)
    downloaded = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert list(client.batches.results(status["batch_id"])) == downloaded
    assert list(client.batches.results(status["batch_id"], from_line=4)) == downloaded[3:]
    assert [row["line_number"] for row in client.batches.results(status["batch_id"], from_line=7)] == [7]
    with pytest.raises(batchsearch.NotFoundError):
        list(client.batches.results("00000000-0000-0000-0000-000000000000"))


def test_create_with_priority_and_an_idempotency_key_returns_the_same_batch(fresh: batchsearch.Client) -> None:
    first = fresh.batches.create(priority=7, idempotency_key="nightly-1")
    again = fresh.batches.create(priority=7, idempotency_key="nightly-1")
    assert again["batch_id"] == first["batch_id"] and again["presigned_url"] == first["presigned_url"]
    assert fresh.batches.get(first["batch_id"])["priority"] == 7
    with pytest.raises(batchsearch.ConflictError):
        fresh.batches.create(priority=8, idempotency_key="nightly-1")
    assert fresh.batches.create(priority=7)["batch_id"] != first["batch_id"]


def test_create_with_a_webhook_and_validate_first(fresh: batchsearch.Client) -> None:
    created = fresh.batches.create(webhook_url="https://hooks.example.com/batch", validate_first=True)
    assert created["webhook_secret"]
    assert fresh.batches.get(created["batch_id"])["webhook"]["url"] == "https://hooks.example.com/batch"
    with pytest.raises(batchsearch.ValidationError, match="webhook_url"):  # no allowlist on this server
        fresh.batches.create(webhook_url="http://127.0.0.1:9/hook")
    with pytest.raises(batchsearch.ValidationError):
        fresh.batches.create(webhook_url="ftp://example.com/hook")
    for broken in ("http://[::1", "http://user:pw@example.com/hook", "http://example.com:0/hook"):
        with pytest.raises(batchsearch.ValidationError, match="webhook_url"):
            fresh.batches.create(webhook_url=broken)


def test_create_sends_only_the_options_given() -> None:
    with ScriptedServer(Reply(200, CREATED)) as scripted, batchsearch.Client(scripted.url, "bs_x") as client:
        client.batches.create()
        client.batches.create(priority=0)
        client.batches.create(validate_first=False, idempotency_key="k-1")
    plain, with_priority, with_key = scripted.requests
    assert plain["body"] == b"" and "content-type" not in plain["headers"]
    assert "idempotency-key" not in plain["headers"]
    assert json.loads(with_priority["body"]) == {"priority": 0}
    assert json.loads(with_key["body"]) == {"validate_first": False}
    assert with_key["headers"]["idempotency-key"] == "k-1"


def test_only_a_create_with_an_idempotency_key_is_retried_after_a_dropped_connection(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("batchsearch.client.sync._sleep", lambda seconds: None)
    with ScriptedServer(Reply(drop=True), Reply(200, CREATED)) as scripted, \
            batchsearch.Client(scripted.url, "bs_x") as client:
        assert client.batches.create(idempotency_key="k-2") == CREATED
    assert [r["headers"]["idempotency-key"] for r in scripted.requests] == ["k-2", "k-2"]
    with ScriptedServer(Reply(drop=True), Reply(200, CREATED)) as scripted, \
            batchsearch.Client(scripted.url, "bs_x") as client:
        with pytest.raises(batchsearch.APIConnectionError):
            client.batches.create(priority=1)
    assert len(scripted.requests) == 1


def test_list_sends_only_the_parameters_given() -> None:
    page = {"data": [], "has_more": False, "next_after": None}
    with ScriptedServer(Reply(200, page)) as scripted, batchsearch.Client(scripted.url, "bs_x") as client:
        client.batches.list()
        client.batches.list(status="failed", limit=5, after="b 1")
    assert [r["path"] for r in scripted.requests] == ["/v1/search/batches",
                                                      "/v1/search/batches?status=failed&limit=5&after=b+1"]


@pytest.fixture
async def async_client(live_server: LiveServer, request: pytest.FixtureRequest) -> AsyncIterator[batchsearch.AsyncClient]:
    async with batchsearch.AsyncClient(live_server.base_url, live_server.create_key(f"async-{request.node.name}")) as c:
        yield c


@pytest.mark.anyio
async def test_async_list_delete_validate_and_results(async_client: batchsearch.AsyncClient, tmp_path: Path) -> None:
    batches = async_client.batches
    first = await batches.create(priority=3, idempotency_key="a-1")
    assert (await batches.create(priority=3, idempotency_key="a-1"))["batch_id"] == first["batch_id"]
    page = await batches.list(limit=1)
    assert [job["batch_id"] for job in page["data"]] == [first["batch_id"]] and not page["has_more"]
    with pytest.raises(batchsearch.ConflictError):
        await batches.delete(first["batch_id"])
    await batches.cancel(first["batch_id"])
    assert (await batches.delete(first["batch_id"]))["deleted"] is True
    assert [job async for job in batches.iter_all()] == []

    bad = json.dumps({"query": {"text": "x", "max_chunks": 5000}})
    report = await batches.validate(write_queries(tmp_path / "bad.jsonl", ["a"], bad))
    assert [(p["line"], p["field"]) for p in report["problems"]] == [(2, "query.max_chunks")]

    status = await batches.run(write_queries(tmp_path / "q.jsonl", ["margin", "lawsuit", "dividend"]),
                               tmp_path / "out.jsonl", timeout=60)
    downloaded = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [row async for row in batches.results(status["batch_id"], from_line=2)] == downloaded[1:]
    with pytest.raises(batchsearch.ConflictError):
        await batches.retry(status["batch_id"])


# --- the CLI commands over these calls ---------------------------------------------------------


def one_line_error(stderr: str) -> str:
    """The error line, checking there is exactly one and no traceback."""
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture
def cli(live_server: LiveServer, request: pytest.FixtureRequest) -> CliRunner:
    """A runner for an owner with no jobs yet, pointed at the live server through the environment."""
    return CliRunner(env={"BATCHSEARCH_URL": live_server.base_url,
                          "BATCHSEARCH_API_KEY": live_server.create_key(f"cli-{request.node.name}")})


def test_cli_batch_list_validate_delete_retry(cli: CliRunner, tmp_path: Path) -> None:
    assert cli.invoke(app, ["batch", "list"]).stdout.strip() == "no batch jobs"
    good = write_queries(tmp_path / "good.jsonl", ["dividend", "margin"])
    created = json.loads(cli.invoke(app, ["batch", "submit", str(good), "--json"]).stdout)["batch_id"]
    assert cli.invoke(app, ["batch", "wait", created, "--timeout", "60"]).exit_code == 0

    listed = cli.invoke(app, ["batch", "list", "--status", "completed", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [job["batch_id"] for job in json.loads(listed.stdout)] == [created]
    table = cli.invoke(app, ["batch", "list", "--limit", "5"])
    assert created in table.stdout and "completed" in table.stdout

    ok = cli.invoke(app, ["batch", "validate", str(good)])
    assert ok.exit_code == 0 and "2 of 2 lines valid" in ok.stdout
    bad = write_queries(tmp_path / "bad.jsonl", ["a"], json.dumps({"query": {"text": "x", "max_chunks": 5000}}))
    invalid = cli.invoke(app, ["batch", "validate", str(bad)])
    assert invalid.exit_code == 1 and "line 2: query.max_chunks" in invalid.stdout
    assert "1 invalid lines" in one_line_error(invalid.stderr)
    report = json.loads(cli.invoke(app, ["batch", "validate", str(bad), "--json"]).stdout)
    assert report["lines_invalid"] == 1

    retried = cli.invoke(app, ["batch", "retry", created])
    assert retried.exit_code == 1 and "no timeout or exception lines" in one_line_error(retried.stderr)

    deleted = cli.invoke(app, ["batch", "delete", created, "--json"])
    assert deleted.exit_code == 0 and json.loads(deleted.stdout) == {"batch_id": created, "deleted": True}
    gone = cli.invoke(app, ["batch", "delete", created])
    assert gone.exit_code == 1 and one_line_error(gone.stderr)
    missing = cli.invoke(app, ["batch", "validate", str(tmp_path / "missing.jsonl")])
    assert "file not found" in one_line_error(missing.stderr)


def test_searches_and_batch_lines_are_counted_in_the_tenants_usage(live_server: LiveServer, tmp_path: Path) -> None:
    key = live_server.create_key("usage-counted")
    fresh = batchsearch.Client(live_server.base_url, key)

    def used() -> dict[str, Any]:
        response = httpx.get(f"{live_server.base_url}/v1/subscription/quotas", headers={"X-API-KEY": key})
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        return {"units": results["api_query_units"]["used"], "searches": results["searches"]["used"]}

    assert used() == {"units": 0.0, "searches": 0}
    hits = fresh.search({"text": "quarterly results", "max_chunks": 4})
    chunks = sum(len(doc["chunks"]) for doc in hits["results"])
    assert chunks > 0 and used() == {"units": round(chunks / 10, 4), "searches": 1}
    queries = write_queries(tmp_path / "q.jsonl", ["margin", "lawsuit", "dividend"])
    status = fresh.batches.run(queries, tmp_path / "out.jsonl", timeout=120)
    assert status["status"] == "completed"
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    batch_chunks = sum(len(doc["chunks"]) for line in lines if line["status"] == "success"
                       for doc in line["response"]["results"])
    successes = sum(line["status"] == "success" for line in lines)
    assert successes == 3
    assert used()["searches"] == 1 + successes
    assert used()["units"] == pytest.approx((chunks + batch_chunks) / 10)
    fresh.close()
