"""Projected dense search against exact search (the oracle): the build at publish, the shortlist, the engine.

Vectors here have a decaying spectrum, as sentence embeddings do (a few directions carry most of the
energy), so 128 directions of 384 keep most of each inner product. The threshold is lowered so a few
thousand chunks take the projected path.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from batchsearch.config import Settings
from batchsearch.index import projection
from batchsearch.index.projection import BASIS, PROJECTED, PROJECTED_DIM, build_projection
from batchsearch.index.records import DocumentRecord
from batchsearch.index.segment import Segment
from batchsearch.index.store import IndexStore
from batchsearch.models.search import Query
from batchsearch.search import dense
from batchsearch.search.dense import DenseRequest, exact_search, search_segment
from batchsearch.search.engine import SearchEngine
from search_fixtures import CATEGORIES, DAY, SOURCES, T0, random_documents

DIM = 384
MIN_ROWS = 1_000
QUERY_NOISE = 0.5  # a query keeps a cosine of about 0.9 to the chunk it was drawn near


def embedding_like(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unit rows whose energy decays over directions (singular values ~ i^-0.8), in a random rotation."""
    spectrum = (np.arange(1, DIM + 1) ** -0.8).astype(np.float32)
    rotation, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((DIM, DIM)))
    x = (rng.standard_normal((n, DIM)).astype(np.float32) * spectrum) @ rotation.astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def near(rng: np.random.Generator, vectors: np.ndarray) -> np.ndarray:
    """A unit vector near each row."""
    x = vectors + embedding_like(rng, len(vectors)) * QUERY_NOISE
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


class NearEmbedder:
    """Query text "q<i>" maps to a fixed vector near chunk i's."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.dim = DIM
        self._near = near(np.random.default_rng(3), vectors)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._near[int(t[1:]) % len(self._near)] for t in texts]) if texts else np.zeros((0, DIM))


def documents(n_docs: int, seed: int) -> tuple[list[DocumentRecord], np.ndarray]:
    """Annotated random documents whose chunk vectors are embedding-like; all vectors in row order."""
    rng = np.random.default_rng(seed)
    docs = random_documents(rng, n_docs, 4, owners=(None,))
    vectors = embedding_like(rng, sum(len(d.chunks) for d in docs))
    out, row = [], 0
    for doc in docs:
        chunks = []
        for chunk in doc.chunks:
            chunks.append(replace(chunk, vector=vectors[row]))
            row += 1
        out.append(replace(doc, chunks=chunks))
    return out, vectors


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[IndexStore, np.ndarray]]:
    """One segment above the threshold (projected at publish) and one below it, published in that order."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(projection, "PROJECTION_MIN_ROWS", MIN_ROWS)
        big, vectors = documents(1_500, seed=17)
        small, _ = documents(60, seed=18)
        store = IndexStore(tmp_path_factory.mktemp("projection") / "index")
        store.publish(big, DIM)
        store.publish([replace(d, id="F" + d.id[1:]) for d in small], DIM)
        yield store, vectors


def big_segment(store: IndexStore) -> Segment:
    return store.snapshot().views[0].segment


