"""Dense top-k against numpy argsort: no mask, broad, mid, selective (gather), many segments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from batchsearch.index.records import ChunkRecord, DocumentRecord
from batchsearch.models.search import Query
from batchsearch.search import dense
from batchsearch.search.dense import DenseRequest, exact_search, search_segment
from batchsearch.search.engine import SearchEngine
from batchsearch.search.ranking import relevance
from search_fixtures import FakeEmbedder, build_store, oracle, random_documents, snapshot_rows, unit_vectors

DIM = 16
BIG = 30_000  # well above the gather limit (dense.GATHER_MAX_ROWS), so mid-size masks take the full product


TIE = 1e-6  # float32 scores: rows closer than this may come in either order on another machine


def reference_top(vectors: np.ndarray, query: np.ndarray, allowed: np.ndarray | None, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute force: every allowed row's inner product, best first, ties by row."""
    scores = vectors.astype(np.float64) @ query.astype(np.float64)
    rows = np.arange(len(vectors)) if allowed is None else np.flatnonzero(allowed)
    order = np.lexsort((rows, -scores[rows]))[: k + 1]  # one more, to see a near tie at the cut
    return rows[order], scores[rows][order]


def assert_same_top(got: tuple[np.ndarray, np.ndarray], vectors: np.ndarray, query: np.ndarray,
                    allowed: np.ndarray | None, k: int) -> None:
    """`got` is the exact top-k: same rows in the same order as argsort, except inside float32 near ties."""
    rows, scores = got
    want_rows, want_scores = reference_top(vectors, query, allowed, k)
    n = min(k, len(want_rows))
    assert rows.dtype == np.int64 and len(rows) == n and len(set(rows.tolist())) == n
    assert allowed is None or allowed[rows].all()
    np.testing.assert_allclose(scores, want_scores[:n], atol=1e-5)
    np.testing.assert_allclose(vectors[rows].astype(np.float64) @ query, want_scores[:n], atol=1e-5)
    padded = np.concatenate([[np.inf], want_scores, [-np.inf]])
    separated = (padded[:-2][:n] - padded[1:-1][:n] > TIE) & (padded[1:-1][:n] - padded[2:][:n] > TIE)
    assert rows[separated].tolist() == want_rows[:n][separated].tolist()


