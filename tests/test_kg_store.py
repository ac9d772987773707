"""KnowledgeGraph: persistence, lookups, ranked company search, identifiers, sources, user data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from batchsearch.errors import ConflictError, NotFoundError, ValidationError
from batchsearch.kg import Entity, EntityCategory, KnowledgeGraph, Source
from batchsearch.kg.store import MANIFEST, USER_ENTITIES


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("kg")
    KnowledgeGraph.build_default(folder)
    return folder


@pytest.fixture(scope="module")
def graph(built: Path) -> KnowledgeGraph:
    return KnowledgeGraph.open(built)


@pytest.fixture
def fresh(built: Path, tmp_path: Path) -> KnowledgeGraph:
    """A private copy of the default graph, for tests that add data."""
    folder = tmp_path / "kg"
    shutil.copytree(built, folder)
    return KnowledgeGraph.open(folder)


def names(entities: list[Entity]) -> list[str]:
    return [e.name for e in entities]


def test_open_missing_folder_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        KnowledgeGraph.open(tmp_path / "nothing")


def test_open_refuses_another_format_version(fresh: KnowledgeGraph) -> None:
    manifest = fresh.folder / MANIFEST
    manifest.write_text(json.dumps({"format_version": 999}))
    with pytest.raises(ConflictError):
        KnowledgeGraph.open(fresh.folder)
    rebuilt = KnowledgeGraph.open_or_build(fresh.folder)  # rebuilds instead
    assert len(rebuilt.companies()) == len(fresh.companies())


def test_open_or_build_keeps_an_empty_graph_empty(tmp_path: Path) -> None:
    KnowledgeGraph.create_empty(tmp_path)
    assert KnowledgeGraph.open_or_build(tmp_path).entities() == []


def test_open_or_build_reuses_an_existing_graph(built: Path, graph: KnowledgeGraph) -> None:
    mtime = (built / "entities.jsonl").stat().st_mtime_ns
    again = KnowledgeGraph.open_or_build(built)
    assert (built / "entities.jsonl").stat().st_mtime_ns == mtime
    assert len(again.entities()) == len(graph.entities())


def test_get_and_fetch_entity(graph: KnowledgeGraph) -> None:
    microsoft = graph.find_companies("Microsoft")[0]
    assert graph.get_entity(microsoft.id) == microsoft
    assert graph.fetch_entity(microsoft.id) == microsoft
    assert graph.get_entity("ZZZZZZ") is None
    with pytest.raises(NotFoundError):
        graph.fetch_entity("ZZZZZZ")


def test_entities_by_ids_keeps_request_order_and_skips_unknown(graph: KnowledgeGraph) -> None:
    a, b = graph.companies()[:2]
    assert list(graph.entities_by_ids([b.id, "ZZZZZZ", a.id])) == [b.id, a.id]


def test_microsoft_first_for_query_microsoft(graph: KnowledgeGraph) -> None:
    assert graph.find_companies("Microsoft")[0].name == "Microsoft"
    assert graph.find_companies("microsoft corp")[0].name == "Microsoft"


def test_isin_lookup_returns_microsoft(graph: KnowledgeGraph) -> None:
    found = graph.find_by_identifier("isin", ["US5949181045", "us5949181045", "XX0000000000"])
    assert found["US5949181045"] is not None and found["US5949181045"].name == "Microsoft"
    assert found["us5949181045"] == found["US5949181045"]
    assert found["XX0000000000"] is None


def test_exact_name_beats_prefix_and_popularity_breaks_ties(graph: KnowledgeGraph) -> None:
    assert names(graph.find_companies("Apple", limit=2)) == ["Apple Inc.", "Apple Hospitality REIT, Inc."]
    siemens = names(graph.find_companies("Siemens", limit=3))
    assert siemens[0] == "Siemens" and set(siemens[1:]) == {"Siemens Energy", "Siemens Healthineers"}
    deutsche = graph.find_companies("Deutsche", limit=10)
    assert [e.popularity for e in deutsche] == sorted((e.popularity for e in deutsche), reverse=True)


def test_query_by_ticker_isin_cusip_and_webpage(graph: KnowledgeGraph) -> None:
    assert graph.find_companies("AAPL")[0].name == "Apple Inc."
    assert graph.find_companies("US0378331005")[0].name == "Apple Inc."
    assert graph.find_companies("037833100")[0].name == "Apple Inc."
    assert graph.find_companies("apple.com")[0].name == "Apple Inc."


def test_word_and_typo_matches_come_after_exact_ones(graph: KnowledgeGraph) -> None:
    assert graph.find_companies("Microsfot")[0].name == "Microsoft"
    assert graph.find_companies("motor toyota")[0].name == "Toyota"
    assert graph.find_companies("qqqqqqqq") == []


def test_filters_types_countries_sectors(graph: KnowledgeGraph) -> None:
    german_tech = graph.find_companies(countries=["de"], sectors=["technology"], limit=50)
    assert german_tech and all(e.country == "DE" and e.sector == "Technology" for e in german_tech)
    assert graph.find_companies("Microsoft", countries=["FR"]) == []
    assert graph.find_companies("Microsoft", types=["PRIVATE"]) == []
    assert len(graph.find_companies(types=["PUBLIC"], limit=7)) == 7


def test_identifier_kinds(graph: KnowledgeGraph) -> None:
    listing = graph.find_by_identifier("listing", ["XNAS:MSFT", "NASDAQ: MSFT", "XNAS:NOPE"])
    assert listing["XNAS:MSFT"] is not None and listing["XNAS:MSFT"].name == "Microsoft"
    assert listing["NASDAQ: MSFT"] == listing["XNAS:MSFT"]
    assert listing["XNAS:NOPE"] is None
    assert graph.find_by_identifier("ticker", ["brk.b"])["brk.b"].name == "Berkshire Hathaway"  # type: ignore[union-attr]
    assert graph.find_by_identifier("cusip", ["594918104"])["594918104"].name == "Microsoft"  # type: ignore[union-attr]
    with pytest.raises(ValidationError):
        graph.find_by_identifier("figi", ["x"])


def test_sources_and_sectors(graph: KnowledgeGraph) -> None:
    sources = graph.sources()
    assert [s.rank for s in sources] == sorted(s.rank for s in sources)
    first = sources[0]
    assert graph.get_source(first.id) == first
    assert graph.get_source("ZZZZZZ") is None
    assert graph.find_sources("transcripts")[0].categories == ("transcripts",)
    assert all(s.rank == "RANK_1" for s in graph.find_sources(ranks=["RANK_1"]))
    assert all("filings" in s.categories for s in graph.find_sources(categories=["filings"]))
    assert all(s.country == "US" for s in graph.find_sources(countries=["us"]))
    assert "Technology" in graph.sectors()


def test_added_entities_persist_and_survive_a_rebuild(fresh: KnowledgeGraph) -> None:
    key = "companies:name:acme widgets"
    acme = Entity(id=fresh.new_entity_id(key), name="Acme Widgets", category=EntityCategory.COMPANIES,
                  tickers=("ACMW",), country="US", type="PRIVATE", extra={"key": key})
    fresh.add_entities([acme])
    assert fresh.find_companies("Acme")[0] == acme
    assert KnowledgeGraph.open(fresh.folder).get_entity(acme.id) == acme
    assert KnowledgeGraph.build_default(fresh.folder).get_entity(acme.id) == acme
    assert fresh.new_entity_id(key) == acme.id  # same key, same id
    assert (fresh.folder / USER_ENTITIES).exists()


def test_added_entity_replaces_one_with_the_same_id(fresh: KnowledgeGraph) -> None:
    microsoft = fresh.find_companies("Microsoft")[0]
    renamed = Entity(id=microsoft.id, name="Microsoft Renamed", category=EntityCategory.COMPANIES,
                     isins=microsoft.isins)
    fresh.add_entities([renamed])
    assert KnowledgeGraph.open(fresh.folder).fetch_entity(microsoft.id).name == "Microsoft Renamed"


def test_added_sources_persist_and_bad_ones_are_refused(fresh: KnowledgeGraph) -> None:
    source = Source(id=fresh.new_source_id("Our Newsletter"), name="Our Newsletter", rank="RANK_2",
                    categories=("newsletters",))
    fresh.add_sources([source])
    assert KnowledgeGraph.open(fresh.folder).get_source(source.id) == source
    assert fresh.new_source_id("Our Newsletter") == source.id
    with pytest.raises(ValidationError):
        fresh.add_sources([Source(id="bad", name="x", rank="RANK_1")])
    with pytest.raises(ValidationError):
        fresh.add_sources([Source(id="ABC123", name="x", rank="RANK_9")])
    with pytest.raises(ValidationError):
        fresh.add_entities([Entity(id="abc", name="x", category=EntityCategory.COMPANIES)])


def test_detector_is_rebuilt_after_additions(fresh: KnowledgeGraph) -> None:
    assert fresh.detector().detect("Zyxwv Robotics grew.") == []
    entity = Entity(id="ZYX123", name="Zyxwv Robotics", category=EntityCategory.COMPANIES)
    fresh.add_entities([entity])
    assert [d.id for d in fresh.detector().detect("Zyxwv Robotics grew.")] == ["ZYX123"]


def test_another_process_additions_are_taken_in_without_reopening(fresh: KnowledgeGraph) -> None:
    server_side = KnowledgeGraph.open(fresh.folder)  # as the API holds it while `kg load` runs elsewhere
    assert server_side.detector().detect("Qopraz Labs grew.") == []
    qopraz = Entity(id="QOP123", name="Qopraz Labs", category=EntityCategory.COMPANIES, type="PRIVATE")
    fresh.add_entities([qopraz])
    fresh.add_sources([Source(id="SRC123", name="Qopraz Wire", rank="RANK_2")])
    assert [d.id for d in server_side.detector().detect("Qopraz Labs grew.")] == ["QOP123"]  # detector() refreshes
    assert server_side.find_companies("Qopraz", types=["PRIVATE"]) == [qopraz]
    assert server_side.get_source("SRC123") is not None
    assert server_side.refresh() is False  # nothing new since
    # a line still being written is left for later, then taken in once complete
    line = json.dumps({"id": "HALF01", "name": "Half Written Co", "category": "companies"})
    with (fresh.folder / USER_ENTITIES).open("a", encoding="utf-8") as handle:
        handle.write(line[:20])
        handle.flush()
        assert server_side.refresh() is False and server_side.get_entity("HALF01") is None
        handle.write(line[20:] + "\n")
    assert server_side.refresh() is True and server_side.fetch_entity("HALF01").name == "Half Written Co"
    # the server's own additions after that keep both sides' entities
    server_side.add_entities([Entity(id="SRV001", name="Server Added", category=EntityCategory.ORGANIZATIONS)])
    reopened = KnowledgeGraph.open(fresh.folder)
    assert {"QOP123", "HALF01", "SRV001"} <= set(reopened.entities_by_ids(["QOP123", "HALF01", "SRV001"]))
    assert server_side.refresh() is False
