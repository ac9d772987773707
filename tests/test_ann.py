"""The ANN index against exact dense search (the oracle) on clustered vectors, with real faiss."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import faiss
import numpy as np
import pytest

from batchsearch.index.segment import Segment
from batchsearch.index import ann_file
from batchsearch.index.ann_file import ANN_FILE, build_ann, load_faiss
from batchsearch.search.ann import AnnIndex
from batchsearch.search.dense import exact_search

faiss.omp_set_num_threads(1)  # the machine is shared: one core for faiss

ROWS = 30_000
DIM = 384
CENTRES = 200
SPREAD = 1.5  # a row keeps a cosine of about 0.55 to its centre
QUERY_SPREAD = 1.0  # a query keeps a cosine of about 0.7 to the row it was drawn from
K = 10
QUERIES = 100
MIN_RECALL = 0.98

Result = tuple[np.ndarray, np.ndarray]


@dataclass
class VectorsOnly:
    """A fake segment: the one part of a Segment that exact dense search reads."""

    vectors: np.ndarray


@dataclass
class Corpus:
    """Clustered unit vectors, the centre of each row, queries near the data and the built index folder."""

    vectors: np.ndarray
    labels: np.ndarray
    queries: np.ndarray
    query_labels: np.ndarray
    folder: Path


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, float32."""
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n unit rows around CENTRES gaussian centres, and the centre of each row."""
    centres = rng.standard_normal((CENTRES, DIM), dtype=np.float32) / np.sqrt(DIM)
    labels = rng.integers(0, CENTRES, n)
    noise = rng.standard_normal((n, DIM), dtype=np.float32) * (SPREAD / np.sqrt(DIM))
    return unit_rows(centres[labels] + noise), labels


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """One built index over ROWS clustered vectors, shared by the module's read-only tests."""
    rng = np.random.default_rng(11)
    vectors, labels = clustered(rng, ROWS)
    sources = rng.integers(0, ROWS, QUERIES)
    noise = rng.standard_normal((QUERIES, DIM), dtype=np.float32) * (QUERY_SPREAD / np.sqrt(DIM))
    folder = tmp_path_factory.mktemp("ann")
    build_ann(vectors, folder)
    return Corpus(vectors, labels, unit_rows(vectors[sources] + noise), labels[sources], folder)


def oracle(vectors: np.ndarray, query: np.ndarray, mask: np.ndarray | None, k: int) -> Result:
    """Exact top-k by dense.exact_search."""
    n_allowed = len(vectors) if mask is None else int(mask.sum())
    return exact_search(cast(Segment, VectorsOnly(vectors)), query, mask, n_allowed, k)


def search(index: AnnIndex, corpus: Corpus, masks: list[np.ndarray | None], k: int = K,
           queries: np.ndarray | None = None) -> list[Result]:
    """ANN top-k of the corpus queries (or `queries`), one mask per query."""
    queries = corpus.queries if queries is None else queries
    n_allowed = [len(corpus.vectors) if m is None else int(m.sum()) for m in masks]
    return index.search_many(queries, masks, n_allowed, [k] * len(queries), corpus.vectors)


def mean_recall(got: list[Result], corpus: Corpus, masks: list[np.ndarray | None], k: int = K) -> float:
    """Mean share of each exact top-k that the ANN top-k found."""
    shares = []
    for (rows, _), query, mask in zip(got, corpus.queries, masks, strict=True):
        want = oracle(corpus.vectors, query, mask, k)[0]
        shares.append(len(set(rows.tolist()) & set(want.tolist())) / max(1, len(want)))
    return float(np.mean(shares))


def assert_exact_and_ordered(result: Result, vectors: np.ndarray, query: np.ndarray) -> None:
    """Scores are the exact float32 inner products; rows run best first, ties by row, without repeats."""
    rows, scores = result
    assert rows.dtype == np.int64 and scores.dtype == np.float32
    assert len(set(rows.tolist())) == len(rows)
    np.testing.assert_allclose(scores, vectors[rows].astype(np.float64) @ query, atol=1e-5)
    assert np.all((scores[:-1] > scores[1:]) | ((scores[:-1] == scores[1:]) & (rows[:-1] < rows[1:])))


