"""Loading user entities and sources from JSONL and CSV files: bad rows are reported, the rest loads."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from batchsearch.errors import ValidationError
from batchsearch.kg import EntityCategory, KnowledgeGraph, RowProblem, load_entities, load_sources


@pytest.fixture
def graph(tmp_path: Path) -> KnowledgeGraph:
    """An empty graph in a real folder."""
    return KnowledgeGraph.create_empty(tmp_path / "kg")


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_jsonl_bad_rows_are_reported_and_the_rest_loads(graph: KnowledgeGraph, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "entities.jsonl", [
        {"name": "Acme Widgets", "tickers": ["ACMW"], "isins": ["US0378331005"], "country": "United States"},
        {"name": "Broken ISIN Corp", "isins": ["US0378331006"]},
        "{not json",
        {"name": "Jane Roe", "category": "people", "company_id": "ABC123"},
        {"category": "companies"},
        {"name": "Odd", "colour": "blue"},
        {"name": "Gadget Ltd", "category": "products", "aliases": ["Gadget"]},
    ])
    report = load_entities(graph, path)
    assert report.loaded == 3
    assert [problem.row for problem in report.errors] == [2, 3, 5, 6]
    problems = {problem.row: problem for problem in report.errors}
    assert problems[2].field == "isins" and "not a valid ISIN" in problems[2].reason
    assert problems[3].field is None and "invalid JSON" in problems[3].reason
    assert str(problems[5]) == "row 5: name: required"
    assert (problems[6].field, problems[6].reason) == ("colour", "unknown field")
    acme = graph.find_companies("Acme Widgets")[0]
    assert (acme.country, acme.tickers, acme.extra["key"]) == ("US", ("ACMW",), "company:isin:US0378331005")
    assert acme.type == "PUBLIC"
    people = graph.entities(EntityCategory.PEOPLE)
    assert [(p.name, p.extra["company_id"]) for p in people] == [("Jane Roe", "ABC123")]
    assert len(KnowledgeGraph.open(graph.folder).entities()) == 3  # persisted


def test_csv_lists_use_pipes_and_rows_count_from_the_header(graph: KnowledgeGraph, tmp_path: Path) -> None:
    path = tmp_path / "entities.csv"
    path.write_text(
        "name,category,aliases,tickers,country,popularity\n"
        "Acme Widgets Inc.,companies,Acme|Acme Co,ACMW|ACM,US,2.5\n"
        "No Country,companies,,,Atlantis,\n"
        "Zurich Place,places,,,CH,notanumber\n"
        "Gizmo,products,,,,\n",
        encoding="utf-8",
    )
    report = load_entities(graph, path)
    assert report.loaded == 2
    assert report.errors == [
        RowProblem(3, "country", "'Atlantis' is not an ISO 3166 alpha-2 code or a known country name"),
        RowProblem(4, "popularity", "'notanumber' is not a number"),
    ]
    acme = graph.find_companies("Acme")[0]
    assert acme.aliases == ("Acme", "Acme Co") and acme.tickers == ("ACMW", "ACM") and acme.popularity == 2.5


def test_loading_the_same_file_twice_updates_the_same_entities(graph: KnowledgeGraph, tmp_path: Path) -> None:
    rows: list[object] = [{"name": "Acme Widgets"}, {"name": "Beta Labs", "category": "organizations"}]
    path = write_jsonl(tmp_path / "e.jsonl", rows)
    load_entities(graph, path)
    first = {e.name: e.id for e in graph.entities()}
    assert graph.find_companies("Acme Widgets", types=["PRIVATE"])
    load_entities(graph, path)
    assert {e.name: e.id for e in graph.entities()} == first
    assert {e.name: e.id for e in KnowledgeGraph.open(graph.folder).entities()} == first


def test_explicit_ids_are_validated(graph: KnowledgeGraph, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "e.jsonl", [{"id": "ABC123", "name": "Fixed"}, {"id": "abc", "name": "Bad"}])
    report = load_entities(graph, path)
    assert report.loaded == 1 and (report.errors[0].row, report.errors[0].field) == (2, "id")
    assert graph.fetch_entity("ABC123").name == "Fixed"


def test_sources_load_with_defaults_and_errors(graph: KnowledgeGraph, tmp_path: Path) -> None:
    path = tmp_path / "sources.csv"
    path.write_text(
        "name,rank,country,categories\n"
        "Our Research,RANK_2,GB,research|research_investment_research\n"
        "Plain Blog,,,news\n"
        "Bad Rank,RANK_9,,news\n"
        "Bad Category,RANK_1,,gossip\n",
        encoding="utf-8",
    )
    report = load_sources(graph, path)
    assert report.loaded == 2
    assert [(p.row, p.field) for p in report.errors] == [(4, "rank"), (5, "categories")]
    blog = graph.find_sources("Plain Blog")[0]
    assert (blog.rank, blog.categories) == ("RANK_3", ("news",))


def test_streams_need_a_format_and_unknown_formats_are_refused(graph: KnowledgeGraph, tmp_path: Path) -> None:
    report = load_entities(graph, io.StringIO('{"name": "Streamed Co"}\n'), fmt="jsonl")
    assert report.loaded == 1
    with pytest.raises(ValidationError):
        load_entities(graph, tmp_path / "entities.xml")
    with pytest.raises(ValidationError):
        load_entities(graph, io.StringIO(""))


def test_company_types_codes_derived_from_isins_and_ids_in_file_order(graph: KnowledgeGraph, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "e.jsonl", [
        {"name": "Maple Widgets", "isins": ["CA82509L1076"], "country": "CA"},
        {"name": "Thames Gears", "isins": ["GB0002634946"], "country": "GB", "sedols": ["1234567"]},
        {"name": "Mutual Co", "type": "mutual"},
        {"name": "Quiet Holdings", "type": "private"},
    ])
    report = load_entities(graph, path)
    assert [(p.row, p.field) for p in report.errors] == [(3, "type")]
    maple, thames, quiet = (graph.fetch_entity(i) for i in report.ids)
    assert [e.name for e in (maple, thames, quiet)] == ["Maple Widgets", "Thames Gears", "Quiet Holdings"]
    assert maple.cusips == ("82509L107",) and thames.sedols == ("1234567", "0263494")
    assert graph.find_by_identifier("cusip", ["82509l107"])["82509l107"] == maple
    assert graph.find_by_identifier("sedol", ["0263494"])["0263494"] == thames
    assert graph.find_companies(types=["PRIVATE"]) == [quiet]
