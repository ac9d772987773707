"""CLI commands that work on the data folder (corpus, keys, ingest, serve) and the CLI's shape: help, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import typer
from typer.testing import CliRunner

import batchsearch
from batchsearch.cli import app
from sdk_server import Reply, ScriptedServer, dead_url, error_body

runner = CliRunner()


def command_paths() -> list[tuple[str, ...]]:
    """Every command and group of the CLI, as the words typed after `batchsearch`."""

    def walk(command: Any, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        yield path
        for name, sub in getattr(command, "commands", {}).items():  # typer's groups (it vendors click)
            yield from walk(sub, (*path, name))

    return list(walk(typer.main.get_command(app), ()))


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "batchsearch")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout
    command: Any = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    assert (command.help or "").strip(), f"`batchsearch {' '.join(path)}` has no help text"


def test_the_commands_the_issue_asks_for_exist() -> None:
    paths = {" ".join(p) for p in command_paths()}
    assert paths >= {"ingest", "eval", "serve", "keys create", "search", "batch run", "batch submit", "batch status",
                     "batch wait", "batch download", "batch cancel", "kg companies", "corpus generate", "demo"}


def test_usage_errors_exit_2_with_click_usage() -> None:
    result = runner.invoke(app, ["batch", "run", "q.jsonl"])  # -o is required
    assert result.exit_code == 2 and "--out" in result.output


def test_corpus_generate_is_deterministic(sdk_index: Path, tmp_path: Path) -> None:
    args = ["corpus", "generate", "--docs", "5", "--seed", "3", "--data-dir", str(sdk_index)]
    first = runner.invoke(app, [*args, "--out", str(tmp_path / "a.jsonl")])
    assert first.exit_code == 0 and first.stdout.startswith(f"wrote 5 documents to {tmp_path / 'a.jsonl'}")
    second = runner.invoke(app, [*args, "--out", str(tmp_path / "b.jsonl"), "--json"])
    assert json.loads(second.stdout) == {"documents": 5, "path": str(tmp_path / "b.jsonl"), "seed": 3}
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    docs = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert len(docs) == 5 and all({"id", "headline", "text", "timestamp", "source"} <= set(d) for d in docs)
    other = runner.invoke(app, ["corpus", "generate", "--docs", "5", "--seed", "4", "--data-dir", str(sdk_index),
                                "--out", str(tmp_path / "c.jsonl")])
    assert other.exit_code == 0 and (tmp_path / "c.jsonl").read_bytes() != (tmp_path / "a.jsonl").read_bytes()


def test_keys_create(tmp_path: Path) -> None:
    plain = runner.invoke(app, ["keys", "create", "--name", "alice", "--data-dir", str(tmp_path)])
    assert plain.exit_code == 0 and plain.stdout.strip().startswith("bs_")
    made = json.loads(runner.invoke(app, ["keys", "create", "--name", "ci", "--tenant", "team", "--data-dir",
                                          str(tmp_path), "--json"]).stdout)
    assert made["tenant"] == "team" and made["key"].startswith("bs_")


def test_ingest_reports_documents_and_bad_lines(tmp_path: Path) -> None:
    docs = tmp_path / "docs.jsonl"
    good = {"id": "A" * 32, "headline": "Acme raises guidance", "text": "Acme raised its revenue guidance.",
            "timestamp": "2026-01-05T10:00:00Z"}
    docs.write_text(json.dumps(good) + "\n{not json\n")
    result = runner.invoke(app, ["ingest", str(docs), "--data-dir", str(tmp_path / "data"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["documents"] == 1 and [e["line"] for e in report["errors"]] == [2]


def test_the_installed_entrypoint_exits_1_with_one_line_and_no_traceback() -> None:
    url = dead_url()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHSEARCH_")}
    done = subprocess.run([sys.executable, "-m", "batchsearch.cli", "kg", "companies", "Apple", "--url", url,
                           "--api-key", "k"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == f"error: cannot reach the server at {url}: is `batchsearch serve` running?"
    assert done.stdout == ""


def test_serve_runs_the_api_with_batch_workers_and_stops_them(sdk_index: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    for folder in ("index", "kg"):
        shutil.copytree(sdk_index / folder, data / folder)
    url = dead_url()  # a free port for the server
    port = url.rsplit(":", 1)[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHSEARCH_")}
    key = json.loads(runner.invoke(app, ["keys", "create", "--name", "ops", "--data-dir", str(data), "--json"]).stdout)
    with open(tmp_path / "serve.log", "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "batchsearch.cli", "serve", "--port", port, "--data-dir",
                                   str(data), "--workers", "1"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(url, server, tmp_path / "serve.log")
        workers = psutil.Process(server.pid).children(recursive=True)
        assert workers, "serve started no worker process"
        queries = tmp_path / "q.jsonl"
        queries.write_text('{"query": {"text": "guidance"}}\n{"query": {"text": "dividend"}}\n')
        with batchsearch.Client(url, key["key"]) as client:
            status = client.batches.run(queries, tmp_path / "out.jsonl", timeout=120)
        assert status["status"] == "completed"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    _gone, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive, "worker processes outlived `batchsearch serve`"


def _wait_healthy(url: str, server: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()[-2000:]
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise TimeoutError(log.read_text()[-2000:])


def test_server_messages_are_printed_verbatim_on_one_line() -> None:
    message = "2 validation errors for PublicSearchRequest\nquery.filters.source\n  List should have [bold]at most[/bold] 500 items"
    with ScriptedServer(Reply(400, error_body(400, "VALIDATION_ERROR", message, "req-7"))) as server:
        result = runner.invoke(app, ["search", "x", "--url", server.url, "--api-key", "k"])
    assert result.exit_code == 1
    assert result.stderr.strip() == ("error: 2 validation errors for PublicSearchRequest | query.filters.source | "
                                     "List should have [bold]at most[/bold] 500 items (request req-7)")
