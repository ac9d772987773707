"""`batchsearch volume`, `co-mentions entities|topics` and `documents get` through the SDK against real servers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from batchsearch.cli import app
from sdk_server import LiveServer, Reply, ScriptedServer, error_body
from test_cli_commands import one_line_error
from test_client_sync import mentioned_company


@pytest.fixture(scope="module")
def server(live_server: LiveServer) -> LiveServer:
    return live_server


@pytest.fixture
def cli(server: LiveServer) -> CliRunner:
    return CliRunner(env={"BATCHSEARCH_URL": server.base_url, "BATCHSEARCH_API_KEY": server.api_key})


def test_volume_json_matches_the_filters(cli: CliRunner, sdk_index: Path) -> None:
    company = mentioned_company(sdk_index)
    result = cli.invoke(app, ["volume", "--entity", company, "--since", "2000-01-01", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    days = [d for d in body["results"]["volume"] if d["chunks"]]
    assert days and sum(d["chunks"] for d in days) == body["results"]["total"]["chunks"]
    everything = json.loads(cli.invoke(app, ["volume", "--json"]).stdout)["results"]["total"]
    assert everything["chunks"] > body["results"]["total"]["chunks"]


def test_volume_prints_days_and_a_total(cli: CliRunner) -> None:
    result = cli.invoke(app, ["volume", "results"])
    assert result.exit_code == 0, result.output
    assert "date" in result.stdout and "documents," in result.stdout and "mean sentiment" in result.stdout


def test_co_mentions_entities_and_topics(cli: CliRunner, sdk_index: Path) -> None:
    company = mentioned_company(sdk_index)
    result = cli.invoke(app, ["co-mentions", "entities", "--category", "companies", "--limit", "3", "--json"])
    assert result.exit_code == 0, result.output
    results = json.loads(result.stdout)["results"]
    assert 1 <= len(results["companies"]) <= 3 and results["people"] == []
    table = cli.invoke(app, ["co-mentions", "entities", "--entity", company])
    assert table.exit_code == 0 and company in table.stdout
    topics = cli.invoke(app, ["co-mentions", "topics", "--limit", "2", "--json"])
    assert topics.exit_code == 0, topics.output
    assert 1 <= len(json.loads(topics.stdout)["results"]["topics"]) <= 2
    assert cli.invoke(app, ["co-mentions", "topics"]).exit_code == 0


def test_a_bad_limit_is_refused_before_sending(cli: CliRunner) -> None:
    result = cli.invoke(app, ["co-mentions", "topics", "--limit", "0"])
    assert result.exit_code == 2 and "--limit" in result.output


def test_a_server_error_is_one_line(cli: CliRunner) -> None:
    result = cli.invoke(app, ["volume", "--since", "not-a-date"])
    assert result.exit_code == 1
    assert "query.filters.timestamp.start" in one_line_error(result.stderr)


def test_documents_get_prints_the_annotated_json() -> None:
    annotated = {"document": {"id": "A" * 32}, "content": [{"type": "HEADING", "text": "Acme"}]}
    with ScriptedServer(Reply(200, {})) as scripted:
        scripted.replies = [Reply(200, {"url": scripted.url + "/signed?sig=1", "web_content": False}),
                            Reply(200, annotated), Reply(404, error_body(404, "NOT_FOUND", "No document with id B"))]
        runner = CliRunner(env={"BATCHSEARCH_URL": scripted.url, "BATCHSEARCH_API_KEY": "bs_key"})
        result = runner.invoke(app, ["documents", "get", "A" * 32])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == annotated
        missing = runner.invoke(app, ["documents", "get", "B" * 32])
    assert missing.exit_code == 1 and "No document with id B" in one_line_error(missing.stderr)