def _big_segment(root: Path, n: int) -> Any:
    rng = np.random.default_rng(5)
    vectors = unit_vectors(rng, n, DIM)
    base = random_documents(rng, 1, DIM, owners=(None,), max_chunks=1)[0]
    docs, per_doc = [], 500
    for d in range(n // per_doc):
        chunks = [ChunkRecord(cnum=c + 1, text=f"t{d}x{c}", vector=vectors[d * per_doc + c]) for c in range(per_doc)]
        docs.append(DocumentRecord(**{**base.__dict__, "id": f"{d:032X}", "chunks": chunks}))
    seg = build_store(root, [docs], DIM).snapshot().views[0].segment
    np.testing.assert_array_equal(seg.vectors, vectors)
    return seg


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return _big_segment(tmp_path_factory.mktemp("dense") / "index", BIG)


@pytest.fixture(scope="module")
def queries() -> np.ndarray:
    return unit_vectors(np.random.default_rng(9), 40, DIM)


@pytest.mark.parametrize("k", [1, 10, 250])
def test_exact_search_without_mask(big: Any, queries: np.ndarray, k: int) -> None:
    for q in queries[:10]:
        assert_same_top(exact_search(big, q, None, big.n_chunks, k), big.vectors, q, None, k)


@pytest.mark.parametrize(("share", "path"), [(0.8, "full"), (0.5, "full"), (0.1, "gather"), (0.004, "gather")])
def test_exact_search_with_mask(big: Any, queries: np.ndarray, share: float, path: str) -> None:
    rng = np.random.default_rng(int(share * 10_000))
    for q in queries[:10]:
        allowed = rng.random(big.n_chunks) < share
        n_allowed = int(allowed.sum())
        assert (n_allowed > dense.GATHER_MAX_ROWS) == (path == "full")
        for k in (5, 100):
            assert_same_top(exact_search(big, q, allowed, n_allowed, k), big.vectors, q, allowed, k)


def test_exact_search_edge_cases(big: Any, queries: np.ndarray) -> None:
    none = np.zeros(big.n_chunks, bool)
    assert exact_search(big, queries[0], none, 0, 10)[0].tolist() == []
    assert exact_search(big, queries[0], None, big.n_chunks, 0)[0].tolist() == []
    three = np.zeros(big.n_chunks, bool)
    three[[7, 20_001, 29_999]] = True
    rows, _ = exact_search(big, queries[0], three, 3, 10)
    assert sorted(rows.tolist()) == [7, 20_001, 29_999], "k above the allowed rows returns all of them"


def _requests(queries: np.ndarray, masks: list[np.ndarray | None], k: int) -> list[DenseRequest]:
    return [DenseRequest(q, m, int(m.sum()) if m is not None else BIG, k) for q, m in zip(queries, masks, strict=True)]


def test_batched_search_matches_one_by_one_reference(big: Any, queries: np.ndarray) -> None:
    """A mixed batch (no mask, broad masks, selective masks) shares matrix products yet returns the exact top-k."""
    rng = np.random.default_rng(3)
    shares = [None, 0.9, 0.5, 0.35, 0.01, 0.001] * 7
    masks = [None if s is None else rng.random(big.n_chunks) < s for s in shares[: len(queries)]]
    for k in (10, 120):
        found = search_segment(big, _requests(queries, masks, k))
        assert len(found) == len(queries)
        for q, m, got in zip(queries, masks, found, strict=True):
            assert_same_top(got, big.vectors, q, m, k)


def test_gather_threshold_through_search_segment(big: Any, queries: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    """Raising the gather threshold sends wide masks down the gather path; results stay exact."""
    monkeypatch.setattr(dense, "GATHER_MAX_ROWS", big.n_chunks)
    rng = np.random.default_rng(4)
    masks = [rng.random(big.n_chunks) < 0.75 for _ in range(5)]
    for q, m, got in zip(queries[:5], masks, search_segment(big, _requests(queries[:5], masks, 50)), strict=True):
        assert_same_top(got, big.vectors, q, m, 50)


def test_broad_mask_that_excludes_the_nearest_rows_falls_back_to_exact(big: Any, queries: np.ndarray) -> None:
    """When the shared deep search finds too few allowed rows, the result is still the exact masked top-k."""
    q = queries[0]
    scores = big.vectors @ q
    allowed = scores < np.quantile(scores, 0.6)  # 60% of rows allowed, none of the 40% nearest
    got = search_segment(big, _requests(q[None, :], [allowed], 20))[0]
    assert_same_top(got, big.vectors, q, allowed, 20)


def test_a_misleading_sample_falls_back_to_the_exact_answer(big: Any, queries: np.ndarray) -> None:
    """The threshold is judged on every (n // SAMPLE_SIZE)-th row: a mask allowing none of those rows, or data whose
    sampled rows all score high, leaves too few candidates, and the query is scored in full instead."""
    stride = max(1, big.n_chunks // dense.SAMPLE_SIZE)
    off_sample = np.ones(big.n_chunks, bool)
    off_sample[::stride] = False
    for q in queries[:3]:
        got = dense.blocked_top(q[None, :], big.vectors, [off_sample], [int(off_sample.sum())], [30])[0]
        assert_same_top(got, big.vectors, q, off_sample, 30)
    q = queries[0]
    skewed = np.array(big.vectors)
    skewed[::stride] = q  # every sampled row is the query itself: the estimated threshold is its best score
    got = dense.blocked_top(q[None, :], skewed, [None], [big.n_chunks], [len(skewed[::stride]) + 40])[0]
    assert_same_top(got, skewed, q, None, len(skewed[::stride]) + 40)


# ---- across segments, through the engine ------------------------------------------------------

NEUTRAL = {"freshness_boost": 0, "source_boost": 0, "content_diversification": {"enabled": False}}


@pytest.fixture(scope="module")
def multi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    rng = np.random.default_rng(21)
    batches = [random_documents(rng, n, DIM, prefix=p, owners=(None,)) for n, p in ((60, "a"), (40, "b"), (50, "c"))]
    batches[2][0].id = batches[0][1].id  # one replaced document: its old chunks are dead rows
    store = build_store(tmp_path_factory.mktemp("multi") / "index", batches, DIM)
    embedder = FakeEmbedder(DIM)
    return {"engine": SearchEngine(store, embedder, fusion="dense"), "embedder": embedder,
            "rows": snapshot_rows(store.snapshot(), batches)}


def _flat(response: dict[str, Any]) -> list[tuple[str, int, float]]:
    return [(doc["id"], ch["cnum"], ch["relevance"]) for doc in response["results"] for ch in doc["chunks"]]


@pytest.mark.parametrize("filters", [{}, {"source": {"values": ["D4B903", "5A5702"]}},
                                     {"document_type": {"values": ["NEWS"]}, "chunk": {"from": 2}}])
@pytest.mark.parametrize("k", [1, 15, 200])
def test_dense_top_k_across_segments(multi: dict[str, Any], filters: dict[str, Any], k: int) -> None:
    engine, embedder = multi["engine"], multi["embedder"]
    f = Query.model_validate({"filters": filters} if filters else {"text": "x"}).filters
    rows = [r for r in multi["rows"] if oracle(r, f, None)]
    vectors = np.stack([r.chunk.vector for r in rows])
    for text in ("zzqq one", "zzqq two", "zzqq three"):  # words absent from the corpus: no lexical hits
        q = embedder.vector(text)
        want_idx, want_scores = reference_top(vectors, q, None, k)
        resp = engine.search(Query.model_validate({"text": text, "filters": filters, "max_chunks": k,
                                                   "ranking_params": NEUTRAL}))
        got = _flat(resp)
        n = min(k, len(rows))
        assert len(got) == n
        index = {(r.doc.id, r.chunk.cnum): i for i, r in enumerate(rows)}
        cosines = np.asarray([vectors[index[(d, c)]] @ q for d, c, _ in got], dtype=np.float64)
        np.testing.assert_allclose(np.sort(cosines)[::-1], want_scores[:n], atol=1e-6)
        if len(want_scores) == n or want_scores[n - 1] - want_scores[n] > TIE:
            assert {(d, c) for d, c, _ in got} == {(rows[i].doc.id, rows[i].chunk.cnum) for i in want_idx[:n]}
        np.testing.assert_allclose([rel for _, _, rel in got], relevance(cosines, np.zeros(n), cosines.max()), atol=2e-6)
        # documents come in the order of their best chunk
        best = [max(float(vectors[index[(doc["id"], ch["cnum"])]] @ q) for ch in doc["chunks"]) for doc in resp["results"]]
        assert all(a >= b - TIE for a, b in zip(best, best[1:], strict=False))
        assert resp["usage"]["api_query_units"] == pytest.approx(n / 10)
