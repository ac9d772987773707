"""Every filter of spec 4.3 against a brute-force Python predicate over the indexed records.

The corpus spans three segments, and the last one re-publishes a few ids of the first, so deleted
chunks are in play too. Masks come from the real FilterEvaluator with the real lexical keyword masks.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from batchsearch.models.search import Filters, Query
from batchsearch.search.filters import FilterEvaluator
from batchsearch.search.lexical import Lexical
from search_fixtures import (
    CATEGORIES,
    DOC_TYPES,
    ENTITIES,
    OWNERS,
    SOURCES,
    TAGS,
    TOPICS,
    Row,
    build_store,
    oracle,
    random_documents,
    snapshot_rows,
)

DIM = 8


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    first = random_documents(rng, 50, DIM, prefix="a")
    second = random_documents(rng, 40, DIM, prefix="b")
    third = random_documents(rng, 30, DIM, prefix="c")
    # new versions of five documents of the first segment: their old chunks must be gone
    for i, doc in enumerate(third[:5]):
        doc.id = first[i * 3].id
    batches = [first, second, third]
    store = build_store(tmp_path_factory.mktemp("filters") / "index", batches, DIM)
    snap = store.snapshot()
    assert snap.generation == 3 and any(v.deleted is not None for v in snap.views)
    return {"snap": snap, "rows": snapshot_rows(snap, batches), "batches": batches,
            "evaluator": FilterEvaluator(Lexical().keyword_mask)}


def filters_of(raw: dict[str, Any]) -> Filters:
    """Filters through the real wire model (so normalisation happens exactly as for a request)."""
    return Query.model_validate({"filters": raw}).filters


def check(corpus: dict[str, Any], raw: dict[str, Any], owner: str | None) -> int:
    """Assert the evaluator's masks equal the oracle on every chunk; returns how many matched."""
    f = filters_of(raw)
    snap = corpus["snap"]
    masks = [corpus["evaluator"].mask(view, f, owner) for view in snap.views]
    expected = [np.zeros(v.segment.n_chunks, dtype=bool) for v in snap.views]
    row: Row
    for row in corpus["rows"]:
        expected[row.view][row.row] = oracle(row, f, owner)
    for v, (got, want) in enumerate(zip(masks, expected, strict=True)):
        bad = np.flatnonzero(got != want)
        assert not len(bad), f"{raw} owner={owner}: view {v} rows {bad[:10].tolist()} differ (got {got[bad[:10]].tolist()})"
    return int(sum(m.sum() for m in expected))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def _ts_cases() -> list[dict[str, Any]]:
    return [
        {"timestamp": {"start": "2024-03-01"}},
        {"timestamp": {"end": "2024-06-30T23:59:59Z"}},
        {"timestamp": {"start": "2024-02-10T00:00:00.000Z", "end": "2024-02-20"}},
        {"timestamp": {"start": "2024-05-01T12:00:00+02:00", "end": "2024-09-01T00:00:00"}},
        {"timestamp": {"start": "2025-12-31"}},
    ]


