"""search/planner.py (pure): auto-enrichment, smart-mode sub-queries and date phrases, and fusing answers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from batchsearch.errors import NotFoundError
from batchsearch.kg import Entity, EntityCategory, EntityDetector
from batchsearch.models.search import Query, parse_search_request
from batchsearch.search.planner import (
    RRF_K,
    combine,
    find_periods,
    find_window,
    fuse_responses,
    plan_search,
    run_plans,
)

C = EntityCategory.COMPANIES
DETECTOR = EntityDetector([
    Entity(id="MSFT01", name="Microsoft", category=C, aliases=("Microsoft Corp.",), tickers=("MSFT",), country="US",
           popularity=20.0),
    Entity(id="APPLE1", name="Apple Inc.", category=C, aliases=("Apple",), tickers=("AAPL",), country="US",
           popularity=20.0),
])
NOW = datetime(2026, 2, 15, 12, 30, tzinfo=UTC)


def _query(body: dict[str, Any]) -> Query:
    return parse_search_request(body).query


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_fast_enrichment_adds_the_detected_entities_to_any_of() -> None:
    plan = plan_search(_query({"query": {"text": "Microsoft and Apple cloud revenue"}}), DETECTOR, NOW)
    [query] = plan.queries
    assert query.filters.entity is not None and query.filters.entity.any_of == ["MSFT01", "APPLE1"]
    assert query.text == "Microsoft and Apple cloud revenue" and not plan.shows_audit


@pytest.mark.parametrize("body", [
    {"query": {"text": "Microsoft cloud revenue", "auto_enrich_filters": False}},
    {"query": {"text": "Microsoft cloud revenue", "filters": {"entity": {"none_of": ["APPLE1"]}}}},
    {"query": {"text": "cloud revenue"}},
    {"query": {"filters": {"keyword": {"any_of": ["Microsoft"]}}}},
])
def test_no_enrichment_when_off_already_filtered_or_nothing_detected(body: dict[str, Any]) -> None:
    query = _query(body)
    assert plan_search(query, DETECTOR, NOW).queries == (query,)
    assert plan_search(query, None, NOW).queries == (query,)


def test_the_audit_shows_the_enriched_query() -> None:
    plan = plan_search(_query({"query": {"text": "Apple margins"}, "include_audit": True}), DETECTOR, NOW)
    answer = combine(plan, [{"results": [], "metadata": {"request_id": "r"}, "usage": {"api_query_units": 0.0}}])
    assert not isinstance(answer, NotFoundError)
    [audited] = answer["metadata"]["audit"]["queries"]
    assert audited["filters"]["entity"]["any_of"] == ["APPLE1"] and audited["auto_enrich_filters"] is True


def test_smart_mode_runs_one_sub_query_per_entity_with_the_date_phrase_as_timestamp() -> None:
    plan = plan_search(_query({"search_mode": "smart", "query": {
        "text": "Microsoft and Apple cloud revenue last quarter", "filters": {"source": {"values": ["D4B903"]}}}}),
        DETECTOR, NOW)
    assert plan.is_smart and plan.shows_audit and len(plan.queries) == 2
    for query, entity in zip(plan.queries, ["MSFT01", "APPLE1"], strict=True):
        assert query.text == "Microsoft and Apple cloud revenue"
        assert query.filters.entity is not None and query.filters.entity.any_of == [entity]
        assert query.filters.timestamp is not None
        assert query.filters.timestamp.start == _dt("2025-10-01T00:00:00")
        assert query.filters.timestamp.end == _dt("2025-12-31T23:59:59.999999")
        assert query.filters.source is not None and query.filters.source.values == ["D4B903"]


def test_smart_mode_adds_one_sub_query_per_reporting_period_on_the_detected_companies() -> None:
    plan = plan_search(_query({"search_mode": "smart", "query": {"text": "Apple earnings Q3 2024 and FY2025"}}),
                       DETECTOR, NOW)
    entity, q3, fy = plan.queries
    assert entity.filters.entity is not None and entity.filters.entity.any_of == ["APPLE1"]
    assert entity.filters.reporting_periods is None and entity.text == "Apple earnings and"
    for query, period in ((q3, (2024, 3)), (fy, (2025, None))):
        assert [(p.fiscal_year, p.fiscal_quarter) for p in query.filters.reporting_periods or []] == [period]
        assert query.filters.reporting_entities == ["APPLE1"] and query.filters.entity is None


def test_smart_mode_keeps_the_callers_timestamp_and_text_without_entities() -> None:
    plan = plan_search(_query({"search_mode": "smart", "query": {
        "text": "chip tariffs in 2025", "filters": {"timestamp": {"start": "2024-01-01"}}}}), DETECTOR, NOW)
    [query] = plan.queries
    assert query.text == "chip tariffs" and query.filters.timestamp is not None
    assert query.filters.timestamp.start == _dt("2024-01-01T00:00:00") and query.filters.timestamp.end is None
    [only_date] = plan_search(_query({"search_mode": "smart", "query": {"text": "last year"}}), DETECTOR, NOW).queries
    assert only_date.text is None and only_date.filters.timestamp is not None
    assert only_date.filters.timestamp.start == _dt("2025-01-01T00:00:00")


@pytest.mark.parametrize(("text", "start", "end", "rest"), [
    ("revenue in 2025", "2025-01-01T00:00:00", "2025-12-31T23:59:59.999999", "revenue"),
    ("revenue since 2024", "2024-01-01T00:00:00", "2026-02-15T12:30:00", "revenue"),
    ("revenue over the past 30 days", "2026-01-16T12:30:00", "2026-02-15T12:30:00", "revenue"),
    ("revenue last 2 quarters", "2025-08-15T12:30:00", "2026-02-15T12:30:00", "revenue"),
    ("revenue this year", "2026-01-01T00:00:00", "2026-02-15T12:30:00", "revenue"),
    ("revenue this quarter", "2026-01-01T00:00:00", "2026-02-15T12:30:00", "revenue"),
    ("revenue last month", "2026-01-01T00:00:00", "2026-01-31T23:59:59.999999", "revenue"),
    ("revenue last week", "2026-02-02T00:00:00", "2026-02-08T23:59:59.999999", "revenue"),
    ("revenue past year", "2025-02-15T12:30:00", "2026-02-15T12:30:00", "revenue"),
    ("revenue yesterday", "2026-02-14T00:00:00", "2026-02-14T23:59:59.999999", "revenue"),
    ("Last quarter revenue", "2025-10-01T00:00:00", "2025-12-31T23:59:59.999999", "revenue"),
])
def test_date_phrases(text: str, start: str, end: str, rest: str) -> None:
    window, left = find_window(text, NOW)
    assert window is not None and (window.start, window.end) == (_dt(start), _dt(end))
    assert " ".join(left.split()) == rest


def test_no_date_phrase_and_periods_are_not_dates() -> None:
    assert find_window("revenue growth of 2025 products", NOW) == (None, "revenue growth of 2025 products")
    periods, rest = find_periods("results for the third quarter of fiscal 2024, 2025 Q1 and Q3 FY2024")
    assert [(p.fiscal_year, p.fiscal_quarter) for p in periods] == [(2024, 3), (2025, 1)]
    assert " ".join(rest.split()) == "results for the , and"


def _response(chunks: list[tuple[str, int, float]], rid: str = "r1") -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    for doc, cnum, relevance in chunks:
        if not results or results[-1]["id"] != doc:
            results.append({"id": doc, "headline": f"h{doc}", "chunks": []})
        results[-1]["chunks"].append({"cnum": cnum, "text": f"{doc}{cnum}", "relevance": relevance})
    return {"results": results, "metadata": {"request_id": rid, "timestamp": "t", "snapshot_id": "s"},
            "usage": {"api_query_units": len(chunks) / 10}}


def test_fusion_is_reciprocal_rank_fusion_over_chunks() -> None:
    first = _response([("A", 1, 0.9), ("B", 2, 0.5), ("C", 1, 0.4)])
    second = _response([("C", 1, 0.7), ("A", 1, 0.3), ("D", 4, 0.2)])
    fused = fuse_responses([first, second], max_chunks=3)
    # A: 1/61 + 1/62, C: 1/63 + 1/61, B: 1/62, D: 1/63
    assert 1 / (RRF_K + 1) + 1 / (RRF_K + 2) > 1 / (RRF_K + 3) + 1 / (RRF_K + 1)
    assert [(d["id"], [c["cnum"] for c in d["chunks"]]) for d in fused["results"]] == [("A", [1]), ("C", [1]), ("B", [2])]
    assert [c["relevance"] for d in fused["results"] for c in d["chunks"]] == [0.9, 0.7, 0.5]
    assert fused["usage"] == {"api_query_units": 0.3} and fused["metadata"]["request_id"] == "r1"
    assert fused["results"][0]["headline"] == "hA"


def test_run_plans_runs_every_sub_query_in_one_call_and_reports_errors_per_plan() -> None:
    smart = plan_search(_query({"search_mode": "smart", "query": {"text": "Microsoft and Apple"}}), DETECTOR, NOW)
    fast = plan_search(_query({"query": {"text": "missing"}}), DETECTOR, NOW)
    calls: list[list[Query]] = []

    def search_many(queries: list[Query]) -> list[dict[str, Any] | NotFoundError]:
        calls.append(queries)
        return [NotFoundError("gone") if q.text == "missing" else _response([("A", i + 1, 0.5)])
                for i, q in enumerate(queries)]

    combined, failed = run_plans([smart, fast], search_many)
    assert len(calls) == 1 and len(calls[0]) == 3
    assert isinstance(failed, NotFoundError)
    assert not isinstance(combined, NotFoundError)
    assert [c["cnum"] for d in combined["results"] for c in d["chunks"]] == [1, 2]
    assert len(combined["metadata"]["audit"]["queries"]) == 2
