"""The integer head scan (search/head_scan.py) against a numpy oracle of the same integer scores, and the float32
scan it replaces: older int8 heads and processes without onnxruntime still find the exact answers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from batchsearch.index.projection import FILES, HEAD, HEAD_SHIFT, Codes, build_projection
from batchsearch.search import dense, head_scan
from batchsearch.search.dense import DenseRequest, exact_search, search_segment
from batchsearch.search.head_scan import head_top, quantized
from test_projection import DIM, big_segment, corpus, embedding_like, near, recall  # noqa: F401



@pytest.fixture(autouse=True)
def onnxruntime_installed() -> None:
    """The integer scan needs the onnx extra: without it these tests skip, except under CI (.ci/run installs it)."""
    if not head_scan.available():
        message = "the integer head scan needs onnxruntime and onnx (pip install 'batchsearch[onnx]')"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def oracle(queries: np.ndarray, head: np.ndarray, masks: list[np.ndarray | None],
           depths: list[int]) -> list[tuple[list[int], list[int]]]:
    """Each query's top-depth allowed rows by the integer product of its rounded self with the unshifted codes,
    ties by row, with those integer scores."""
    ints, _ = quantized(queries)
    scores = (head.astype(np.int64) - HEAD_SHIFT) @ ints.astype(np.int64)
    out = []
    for j, (mask, depth) in enumerate(zip(masks, depths, strict=True)):
        rows = np.arange(len(head)) if mask is None else np.flatnonzero(mask)
        order = np.lexsort((rows, -scores[rows, j]))[:depth]
        out.append((rows[order].tolist(), scores[rows[order], j].tolist()))
    return out


@pytest.fixture(scope="module")
def coded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Codes, np.ndarray]:
    """Codes of 20,000 embedding-like vectors."""
    folder = tmp_path_factory.mktemp("head")
    vectors = embedding_like(np.random.default_rng(11), 20_000)
    build_projection(vectors, folder)
    return Codes(*(np.load(folder / f"{name}.npy", mmap_mode="r") for name in FILES)), vectors


def test_the_scan_returns_the_exact_top_by_integer_score(coded: tuple[Codes, np.ndarray],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Unmasked, broad, mid and narrow masks and several depths, over several blocks and a partial last one: the
    rows and scores of the integer oracle."""
    monkeypatch.setattr(head_scan, "MIN_BLOCK_ROWS", 1_000)
    monkeypatch.setattr(head_scan, "BLOCK_SCORES", 24 * 3_000)
    codes, vectors = coded
    rng = np.random.default_rng(3)
    raw = near(rng, vectors[rng.integers(0, len(vectors), 24)])
    queries = codes.queries(raw)[:, : codes.head.shape[1]]
    shares = (1.0, 0.5, 0.05, 0.002)
    masks = [None if shares[j % 4] == 1.0 else rng.random(len(vectors)) < shares[j % 4] for j in range(len(raw))]
    allowed = [len(vectors) if m is None else int(m.sum()) for m in masks]
    depths = [(10, 100, 500)[j % 3] for j in range(len(raw))]
    got = head_top(queries, codes.head, masks, allowed, depths)
    _, steps = quantized(queries)
    for (rows, scores), (want_rows, want_scores), step in zip(got, oracle(queries, codes.head, masks, depths),
                                                             steps, strict=True):
        assert rows.tolist() == want_rows
        np.testing.assert_allclose(scores, np.asarray(want_scores) * step, rtol=1e-6)