CASES: list[dict[str, Any]] = [
    *_ts_cases(),
    {"entity": {"any_of": ["228D42", "D8442A"]}},
    {"entity": {"all_of": ["228D42", "3ORTET"]}},
    {"entity": {"none_of": ["228D42"]}},
    {"entity": {"any_of": ["ACE54B"], "search_in": "HEADLINE"}},
    {"entity": {"any_of": ["ACE54B"], "search_in": "BODY"}},
    {"entity": {"all_of": ["716DCV"], "none_of": ["BA9E0C"], "search_in": "BODY"}},
    {"entity": {"none_of": ["A1B2C3", "Z9Y8X7"], "search_in": "HEADLINE"}},
    {"entity": {"any_of": ["NOSUCH"]}},
    {"keyword": {"any_of": ["resignation"]}},
    {"keyword": {"any_of": ["Revenues"], "search_in": "BODY"}},
    {"keyword": {"all_of": ["bank", "loans"]}},
    {"keyword": {"any_of": ["cloud computing"]}},
    {"keyword": {"all_of": ["Computing Clouds"], "search_in": "BODY"}},
    {"keyword": {"none_of": ["cloud computing"], "search_in": "HEADLINE"}},
    {"keyword": {"any_of": ["guidance"], "search_in": "HEADLINE"}},
    {"keyword": {"none_of": ["lawsuit"], "search_in": "ALL"}},
    {"keyword": {"any_of": ["dividend", "merger"], "none_of": ["loss"], "search_in": "BODY"}},
    {"keyword": {"any_of": ["bank bank", "", "  ", "-", "C++", "東京", "x" * 60, "title:bank", "bank AND loan"]}},
    {"keyword": {"none_of": ["", "x" * 60, "*"]}},
    {"topic": {"any_of": ["BUSINESS,Partnerships,Partnership"]}},
    {"topic": {"any_of": ["business,labor-issues,executive-appointment,,"], "search_in": "HEADLINE"}},
    {"topic": {"all_of": [TOPICS[1], TOPICS[3]], "search_in": "BODY"}},
    {"topic": {"none_of": [TOPICS[4]]}},
    {"source": {"mode": "INCLUDE", "values": ["D4B903", "751371"]}},
    {"source": {"mode": "EXCLUDE", "values": ["D4B903", "NOSUCH"]}},
    {"source": {"values": ["NOSUCH"]}},
    {"category": {"mode": "INCLUDE", "values": ["transcripts", "research"]}},
    {"category": {"mode": "EXCLUDE", "values": ["news"]}},
    {"document_type": {"mode": "INCLUDE", "values": ["NEWS"]}},
    {"document_type": {"mode": "INCLUDE", "values": ["NEWS", "FILING"]}},
    {"document_type": {"mode": "INCLUDE", "values": [{"type": "TRANSCRIPT", "subtypes": ["EARNINGS_CALL"]}]}},
    {"document_type": {"mode": "INCLUDE", "values": [{"type": "FILING"}, {"type": "TRANSCRIPT-PRESENTATION"}]}},
    {"document_type": {"mode": "INCLUDE", "values": [{"type": "FILING", "subtypes": ["SEC_10_K", "SEC_20_F"]}]}},
    {"document_type": {"mode": "EXCLUDE", "values": [{"type": "TRANSCRIPT", "subtypes": ["CONFERENCE_CALL"]}]}},
    {"document_type": {"mode": "INCLUDE", "values": ["INVESTMENT_RESEARCH"]}},
    {"sentiment": {"ranges": [{"min": 0.3, "max": 1.0}]}},
    {"sentiment": {"ranges": [{"min": 0.5, "max": 1.0}, {"min": -1.0, "max": -0.5}]}},
    {"sentiment": {"ranges": [{"min": -0.05, "max": 0.05}]}},
    {"sentiment": {"values": ["positive"]}},
    {"sentiment": {"values": ["negative", "neutral"]}},
    {"sentiment": {"values": ["neutral"]}},
    {"reporting_entities": ["228D42"]},
    {"reporting_entities": ["D8442A", "BA9E0C"]},
    {"reporting_periods": [{"fiscal_year": 2024}]},
    {"reporting_periods": [{"fiscal_year": 2024, "fiscal_quarter": 4}, {"fiscal_year": 2023, "fiscal_quarter": 1}]},
    {"reporting_periods": [{"fiscal_year": 2025, "fiscal_quarter": 2}, {"fiscal_year": 2023}]},
    {"chunk": {"from": 2, "to": 3}},
    {"chunk": {"from": 4}},
    {"chunk": {"from": 1, "to": 1}},
    {"tag": {"any_of": ["research-report", "Corporate Actions"]}},
    {"tag": {"all_of": ["alpha", "beta"]}},
    {"tag": {"none_of": ["alpha"]}},
    {"tag": {"any_of": ["corporate actions"]}},
]


@pytest.mark.parametrize("owner", [None, "alice", "carol"])
@pytest.mark.parametrize("raw", CASES, ids=lambda raw: next(iter(raw)) + ":" + str(list(raw.values())[0])[:60])
def test_each_filter_matches_the_oracle(corpus: dict[str, Any], raw: dict[str, Any], owner: str | None) -> None:
    check(corpus, raw, owner)


def test_keyword_matching_is_stemmed(corpus: dict[str, Any]) -> None:
    """"resignation" also finds chunks that only say "resignations" (spec: literal terms, stemmed)."""
    plural_only = [r for r in corpus["rows"] if " resignations " in f" {r.chunk.text} "
                   and " resignation " not in f" {r.chunk.text} " and r.doc.owner is None]
    assert plural_only, "corpus should contain the plural form alone"
    f = filters_of({"keyword": {"any_of": ["resignation"], "search_in": "BODY"}})
    target = plural_only[0]
    mask = corpus["evaluator"].mask(corpus["snap"].views[target.view], f, None)
    assert mask[target.row]


