"""`batchsearch demo` end to end on a tiny corpus: a real server, a worker process, 200 queries; re-run reuses it all."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import psutil
from typer.testing import CliRunner

import batchsearch
from batchsearch.cli import app


def worker_processes() -> list[psutil.Process]:
    """This test process's children that are spawned worker processes (not the resource tracker)."""
    return [p for p in psutil.Process().children(recursive=True)
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE and "spawn_main" in " ".join(p.cmdline())]


def test_demo_runs_a_batch_then_reuses_everything(tmp_path: Path) -> None:
    data = tmp_path / "data"
    runner = CliRunner(env={"BATCHSEARCH_WORKERS": "1", "BATCHSEARCH_PUBLIC_URL": "http://example.invalid"})
    first = runner.invoke(app, ["demo", "--docs", "6", "--data-dir", str(data), "--json"])
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert summary["status"] == "completed" and summary["lines"] == 200
    assert summary["statuses"] == {"success": 198, "error": 2}  # the two deliberately invalid lines
    assert summary["documents"] == 6 and summary["ingest_seconds"] > 0
    assert len(summary["examples"]) == 3 and all(e["top"] for e in summary["examples"])
    assert batchsearch.count_statuses(summary["results"]) == summary["statuses"]
    key_file = data / "demo" / "api_key"
    assert key_file.read_text().strip() == summary["api_key"]
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    queries = [json.loads(line)["query"] for line in (data / "demo" / "queries.jsonl").read_text().splitlines()]
    kinds = {name for q in queries for name in (q.get("filters") or {})}
    assert kinds >= {"entity", "timestamp", "keyword", "sentiment", "source"}
    assert "1/6 graph" in first.stderr and "3/6 index" in first.stderr
    assert worker_processes() == []

    again = runner.invoke(app, ["demo", "--data-dir", str(data)])  # human output this time
    assert again.exit_code == 0, again.output
    text = again.stdout
    assert "6 documents already indexed (reused)" in text and "--docs applies to a fresh data folder only" in text
    assert "api key  reused" in text and "198 success, 2 error" in text
    assert f"batchsearch serve --data-dir {data}" in text
    assert f"export BATCHSEARCH_API_KEY={summary['api_key']}" in text
    assert "curl -s http://example.invalid/v1/search" in text  # the URL `serve` will be reached at
    assert summary["batch_id"] not in text
    assert worker_processes() == []
