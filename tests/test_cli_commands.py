"""The CLI's server commands (search, batch, kg) through the SDK against a real uvicorn, via typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import batchsearch
from batchsearch.cli import app, search_query
from sdk_server import LiveServer, dead_url


@pytest.fixture
def cli(live_server: LiveServer) -> CliRunner:
    """A runner whose environment points at the live server (as a user's shell would)."""
    return CliRunner(env={"BATCHSEARCH_URL": live_server.base_url, "BATCHSEARCH_API_KEY": live_server.api_key})


@pytest.fixture
def queries(tmp_path: Path) -> Path:
    path = tmp_path / "queries.jsonl"
    lines = [{"query": {"text": f"earnings guidance {i}", "max_chunks": 2}} for i in range(6)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + '{"query": {"text": "x", "max_chunks": 0}}\n')
    return path


def one_line_error(stderr: str) -> str:
    """The error line, checking there is exactly one and no traceback."""
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_search_prints_a_table_of_documents(cli: CliRunner) -> None:
    result = cli.invoke(app, ["search", "quarterly results conference call", "--max-chunks", "3"])
    assert result.exit_code == 0, result.output
    assert "relevance" in result.stdout and "query units" in result.stdout


def test_search_json_is_the_wire_response(cli: CliRunner) -> None:
    result = cli.invoke(app, ["search", "results", "--since", "2020-01-01", "--until", "2030-01-01", "--json"])
    assert result.exit_code == 0, result.output
    response = json.loads(result.stdout)
    assert set(response) >= {"results", "metadata", "usage"} and response["results"]
    source = response["results"][0]["source"]["id"]
    only = json.loads(cli.invoke(app, ["search", "results", "--source", source, "--json"]).stdout)
    assert {doc["source"]["id"] for doc in only["results"]} == {source}


def test_search_options_build_the_query_object() -> None:
    assert search_query("tariffs", ["A1", "B2"], "2026-01-01", None, ["S1"], 5) == {
        "text": "tariffs", "max_chunks": 5,
        "filters": {"entity": {"any_of": ["A1", "B2"]}, "timestamp": {"start": "2026-01-01"},
                    "source": {"mode": "INCLUDE", "values": ["S1"]}},
    }
    assert search_query(None, None, None, "2026-02-01", None, 10) == {
        "max_chunks": 10, "filters": {"timestamp": {"end": "2026-02-01"}}}


def test_search_user_errors_are_one_line(cli: CliRunner) -> None:
    bad_date = cli.invoke(app, ["search", "x", "--since", "last tuesday"])
    assert bad_date.exit_code == 1
    line = one_line_error(bad_date.stderr)
    assert "timestamp.start" in line and "(request " in line
    nothing = cli.invoke(app, ["search"])
    assert nothing.exit_code == 1 and "Give a `text`, at least one filter, or both" in one_line_error(nothing.stderr)


def test_wrong_and_missing_keys_say_how_to_fix_them(live_server: LiveServer) -> None:
    wrong = CliRunner().invoke(app, ["kg", "companies", "Apple", "--url", live_server.base_url, "--api-key", "bs_nope"])
    assert wrong.exit_code == 1
    assert "Invalid API key: pass --api-key or set BATCHSEARCH_API_KEY" in one_line_error(wrong.stderr)
    missing = CliRunner(env={"BATCHSEARCH_API_KEY": None}).invoke(app, ["search", "x", "--url", live_server.base_url])
    assert missing.exit_code == 1 and "Missing API key" in one_line_error(missing.stderr)


def test_connection_refused_names_the_url_and_the_fix() -> None:
    url = dead_url()
    result = CliRunner().invoke(app, ["batch", "status", "b1", "--url", url, "--api-key", "k"])
    assert result.exit_code == 1
    assert one_line_error(result.stderr) == f"error: cannot reach the server at {url}: is `batchsearch serve` running?"


def test_batch_run_downloads_and_counts_statuses(cli: CliRunner, queries: Path, tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    result = cli.invoke(app, ["batch", "run", str(queries), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("completed: 7 lines")
    assert "success" in result.stdout and "error" in result.stdout
    assert batchsearch.count_statuses(out) == {"success": 6, "error": 1}
    assert "batch " in result.stderr  # the batch id, for `batch wait` after an interrupt


def test_batch_run_json(cli: CliRunner, queries: Path, tmp_path: Path) -> None:
    result = cli.invoke(app, ["batch", "run", str(queries), "--out", str(tmp_path / "r.jsonl"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "completed" and summary["lines"] == 7
    assert summary["statuses"] == {"success": 6, "error": 1}
    assert summary["output"] == str(tmp_path / "r.jsonl") and summary["batch_id"]


def test_batch_step_by_step(cli: CliRunner, queries: Path, tmp_path: Path) -> None:
    submitted = cli.invoke(app, ["batch", "submit", str(queries)])
    assert submitted.exit_code == 0, submitted.output
    batch_id = submitted.stdout.strip()
    waited = cli.invoke(app, ["batch", "wait", batch_id, "--timeout", "120"])
    assert waited.exit_code == 0 and waited.stdout.startswith("completed: 7 of 7 lines")
    status = cli.invoke(app, ["batch", "status", batch_id])
    assert status.exit_code == 0 and "completed" in status.stdout and "output_file_url" in status.stdout
    assert json.loads(cli.invoke(app, ["batch", "status", batch_id, "--json"]).stdout)["lines_done"] == 7
    downloaded = cli.invoke(app, ["batch", "download", batch_id, "-o", str(tmp_path / "d.jsonl"), "--json"])
    assert downloaded.exit_code == 0 and json.loads(downloaded.stdout)["statuses"] == {"success": 6, "error": 1}


def test_batch_cancel_and_wait_on_a_cancelled_batch(cli: CliRunner, live_server: LiveServer, tmp_path: Path) -> None:
    with batchsearch.Client(live_server.base_url, live_server.api_key) as client:
        batch_id = client.batches.create()["batch_id"]
    cancelled = cli.invoke(app, ["batch", "cancel", batch_id, "--json"])
    assert cancelled.exit_code == 0 and json.loads(cancelled.stdout)["status"] == "cancelled"
    again = cli.invoke(app, ["batch", "cancel", batch_id])
    assert again.exit_code == 1 and "already cancelled" in one_line_error(again.stderr)
    waited = cli.invoke(app, ["batch", "wait", batch_id])
    assert waited.exit_code == 1 and one_line_error(waited.stderr) == f"error: batch {batch_id} cancelled"
    no_output = cli.invoke(app, ["batch", "download", batch_id, "-o", str(tmp_path / "unused.jsonl")])
    assert no_output.exit_code == 1 and "no output file" in one_line_error(no_output.stderr)


def test_batch_errors_are_one_line(cli: CliRunner, tmp_path: Path) -> None:
    missing = cli.invoke(app, ["batch", "run", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "o.jsonl")])
    assert missing.exit_code == 1 and "file not found" in one_line_error(missing.stderr)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    rejected = cli.invoke(app, ["batch", "submit", str(empty)])
    assert rejected.exit_code == 1 and "(request " in one_line_error(rejected.stderr)
    unknown = cli.invoke(app, ["batch", "status", "no-such-batch"])
    assert unknown.exit_code == 1 and "not found" in one_line_error(unknown.stderr)
    timeout = cli.invoke(app, ["batch", "wait", _pending_batch(cli), "--timeout", "0.2"])
    assert timeout.exit_code == 1 and "still pending" in one_line_error(timeout.stderr)


def _pending_batch(cli: CliRunner) -> str:
    env = cli.env
    with batchsearch.Client(env["BATCHSEARCH_URL"], env["BATCHSEARCH_API_KEY"]) as client:
        return str(client.batches.create()["batch_id"])


def test_kg_companies(cli: CliRunner) -> None:
    table = cli.invoke(app, ["kg", "companies", "Microsoft", "--limit", "3"])
    assert table.exit_code == 0 and "Microsoft" in table.stdout
    found = json.loads(cli.invoke(app, ["kg", "companies", "AAPL", "--json"]).stdout)
    assert found[0]["name"] == "Apple Inc." and len(found[0]["id"]) == 6
    nothing = cli.invoke(app, ["kg", "companies", "zzzqqq nothing like it"])
    assert nothing.exit_code == 0 and "no company matches" in nothing.stdout