def recall(got: Sequence[tuple[np.ndarray, np.ndarray]], want: Sequence[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean share of each exact top-k found by `got`."""
    shares = [len(set(g[0].tolist()) & set(w[0].tolist())) / len(w[0]) for g, w in zip(got, want, strict=True)
              if len(w[0])]
    return float(np.mean(shares))


def test_the_build_projects_onto_orthonormal_leading_directions(tmp_path: Path) -> None:
    """Basis columns are orthonormal, the file holds vectors @ basis, and a seed gives the same bytes."""
    vectors = embedding_like(np.random.default_rng(1), 3_000)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        build_projection(vectors, tmp_path / name, seed=4)
    basis = np.load(tmp_path / "a" / f"{BASIS}.npy")
    projected = np.load(tmp_path / "a" / f"{PROJECTED}.npy")
    assert basis.shape == (DIM, PROJECTED_DIM) and projected.shape == (3_000, PROJECTED_DIM)
    np.testing.assert_allclose(basis.T @ basis, np.eye(PROJECTED_DIM), atol=1e-5)
    np.testing.assert_allclose(projected, vectors @ basis, atol=1e-5)
    for name in (BASIS, PROJECTED):
        assert (tmp_path / "a" / f"{name}.npy").read_bytes() == (tmp_path / "b" / f"{name}.npy").read_bytes()
    energy = float((projected.astype(np.float64) ** 2).sum() / len(vectors))
    assert energy > 0.7, "the leading directions keep most of the unit rows' energy"


def test_bad_inputs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="wider than"):
        build_projection(np.ones((10, 64), np.float32), tmp_path)
    with pytest.raises(ValueError, match="float32"):
        build_projection(np.ones((10, DIM), np.float64), tmp_path)


def test_publish_projects_only_large_segments(corpus: tuple[IndexStore, np.ndarray]) -> None:
    store, vectors = corpus
    big, small = (view.segment for view in store.snapshot().views)
    assert big.n_chunks == len(vectors) >= MIN_ROWS > small.n_chunks
    assert big.projection is not None and small.projection is None
    basis, projected = big.projection
    assert isinstance(projected, np.memmap), "memory-mapped, shared by every process"
    np.testing.assert_allclose(projected[:50], vectors[:50] @ basis, atol=1e-5)


@pytest.mark.parametrize("share", [1.0, 0.6, 0.15])
def test_projected_search_finds_the_exact_top_k_with_exact_scores(corpus: tuple[IndexStore, np.ndarray],
                                                                  share: float) -> None:
    """Unfiltered and masked queries: recall@k >= 0.98 of exact, and every returned score is the exact one."""
    store, vectors = corpus
    seg = big_segment(store)
    rng = np.random.default_rng(int(share * 100))
    queries = near(rng, vectors[rng.integers(0, len(vectors), 60)])
    masks = [None if share == 1.0 else rng.random(len(vectors)) < share for _ in queries]
    requests = [DenseRequest(q, m, len(vectors) if m is None else int(m.sum()), 50) for q, m in zip(queries, masks)]
    got = search_segment(seg, requests, projected=True)
    want = [exact_search(seg, r.vector, r.mask, r.n_allowed, r.k) for r in requests]
    assert recall(got, want) >= 0.98
    for (rows, scores), req in zip(got, requests, strict=True):
        assert len(rows) == 50 and (req.mask is None or req.mask[rows].all())
        np.testing.assert_allclose(scores, vectors[rows] @ req.vector, rtol=1e-5, atol=1e-6)
        assert np.all(np.diff(scores) <= 0)


def test_a_narrow_mask_is_gathered_exactly(corpus: tuple[IndexStore, np.ndarray]) -> None:
    """A mask allowing few rows never reaches the projection: the answer is the exact one."""
    store, vectors = corpus
    seg = big_segment(store)
    mask = np.zeros(len(vectors), bool)
    mask[::50] = True
    request = DenseRequest(vectors[7], mask, int(mask.sum()), 10)
    got = search_segment(seg, [request], projected=True)[0]
    want = exact_search(seg, request.vector, mask, request.n_allowed, 10)
    assert got[0].tolist() == want[0].tolist()


def test_too_few_directions_lose_recall(corpus: tuple[IndexStore, np.ndarray], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The recall test above can fail: with 4 directions and a short shortlist the exact top-k is missed."""
    store, vectors = corpus
    monkeypatch.setattr(projection, "PROJECTED_DIM", 4)
    monkeypatch.setattr(dense, "SHORTLIST_MIN", 20)
    monkeypatch.setattr(dense, "SHORTLIST_FACTOR", 1)
    seg = big_segment(store)
    build_projection(np.asarray(seg.vectors), tmp_path)
    narrow = (np.load(tmp_path / f"{BASIS}.npy"), np.load(tmp_path / f"{PROJECTED}.npy"))
    monkeypatch.setitem(seg.__dict__, "projection", narrow)
    rng = np.random.default_rng(5)
    requests = [DenseRequest(q, None, len(vectors), 20) for q in near(rng, vectors[rng.integers(0, len(vectors), 40)])]
    got = search_segment(seg, requests, projected=True)
    assert recall(got, [exact_search(seg, r.vector, None, r.n_allowed, r.k) for r in requests]) < 0.9


def mixed_queries(n: int) -> list[Query]:
    """Texts near chunks, with no filter, broad, mid and narrow filters in turn."""
    kinds: list[dict[str, Any]] = [
        {},
        {"category": {"mode": "EXCLUDE", "values": [CATEGORIES[0]]}},
        {"source": {"mode": "INCLUDE", "values": [SOURCES[0][0], SOURCES[1][0]]}},
        {"timestamp": {"start": _day(0), "end": _day(150)}},
        {"timestamp": {"start": _day(100), "end": _day(104)}},
    ]
    return [Query.model_validate({"text": f"q{7 * i}", "filters": kinds[i % len(kinds)], "max_chunks": 10})
            for i in range(n)]


def _day(offset: int) -> str:
    return datetime.fromtimestamp(T0 + offset * DAY, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def chunks_of(response: Any) -> set[tuple[str, int]]:
    return {(doc["id"], chunk["cnum"]) for doc in response["results"] for chunk in doc["chunks"]}


def test_the_engine_matches_exact_and_exact_ignores_the_projection(corpus: tuple[IndexStore, np.ndarray],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """auto: recall@10 of the responses >= 0.98 of dense="exact"; exact never reads the projection."""
    store, vectors = corpus
    queries = mixed_queries(150)
    want = SearchEngine(store, NearEmbedder(vectors), dense="exact").search_many(queries)
    got = SearchEngine(store, NearEmbedder(vectors)).search_many(queries)
    shares = [len(chunks_of(g) & chunks_of(w)) / len(chunks_of(w)) for g, w in zip(got, want, strict=True)]
    assert len(shares) == len(queries) and np.mean(shares) >= 0.98
    monkeypatch.setattr(Segment, "projection", property(lambda self: pytest.fail("exact read the projection")))
    again = SearchEngine(store, NearEmbedder(vectors), dense="exact").search_many(queries)
    assert [chunks_of(a) for a in again] == [chunks_of(w) for w in want]


def test_the_setting_picks_the_path(corpus: tuple[IndexStore, np.ndarray], monkeypatch: pytest.MonkeyPatch) -> None:
    """BATCHSEARCH_DENSE=exact reaches SearchEngine.open; anything but auto/exact is refused."""
    store, vectors = corpus
    data_dir = store.root.parent
    monkeypatch.setenv("BATCHSEARCH_DENSE", "exact")
    assert SearchEngine.open(data_dir, embedder=NearEmbedder(vectors)).dense == "exact"
    monkeypatch.delenv("BATCHSEARCH_DENSE")
    assert SearchEngine.open(data_dir, embedder=NearEmbedder(vectors)).dense == "auto"
    monkeypatch.setenv("BATCHSEARCH_DENSE", "fast")
    with pytest.raises(ValueError, match="dense"):
        Settings()
    with pytest.raises(ValueError, match="dense must be"):
        SearchEngine(store, NearEmbedder(vectors), dense=cast(Any, "fast"))


def test_a_projection_that_does_not_fit_is_refused(corpus: tuple[IndexStore, np.ndarray], tmp_path: Path) -> None:
    """Projected vectors of another row count (a damaged or foreign file) raise instead of answering wrongly."""
    store, _ = corpus
    seg = Segment(big_segment(store).path)
    np.save(tmp_path / "short.npy", np.zeros((3, PROJECTED_DIM), np.float32))
    seg._arrays[PROJECTED] = np.load(tmp_path / "short.npy", mmap_mode="r")
    with pytest.raises(ValueError, match="re-ingest"):
        _ = seg.projection