def test_a_misjudged_sample_is_scored_in_full(coded: tuple[Codes, np.ndarray],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A threshold no row reaches (as a sample that misjudges a query gives) falls back to scoring every row."""
    codes, vectors = coded
    monkeypatch.setattr(head_scan, "MIN_BLOCK_ROWS", 1_000)
    monkeypatch.setattr(head_scan, "BLOCK_SCORES", 7_000)  # the full scoring of one query in blocks too
    monkeypatch.setattr(head_scan, "_thresholds", lambda ints, *_: np.full(ints.shape[1], 2**31 - 1, np.int32))
    queries = codes.queries(vectors[:3])[:, : codes.head.shape[1]]
    mask = np.random.default_rng(0).random(len(vectors)) < 0.3
    masks = [None, mask, None]
    got = head_top(queries, codes.head, masks, [len(vectors), int(mask.sum()), len(vectors)], [20, 20, 20])
    for (rows, _), (want, _) in zip(got, oracle(queries, codes.head, masks, [20, 20, 20]), strict=True):
        assert rows.tolist() == want


def test_rows_tied_at_the_cut_are_the_lowest_whatever_the_threshold_keeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Integer scores tie often: the answer takes the lowest of the rows tied at the depth-th score, the same
    whether the threshold kept a few of them or every row."""
    rng = np.random.default_rng(5)
    head = np.repeat(rng.integers(0, 256, (40, 128), dtype=np.uint8), 250, axis=0)  # 10,000 rows, 40 distinct
    rng.shuffle(head)
    queries = rng.standard_normal((4, 128)).astype(np.float32)
    mask = rng.random(len(head)) < 0.4
    masks, allowed, depths = [None, mask, None, mask], [len(head), int(mask.sum())] * 2, [300, 300, 77, 600]
    want = oracle(queries, head, masks, depths)
    for thresholds in (None, "all"):  # as sampled, then every row kept
        if thresholds == "all":
            monkeypatch.setattr(head_scan, "_thresholds", lambda ints, *_: np.full(ints.shape[1], -(2**31), np.int32))
        got = head_top(queries, head, masks, allowed, depths)
        assert [(rows.tolist(), (scores / quantized(queries)[1][j]).round().astype(int).tolist())
                for j, (rows, scores) in enumerate(got)] == want


def test_products_at_the_query_limit_are_exact() -> None:
    """The extreme products a scan can meet (every head code 255 or 0, every query value +-query_limit()) come out
    exactly on this CPU."""
    limit = head_scan.query_limit()
    head = np.array([[255] * 128, [0] * 128, [255, 0] * 64], np.uint8)
    ints = np.stack([np.full(128, limit), np.full(128, -limit), np.tile([limit, -limit], 64)], axis=1).astype(np.int8)
    want = head.astype(np.int64) @ ints.astype(np.int64)
    assert (head_scan._product(head, ints) == want).all()


def test_a_cpu_that_saturates_rounds_queries_to_the_pair_safe_range(monkeypatch: pytest.MonkeyPatch) -> None:
    """A product that adds pairs of uint8 x int8 products into 16 bits with saturation (AVX2 without VNNI), as
    injected here: queries are rounded to +-64, where its sums are exact."""
    def saturating(head: np.ndarray, ints: np.ndarray) -> np.ndarray:
        pairs = head.astype(np.int64).reshape(len(head), -1, 2)[:, :, :, None] * ints.astype(np.int64).reshape(
            -1, 2, ints.shape[1])[None]
        return np.clip(pairs.sum(axis=2), -32768, 32767).sum(axis=1).astype(np.int32)

    monkeypatch.setattr(head_scan, "_product", saturating)
    head_scan.query_limit.cache_clear()
    try:
        assert head_scan.query_limit() == head_scan.PAIR_SAFE_RANGE
        ints, _ = quantized(np.random.default_rng(2).standard_normal((5, 128)).astype(np.float32))
        assert np.abs(ints).max() == head_scan.PAIR_SAFE_RANGE
        head = np.full((3, 128), 255, np.uint8)
        assert (saturating(head, ints) == head.astype(np.int64) @ ints.astype(np.int64)).all()
        assert head_scan.usable()
        head_scan.query_limit.cache_clear()  # a product that is wrong even at +-64: the float32 scan runs instead
        monkeypatch.setattr(head_scan, "_product", lambda head, ints: saturating(head, ints) // 2)
        assert head_scan.query_limit() == 0 and not head_scan.usable()
        with pytest.raises(RuntimeError, match="float32 scan"):
            quantized(np.ones((1, 128), np.float32))
    finally:
        head_scan.query_limit.cache_clear()


def test_a_signed_head_is_refused(coded: tuple[Codes, np.ndarray]) -> None:
    codes, _ = coded
    with pytest.raises(ValueError, match="uint8 head"):
        head_top(np.zeros((1, codes.head.shape[1]), np.float32), (codes.head.astype(np.int16) - HEAD_SHIFT).astype(
            np.int8), [None], [len(codes.head)], [10])


@pytest.mark.parametrize("path", ["integer", "float32 (no onnxruntime)", "older int8 head"])
def test_every_scan_finds_the_exact_answer(corpus: tuple, tmp_path: Path,  # noqa: F811
                                           monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    """The segment search gives the exact top-k with exact scores whichever scan runs: the integer one, the float32
    one of a process without onnxruntime, or the float32 one of a segment whose head was written as int8."""
    store, vectors = corpus
    seg = big_segment(store)
    if path == "float32 (no onnxruntime)":
        monkeypatch.setattr(head_scan, "available", lambda: False)
    if path == "older int8 head":
        codes = seg.compact
        np.save(tmp_path / f"{HEAD}.npy", (codes.head.astype(np.int16) - HEAD_SHIFT).astype(np.int8))
        signed = Codes(codes.basis, codes.scale, np.load(tmp_path / f"{HEAD}.npy", mmap_mode="r"), codes.tail)
        assert signed.head_shift == 0
        monkeypatch.setitem(seg.__dict__, "compact", signed)
    scans: list[str] = []
    for name in ("head_top", "blocked_top"):
        original = getattr(dense, name)
        monkeypatch.setattr(dense, name, lambda *a, _f=original, _n=name: scans.append(_n) or _f(*a))
    rng = np.random.default_rng(9)
    queries = near(rng, vectors[rng.integers(0, len(vectors), 40)])
    masks = [None if i % 2 else rng.random(len(vectors)) < 0.4 for i in range(len(queries))]
    requests = [DenseRequest(q, m, len(vectors) if m is None else int(m.sum()), 30) for q, m in zip(queries, masks)]
    got = search_segment(seg, requests, projected=True)
    assert set(scans) == {"head_top" if path == "integer" else "blocked_top"}
    want = [exact_search(seg, r.vector, r.mask, r.n_allowed, r.k) for r in requests]
    assert recall(got, want) >= 0.98
    for (rows, scores), req in zip(got, requests, strict=True):
        assert req.mask is None or req.mask[rows].all()
        np.testing.assert_allclose(scores, vectors[rows] @ req.vector, rtol=1e-5, atol=1e-6)


def test_a_mask_allowing_few_rows_scans_only_their_head_codes(corpus: tuple,  # noqa: F811
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Masks allowing up to SUBSET_SHARE of the rows (but more than GATHER_MAX_ROWS) have their rows' head codes
    gathered, once per mask object however many queries share it, and scanned alone: still the exact answer with
    exact scores, and only allowed rows."""
    store, vectors = corpus
    seg = big_segment(store)
    monkeypatch.setattr(dense, "GATHER_MAX_ROWS", 20)
    rng = np.random.default_rng(4)
    shared, other = rng.random(len(vectors)) < 0.03, rng.random(len(vectors)) < 0.045
    assert 20 < shared.sum() and other.sum() <= dense.SUBSET_SHARE * len(vectors)
    gathers: list[int] = []
    original = dense._from_codes
    monkeypatch.setattr(dense, "_from_codes", lambda seg_, codes, group, head, *a: gathers.append(len(head)) or
                        original(seg_, codes, group, head, *a))
    queries = near(rng, vectors[rng.integers(0, len(vectors), 30)])
    masks = [shared if i % 3 else other for i in range(len(queries))]
    requests = [DenseRequest(q, m, int(m.sum()), 15) for q, m in zip(queries, masks)]
    got = search_segment(seg, requests, projected=True)
    assert sorted(gathers) == sorted([int(shared.sum()), int(other.sum())]), "one scan per distinct mask"
    want = [exact_search(seg, r.vector, r.mask, r.n_allowed, r.k) for r in requests]
    assert recall(got, want) >= 0.98
    for (rows, scores), req in zip(got, requests, strict=True):
        assert req.mask is not None and req.mask[rows].all() and len(rows) == 15
        np.testing.assert_allclose(scores, vectors[rows] @ req.vector, rtol=1e-5, atol=1e-6)
