"""Dense search on compact vectors against exact search (the oracle): the build at publish, the shortlist, the
float32 reads, the engine.

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
from batchsearch.index.projection import (
    BASIS,
    FILES,
    HEAD,
    HEAD_DIM,
    HEAD_SHIFT,
    SCALE,
    TAIL,
    Codes,
    build_projection,
)
from batchsearch.index.records import DocumentRecord
from batchsearch.index.segment import Segment, mapped_file
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


def test_the_build_rotates_onto_orthonormal_directions_and_rounds_to_int8(tmp_path: Path) -> None:
    """The basis is a rotation, the codes are the rotated vectors in steps of their direction's scale (clipped
    beyond the sample's range), a seed gives the same bytes, and the head keeps most of the energy."""
    vectors = embedding_like(np.random.default_rng(1), 3_000)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        build_projection(vectors, tmp_path / name, seed=4)
    basis, scale = np.load(tmp_path / "a" / f"{BASIS}.npy"), np.load(tmp_path / "a" / f"{SCALE}.npy")
    head, tail = np.load(tmp_path / "a" / f"{HEAD}.npy"), np.load(tmp_path / "a" / f"{TAIL}.npy")
    assert head.shape == (3_000, HEAD_DIM) and tail.shape == (3_000, DIM - HEAD_DIM)
    assert head.dtype == np.uint8 and tail.dtype == np.int8, "the head is stored unsigned, shifted by HEAD_SHIFT"
    codes = np.concatenate([head.astype(np.int16) - HEAD_SHIFT, tail], axis=1)
    assert basis.shape == (DIM, DIM) and scale.shape == (DIM,)
    assert int(np.abs(codes).max()) == 127
    np.testing.assert_allclose(basis.T @ basis, np.eye(DIM), atol=1e-5)
    rotated = vectors @ basis
    assert np.all(np.abs(codes * scale - rotated) <= 0.5 * scale + 1e-6), "within half a step of every coordinate"
    for name in FILES:
        assert (tmp_path / "a" / f"{name}.npy").read_bytes() == (tmp_path / "b" / f"{name}.npy").read_bytes()
    energy = float((rotated[:, :HEAD_DIM].astype(np.float64) ** 2).sum() / len(vectors))
    assert energy > 0.7, "the leading directions keep most of the unit rows' energy"
    # what the search side relies on: query-side scaling makes the codes' product the inner product
    q = vectors[:5]
    np.testing.assert_allclose(((q @ basis) * scale) @ codes.T, q @ vectors.T, atol=0.02)


