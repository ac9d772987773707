"""Lexical scores against a brute-force BM25 (tantivy's formula, headline + body summed), plus keyword masks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from batchsearch.index.records import ChunkRecord, DocumentRecord
from batchsearch.index.store import SegmentView as View
from batchsearch.models.search import Filters
from batchsearch.search import lexical as lexical_module
from batchsearch.search.filters import FilterEvaluator
from batchsearch.search.lexical import Lexical
from search_fixtures import CATEGORIES, ENTITIES, SOURCES, TOPICS, WORDS, analyse, brute_bm25, build_store, random_documents, unit_vectors

DIM = 4
QUERIES = (
    "revenue growth outlook",
    "Bank loans and LOAN losses",
    "resignations of the chief executive officer",
    "cloud computing cloud",
    "dividend split merger acquisition quarter annual report",
    "oil gas energy supply demand",
    "nothingmatcheshere",
    "rates",
)


def make_corpus(root: Path, seed: int, n_docs: int, long: bool) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    docs = random_documents(rng, n_docs, DIM, owners=(None,))
    if long:  # over 40 tokens: tantivy stores quantised field norms, so scores are only close
        for doc in docs:
            for chunk in doc.chunks:
                chunk.text += " " + " ".join(str(w) for w in rng.choice(WORDS, size=int(rng.integers(30, 150))))
    store = build_store(root, [docs], DIM)
    rows = [(d, c) for d in docs for c in d.chunks]
    fields = {"headline": [analyse(d.headline) for d, _ in rows], "body": [analyse(c.text) for _, c in rows]}
    return {"segment": store.snapshot().views[0].segment, "fields": fields, "n": len(rows)}


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return make_corpus(tmp_path_factory.mktemp("lex") / "index", 3, 40, long=False)


@pytest.fixture(scope="module")
def long(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return make_corpus(tmp_path_factory.mktemp("lexlong") / "index", 4, 40, long=True)


def assert_top_k(rows: np.ndarray, scores: np.ndarray, brute: np.ndarray, allowed: np.ndarray, k: int,
                 rel: float) -> None:
    """`rows` is a correct best-k of the allowed rows by the brute-force score, up to `rel` tolerance."""
    candidates = np.flatnonzero(allowed & (brute > 0))
    assert len(rows) == min(k, len(candidates))
    assert len(set(rows.tolist())) == len(rows)
    assert allowed[rows].all()
    np.testing.assert_allclose(scores, brute[rows], rtol=rel)
    assert np.all(np.diff(scores) <= 0), "best first"
    if len(rows):
        left_out = np.setdiff1d(candidates, rows)
        assert np.all(brute[left_out] <= scores[-1] * (1 + rel)), "a better row was left out"
        # order agrees with the reference wherever the reference scores are clearly apart
        ref = brute[rows]
        for i in range(len(ref)):
            assert np.all(ref[i] >= ref[i + 1 :] * (1 - 2 * rel))


@pytest.mark.parametrize("text", QUERIES)
def test_scores_equal_brute_force_bm25(short: dict[str, Any], text: str) -> None:
    lex = Lexical()
    terms = lex.terms(text)
    seg = short["segment"]
    query = lex.text_query(seg, terms)
    rows, scores = lex.top(seg, query, short["n"], None, short["n"])
    brute = brute_bm25(short["fields"], terms)
    assert set(rows.tolist()) == set(np.flatnonzero(brute > 0).tolist()), "exactly the rows holding a term match"
    # below 40 tokens tantivy's field norms are exact, so only float32 rounding separates the two
    np.testing.assert_allclose(scores, brute[rows], rtol=1e-4)
    assert_top_k(rows, scores, brute, np.ones(short["n"], bool), short["n"], 1e-4)
    top_rows, top_scores = lex.top(seg, query, 10, None, short["n"])
    assert_top_k(top_rows, top_scores, brute, np.ones(short["n"], bool), 10, 1e-4)


@pytest.mark.parametrize("text", QUERIES)
def test_scores_close_to_bm25_with_quantised_norms(long: dict[str, Any], text: str) -> None:
    lex = Lexical()
    terms = lex.terms(text)
    seg = long["segment"]
    rows, scores = lex.top(seg, lex.text_query(seg, terms), 10, None, long["n"])
    brute = brute_bm25(long["fields"], terms)
    assert_top_k(rows, scores, brute, np.ones(long["n"], bool), 10, 2e-2)


@pytest.mark.parametrize("term_set_max", [lexical_module.TERM_SET_MAX, 0], ids=["term-set", "post-filter"])
@pytest.mark.parametrize("share", [0.05, 0.3, 0.8])
def test_masked_top_k_is_the_best_of_the_allowed_rows(short: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                                      term_set_max: int, share: float) -> None:
    """Both masked paths (a row term set, or deeper unmasked searches then filtering) give the exact top-k."""
    monkeypatch.setattr(lexical_module, "TERM_SET_MAX", term_set_max)
    lex = Lexical()
    seg = short["segment"]
    rng = np.random.default_rng(int(share * 100))
    for text in QUERIES:
        terms = lex.terms(text)
        allowed = rng.random(short["n"]) < share
        rows, scores = lex.top(seg, lex.text_query(seg, terms), 7, allowed, int(allowed.sum()))
        assert_top_k(rows, scores, brute_bm25(short["fields"], terms), allowed, 7, 1e-4)
        # an expected share far off (all kept, or almost none) only changes how deep the first search goes
        for guess in (1.0, 1e-9):
            rows, scores = lex.top(seg, lex.text_query(seg, terms), 7, allowed, int(allowed.sum()), None, guess)
            assert_top_k(rows, scores, brute_bm25(short["fields"], terms), allowed, 7, 1e-4)


PUSHED_FILTERS = (
    {"keyword": {"any_of": ["revenue"]}},
    {"keyword": {"any_of": ["cloud computing", "dividend"], "search_in": "BODY"}},
    {"keyword": {"all_of": ["loans", "bank"], "none_of": ["oil"]}},
    {"keyword": {"none_of": ["revenue", "growth"], "search_in": "HEADLINE"}},
    {"keyword": {"any_of": ["?!", "merger"]}},
    {"keyword": {"any_of": ["?!"]}},
    {"keyword": {"all_of": ["nothingmatcheshere"]}},
    {"entity": {"any_of": [ENTITIES[0]]}},
    {"entity": {"any_of": [ENTITIES[1], ENTITIES[2]], "search_in": "HEADLINE"}},
    {"entity": {"all_of": [ENTITIES[0], ENTITIES[3]], "search_in": "BODY"}},
    {"entity": {"none_of": [ENTITIES[4]]}},
    {"entity": {"any_of": ["NOSUCHID"]}},
    {"topic": {"any_of": [TOPICS[0], TOPICS[1]]}},
    {"topic": {"none_of": [TOPICS[2]], "search_in": "BODY"}},
    {"entity": {"any_of": [ENTITIES[0], ENTITIES[5]]}, "topic": {"any_of": [TOPICS[0]]},
     "keyword": {"none_of": ["oil"]}},
    {"source": {"values": [SOURCES[0][0]]}},
    {"source": {"mode": "EXCLUDE", "values": [SOURCES[1][0], SOURCES[2][0]]}},
    {"category": {"values": [CATEGORIES[0], CATEGORIES[1]]}, "entity": {"none_of": [ENTITIES[1]]}},
    {"category": {"mode": "EXCLUDE", "values": [CATEGORIES[2]]}, "source": {"values": ["NOSUCHSOURCE"]}},
)


@pytest.mark.parametrize("term_set_max", [lexical_module.TERM_SET_MAX, 0], ids=["term-set", "post-filter"])
@pytest.mark.parametrize("filters", PUSHED_FILTERS, ids=lambda f: json.dumps(f))
def test_filters_pushed_to_tantivy_give_the_exact_top_k(short: dict[str, Any], filters: dict[str, Any],
                                                        monkeypatch: pytest.MonkeyPatch, term_set_max: int) -> None:
    """Keyword, entity and topic filters as a tantivy query match exactly the rows their mask allows, and the
    top-k with that query `required` is the best of the allowed rows by brute-force BM25, scored as without it."""
    monkeypatch.setattr(lexical_module, "TERM_SET_MAX", term_set_max)
    lex = Lexical()
    seg = short["segment"]
    parsed = Filters.model_validate(filters)
    allowed = FilterEvaluator(lex.keyword_mask).mask(View(seg, None), parsed, None)
    required = lex.filter_query(seg, parsed)
    assert required is not None
    hits = seg.searcher.search(required, short["n"], count=False).hits
    matched = np.zeros(short["n"], bool)
    matched[seg.searcher.fast_field_values("row", [h[1] for h in hits])] = True
    assert matched.tolist() == allowed.tolist()
    assert 0 < allowed.sum() < short["n"] or filters in (PUSHED_FILTERS[5], PUSHED_FILTERS[6], PUSHED_FILTERS[11], PUSHED_FILTERS[-1])
    assert lex.expresses_all(seg, parsed)
    for text in QUERIES:
        terms = lex.terms(text)
        for share in (None, 1.0):
            rows, scores = lex.top(seg, lex.text_query(seg, terms), 7, allowed, int(allowed.sum()), required, share)
            assert_top_k(rows, scores, brute_bm25(short["fields"], terms), allowed, 7, 1e-4)


def test_segments_without_filter_fields_push_only_keywords(short: dict[str, Any],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A segment built before the filter fields gets no entity, topic, source or category clause (its mask
    filters alone)."""
    seg = short["segment"]
    monkeypatch.setitem(seg.meta, "filter_fields", False)
    lex = Lexical()
    assert lex.filter_query(seg, Filters.model_validate({"entity": {"any_of": [ENTITIES[0]]}})) is None
    assert lex.filter_query(seg, Filters.model_validate({"source": {"values": [SOURCES[0][0]]}})) is None
    assert lex.expresses_all(seg, Filters.model_validate({"keyword": {"any_of": ["oil"]}}))
    assert not lex.expresses_all(seg, Filters.model_validate({"keyword": {"any_of": ["oil"]}, "source": {"values": ["x"]}}))
    assert lex.filter_query(seg, Filters.model_validate({"keyword": {"any_of": ["revenue"]}})) is not None
    assert lex.filter_query(seg, Filters()) is None


