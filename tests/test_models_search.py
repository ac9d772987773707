"""Wire models of POST /v1/search: what is accepted, how it is normalised, and error texts that name the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from batchsearch.errors import ValidationError
from batchsearch.models.search import (
    MAX_IDS,
    MAX_ITEMS,
    MAX_PERIODS,
    MAX_TERM_LENGTH,
    SMART_MODE_MESSAGE,
    Query,
    normalise_topic,
    parse_search_request,
    parse_timestamp,
)

EXAMPLE_A = {
    "search_mode": "fast",
    "query": {
        "text": "cloud computing revenue growth outlook",
        "auto_enrich_filters": False,
        "filters": {
            "timestamp": {"start": "2024-01-01T00:00:00Z", "end": "2024-12-31T23:59:59Z"},
            "entity": {"any_of": ["D8442A", "228D42"], "all_of": [], "none_of": [], "search_in": "ALL"},
            "document_type": {"mode": "INCLUDE", "values": [{"type": "TRANSCRIPT", "subtypes": ["EARNINGS_CALL"]}]},
            "sentiment": {"ranges": [{"min": -1.0, "max": -0.3}, {"min": 0.3, "max": 1.0}]},
        },
        "ranking_params": {
            "freshness_boost": 0,
            "source_boost": 1,
            "content_diversification": {"enabled": False},
            "reranker": {"enabled": True, "threshold": 0.2},
        },
        "max_chunks": 20,
    },
}

EXAMPLE_B = {
    "search_mode": "fast",
    "query": {
        "text": "Boeing corporate actions dividends and stock splits",
        "auto_enrich_filters": False,
        "filters": {"category": {"mode": "INCLUDE", "values": ["my_files"]}, "tag": {"any_of": ["Corporate Actions"]}},
        "max_chunks": 5,
    },
}


def test_spec_example_a_parses() -> None:
    req = parse_search_request(EXAMPLE_A)
    q = req.query
    assert q.max_chunks == 20 and q.text == "cloud computing revenue growth outlook"
    assert q.filters.timestamp is not None and q.filters.timestamp.start == datetime(2024, 1, 1, tzinfo=UTC)
    assert q.filters.entity is not None and q.filters.entity.any_of == ["D8442A", "228D42"]
    assert q.filters.document_type is not None
    assert [(v.type, v.subtypes) for v in q.filters.document_type.values] == [("TRANSCRIPT", ["EARNINGS_CALL"])]
    assert q.filters.sentiment is not None and [(r.min, r.max) for r in q.filters.sentiment.ranges or []] == [
        (-1.0, -0.3), (0.3, 1.0)]
    assert q.ranking_params.freshness_boost == 0 and q.ranking_params.source_boost == 1
    assert q.ranking_params.content_diversification.enabled is False
    assert q.ranking_params.reranker is not None and q.ranking_params.reranker.threshold == 0.2


def test_spec_example_b_parses() -> None:
    q = parse_search_request(EXAMPLE_B).query
    assert q.filters.category is not None and q.filters.category.values == ["my_files"]
    assert q.filters.tag is not None and q.filters.tag.any_of == ["Corporate Actions"]


def test_defaults() -> None:
    q = parse_search_request({"query": {"text": "x"}}).query
    assert q.max_chunks == 10
    assert q.ranking_params.freshness_boost == 1.0 and q.ranking_params.source_boost == 1.0
    assert q.ranking_params.content_diversification.enabled is True
    assert q.ranking_params.reranker is None
    assert q.filters.model_fields_set == set()


def test_auto_enrich_filters_defaults_to_true_as_on_bigdata() -> None:
    assert parse_search_request({"query": {"text": "x"}}).query.auto_enrich_filters is True
    assert parse_search_request(EXAMPLE_A).query.auto_enrich_filters is False


def test_top_level_max_chunks_and_ranking_params_are_taken_when_the_query_has_none() -> None:
    q = parse_search_request({"query": {"text": "x"}, "max_chunks": 7,
                              "ranking_params": {"freshness_boost": 0, "reranker": {"threshold": 0.5}}}).query
    assert q.max_chunks == 7 and q.ranking_params.freshness_boost == 0
    assert q.ranking_params.reranker is not None and q.ranking_params.reranker.threshold == 0.5
    assert {"max_chunks", "ranking_params"} <= q.model_fields_set


def test_the_field_inside_query_wins_over_the_top_level_one() -> None:
    q = parse_search_request({"query": {"text": "x", "max_chunks": 3, "ranking_params": {"source_boost": 2}},
                              "max_chunks": 7, "ranking_params": {"source_boost": 5}}).query
    assert q.max_chunks == 3 and q.ranking_params.source_boost == 2


def test_smart_mode_takes_timestamp_and_source_and_the_query_carries_the_mode() -> None:
    req = parse_search_request({"search_mode": "smart", "include_audit": True, "query": {
        "text": "Microsoft cloud revenue", "filters": {"timestamp": {"start": "2025-01-01"},
                                                       "source": {"values": ["D4B903"]}}}})
    assert req.search_mode == "smart" and req.query.search_mode == "smart" and req.query.include_audit is True
    fast = parse_search_request({"query": {"text": "x"}}).query
    assert fast.search_mode == "fast" and fast.include_audit is False
    assert fast.model_copy().search_mode == "fast" and req.query.model_copy().search_mode == "smart"


def test_filter_only_query_is_accepted() -> None:
    q = parse_search_request({"query": {"filters": {"entity": {"any_of": ["228D42"]}}}}).query
    assert q.text is None and q.filters.entity is not None and q.filters.entity.search_in == "ALL"


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-01-01", datetime(2026, 1, 1, tzinfo=UTC)),
    ("2025-08-15T16:55:37", datetime(2025, 8, 15, 16, 55, 37, tzinfo=UTC)),
    ("2024-01-01T00:00:00.000Z", datetime(2024, 1, 1, tzinfo=UTC)),
    ("2024-01-01T00:00:00z", datetime(2024, 1, 1, tzinfo=UTC)),
    ("2024-06-01T10:00:00+00:00", datetime(2024, 6, 1, 10, tzinfo=UTC)),
    ("2024-06-01T12:00:00+02:00", datetime(2024, 6, 1, 10, tzinfo=UTC)),
    (" 2024-06-01 ", datetime(2024, 6, 1, tzinfo=UTC)),
])
def test_timestamp_forms(value: str, expected: datetime) -> None:
    parsed = parse_timestamp(value)
    assert parsed == expected and parsed.tzinfo is not None
    assert parse_search_request({"query": {"filters": {"timestamp": {"start": value}}}}).query.filters.timestamp.start == expected  # type: ignore[union-attr]


def test_offset_is_kept() -> None:
    assert parse_timestamp("2024-06-01T12:00:00+02:00").utcoffset() == timedelta(hours=2)
    assert parse_timestamp("2024-06-01T12:00:00-05:30").tzinfo == timezone(-timedelta(hours=5, minutes=30))


def test_document_type_value_shapes() -> None:
    raw = {"query": {"filters": {"document_type": {"values": [
        "NEWS", "INVESTMENT_RESEARCH", {"type": "FILING"}, {"type": "TRANSCRIPT", "subtypes": ["EARNINGS_CALL", "GUIDANCE_CALL"]},
    ]}}}}
    values = parse_search_request(raw).query.filters.document_type.values  # type: ignore[union-attr]
    assert [(v.type, v.subtypes) for v in values] == [
        ("NEWS", None), ("INVESTMENT-RESEARCH", None), ("FILING", None), ("TRANSCRIPT", ["EARNINGS_CALL", "GUIDANCE_CALL"])]


def test_topics_are_normalised() -> None:
    assert normalise_topic(" Business,Labor-Issues,Executive-Appointment,, ") == "business,labor-issues,executive-appointment"
    q = parse_search_request({"query": {"filters": {"topic": {"any_of": ["BUSINESS,Partnerships,Partnership,"]}}}}).query
    assert q.filters.topic.any_of == ["business,partnerships,partnership"]  # type: ignore[union-attr]


def test_sentiment_deprecated_values_and_edges() -> None:
    q = parse_search_request({"query": {"filters": {"sentiment": {"values": ["positive", "neutral"]}}}}).query
    assert q.filters.sentiment.values == ["positive", "neutral"]  # type: ignore[union-attr]
    q = parse_search_request({"query": {"filters": {"sentiment": {"ranges": [{"min": 1, "max": 1}]}}}}).query
    assert q.filters.sentiment.ranges[0].min == 1.0  # type: ignore[union-attr,index]


def test_integer_boosts_and_integral_float_max_chunks_are_accepted() -> None:
    q = parse_search_request({"query": {"text": "x", "max_chunks": 10.0, "ranking_params": {
        "freshness_boost": 2, "source_boost": 10}}}).query
    assert (q.max_chunks, q.ranking_params.freshness_boost, q.ranking_params.source_boost) == (10, 2.0, 10.0)


def test_periods_and_chunk_range() -> None:
    q = parse_search_request({"query": {"filters": {
        "reporting_periods": [{"fiscal_year": 2024, "fiscal_quarter": 4}, {"fiscal_year": 2025}],
        "chunk": {"from": 3, "to": 8}}}}).query
    assert [(p.fiscal_year, p.fiscal_quarter) for p in q.filters.reporting_periods or []] == [(2024, 4), (2025, None)]
    assert (q.filters.chunk.from_, q.filters.chunk.to) == (3, 8)  # type: ignore[union-attr]
    assert q.model_dump(by_alias=True, exclude_none=True)["filters"]["chunk"] == {"from": 3, "to": 8}


def _error(payload: Any) -> str:
    with pytest.raises(ValidationError) as info:
        parse_search_request(payload)
    assert info.value.status_code == 400
    return info.value.message


def _query(**query: Any) -> dict[str, Any]:
    return {"query": {"text": "x", **query}}


# (payload, field path the message must name, words the reason must contain)
BAD: list[tuple[Any, str, str]] = [
    (_query(filters={"entities": {"any_of": ["228D42"]}}), "query.filters.entities", "Extra inputs are not permitted"),
    (_query(filters={"entity": {"any_of": ["228D42"], "mode": "x"}}), "query.filters.entity.mode", "Extra inputs"),
    ({"query": {"text": "x"}, "max_chunks": 0}, "max_chunks", "greater than or equal to 1"),
    ({"query": {"text": "x"}, "max_chunks": "5"}, "max_chunks", "valid integer"),
    ({"query": {"text": "x"}, "ranking_params": {"source_boost": 11}}, "ranking_params.source_boost",
     "less than or equal to 10"),
    ({"query": {"text": "x"}, "ranking_params": {"boost": 1}}, "ranking_params.boost", "Extra inputs"),
    (_query(max_chunks=0), "query.max_chunks", "greater than or equal to 1"),
    (_query(max_chunks=1001), "query.max_chunks", "Input should be less than or equal to 1000"),
    (_query(max_chunks="ten"), "query.max_chunks", "valid integer"),
    (_query(max_chunks="10"), "query.max_chunks", "valid integer"),
    (_query(max_chunks=True), "query.max_chunks", "valid integer"),
    (_query(max_chunks=10.5), "query.max_chunks", "valid integer"),
    (_query(max_chunks=None), "query.max_chunks", "valid integer"),
    (_query(filters={"entity": {"any_of": ["228D42"] * (MAX_IDS + 1)}}), "query.filters.entity.any_of",
     "Your query is too complex. Simplify your query."),
    (_query(filters={"entity": {"none_of": ["228D42"] * (MAX_IDS + 1)}}), "query.filters.entity.none_of", "too complex"),
    (_query(filters={"source": {"mode": "INCLUDE", "values": ["D4B903"] * (MAX_IDS + 1)}}), "query.filters.source.values",
     "List should have at most 500 items"),
    (_query(filters={"source": {"mode": "SOME", "values": ["D4B903"]}}), "query.filters.source.mode", "INCLUDE"),
    (_query(filters={"chunk": {"from": 8, "to": 3}}), "query.filters.chunk", "`from` must be lower than or equal to `to`"),
    (_query(filters={"chunk": {"from": 0}}), "query.filters.chunk.from", "greater than or equal to 1"),
    (_query(filters={"chunk": {"from": -2, "to": 3}}), "query.filters.chunk.from", "greater than or equal to 1"),
    (_query(filters={"timestamp": {"start": "2024-13-45"}}), "query.filters.timestamp.start", "Invalid ISO 8601"),
    (_query(filters={"timestamp": {"end": "yesterday"}}), "query.filters.timestamp.end", "Invalid ISO 8601"),
    (_query(filters={"timestamp": {"start": 1704067200}}), "query.filters.timestamp.start", "ISO 8601"),
    (_query(filters={"timestamp": {"start": "2024-02-01", "end": "2024-01-01"}}), "query.filters.timestamp",
     "start must not be after end"),
    (_query(ranking_params={"freshness_boost": True}), "query.ranking_params.freshness_boost", "valid number"),
    (_query(ranking_params={"source_boost": 11}), "query.ranking_params.source_boost", "less than or equal to 10"),
    (_query(ranking_params={"freshness_boost": -1}), "query.ranking_params.freshness_boost", "greater than or equal to 0"),
    (_query(ranking_params={"reranker": {"threshold": 1.5}}), "query.ranking_params.reranker.threshold",
     "less than or equal to 1"),
    (_query(ranking_params={"reranker": {"enabled": "yes"}}), "query.ranking_params.reranker.enabled", "valid boolean"),
    (_query(ranking_params={"content_diversification": {"enabled": 1}}),
     "query.ranking_params.content_diversification.enabled", "valid boolean"),
    ({"query": {"text": ["cloud", "computing"]}}, "query.text", "valid string"),
    ({"query": {"text": 42}}, "query.text", "valid string"),
    ({"query": {"text": "x" * 10_001}}, "query.text", "at most 10000 characters"),
    ({"query": {}}, "query", "Give a `text`, at least one filter, or both"),
    ({"query": {"text": "   "}}, "query", "Give a `text`"),
    ({"query": "cloud"}, "query", "valid dictionary"),
    ({}, "query", "Field required"),
    ({"query": {"text": "x", "filters": {"entity": {"any_of": ["228D42"]}}}, "search_mode": "smart"},
     "query.filters.entity", SMART_MODE_MESSAGE),
    ({"query": {"text": "x", "filters": {"keyword": {"any_of": ["y"]}}}, "search_mode": "smart"},
     "query.filters.keyword", "Search filter not supported in smart search mode"),
    ({"query": {"text": "x", "ranking_params": {}}, "search_mode": "smart"}, "query.ranking_params", SMART_MODE_MESSAGE),
    ({"query": {"text": "x"}, "ranking_params": {"source_boost": 2}, "search_mode": "smart"}, "ranking_params",
     SMART_MODE_MESSAGE),
    ({"query": {"text": "x"}, "search_mode": "slow"}, "search_mode", "'fast'"),
    ({"query": {"text": "x"}, "include_audit": "true"}, "include_audit", "valid boolean"),
    (_query(auto_enrich_filters="false"), "query.auto_enrich_filters", "valid boolean"),
    (_query(external_search={"mode": "INCLUDE", "values": ["web"]}), "query", "external_search"),
    (_query(filters={"category": {"values": ["NEWS"]}}), "query.filters.category.values", "Unknown category 'NEWS'"),
    (_query(filters={"document_type": {"values": ["PODCAST"]}}), "query.filters.document_type.values.0",
     "Unknown document type 'PODCAST'"),
    (_query(filters={"document_type": {"values": [{"type": "TRANSCRIPT", "subtypes": ["SEC_10_K"]}]}}),
     "query.filters.document_type.values.0", "Unknown subtype 'SEC_10_K' for type TRANSCRIPT"),
    (_query(filters={"document_type": {"values": [{"subtypes": ["SEC_10_K"]}]}}), "query.filters.document_type.values.0.type",
     "Field required"),
    (_query(filters={"sentiment": {}}), "query.filters.sentiment", "Give either ranges or values"),
    (_query(filters={"sentiment": {"values": ["POSITIVE"]}}), "query.filters.sentiment.values.0", "'positive'"),
    (_query(filters={"sentiment": {"ranges": [{"min": 0.5, "max": 0.1}]}}), "query.filters.sentiment.ranges.0",
     "min must not be greater than max"),
    (_query(filters={"sentiment": {"ranges": [{"min": -1.5, "max": 0}]}}), "query.filters.sentiment.ranges.0.min",
     "greater than or equal to -1"),
    (_query(filters={"sentiment": {"ranges": [{"min": False, "max": 0}]}}), "query.filters.sentiment.ranges.0.min",
     "valid number"),
    (_query(filters={"reporting_periods": [{"fiscal_year": 2024, "fiscal_quarter": 5}]}),
     "query.filters.reporting_periods.0.fiscal_quarter", "less than or equal to 4"),
    (_query(filters={"reporting_periods": [{"fiscal_quarter": 2}]}), "query.filters.reporting_periods.0.fiscal_year",
     "Field required"),
    (_query(filters={"reporting_entities": "228D42"}), "query.filters.reporting_entities", "valid list"),
    (_query(filters={"tag": {"any_of": "alpha"}}), "query.filters.tag.any_of", "valid list"),
    (_query(filters={"entity": {"any_of": ["228D42"], "search_in": "TITLE"}}), "query.filters.entity.search_in", "HEADLINE"),
    (_query(filters={"topic": {"any_of": [5]}}), "query.filters.topic.any_of.0", "valid string"),
]

LONG = "k" * (MAX_TERM_LENGTH + 1)
# unbounded filter inputs (issue 12 L5): each cap answers 400 naming the field
CAPPED: list[tuple[Any, str, str]] = [
    (_query(filters={"keyword": {"any_of": [LONG]}}), "query.filters.keyword.any_of.0", "at most 1000 characters"),
    (_query(filters={"keyword": {"all_of": ["ok", LONG]}}), "query.filters.keyword.all_of.1", "at most 1000 characters"),
    (_query(filters={"keyword": {"none_of": ["k"] * (MAX_IDS + 1)}}), "query.filters.keyword.none_of",
     "at most 500 items"),
    (_query(filters={"entity": {"any_of": [LONG]}}), "query.filters.entity.any_of.0", "at most 1000 characters"),
    (_query(filters={"topic": {"any_of": [LONG]}}), "query.filters.topic.any_of.0", "at most 1000 characters"),
    (_query(filters={"source": {"values": [LONG]}}), "query.filters.source.values.0", "at most 1000 characters"),
    (_query(filters={"document": {"values": [LONG]}}), "query.filters.document.values.0", "at most 1000 characters"),
    (_query(filters={"tag": {"all_of": [LONG]}}), "query.filters.tag.all_of.0", "at most 1000 characters"),
    (_query(filters={"reporting_entities": [LONG]}), "query.filters.reporting_entities.0", "at most 1000 characters"),
    (_query(filters={"reporting_periods": [{"fiscal_year": 2024}] * (MAX_PERIODS + 1)}),
     "query.filters.reporting_periods", "at most 500 items"),
    (_query(filters={"sentiment": {"ranges": [{"min": 0, "max": 1}] * (MAX_ITEMS + 1)}}),
     "query.filters.sentiment.ranges", "at most 100 items"),
    (_query(filters={"sentiment": {"values": ["positive"] * (MAX_ITEMS + 1)}}), "query.filters.sentiment.values",
     "at most 100 items"),
    (_query(filters={"document_type": {"values": ["NEWS"] * (MAX_ITEMS + 1)}}), "query.filters.document_type.values",
     "at most 100 items"),
    (_query(filters={"document_type": {"values": [{"type": "FILING", "subtypes": ["SEC_10_K"] * (MAX_ITEMS + 1)}]}}),
     "query.filters.document_type.values.0.subtypes", "at most 100 items"),
    (_query(filters={"document_type": {"values": [{"type": "X" * 100_000}]}}),
     "query.filters.document_type.values.0.type", "at most 64 characters"),
    (_query(external_search={"mode": "ONLY", "values": ["web"] * (MAX_ITEMS + 1)}), "query.external_search.values",
     "at most 100 items"),
    (_query(filters={"timestamp": {"start": "0001-01-01T00:00:00+05:00"}}), "query.filters.timestamp.start",
     "out of range once converted to UTC"),
    (_query(filters={"timestamp": {"end": "9999-12-31T23:59:59-05:00"}}), "query.filters.timestamp.end",
     "out of range once converted to UTC"),
]
BAD += CAPPED


@pytest.mark.parametrize(("payload", "field", "reason"), BAD, ids=[f"{i}-{b[1]}" for i, b in enumerate(BAD)])
def test_bad_requests_name_the_field(payload: Any, field: str, reason: str) -> None:
    message = _error(payload)
    lines = message.split("\n")
    assert lines[0].endswith("for PublicSearchRequest") and lines[0][0].isdigit()
    fields = lines[1::2]
    reasons = lines[2::2]
    assert field in fields, message
    assert reason in reasons[fields.index(field)], message
    assert all(r.startswith("  ") for r in reasons)
    assert "Value error," not in message


def test_several_errors_are_counted() -> None:
    message = _error(_query(max_chunks=0, ranking_params={"source_boost": 11}))
    assert message.startswith("2 validation errors for PublicSearchRequest\n")


@pytest.mark.parametrize("payload", [None, [], "query", 3, [{"query": {"text": "x"}}]])
def test_body_must_be_an_object(payload: Any) -> None:
    assert _error(payload) == "1 validation error for PublicSearchRequest\nbody\n  Input should be a JSON object"


def test_errors_carry_their_problems_and_render_the_wire_text_from_them() -> None:
    with pytest.raises(ValidationError) as info:
        parse_search_request(_query(max_chunks=1001, ranking_params={"source_boost": 11}))
    problems = [(p.field, p.message) for p in info.value.problems]
    assert ("query.max_chunks", "Input should be less than or equal to 1000") in problems
    assert len(problems) == 2
    lines = info.value.message.split("\n")
    assert lines[0] == "2 validation errors for PublicSearchRequest"
    assert [(lines[i], lines[i + 1].strip()) for i in (1, 3)] == problems


def test_query_model_round_trips_through_json() -> None:
    q = parse_search_request(EXAMPLE_A).query
    again = Query.model_validate(q.model_dump(mode="json", by_alias=True, exclude_none=True))
    assert again == q


def test_caps_leave_room_for_every_real_request() -> None:
    terms = ["t" * MAX_TERM_LENGTH] * MAX_IDS
    q = parse_search_request(_query(filters={
        "keyword": {"any_of": terms}, "entity": {"any_of": terms}, "reporting_entities": terms,
        "reporting_periods": [{"fiscal_year": 2000 + i // 4, "fiscal_quarter": i % 4 + 1} for i in range(MAX_PERIODS)],
        "sentiment": {"ranges": [{"min": -1, "max": 1}] * MAX_ITEMS},
        "document_type": {"values": [{"type": "FILING", "subtypes": ["SEC_10_K"] * MAX_ITEMS}] * MAX_ITEMS},
        "timestamp": {"start": "0001-01-01T00:00:00Z", "end": "9999-12-31T23:59:59+00:00"},
    })).query
    assert len(q.filters.keyword.any_of) == MAX_IDS and len(q.filters.reporting_periods or ()) == MAX_PERIODS  # type: ignore[union-attr]


def test_a_list_over_its_cap_is_refused_before_its_items_are_checked() -> None:
    message = _error(_query(filters={"keyword": {"any_of": [LONG] * 100_000}}))
    assert message.startswith("1 validation error for PublicSearchRequest\nquery.filters.keyword.any_of\n")


def test_a_request_with_many_bad_items_gets_a_short_message_naming_the_first_fields() -> None:
    from batchsearch.errors import MAX_RENDERED_PROBLEMS, ValidationError

    keywords = ["k" * 20_000] * 500  # 500 overlong keywords: each a problem, none echoed back whole
    with pytest.raises(ValidationError) as caught:
        parse_search_request({"query": {"text": "x", "filters": {"keyword": {"any_of": keywords}}}})
    message = caught.value.message
    assert len(message) < 10_000, len(message)
    assert "keyword" in message and f"and {len(caught.value.problems) - MAX_RENDERED_PROBLEMS} more" in message
