"""Dense retrieval: exact inner-product top-k under a chunk mask, batched over queries.

Broad masks (or none) run as one batched faiss search with enough depth to survive the mask,
then fall back to an exact per-query search if too few survive. Selective masks search only
their rows (a faiss ID selector, so the work is proportional to the rows allowed).
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

from batchsearch.index.segment import Segment

BROAD_FRACTION = 0.3
BATCH_QUERIES = 256


@dataclass
class DenseRequest:
    """One query's dense search on one segment."""

    vector: np.ndarray
    mask: np.ndarray | None
    n_allowed: int
    k: int


def _selector_search(seg: Segment, vector: np.ndarray, mask: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    bits = np.packbits(mask, bitorder="little")
    selector = faiss.IDSelectorBitmap(seg.n_chunks, faiss.swig_ptr(bits))
    params = faiss.SearchParameters(sel=selector)
    scores, labels = seg.faiss_index.search(vector[None, :], k, params=params)
    keep = labels[0] >= 0
    return labels[0][keep].astype(np.int64), scores[0][keep]


def _gather_search(seg: Segment, vector: np.ndarray, mask: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.flatnonzero(mask)
    scores = seg.vectors[rows] @ vector
    return _top(rows, scores, k)


def _top(rows: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best k by score, ties broken by row, best first."""
    if len(rows) > k:
        part = np.argpartition(-scores, k - 1)[:k]
        rows, scores = rows[part], scores[part]
    order = np.lexsort((rows, -scores))
    return rows[order].astype(np.int64), scores[order].astype(np.float32)


def exact_search(seg: Segment, vector: np.ndarray, mask: np.ndarray | None, n_allowed: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of one query among the allowed rows."""
    if n_allowed == 0 or k == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    if mask is None:
        scores, labels = seg.faiss_index.search(vector[None, :], min(k, seg.n_chunks))
        return _top(labels[0].astype(np.int64), scores[0], k)
    if n_allowed <= 20_000:
        return _gather_search(seg, vector, mask, k)
    rows, scores = _selector_search(seg, vector, mask, min(k, n_allowed))
    return _top(rows, scores, k)


def search_segment(seg: Segment, requests: list[DenseRequest]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Exact masked top-k for many queries on one segment; broad ones share batched matmuls."""
    results: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(requests)
    broad = [i for i, r in enumerate(requests) if r.n_allowed > 0 and r.n_allowed >= BROAD_FRACTION * seg.n_chunks]
    for start in range(0, len(broad), BATCH_QUERIES):
        group = broad[start : start + BATCH_QUERIES]
        depth = max(_depth(seg, requests[i]) for i in group)
        matrix = np.stack([requests[i].vector for i in group]).astype(np.float32, copy=False)
        scores, labels = seg.faiss_index.search(matrix, depth)
        for j, i in enumerate(group):
            results[i] = _survivors(seg, requests[i], labels[j], scores[j], depth)
    for i, req in enumerate(requests):
        if results[i] is None:
            results[i] = exact_search(seg, req.vector, req.mask, req.n_allowed, req.k)
    return [r for r in results if r is not None]


def _depth(seg: Segment, req: DenseRequest) -> int:
    fraction = req.n_allowed / max(seg.n_chunks, 1)
    return min(seg.n_chunks, int(req.k / fraction * 1.5) + 16)


def _survivors(seg: Segment, req: DenseRequest, labels: np.ndarray, scores: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    keep = labels >= 0
    labels, scores = labels[keep].astype(np.int64), scores[keep]
    if req.mask is not None:
        allowed = req.mask[labels]
        labels, scores = labels[allowed], scores[allowed]
    if len(labels) >= req.k or depth >= seg.n_chunks:
        return _top(labels, scores, req.k)
    return exact_search(seg, req.vector, req.mask, req.n_allowed, req.k)