def test_only_pushed_filters_are_expressed_in_full(short: dict[str, Any]) -> None:
    """A timestamp, sentiment, document type (...) filter is left to the mask: `top` then over-fetches for it."""
    seg = short["segment"]
    assert Lexical.expresses_all(seg, Filters.model_validate({}))
    assert Lexical.expresses_all(seg, Filters.model_validate(PUSHED_FILTERS[-2]))
    for other in ({"sentiment": {"ranges": [{"min": 0.1, "max": 1.0}]}}, {"chunk": {"from": 1, "to": 2}},
                  {"timestamp": {"start": "2024-01-01T00:00:00Z"}}):
        assert not Lexical.expresses_all(seg, Filters.model_validate({"source": {"values": [SOURCES[0][0]]}, **other}))


def test_ties_are_broken_by_row(tmp_path: Path) -> None:
    """Identical chunks score the same; the lower row comes first, every time."""
    rng = np.random.default_rng(0)
    base = random_documents(rng, 1, DIM, owners=(None,), max_chunks=1)[0]
    chunks = [ChunkRecord(cnum=i + 1, text="bank loans rise", vector=unit_vectors(rng, 1, DIM)[0]) for i in range(12)]
    chunks.append(ChunkRecord(cnum=13, text="weak market", vector=unit_vectors(rng, 1, DIM)[0]))
    doc = DocumentRecord(**{**base.__dict__, "chunks": chunks})
    seg = build_store(tmp_path / "index", [[doc]], DIM).snapshot().views[0].segment
    lex = Lexical()
    rows, scores = lex.top(seg, lex.text_query(seg, lex.terms("loans")), 5, None, seg.n_chunks)
    assert rows.tolist() == [0, 1, 2, 3, 4]
    assert len(set(scores.tolist())) == 1