def test_a_vector_file_gives_the_codes_of_its_array(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Publishing passes the path of vectors.npy (read a block at a time, nothing mapped): the same bytes as the
    array itself, over several blocks and a partial last one, with the sample drawn from the file too."""
    monkeypatch.setattr(projection, "BLOCK_ROWS", 700)
    monkeypatch.setattr(projection, "SAMPLE_ROWS", 1_500)
    vectors = embedding_like(np.random.default_rng(6), 2_600)
    np.save(tmp_path / "vectors.npy", vectors)
    for name, source in (("from_array", vectors), ("from_file", tmp_path / "vectors.npy")):
        (tmp_path / name).mkdir()
        build_projection(source, tmp_path / name, seed=2)
    for name in FILES:
        assert (tmp_path / "from_array" / f"{name}.npy").read_bytes() == (tmp_path / "from_file" / f"{name}.npy").read_bytes()
    with pytest.raises(ValueError, match="float32"):
        np.save(tmp_path / "wide.npy", vectors.astype(np.float64))
        build_projection(tmp_path / "wide.npy", tmp_path)


def test_fewer_rows_than_dimensions_still_give_a_full_rotation(tmp_path: Path) -> None:
    vectors = embedding_like(np.random.default_rng(2), 40)
    build_projection(vectors, tmp_path)
    basis = np.load(tmp_path / f"{BASIS}.npy")
    np.testing.assert_allclose(basis.T @ basis, np.eye(DIM), atol=1e-5)


def test_bad_inputs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="wider than"):
        build_projection(np.ones((10, 64), np.float32), tmp_path)
    with pytest.raises(ValueError, match="float32"):
        build_projection(np.ones((10, DIM), np.float64), tmp_path)


def test_publish_builds_codes_only_for_large_segments(corpus: tuple[IndexStore, np.ndarray]) -> None:
    store, vectors = corpus
    big, small = (view.segment for view in store.snapshot().views)
    assert big.n_chunks == len(vectors) >= MIN_ROWS > small.n_chunks
    assert big.compact is not None and small.compact is None
    compact = big.compact
    assert mapped_file(compact.head) == (big.path / f"{HEAD}.npy").resolve(), "shared by every process"
    assert mapped_file(compact.tail) == (big.path / f"{TAIL}.npy").resolve()
    assert compact.head.shape == (len(vectors), HEAD_DIM) and compact.head.flags.c_contiguous
    rows = np.arange(0, 500, 10)
    coded = compact.queries(vectors[:3])
    for j in range(3):
        np.testing.assert_allclose(compact.scores(rows, coded[j]), vectors[rows] @ vectors[j], atol=0.02)


def test_rows_are_read_from_the_file_as_the_map_holds_them(corpus: tuple[IndexStore, np.ndarray]) -> None:
    """Runs of consecutive rows, isolated rows, repeats, the first and last row, and none at all."""
    store, vectors = corpus
    seg = big_segment(store)
    rows = np.array([0, 1, 2, 5, 9, 9, 10, 400, len(vectors) - 2, len(vectors) - 1])
    got = seg.read_vectors(rows)
    assert got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, vectors[rows])
    assert seg.read_vectors(np.zeros(0, np.int64)).shape == (0, DIM)


def test_a_truncated_vector_file_is_an_error_not_zeros(corpus: tuple[IndexStore, np.ndarray], tmp_path: Path) -> None:
    store, vectors = corpus
    copy = tmp_path / "segment"
    copy.mkdir()
    source = big_segment(store).path
    for name in ("meta.json", "vectors.npy"):
        (copy / name).write_bytes((source / name).read_bytes())
    seg = Segment(copy)
    rows = np.array([3, len(vectors) - 1])
    np.testing.assert_array_equal(seg.read_vectors(rows), vectors[rows])
    with open(copy / "vectors.npy", "r+b") as fh:  # the file loses its tail under the open segment
        fh.truncate((copy / "vectors.npy").stat().st_size - 100)
    with pytest.raises(OSError, match="short read"):
        seg.read_vectors(np.array([3, len(vectors) - 1]))


def test_projected_search_leaves_the_float32_map_untouched(corpus: tuple[IndexStore, np.ndarray]) -> None:
    """The process's mapping of vectors.npy stays without resident pages: candidates come from the codes, and
    the float32 rows are read from the file (the kernel would otherwise map whole blocks around each read)."""
    store, vectors = corpus
    seg = Segment(big_segment(store).path)
    rng = np.random.default_rng(9)
    requests = [DenseRequest(q, None, len(vectors), 20) for q in near(rng, vectors[rng.integers(0, len(vectors), 30)])]
    narrow = np.zeros(len(vectors), bool)
    narrow[::40] = True
    requests.append(DenseRequest(vectors[3], narrow, int(narrow.sum()), 5))
    found = search_segment(seg, requests, projected=True)
    assert all(len(rows) for rows, _ in found)
    assert _resident_kb(seg.vectors) == 0
    exact_search(seg, vectors[0], None, len(vectors), 5)
    assert _resident_kb(seg.vectors) > 0, "the measurement sees pages the exact path maps"


def _resident_kb(array: np.ndarray) -> int:
    """Rss of the mapping that holds `array` (a memory map), from /proc/self/smaps."""
    address, inside = array.ctypes.data, False
    with open("/proc/self/smaps", encoding="utf-8") as fh:
        for line in fh:
            fields = line.split()
            head = fields[0] if fields else ""
            if "-" in head and all(c in "0123456789abcdef-" for c in head):
                start, end = (int(x, 16) for x in head.split("-"))
                inside = start <= address < end
            elif inside and head == "Rss:":
                return int(fields[1])
    raise AssertionError("no mapping holds the array")


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


def test_one_query_at_a_time_finds_what_the_group_finds(corpus: tuple[IndexStore, np.ndarray],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Small groups scan in smaller blocks (dense.SMALL_BLOCK_ROWS); the answer does not depend on the grouping."""
    store, vectors = corpus
    monkeypatch.setattr(dense, "SMALL_BLOCK_ROWS", 256)  # several blocks over this corpus, and a partial last one
    seg = big_segment(store)
    rng = np.random.default_rng(8)
    masks = [None, rng.random(len(vectors)) < 0.5]
    requests = [DenseRequest(q, masks[i % 2], len(vectors) if i % 2 == 0 else int(masks[1].sum()), 30)
                for i, q in enumerate(near(rng, vectors[rng.integers(0, len(vectors), 40)]))]
    together = search_segment(seg, requests, projected=True)
    for request, (rows, scores) in zip(requests, together, strict=True):
        alone_rows, alone_scores = search_segment(seg, [request], projected=True)[0]
        assert alone_rows.tolist() == rows.tolist()
        np.testing.assert_array_equal(alone_scores, scores)


def test_a_narrow_mask_scores_its_rows_on_every_direction(corpus: tuple[IndexStore, np.ndarray]) -> None:
    """A mask allowing few rows skips the head scan: its rows are scored on the full codes and the best read in
    float32, which finds the exact answer with exact scores."""
    store, vectors = corpus
    seg = big_segment(store)
    mask = np.zeros(len(vectors), bool)
    mask[::50] = True
    for row in (7, 300, 1_200):
        request = DenseRequest(near(np.random.default_rng(row), vectors[row : row + 1])[0], mask, int(mask.sum()), 10)
        got = search_segment(seg, [request], projected=True)[0]
        want = exact_search(seg, request.vector, mask, request.n_allowed, 10)
        assert got[0].tolist() == want[0].tolist()
        np.testing.assert_allclose(got[1], want[1], rtol=1e-6)


def test_too_few_directions_lose_recall(corpus: tuple[IndexStore, np.ndarray], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The recall test above can fail: with a head of 4 directions and a short shortlist the exact top-k is missed."""
    store, vectors = corpus
    monkeypatch.setattr(projection, "HEAD_DIM", 4)
    monkeypatch.setattr(dense, "SHORTLIST_MIN", 20)
    monkeypatch.setattr(dense, "SHORTLIST_FACTOR", 1)
    seg = big_segment(store)
    build_projection(np.asarray(seg.vectors), tmp_path)
    narrow = Codes(*(np.load(tmp_path / f"{name}.npy") for name in FILES))
    assert narrow.head.shape[1] == 4
    monkeypatch.setitem(seg.__dict__, "compact", narrow)
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


def test_the_engine_matches_exact_and_exact_ignores_the_codes(corpus: tuple[IndexStore, np.ndarray],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """auto: recall@10 of the responses >= 0.98 of dense="exact"; exact never reads the codes."""
    store, vectors = corpus
    queries = mixed_queries(150)
    want = SearchEngine(store, NearEmbedder(vectors), dense="exact").search_many(queries)
    got = SearchEngine(store, NearEmbedder(vectors)).search_many(queries)
    shares = [len(chunks_of(g) & chunks_of(w)) / len(chunks_of(w)) for g, w in zip(got, want, strict=True)]
    assert len(shares) == len(queries) and np.mean(shares) >= 0.98
    monkeypatch.setattr(Segment, "compact", property(lambda self: pytest.fail("exact read the codes")))
    monkeypatch.setattr(Segment, "read_vectors", lambda self, rows: pytest.fail("exact read rows from the file"))
    again = SearchEngine(store, NearEmbedder(vectors), dense="exact").search_many(queries)
    assert [chunks_of(a) for a in again] == [chunks_of(w) for w in want]


def test_the_auto_engine_never_maps_a_coded_segments_float32_vectors(corpus: tuple[IndexStore, np.ndarray]) -> None:
    """End to end (dense candidates, lexical candidates' cosines, answers): only the codes are resident."""
    store, vectors = corpus

    class WordsToo(NearEmbedder):  # "q<i> words": near chunk i, and words the lexical side finds
        def embed(self, texts: Sequence[str]) -> np.ndarray:
            return super().embed([t.split()[0] for t in texts])

    queries = [q.model_copy(update={"text": f"{q.text} revenue growth dividend"}) for q in mixed_queries(60)]
    fresh = IndexStore(store.root)
    engine = SearchEngine(fresh, WordsToo(vectors))
    responses = engine.search_many(queries)
    assert all(isinstance(r, dict) and r["results"] for r in responses)
    plans = engine._plan(queries, fresh.snapshot(), None)
    lexical_rows = engine._lexical(plans[0], fresh.snapshot())[0][0]
    assert len(lexical_rows) == plans[0].depth, "the lexical side brings candidates the dense side did not score"
    big = big_segment(fresh)
    assert big.compact is not None and _resident_kb(big.vectors) == 0
    assert _resident_kb(big.compact.head) > 0


def test_lexical_candidates_read_on_the_helper_thread_answer_as_read_in_the_answer_step(
        corpus: tuple[IndexStore, np.ndarray]) -> None:
    """With the helper thread the lexical candidates' float32 rows come with its results (and are those rows); the
    responses are the ones of an engine reading them itself in the answer step."""
    store, vectors = corpus

    class WordsToo(NearEmbedder):
        def embed(self, texts: Sequence[str]) -> np.ndarray:
            return super().embed([t.split()[0] for t in texts])

    queries = [q.model_copy(update={"text": f"{q.text} revenue growth dividend"}) for q in mixed_queries(40)]
    threaded = SearchEngine(store, WordsToo(vectors))
    alone = SearchEngine(store, WordsToo(vectors), lexical_thread=False)
    snap = store.snapshot()
    plan = threaded._plan(queries[:1], snap, None)[0]
    big = next(v for v, view in enumerate(snap.views) if view.segment.compact is not None)
    rows, _, read = threaded._lexical(plan, snap)[big]
    assert read is not None and len(rows) and alone._lexical(plan, snap)[big][2] is None
    np.testing.assert_array_equal(read[0], np.sort(rows))
    np.testing.assert_array_equal(read[1], vectors[read[0]])
    want, got = alone.search_many(queries), threaded.search_many(queries)
    for w, g in zip(want, got, strict=True):
        assert isinstance(w, dict) and isinstance(g, dict) and w["results"]
        assert w["results"] == g["results"]


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


def test_codes_that_do_not_fit_are_refused(corpus: tuple[IndexStore, np.ndarray], tmp_path: Path) -> None:
    """Codes of another row count or type (a damaged or foreign file) raise instead of answering wrongly."""
    store, _ = corpus
    n = big_segment(store).n_chunks
    for name, bad in ((HEAD, np.zeros((3, HEAD_DIM), np.int8)), (HEAD, np.zeros((n, HEAD_DIM), np.float32)),
                      (TAIL, np.zeros((n, DIM), np.int8))):
        seg = Segment(big_segment(store).path)
        np.save(tmp_path / "bad.npy", bad)
        seg._arrays[name] = np.load(tmp_path / "bad.npy", mmap_mode="r")
        with pytest.raises(ValueError, match="re-ingest"):
            _ = seg.compact
