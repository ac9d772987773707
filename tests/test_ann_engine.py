"""Approximate dense search wired into publishing and the engine, with exact search as the oracle.

A segment of ANN_MIN_ROWS chunks or more gets ann.faiss at publish; `dense="auto"` searches it through
the index, `dense="exact"` (BATCHSEARCH_DENSE=exact) scores every chunk. The thresholds are lowered
here so a few thousand clustered chunks exercise every path (index probe, ID selector, gather).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import faiss
import numpy as np
import pytest

from batchsearch.config import Settings
from batchsearch.index import ann_file
from batchsearch.index.ann_file import ANN_FILE
from batchsearch.index.records import DocumentRecord
from batchsearch.index.store import IndexStore
from batchsearch.models.search import Query
from batchsearch.search import ann
from batchsearch.search.engine import SearchEngine
from search_fixtures import CATEGORIES, SOURCES, T0, DAY, random_documents

faiss.omp_set_num_threads(1)  # the machine is shared: one core for faiss

DIM = 32
CENTRES = 40
SPREAD = 1.0  # a chunk keeps a cosine of about 0.7 to its centre: nprobe 4 finds 0.91 of the exact top 10
MIN_ROWS = 1_000
GATHER_ROWS = 200


class NearEmbedder:
    """Query text "q<i>" maps to a vector near chunk i's; any other text to a seeded random unit vector."""

    def __init__(self, vectors: np.ndarray, seed: int = 3) -> None:
        self.dim = vectors.shape[1]
        rng = np.random.default_rng(seed)
        noise = rng.standard_normal(vectors.shape).astype(np.float32) * 0.15
        near = vectors + noise
        self._near = (near / np.linalg.norm(near, axis=1, keepdims=True)).astype(np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for text in texts:
            if text.startswith("q") and text[1:].isdigit():
                rows.append(self._near[int(text[1:]) % len(self._near)])
            else:
                rng = np.random.default_rng(abs(hash(text)) % 2**32)
                v = rng.standard_normal(self.dim)
                rows.append((v / np.linalg.norm(v)).astype(np.float32))
        return np.stack(rows) if rows else np.zeros((0, self.dim), np.float32)


def clustered_documents(n_docs: int, seed: int = 17) -> tuple[list[DocumentRecord], np.ndarray]:
    """Fully annotated random documents whose chunk vectors lie around CENTRES centres; all vectors in row order."""
    rng = np.random.default_rng(seed)
    docs = random_documents(rng, n_docs, DIM, owners=(None,))
    centres = rng.standard_normal((CENTRES, DIM)).astype(np.float32)
    out, vectors = [], []
    for doc in docs:
        chunks = []
        for chunk in doc.chunks:
            v = centres[rng.integers(CENTRES)] + rng.standard_normal(DIM).astype(np.float32) * SPREAD
            v = (v / np.linalg.norm(v)).astype(np.float32)
            vectors.append(v)
            chunks.append(replace(chunk, vector=v))
        out.append(replace(doc, chunks=chunks))
    return out, np.stack(vectors)


@pytest.fixture(scope="module")
def thresholds() -> Iterator[None]:
    """ANN from MIN_ROWS chunks, selector searches above GATHER_ROWS allowed rows (module-wide)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ann_file, "ANN_MIN_ROWS", MIN_ROWS)
        mp.setattr(ann, "GATHER_MAX_ROWS", GATHER_ROWS)
        mp.setattr(ann, "GATHER_FRACTION", 0.0)
        yield


@pytest.fixture(scope="module")
def corpus(thresholds: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[IndexStore, np.ndarray]:
    """One large segment (with an ANN index) and one small one (without), published in that order."""
    root = tmp_path_factory.mktemp("ann-engine") / "index"
    big, vectors = clustered_documents(1_500)
    small, _ = clustered_documents(60, seed=18)
    small = [replace(d, id="F" + d.id[1:]) for d in small]
    store = IndexStore(root)
    store.publish(big, DIM)
    store.publish(small, DIM)
    return store, vectors


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
    from datetime import UTC, datetime

    return datetime.fromtimestamp(T0 + offset * DAY, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def chunks_of(response: dict[str, Any]) -> dict[tuple[str, int], float]:
    """(document id, cnum) -> relevance of every returned chunk."""
    return {(doc["id"], chunk["cnum"]): chunk["relevance"] for doc in response["results"] for chunk in doc["chunks"]}


def test_publish_builds_the_index_only_for_large_segments(corpus: tuple[IndexStore, np.ndarray]) -> None:
    """The big segment carries ann.faiss with every row; the small one has none."""
    store, vectors = corpus
    big, small = (view.segment for view in store.snapshot().views)
    assert (big.path / ANN_FILE).exists() and not (small.path / ANN_FILE).exists()
    assert big.n_chunks >= MIN_ROWS > small.n_chunks
    assert ann.AnnIndex(big.path).n_rows == big.n_chunks == len(vectors)


def test_auto_matches_exact_on_mixed_filters(corpus: tuple[IndexStore, np.ndarray]) -> None:
    """Recall@10 of the approximate engine against the exact one >= 0.98, with exact scores on shared chunks."""
    store, vectors = corpus
    queries = mixed_queries(200)
    auto = SearchEngine(store, NearEmbedder(vectors), dense="auto")
    exact = SearchEngine(store, NearEmbedder(vectors), dense="exact")
    recalls = []
    for got, want in zip(auto.search_many(queries), exact.search_many(queries), strict=True):
        got_chunks, want_chunks = chunks_of(cast(dict[str, Any], got)), chunks_of(cast(dict[str, Any], want))
        if want_chunks:
            recalls.append(len(got_chunks.keys() & want_chunks.keys()) / len(want_chunks))
        if got_chunks.keys() == want_chunks.keys():  # relevance is relative to the best candidate found
            assert got_chunks == pytest.approx(want_chunks, abs=1e-5)
    assert len(recalls) == len(queries)
    assert np.mean(recalls) >= 0.98, np.mean(recalls)


def test_auto_uses_the_index_and_exact_never_loads_it(corpus: tuple[IndexStore, np.ndarray]) -> None:
    """Only the big segment is searched through its index in auto; exact mode opens no ANN index."""
    store, vectors = corpus
    auto = SearchEngine(store, NearEmbedder(vectors))
    exact = SearchEngine(store, NearEmbedder(vectors), dense="exact")
    big, small = (view.segment for view in store.snapshot().views)
    auto.search_many(mixed_queries(5))
    exact.search_many(mixed_queries(5))
    assert isinstance(auto._ann_index(big), ann.AnnIndex) and auto._ann_index(small) is None
    assert len(exact._ann) == 0 and exact._ann_index(big) is None


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
        SearchEngine(store, NearEmbedder(vectors), dense="fast")  # type: ignore[arg-type]


def test_without_faiss_publish_warns_and_search_stays_exact(
        thresholds: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """No faiss at publish: no ANN file and a warning naming the extra. No faiss at query time for a segment
    that has one (built elsewhere): a warning, and the exact answers."""
    docs, vectors = clustered_documents(500, seed=21)
    monkeypatch.setitem(sys.modules, "faiss", cast(Any, None))
    with caplog.at_level(logging.WARNING):
        store = IndexStore(tmp_path / "index")
        store.publish(docs, DIM)
    seg = store.snapshot().views[0].segment
    assert seg.n_chunks >= MIN_ROWS and not (seg.path / ANN_FILE).exists()
    assert "batchsearch[ann]" in caplog.text
    monkeypatch.undo()
    ann_file.build_ann(np.asarray(seg.vectors), seg.path)  # as a machine with the extra would have
    monkeypatch.setitem(sys.modules, "faiss", cast(Any, None))
    queries = mixed_queries(10)
    engine = SearchEngine(store, NearEmbedder(vectors))
    with caplog.at_level(logging.WARNING):
        answers = engine.search_many(queries)
    assert "scoring its chunks exactly" in caplog.text and engine._ann_index(seg) is None
    monkeypatch.undo()
    assert answers == _without_request_ids(SearchEngine(store, NearEmbedder(vectors), dense="exact").search_many(
        queries), answers)


def _without_request_ids(answers: list[Any], like: list[Any]) -> list[Any]:
    """`answers` with the metadata (request id, time) of `like`, so only the results are compared."""
    return [{**a, "metadata": b["metadata"]} for a, b in zip(answers, like, strict=True)]