def test_terms_are_analysed_distinct_and_capped() -> None:
    lex = Lexical()
    assert lex.terms("Resignations RESIGNATION banks, bank's Bank") == ["resign", "bank", "s"]
    assert lex.terms("") == []
    many = " ".join(f"word{i}" for i in range(100))
    assert lex.terms(many) == [f"word{i}" for i in range(lexical_module.MAX_QUERY_TERMS)]


def test_keyword_mask_phrases_fields_and_stemming(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    base = random_documents(rng, 1, DIM, owners=(None,), max_chunks=1)[0]
    texts = ["The chief resigned after the resignations.", "Cloud computing revenue rose.",
             "Computing in the cloud is cheap.", "Nothing relevant here."]
    docs = []
    for i, (headline, text) in enumerate([("Board shake-up", texts[0]), ("Cloud computing outlook", texts[1]),
                                          ("Quarterly notes", texts[2]), ("Resignation letter", texts[3])]):
        chunk = ChunkRecord(cnum=1, text=text, vector=unit_vectors(rng, 1, DIM)[0])
        docs.append(DocumentRecord(**{**base.__dict__, "id": f"{i:032X}", "headline": headline, "chunks": [chunk]}))
    seg = build_store(tmp_path / "index", [docs], DIM).snapshot().views[0].segment
    lex = Lexical()
    assert lex.keyword_mask(seg, "resignation", "ALL").tolist() == [True, False, False, True]
    assert lex.keyword_mask(seg, "resignation", "BODY").tolist() == [True, False, False, False]
    assert lex.keyword_mask(seg, "resignation", "HEADLINE").tolist() == [False, False, False, True]
    assert lex.keyword_mask(seg, "Cloud Computing", "ALL").tolist() == [False, True, False, False]
    assert lex.keyword_mask(seg, "cloud computing", "HEADLINE").tolist() == [False, True, False, False]
    assert lex.keyword_mask(seg, "computing cloud", "ALL").tolist() == [False, False, False, False]
    assert lex.keyword_mask(seg, "?!", "ALL").tolist() == [False] * 4
    first = lex.keyword_mask(seg, "revenue", "BODY")
    assert lex.keyword_mask(seg, "revenue", "BODY") is first, "masks are cached per segment, keyword and field"