def random_masks(corpus: Corpus, share: float, seed: int) -> list[np.ndarray | None]:
    """One random mask per query allowing about `share` of the rows."""
    rng = np.random.default_rng(seed)
    return [rng.random(ROWS) < share for _ in range(QUERIES)]


@pytest.mark.parametrize(("name", "share"), [("none", 1.0), ("broad", 0.5), ("narrow", 0.01)])
def test_recall_at_10_against_exact(corpus: Corpus, name: str, share: float) -> None:
    """No mask, a broad (50%) and a narrow (1%) random mask: recall@10 at least 0.98, exact scores, allowed rows."""
    masks = [None] * QUERIES if share == 1.0 else random_masks(corpus, share, seed=3)
    got = search(AnnIndex(corpus.folder), corpus, masks)
    assert mean_recall(got, corpus, masks) >= MIN_RECALL, name
    for result, query, mask in zip(got, corpus.queries, masks, strict=True):
        assert len(result[0]) == K
        assert mask is None or mask[result[0]].all()
        assert_exact_and_ordered(result, corpus.vectors, query)


def test_mask_with_fewer_rows_than_k_returns_exactly_those_rows(corpus: Corpus) -> None:
    """Seven allowed rows and k=10: the seven, best first."""
    mask = np.zeros(ROWS, bool)
    mask[[3, 99, 1234, 5000, 17_777, 25_000, ROWS - 1]] = True
    query = corpus.queries[0]
    rows, scores = AnnIndex(corpus.folder).search_many(query[None], [mask], [7], [K], corpus.vectors)[0]
    assert sorted(rows.tolist()) == np.flatnonzero(mask).tolist()
    assert rows.tolist() == oracle(corpus.vectors, query, mask, K)[0].tolist()
    assert_exact_and_ordered((rows, scores), corpus.vectors, query)


def test_empty_mask_and_zero_k_return_nothing(corpus: Corpus) -> None:
    """No allowed row, or k=0: empty results of the right dtypes."""
    empty = np.zeros(ROWS, bool)
    got = AnnIndex(corpus.folder).search_many(corpus.queries[:2], [empty, None], [0, ROWS], [K, 0], corpus.vectors)
    for rows, scores in got:
        assert len(rows) == 0 and len(scores) == 0
        assert rows.dtype == np.int64 and scores.dtype == np.float32


def test_masks_that_starve_the_first_probe_go_deeper(corpus: Corpus) -> None:
    """With one list probed, a mask that excludes the query's own cluster, and a k larger than a few lists
    hold, still return min(k, n_allowed) allowed rows."""
    index = AnnIndex(corpus.folder, nprobe=1)
    queries = list(corpus.queries[:10])
    far: list[np.ndarray | None] = [corpus.labels != label for label in corpus.query_labels[:10]]
    even: list[np.ndarray | None] = [corpus.labels % 2 == 0] * 3
    assert not any(index.is_gathered(int(m.sum())) for m in far + even if m is not None)
    cases = [(far, queries, K), (even, queries[:3], 2_000)]
    for masks, group, k in cases:
        for (rows, scores), mask, query in zip(search(index, corpus, masks, k, np.stack(group)), masks, group,
                                               strict=True):
            assert mask is not None and mask[rows].all() and len(rows) == k
            assert_exact_and_ordered((rows, scores), corpus.vectors, query)


def test_ties_come_in_row_order(tmp_path: Path) -> None:
    """Identical rows score alike and come back in ascending row order, like dense.top_k."""
    vectors, _ = clustered(np.random.default_rng(2), 3_000)
    twins = [10, 500, 1_500, 2_999]
    vectors[twins] = vectors[700]
    build_ann(vectors, tmp_path)
    rows, scores = AnnIndex(tmp_path).search_many(vectors[700][None], [None], [len(vectors)], [5], vectors)[0]
    assert sorted(rows[:5].tolist()) == sorted([*twins, 700])
    assert_exact_and_ordered((rows, scores), vectors, vectors[700])


