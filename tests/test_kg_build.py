"""Default knowledge graph built from pytickersymbols: ids, deduplication, companies, people, places."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path


from batchsearch.kg import EntityCategory, KnowledgeGraph, entity_id, source_id
from batchsearch.kg.build import build_default_entities
from batchsearch.kg.ids import allocate_entity_id, company_key
from batchsearch.kg.sources import SOURCE_CATEGORIES, default_sources

ID = re.compile(r"^[0-9A-Z]{6}$")


def test_entity_id_is_six_uppercase_alphanumerics_and_deterministic() -> None:
    key = "company:isin:US5949181045"
    assert ID.match(entity_id(key))
    assert entity_id(key) == entity_id(key)
    assert entity_id(key) != entity_id("company:isin:US0378331005")
    assert entity_id(key) != source_id(key)  # separate namespaces


def test_allocation_steps_past_a_taken_id_deterministically() -> None:
    first = entity_id("k")
    second = allocate_entity_id("k", {first})
    assert second != first and ID.match(second)
    assert allocate_entity_id("k", {first}) == second


def test_ids_are_stable_across_two_rebuilds(tmp_path: Path, default_graph: KnowledgeGraph) -> None:
    rebuilt = KnowledgeGraph.build_default(tmp_path / "again")
    before = {e.extra["key"]: e.id for e in default_graph.entities()}
    after = {e.extra["key"]: e.id for e in rebuilt.entities()}
    assert before == after
    assert [s.id for s in default_graph.sources()] == [s.id for s in rebuilt.sources()]


def test_every_id_is_unique_and_well_formed(default_graph: KnowledgeGraph) -> None:
    ids = [e.id for e in default_graph.entities()]
    assert len(ids) == len(set(ids))
    assert all(ID.match(i) for i in ids)


def test_microsoft_exists_with_its_isin_and_identifiers(default_graph: KnowledgeGraph) -> None:
    (microsoft,) = [e for e in default_graph.companies() if "US5949181045" in e.isins]
    assert microsoft.name == "Microsoft"
    assert microsoft.id == entity_id(company_key("Microsoft", "US5949181045"))
    assert "MSFT" in microsoft.tickers
    assert "XNAS:MSFT" in microsoft.listings
    assert microsoft.cusips == ("594918104",)  # embedded in the US ISIN
    assert (microsoft.country, microsoft.sector, microsoft.type) == ("US", "Technology", "PUBLIC")
    assert microsoft.extra["city"] == "Redmond"


def test_graph_size_and_categories(default_graph: KnowledgeGraph) -> None:
    counts = Counter(e.category for e in default_graph.entities())
    assert 1700 <= counts[EntityCategory.COMPANIES] <= 1900
    assert counts[EntityCategory.PEOPLE] > 1500
    assert counts[EntityCategory.PLACES] > 300
    assert counts[EntityCategory.CONCEPTS] == len(default_graph.sectors())


def test_companies_in_several_indices_appear_once(default_graph: KnowledgeGraph) -> None:
    companies = default_graph.companies()
    isins = Counter(isin for e in companies for isin in e.isins)
    assert [isin for isin, n in isins.items() if n > 1] == []
    names = Counter(e.name.lower() for e in companies)
    assert [name for name, n in names.items() if n > 1] == []
    apple = next(e for e in companies if e.name == "Apple Inc.")
    assert {"DOW JONES", "NASDAQ 100", "S&P 500"} <= set(apple.extra["indices"].split("|"))


def test_aliases_drop_legal_suffixes(default_graph: KnowledgeGraph) -> None:
    by_name = {e.name: e for e in default_graph.companies()}
    assert "Apple" in by_name["Apple Inc."].aliases
    assert "Tesla" in by_name["Tesla, Inc."].aliases
    assert "Walt Disney" in by_name["The Walt Disney Company"].aliases
    assert "Compass" not in by_name["Compass Group"].aliases  # a common word, not a safe alias
    assert "Southern" not in by_name["Southern Company"].aliases


def test_people_and_places_link_to_companies(default_graph: KnowledgeGraph) -> None:
    microsoft = default_graph.find_by_identifier("isin", ["US5949181045"])["US5949181045"]
    assert microsoft is not None
    nadella = next(e for e in default_graph.entities(EntityCategory.PEOPLE) if e.name == "Satya Nadella")
    assert nadella.extra["company_id"] == microsoft.id
    places = {(e.name, e.type) for e in default_graph.entities(EntityCategory.PLACES)}
    assert {("Redmond", "CITY"), ("United States", "COUNTRY"), ("Texas", "REGION")} <= places


def test_default_sources_are_complete_and_valid() -> None:
    sources = default_sources()
    assert 20 <= len(sources) <= 30
    assert {s.rank for s in sources} == {"RANK_1", "RANK_2", "RANK_3", "RANK_4", "RANK_5"}
    categories = {c for s in sources for c in s.categories}
    assert {"news", "news_premium", "transcripts", "filings"} <= categories <= set(SOURCE_CATEGORIES)
    assert len({s.id for s in sources}) == len(sources)
    assert all(ID.match(s.id) and s.country for s in sources)


def test_build_is_deterministic_in_memory() -> None:
    first = [(e.id, e.name, e.aliases, e.tickers) for e in build_default_entities()]
    second = [(e.id, e.name, e.aliases, e.tickers) for e in build_default_entities()]
    assert first == second