def test_cached_keyword_masks_are_never_changed_by_the_filters_built_on_them(corpus: dict[str, Any]) -> None:
    """Filters combine masks in place: a keyword's cached mask is copied first, whatever its place in the filter,
    so evaluating one filter cannot change the answer of the next."""
    lexical = Lexical()
    evaluator = FilterEvaluator(lexical.keyword_mask)
    view = corpus["snap"].views[0]
    fresh = {w: Lexical().keyword_mask(view.segment, w, "ALL").copy() for w in ("revenue", "growth")}
    assert all(0 < want.sum() < len(want) for want in fresh.values())
    for raw in ({"keyword": {"any_of": ["revenue"]}, "sentiment": {"ranges": [{"min": 0.5, "max": 1.0}]}},
                {"keyword": {"all_of": ["revenue", "growth"]}},
                {"keyword": {"any_of": ["revenue", "growth"]}, "chunk": {"from": 2, "to": 2}},
                {"keyword": {"all_of": ["growth"], "none_of": ["revenue"]}},
                {"keyword": {"any_of": ["growth"]}}):
        mask = evaluator.mask(view, filters_of(raw), None)
        mask[:] = False  # what a caller may do with its own mask
        for word, want in fresh.items():
            assert lexical.keyword_mask(view.segment, word, "ALL").tolist() == want.tolist(), (raw, word)


def test_document_filter_by_id(corpus: dict[str, Any]) -> None:
    rows = corpus["rows"]
    replaced = corpus["batches"][0][0].id  # re-published in the third segment
    ids = [replaced, rows[40].doc.id, rows[90].doc.id, "0" * 32]
    assert check(corpus, {"document": {"mode": "INCLUDE", "values": ids}}, "alice") > 0
    check(corpus, {"document": {"mode": "EXCLUDE", "values": ids}}, "alice")
    snap = corpus["snap"]
    masks = [corpus["evaluator"].mask(v, filters_of({"document": {"values": [replaced]}}), None) for v in snap.views]
    assert not masks[0].any(), "the replaced version of a document must not match any more"