def test_a_batch_gives_each_query_the_result_it_gets_alone(corpus: Corpus) -> None:
    """Grouping queries into shared faiss calls changes no query's result."""
    rng = np.random.default_rng(4)
    masks: list[np.ndarray | None] = [None, rng.random(ROWS) < 0.5, None, rng.random(ROWS) < 0.01, None]
    ks = [10, 3, 25, 10, 1]
    queries = corpus.queries[:5]
    n_allowed = [ROWS if m is None else int(m.sum()) for m in masks]
    index = AnnIndex(corpus.folder)
    together = index.search_many(queries, masks, n_allowed, ks, corpus.vectors)
    for i, (rows, scores) in enumerate(together):
        alone = index.search_many(queries[i : i + 1], masks[i : i + 1], n_allowed[i : i + 1], ks[i : i + 1],
                                  corpus.vectors)[0]
        assert rows.tolist() == alone[0].tolist() and scores.tolist() == alone[1].tolist()


def test_file_round_trips_through_a_fresh_index(corpus: Corpus) -> None:
    """Two separately loaded indexes answer alike; the build leaves only ann.faiss behind."""
    masks: list[np.ndarray | None] = [None] * QUERIES
    first = search(AnnIndex(corpus.folder), corpus, masks)
    second = search(AnnIndex(corpus.folder), corpus, masks)
    assert [r[0].tolist() for r in first] == [r[0].tolist() for r in second]
    assert [p.name for p in corpus.folder.iterdir()] == [ANN_FILE]


def test_build_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    """The same vectors and seed write the same bytes; the file records every row."""
    vectors, _ = clustered(np.random.default_rng(5), 5_000)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        build_ann(vectors, tmp_path / name, seed=9)
    assert (tmp_path / "a" / ANN_FILE).read_bytes() == (tmp_path / "b" / ANN_FILE).read_bytes()
    index = AnnIndex(tmp_path / "a")
    assert (index.n_rows, index.dim) == vectors.shape and index.nlist == ann_file.choose_nlist(5_000, 5_000)


def test_training_sample_is_capped_and_seeded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Past MAX_TRAIN_ROWS the lists are trained on a seeded sample, and nlist fits the sample."""
    monkeypatch.setattr(ann_file, "MAX_TRAIN_ROWS", 1_000)
    vectors, _ = clustered(np.random.default_rng(6), 4_000)
    build_ann(vectors, tmp_path)
    index = AnnIndex(tmp_path)
    assert index.n_rows == 4_000 and index.nlist == 1_000 // ann_file.MIN_TRAIN_ROWS_PER_LIST
    rows, _ = index.search_many(vectors[:1], [None], [4_000], [1], vectors)[0]
    assert rows.tolist() == [0]


def test_bad_inputs_are_refused(corpus: Corpus, tmp_path: Path) -> None:
    """An empty or non-float32 build, and vectors that do not match the index, raise ValueError."""
    with pytest.raises(ValueError, match="non-empty 2-d float32"):
        build_ann(np.zeros((0, DIM), np.float32), tmp_path)
    with pytest.raises(ValueError, match="non-empty 2-d float32"):
        build_ann(np.ones((5, DIM), np.float64), tmp_path)
    with pytest.raises(ValueError, match="do not match"):
        AnnIndex(corpus.folder).search_many(corpus.queries[:1], [None], [ROWS], [K], corpus.vectors[:100])


def test_missing_faiss_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without faiss installed, the error says which extra to install."""
    monkeypatch.setitem(sys.modules, "faiss", cast(Any, None))
    with pytest.raises(ImportError, match=r"pip install 'batchsearch\[ann\]'"):
        load_faiss()
