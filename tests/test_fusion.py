"""Fusion and ranking against hand-computed values, then one tiny index where the fused order is worked out by hand."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from batchsearch.index.records import ChunkRecord, DocumentRecord
from batchsearch.models.search import Query
from batchsearch.search import ranking
from batchsearch.search.engine import SearchEngine
from batchsearch.search.fusion import fuse, rrf, weighted
from search_fixtures import T0, FakeEmbedder, analyse, brute_bm25, build_store


def test_rrf_by_hand() -> None:
    dense_rank = np.array([1, 0, 3, 2])
    lexical_rank = np.array([2, 1, 0, 0])
    np.testing.assert_allclose(rrf(dense_rank, lexical_rank), [1 / 61 + 1 / 62, 1 / 61, 1 / 63, 1 / 62])
    np.testing.assert_allclose(rrf(dense_rank, lexical_rank, k=1), [1 / 2 + 1 / 3, 1 / 2, 1 / 4, 1 / 3])
    assert rrf(np.array([0]), np.array([0])).tolist() == [0.0]


def test_weighted_by_hand() -> None:
    dense_score = np.array([0.8, 0.2, 0.0, -0.1])
    lexical_norm = np.array([0.5, 1.0, 0.0, 0.25])
    np.testing.assert_allclose(weighted(dense_score, lexical_norm, dense_weight=0.5), [0.65, 0.6, 0.0, 0.075])
    np.testing.assert_allclose(weighted(dense_score, lexical_norm), [0.725, 0.4, 0.0, -0.0125])  # the default 0.75


def test_fuse_dispatch() -> None:
    dense_rank, lexical_rank = np.array([1, 0, 2]), np.array([0, 1, 2])
    dense_score, lexical_norm = np.array([0.9, 0.1, 0.4]), np.array([0.0, 1.0, 0.3])
    np.testing.assert_allclose(fuse("rrf", dense_rank, lexical_rank, dense_score, lexical_norm),
                               [1 / 61, 1 / 61, 2 / 62])
    np.testing.assert_allclose(fuse("weighted", dense_rank, lexical_rank, dense_score, lexical_norm),
                               [0.675, 0.325, 0.375])  # 0.75 x cosine + 0.25 x normalised BM25
    assert fuse("dense", dense_rank, lexical_rank, dense_score, lexical_norm).tolist() == [0.9, -math.inf, 0.4]
    assert fuse("lexical", dense_rank, lexical_rank, dense_score, lexical_norm).tolist() == [-math.inf, 1.0, 0.3]
    with pytest.raises(ValueError, match="unknown fusion method 'bm42'"):
        fuse("bm42", dense_rank, lexical_rank, dense_score, lexical_norm)


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def test_relevance_by_hand() -> None:
    got = ranking.relevance(np.array([0.8, 0.0, 1.0]), np.array([0.5, 0.0, 1.0]), 1.0)
    a, b, g, c = 8.852, 2.86, 12.282, -7.279  # the fitted coefficients documented in ranking.py
    np.testing.assert_allclose(got, [_sigmoid(a * 0.8 + b * 0.5 - g * 0.2 + c), _sigmoid(-g + c), _sigmoid(a + b + c)])
    assert np.all((got > 0) & (got < 1))
    # the query's best chunk reads the same whether the index's cosines run high or low
    assert ranking.relevance(np.array([0.5]), np.array([1.0]), 0.5)[0] > 0.49


def test_freshness_factor_by_hand() -> None:
    ref = T0 + 100 * 86400
    ts = np.array([ref, ref - 30 * 86400, ref - 60 * 86400, ref + 86400])
    np.testing.assert_allclose(ranking.freshness_factor(ts, ref, 1.0),
                               [1.1, 1 + 0.1 * math.exp(-1), 1 + 0.1 * math.exp(-2), 1.1])
    np.testing.assert_allclose(ranking.freshness_factor(ts, ref, 10.0)[0], 2.0)
    assert ranking.freshness_factor(ts, ref, 0.0).tolist() == [1.0] * 4


def test_source_factor_by_hand() -> None:
    ranks = np.array([1, 2, 3, 5], dtype=np.int8)
    np.testing.assert_allclose(ranking.source_factor(ranks, 1.0), [1.2, 1.15, 1.1, 1.0])
    np.testing.assert_allclose(ranking.source_factor(ranks, 2.0), [1.4, 1.3, 1.2, 1.0])
    assert ranking.source_factor(ranks, 0.0).tolist() == [1.0] * 4


def test_diversify_by_hand() -> None:
    # candidates 0..4: docs 7,7,8,7,9; sources 1,1,1,2,2; already ordered best first
    order = np.array([0, 1, 2, 3, 4])
    docs = np.array([7, 7, 8, 7, 9])
    sources = np.array([1, 1, 1, 2, 2])
    scores = np.array([1.0, 0.9, 0.8, 0.7, 0.6])
    got = ranking.diversify(order, docs, sources, scores)
    np.testing.assert_allclose(got, [1.0, 0.9 * 0.8 * 0.95, 0.8 * 0.95**2, 0.7 * 0.8**2, 0.6 * 0.95])
    assert ranking.rank_order(got, np.arange(5)).tolist() == [0, 2, 1, 4, 3]


def test_rank_order_ties_and_duplicates() -> None:
    scores = np.array([0.5, 0.9, 0.5, 0.9])
    keys = np.array([40, 30, 10, 20])
    assert ranking.rank_order(scores, keys).tolist() == [3, 1, 2, 0]
    assert ranking.drop_duplicates(np.array([3, 1, 2, 0]), np.array([5, 6, 5, 6])).tolist() == [3, 2]
    assert ranking.drop_duplicates(np.array([], dtype=np.int64), np.array([])).tolist() == []


def test_diversify_and_dedup_match_a_walk_along_the_order() -> None:
    """The vectorised demotion and dedup against the plain walk they replace, on random groups, orders and ties."""
    rng = np.random.default_rng(12)
    for n in (1, 2, 7, 60, 300):
        order = rng.permutation(n)
        docs, sources, hashes = rng.integers(0, max(1, n // 3), n), rng.integers(0, 4, n), rng.integers(0, n, n)
        scores = rng.random(n)
        want = scores.copy()
        seen_docs: dict[int, int] = {}
        seen_sources: dict[int, int] = {}
        for i in order:
            j, m = seen_docs.get(int(docs[i]), 0), seen_sources.get(int(sources[i]), 0)
            want[i] = scores[i] * ranking.DOC_REPEAT_DECAY**j * ranking.SOURCE_REPEAT_DECAY**m
            seen_docs[int(docs[i])], seen_sources[int(sources[i])] = j + 1, m + 1
        np.testing.assert_allclose(ranking.diversify(order, docs, sources, scores), want, rtol=1e-12)
        seen: set[int] = set()
        kept = [i for i in order.tolist() if not (int(hashes[i]) in seen or seen.add(int(hashes[i])))]
        assert ranking.drop_duplicates(order, hashes).tolist() == kept


@pytest.mark.parametrize(("chunks", "units"), [(0, 0.0), (1, 0.1), (4, 0.4), (7, 0.7), (10, 1.0), (1000, 100.0)])
def test_query_units(chunks: int, units: float) -> None:
    assert ranking.query_units(chunks) == units


# ---- the engine on an index small enough to fuse by hand ---------------------------------------

QUERY = "alpha"
TEXTS = {"A": "alpha alpha beta", "B": "gamma delta", "C": "alpha gamma"}
COSINES = {"A": 0.2, "B": 1.0, "C": 0.5}


def _vector_with_cosine(q: np.ndarray, c: float, seed: int) -> np.ndarray:
    u = np.random.default_rng(seed).standard_normal(len(q))
    u -= (u @ q) * q
    u /= np.linalg.norm(u)
    return (c * q + math.sqrt(1 - c * c) * u).astype(np.float32)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    embedder = FakeEmbedder(16)
    q = embedder.vector(QUERY)
    docs = []
    for i, (name, text) in enumerate(TEXTS.items()):
        chunk = ChunkRecord(cnum=1, text=text, vector=_vector_with_cosine(q, COSINES[name], i))
        docs.append(DocumentRecord(
            id=name * 32, headline="report", timestamp=T0 + i * 86400, url="", source_id="S1", source_name="S",
            source_rank="RANK_3", doc_type="NEWS", doc_subtype=None, category="news", language="en", owner=None,
            tags=[], headline_entities=[], headline_topics=[], reporting_entities=[], reporting_periods=[],
            sentiment=None, chunks=[chunk]))
    store = build_store(tmp_path_factory.mktemp("tiny") / "index", [docs], 16)
    bm25 = brute_bm25({"headline": [analyse("report")] * 3, "body": [analyse(t) for t in TEXTS.values()]}, ["alpha"])
    return {"store": store, "embedder": embedder, "bm25": dict(zip(TEXTS, bm25, strict=True))}


NEUTRAL = {"freshness_boost": 0, "source_boost": 0, "content_diversification": {"enabled": False}}


def _run(tiny: dict[str, Any], fusion: str) -> list[tuple[str, float]]:
    engine = SearchEngine(tiny["store"], tiny["embedder"], fusion=fusion)
    resp = engine.search(Query.model_validate({"text": QUERY, "ranking_params": NEUTRAL}))
    return [(doc["id"][0], doc["chunks"][0]["relevance"]) for doc in resp["results"]]


def test_engine_rrf_order_by_hand(tiny: dict[str, Any]) -> None:
    bm25 = tiny["bm25"]
    assert bm25["A"] > bm25["C"] > 0 == bm25["B"]  # lexical ranks: A 1, C 2; dense ranks: B 1, C 2, A 3
    fused = {"A": 1 / 61 + 1 / 63, "B": 1 / 61, "C": 2 / 62}
    assert fused["A"] > fused["C"] > fused["B"]
    got = _run(tiny, "rrf")
    assert [name for name, _ in got] == ["A", "C", "B"]
    norm = {k: v / bm25["A"] for k, v in bm25.items()}
    for name, rel in got:
        z = 8.852 * COSINES[name] + 2.86 * norm[name] + 12.282 * (COSINES[name] - max(COSINES.values())) - 7.279
        assert rel == pytest.approx(_sigmoid(z), abs=2e-6)


def test_engine_weighted_order_by_hand(tiny: dict[str, Any]) -> None:
    norm = {k: v / tiny["bm25"]["A"] for k, v in tiny["bm25"].items()}
    fused = {k: 0.75 * COSINES[k] + 0.25 * norm[k] for k in TEXTS}
    expected = sorted(TEXTS, key=lambda k: -fused[k])
    assert expected == ["B", "C", "A"]
    assert [name for name, _ in _run(tiny, "weighted")] == expected


def test_engine_single_list_modes(tiny: dict[str, Any]) -> None:
    assert [name for name, _ in _run(tiny, "dense")] == ["B", "C", "A"]
    assert [name for name, _ in _run(tiny, "lexical")] == ["A", "C"]


def _doc(name: str, cosines: list[float], q: np.ndarray, *, rank: str = "RANK_3", days: int = 0,
         source: str = "S1") -> DocumentRecord:
    chunks = [ChunkRecord(cnum=i + 1, text=f"{name} chunk {i}", vector=_vector_with_cosine(q, c, ord(name) * 10 + i))
              for i, c in enumerate(cosines)]
    return DocumentRecord(
        id=name * 32, headline=name, timestamp=T0 + days * 86400, url="", source_id=source, source_name=source,
        source_rank=rank, doc_type="NEWS", doc_subtype=None, category="news", language="en", owner=None, tags=[],
        headline_entities=[], headline_topics=[], reporting_entities=[], reporting_periods=[], sentiment=None,
        chunks=chunks)


def _dense_engine(tmp_path: Path, docs: list[DocumentRecord], embedder: FakeEmbedder) -> SearchEngine:
    return SearchEngine(build_store(tmp_path / "index", [docs], 16), embedder, fusion="dense")


def _chunk_keys(resp: dict[str, Any]) -> list[tuple[str, int]]:
    return [(doc["id"][0], ch["cnum"]) for doc in resp["results"] for ch in doc["chunks"]]


def test_diversification_by_hand(tmp_path: Path) -> None:
    """X: 0.9, 0.85; Y: 0.8 (same source). Off: X1, X2. On: X2 -> 0.85 * 0.8 * 0.95 = 0.646 < Y 0.8 * 0.95 = 0.76."""
    embedder = FakeEmbedder(16)
    q = embedder.vector("zzqq")
    engine = _dense_engine(tmp_path, [_doc("X", [0.9, 0.85], q), _doc("Y", [0.8], q)], embedder)
    base: dict[str, Any] = {"text": "zzqq", "max_chunks": 2}
    off = engine.search(Query.model_validate({**base, "ranking_params": {**NEUTRAL}}))
    on = engine.search(Query.model_validate({**base, "ranking_params": {
        **NEUTRAL, "content_diversification": {"enabled": True}}}))
    assert _chunk_keys(off) == [("X", 1), ("X", 2)]
    assert _chunk_keys(on) == [("X", 1), ("Y", 1)]


def test_source_and_freshness_boosts_by_hand(tmp_path: Path) -> None:
    """P: 0.8, RANK_5, 60 days old; Q: 0.7, RANK_1, newest. Boosts multiply the fused score."""
    embedder = FakeEmbedder(16)
    q = embedder.vector("zzqq")
    engine = _dense_engine(tmp_path, [_doc("P", [0.8], q, rank="RANK_5", source="S1"),
                                      _doc("Q", [0.7], q, rank="RANK_1", days=60, source="S2")], embedder)

    def order(**params: float) -> list[str]:
        resp = engine.search(Query.model_validate({"text": "zzqq", "ranking_params": {**NEUTRAL, **params}}))
        return [doc["id"][0] for doc in resp["results"]]

    assert order() == ["P", "Q"]
    # source: 0.8 * 1.0 vs 0.7 * (1 + 0.05 * 1 * 4) = 0.84
    assert order(source_boost=1) == ["Q", "P"]
    # source 0.5: 0.7 * 1.1 = 0.77 < 0.8
    assert order(source_boost=0.5) == ["P", "Q"]
    # freshness 2: P 0.8 * (1 + 0.2 * e^-2) = 0.8217 vs Q 0.7 * 1.2 = 0.84
    assert order(freshness_boost=2) == ["Q", "P"]
    # freshness 1: P 0.8 * (1 + 0.1 * e^-2) = 0.8108 vs Q 0.7 * 1.1 = 0.77
    assert order(freshness_boost=1) == ["P", "Q"]