def test_timestamp_bounds_are_inclusive_to_the_second(corpus: dict[str, Any]) -> None:
    rows = [r for r in corpus["rows"] if r.doc.owner is None]
    stamps = sorted({r.doc.timestamp for r in rows})
    ts = stamps[len(stamps) // 3]
    exact = check(corpus, {"timestamp": {"start": _iso(ts), "end": _iso(ts)}}, None)
    assert exact > 0, "a window of one second around a document's timestamp holds it"
    # half a second after the document: it is before the window, so it must not match
    assert check(corpus, {"timestamp": {"start": _iso(ts + 0.5)}}, None) < check(corpus, {"timestamp": {"start": _iso(ts)}}, None)
    check(corpus, {"timestamp": {"end": _iso(ts - 0.5)}}, None)
    check(corpus, {"timestamp": {"start": (datetime.fromtimestamp(ts, UTC) + timedelta(microseconds=1)).isoformat()}}, None)


@pytest.mark.parametrize("owner", [None, "alice", "bob", "carol"])
def test_visibility_public_plus_own_uploads(corpus: dict[str, Any], owner: str | None) -> None:
    everything = Filters()
    snap = corpus["snap"]
    masks = [corpus["evaluator"].mask(v, everything, owner) for v in snap.views]
    for row in corpus["rows"]:
        assert masks[row.view][row.row] == (row.doc.owner in (None, owner))
    seen_owners = {row.doc.owner for row in corpus["rows"] if masks[row.view][row.row]}
    assert seen_owners <= {None, owner}


def _random_filters(rnd: random.Random, row: Row) -> dict[str, Any]:
    """Random filters that the chunk `row` satisfies, so the AND of many of them is never trivially empty."""
    doc, chunk = row.doc, row.chunk
    out: dict[str, Any] = {}
    ts = doc.timestamp
    out["timestamp"] = {"start": _iso(ts - rnd.randint(0, 90) * 86400), "end": _iso(ts + rnd.randint(0, 90) * 86400)}
    place = rnd.choice(["HEADLINE", "BODY", "ALL"])
    ents = {"HEADLINE": doc.headline_entities, "BODY": chunk.entities,
            "ALL": doc.headline_entities + chunk.entities}[place]
    absent = [e for e in ENTITIES if e not in doc.headline_entities + chunk.entities]
    out["entity"] = {"any_of": ents[:1] + rnd.sample(ENTITIES, 2) if ents else [], "none_of": absent[:1],
                     "search_in": place}
    words = chunk.text.rstrip(".").split()[:-1]
    out["keyword"] = {"any_of": [rnd.choice(words)], "search_in": "BODY"}
    if rnd.random() < 0.5 and len(words) > 1:
        i = rnd.randrange(len(words) - 1)
        out["keyword"]["all_of"] = [" ".join(words[i : i + 2])]
    topics = doc.headline_topics + chunk.topics
    if topics:
        out["topic"] = {"any_of": [t.upper() for t in topics]}
    out["source"] = {"mode": "INCLUDE", "values": [doc.source_id] + [s[0] for s in rnd.sample(SOURCES, 2)]}
    other_cats = [c for c in CATEGORIES if c != doc.category]
    out["category"] = {"mode": "EXCLUDE", "values": rnd.sample(other_cats, 2)}
    dtype: dict[str, Any] = {"type": doc.doc_type}
    if doc.doc_subtype and rnd.random() < 0.5:
        dtype["subtypes"] = [doc.doc_subtype]
    out["document_type"] = {"mode": "INCLUDE", "values": [dtype, rnd.choice([t for t, _ in DOC_TYPES])]}
    s = chunk.sentiment
    out["sentiment"] = {"ranges": [{"min": max(-1.0, s - 0.1), "max": min(1.0, s + 0.1)}]}
    if doc.reporting_entities:
        out["reporting_entities"] = [doc.reporting_entities[0], "NOSUCH"]
    if doc.reporting_periods:
        y, q = doc.reporting_periods[0]
        out["reporting_periods"] = [{"fiscal_year": y, **({"fiscal_quarter": q} if q and rnd.random() < 0.5 else {})}]
    out["document"] = {"mode": "INCLUDE", "values": [doc.id, "F" * 32]}
    out["chunk"] = {"from": max(1, chunk.cnum - rnd.randint(0, 1)), "to": chunk.cnum + rnd.randint(0, 2)}
    if doc.tags:
        out["tag"] = {"any_of": [doc.tags[0]], "none_of": [t for t in TAGS if t not in doc.tags][:1]}
    # keep a random subset, but at least three filters
    keys = rnd.sample(sorted(out), k=max(3, rnd.randint(3, len(out))))
    return {k: out[k] for k in keys}


def test_random_combinations_and_of_all(corpus: dict[str, Any]) -> None:
    rnd = random.Random(11)
    rows = corpus["rows"]
    for _ in range(120):
        target = rnd.choice(rows)
        owner = target.doc.owner or rnd.choice([None, *OWNERS])
        raw = _random_filters(rnd, target)
        assert check(corpus, raw, owner) >= 1, raw


def test_random_combinations_unconstrained(corpus: dict[str, Any]) -> None:
    """Random filters not tied to any chunk: mostly empty or small results, still exactly the oracle's."""
    rnd = random.Random(12)
    rows = corpus["rows"]
    for _ in range(80):
        raw = _random_filters(rnd, rnd.choice(rows))
        other = _random_filters(rnd, rnd.choice(rows))
        for key in rnd.sample(sorted(other), k=min(2, len(other))):
            raw[key] = other[key]
        check(corpus, raw, rnd.choice([None, *OWNERS]))


def test_timestamps_before_1970(tmp_path: Any) -> None:
    """BEIR documents sit at timestamp 0; a window ending half a second before it must not hold them."""
    from dataclasses import replace

    rng = np.random.default_rng(1)
    docs = [replace(d, timestamp=ts, owner=None) for d, ts in zip(random_documents(rng, 3, DIM), (-86400, 0, 1), strict=True)]
    store = build_store(tmp_path / "index", [docs], DIM)
    corpus = {"snap": store.snapshot(), "rows": snapshot_rows(store.snapshot(), [docs]),
              "evaluator": FilterEvaluator(Lexical().keyword_mask)}
    for raw in ({"end": "1969-12-31T23:59:59.5Z"}, {"start": "1969-12-31T23:59:59.5Z"}, {"end": "1970-01-01"},
                {"start": "1969-12-31", "end": "1969-12-31T23:59:59"}):
        check(corpus, {"timestamp": raw}, None)


def test_every_filter_field_is_evaluated_at_one_level() -> None:
    """FilterEvaluator skips the document-level or chunk-level pass when a query has no filter of that level, so
    every field of Filters must be listed at exactly one of them (a new filter otherwise would be ignored)."""
    from batchsearch.models.search import Filters
    from batchsearch.search.filters import CHUNK_LEVEL_FILTERS, DOC_LEVEL_FILTERS

    assert not set(DOC_LEVEL_FILTERS) & set(CHUNK_LEVEL_FILTERS)
    assert set(DOC_LEVEL_FILTERS) | set(CHUNK_LEVEL_FILTERS) == set(Filters.model_fields)
