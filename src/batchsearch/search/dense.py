"""Dense retrieval: inner-product top-k under a chunk mask, batched over queries.

Queries whose mask allows many rows share BLAS matrix products per micro-batch, a block of rows at a
time (`blocked_top`): each query keeps only its allowed rows that reach a threshold estimated on a
sample, and is scored in full if that leaves too few, so the result is exact for any mask. Queries
whose mask allows only a few thousand rows gather those rows and score them directly (work
proportional to the rows allowed).

A large segment also has compact vectors: rotated onto their principal directions and rounded to int8
(index/projection.py). With `projected=True` the product runs against the codes of the 128 leading
directions (a third of the work: an integer product, search/head_scan.py, or without onnxruntime or for a
segment written before the head was stored unsigned, converted to float32 a block at a time; a uint8 head
only adds a constant to each query's scores there), each query keeps its
SHORTLIST_FACTOR * k best rows, rescores them on all the directions of the codes, and reads from the file
the float32 rows whose int8 score may still reach its top k (a few dozen per query): returned scores are
exact float32 inner products, only recall is approximate (1.0 of the exact top 10 and 0.99 of the top 100
at a million MiniLM-like chunks; SciFact's real vectors: 1.0 and 0.999). The codes are all a search keeps
resident; the float32 rows are read with positioned reads, never through the memory map.

The exact path scores the segment's read-only float32 memory map of vectors.npy, so every process shares
one copy in the OS page cache. We score with numpy because, measured on our target machine, a BLAS
product plus argpartition beats faiss's flat search several times over. faiss's approximate indexes were
measured first, on the same 100,000 MiniLM-mixed vectors: IVF (8-bit codes) found 0.90 of the exact top
10 probing a tenth of its lists, HNSW 0.92 at efSearch 256 (SciFact's real vectors: IVF 0.989 only when
probing a quarter of its lists).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from batchsearch.index.projection import Codes
from batchsearch.index.segment import Segment
from batchsearch.search import head_scan
from batchsearch.search.head_scan import by_query, head_top

GATHER_MAX_ROWS = 4096
BATCH_QUERIES = 256
SAMPLE_SIZE = 4096
BLOCK_ROWS = 16_384  # 1M chunks, 64-256 queries: 5-10% faster than blocks of 8,192 (and than 32,768 at 128+)
SMALL_GROUP = 16  # up to this many queries (interactive searches) scan int8 codes SMALL_BLOCK_ROWS at a time
SMALL_BLOCK_ROWS = 2_048  # 1M chunks, one query: 47 ms against 64 in blocks of 8,192 (conversion and product)
SHORTLIST_FACTOR = 5  # projected search rescores the 5 * k best rows by projected score (k: the query's depth)
SHORTLIST_MIN = 500
SUBSET_SHARE = 0.05  # a mask allowing up to this share of rows scans its rows' gathered head codes
RESCORE_SIGMAS = 4.0  # float32 rows read per query: those whose int8 score may still reach the top k


@dataclass
class DenseRequest:
    """One query's dense search on one segment."""

    vector: np.ndarray
    mask: np.ndarray | None
    n_allowed: int
    k: int


def top_k(rows: np.ndarray | None, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best k by score (ties by row), best first; `rows=None` means rows are the score positions."""
    n = len(scores)
    if n > k:
        part = np.argpartition(scores, n - k)[n - k :]
    else:
        part = np.arange(n)
    part = part[np.isfinite(scores[part])]
    picked_rows = part if rows is None else rows[part]
    picked = scores[part]
    order = np.lexsort((picked_rows, -picked))
    return picked_rows[order].astype(np.int64), picked[order].astype(np.float32)


def exact_search(seg: Segment, vector: np.ndarray, mask: np.ndarray | None, n_allowed: int,
                 k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of one query among the allowed rows."""
    if n_allowed == 0 or k == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    if mask is not None and n_allowed <= GATHER_MAX_ROWS:
        rows = np.flatnonzero(mask)
        return top_k(rows, seg.vectors[rows] @ vector, k)
    scores = seg.vectors @ vector
    if mask is not None:
        scores[~mask] = -np.inf
    return top_k(None, scores, k)


def search_segment(seg: Segment, requests: list[DenseRequest], *,
                   projected: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
    """Masked top-k for many queries on one segment; wide masks share matrix products. Exact, unless `projected`
    and the segment has compact vectors: then the candidates come from the int8 codes and only the best few
    are read in float32 (returned scores are exact float32 inner products; only recall is approximate)."""
    results: list[tuple[np.ndarray, np.ndarray]] = [(np.zeros(0, np.int64), np.zeros(0, np.float32))] * len(requests)
    codes = seg.compact if projected else None
    integer = codes is not None and codes.head_shift != 0 and head_scan.usable()
    wide, gathered = [], []
    subsets: dict[int, list[int]] = {}  # id(mask) -> requests sharing that mask (one filter, planned once)
    for i, req in enumerate(requests):
        if req.n_allowed == 0 or req.k == 0:
            continue
        if req.mask is not None and req.n_allowed <= GATHER_MAX_ROWS:
            if codes is None:
                results[i] = exact_search(seg, req.vector, req.mask, req.n_allowed, req.k)
            else:
                gathered.append(i)
        elif codes is not None and req.mask is not None and req.n_allowed <= SUBSET_SHARE * seg.n_chunks:
            subsets.setdefault(id(req.mask), []).append(i)
        else:
            wide.append(i)
    for start in range(0, len(wide), BATCH_QUERIES):
        members = wide[start : start + BATCH_QUERIES]
        group = [requests[i] for i in members]
        masks, allowed = [req.mask for req in group], [req.n_allowed for req in group]
        if codes is None:
            matrix = np.stack([req.vector for req in group]).astype(np.float32, copy=False)
            found = blocked_top(matrix, seg.vectors, masks, allowed, [req.k for req in group])
        else:
            found = _from_codes(seg, codes, group, codes.head, masks, allowed, None, integer)
        for i, result in zip(members, found, strict=True):
            results[i] = result
    for same_mask in subsets.values():  # the allowed rows' head codes, gathered once per mask
        mask = requests[same_mask[0]].mask
        assert codes is not None and mask is not None
        rows = np.flatnonzero(mask)
        head = np.ascontiguousarray(codes.head[rows])
        for start in range(0, len(same_mask), BATCH_QUERIES):
            members = same_mask[start : start + BATCH_QUERIES]
            group = [requests[i] for i in members]
            found = _from_codes(seg, codes, group, head, [None] * len(group), [len(rows)] * len(group), rows, integer)
            for i, result in zip(members, found, strict=True):
                results[i] = result
    for start in range(0, len(gathered), BATCH_QUERIES):  # only with codes: the rows a mask allows, scored directly
        assert codes is not None
        group = [requests[i] for i in gathered[start : start + BATCH_QUERIES]]
        coded = codes.queries(np.stack([req.vector for req in group]).astype(np.float32, copy=False))
        candidates = [np.flatnonzero(req.mask) if req.mask is not None else np.arange(seg.n_chunks) for req in group]
        found = _rescored(seg, codes, coded, group, candidates)
        for i, result in zip(gathered[start : start + BATCH_QUERIES], found, strict=True):
            results[i] = result
    return results


def _from_codes(seg: Segment, codes: Codes, group: list[DenseRequest], head: np.ndarray,
                masks: list[np.ndarray | None], allowed: list[int], rows: np.ndarray | None,
                integer: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each query's shortlist by head score (the integer scan or the float32 one) over `head`, whose i-th row is
    the segment's row rows[i] (`rows=None`: the segment's own head), rescored (`_rescored`)."""
    coded = codes.queries(np.stack([req.vector for req in group]).astype(np.float32, copy=False))
    shortlists = [max(SHORTLIST_MIN, SHORTLIST_FACTOR * req.k) for req in group]
    scan = head_top if integer else blocked_top
    heads = scan(coded[:, : codes.head.shape[1]], head, masks, allowed, shortlists)
    return _rescored(seg, codes, coded, group, [found if rows is None else rows[found] for found, _ in heads])


def _rescored(seg: Segment, codes: Codes, coded: np.ndarray, group: list[DenseRequest],
              candidates: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each query's exact top-k among its candidate rows: scored on every direction of the int8 codes, then the
    float32 rows that can still be in the top k (int8 score within RESCORE_SIGMAS rounding deviations of the
    k-th best) are read from the file, once for the whole group, and scored exactly."""
    picked = []
    for j, (req, rows) in enumerate(zip(group, candidates, strict=True)):
        rows = np.sort(rows)
        approx = codes.scores(rows, coded[j])
        if len(rows) > req.k:
            # rounding to the nearest step leaves an error uniform over +-half a step per direction
            margin = RESCORE_SIGMAS * float(np.sqrt(np.dot(coded[j], coded[j]) / 12.0))
            kth = np.partition(approx, len(approx) - req.k)[len(approx) - req.k]
            rows = rows[approx >= kth - margin]
        picked.append(rows)
    union = np.unique(np.concatenate(picked)) if picked else np.zeros(0, np.int64)
    exact = seg.read_vectors(union)
    out = []
    for req, rows in zip(group, picked, strict=True):
        at = np.searchsorted(union, rows)
        out.append(top_k(rows, exact[at] @ req.vector, req.k))
    return out


def blocked_top(queries: np.ndarray, data: np.ndarray, masks: list[np.ndarray | None], allowed: list[int],
                depths: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per query, its exact top-`depth` allowed rows of `data` by inner product (best first, ties by row); `data`
    is float32, or int8 codes converted a block at a time.

    Scores are computed BLOCK_ROWS rows at a time and only those reaching the query's threshold are kept,
    so no queries x rows score matrix is ever written out. The threshold is estimated on a strided sample
    so that about 3 * depth allowed rows reach it; a query left with too few is scored again in full, so
    the answer is exact whatever the estimate."""
    thresholds = _thresholds(queries, data, masks, allowed, depths)[:, None]
    q_parts, row_parts, score_parts = [], [], []
    # a few queries read each converted block once: a small one stays in cache between conversion and product
    rows_per_block = SMALL_BLOCK_ROWS if len(queries) <= SMALL_GROUP and data.dtype != np.float32 else BLOCK_ROWS
    reached = np.empty((len(queries), rows_per_block), dtype=bool)
    buffer = np.empty((rows_per_block, data.shape[1]), dtype=np.float32)
    masked = [(j, mask) for j, mask in enumerate(masks) if mask is not None]
    for start in range(0, len(data), rows_per_block):
        block = queries @ _float_rows(data, start, buffer).T
        width = block.shape[1]
        # flatnonzero over one flat boolean buffer: 4-5x faster than a 2-d nonzero of the comparison
        np.greater_equal(block, thresholds, out=reached[:, :width])
        for j, allowed_rows in masked:  # else a narrow mask lets through every disallowed row above the threshold
            reached[j, :width] &= allowed_rows[start : start + width]
        flat = np.flatnonzero(reached[:, :width])
        q, col = np.divmod(flat, width)
        q_parts.append(q)
        row_parts.append(col + start)
        score_parts.append(block.ravel()[flat])
    out = []
    for j, (rows, scores), mask, n_allowed, depth in zip(range(len(queries)),
                                                         by_query(q_parts, row_parts, score_parts, len(queries)),
                                                         masks, allowed, depths, strict=True):
        if len(rows) >= min(depth, n_allowed):
            out.append(top_k(rows, scores, depth))
        else:  # the sample misjudged this query (or asked for every row): score it in full
            full = np.concatenate([_float_rows(data, at, buffer) @ queries[j]
                                   for at in range(0, len(data), rows_per_block)])
            if mask is not None:
                full[~mask] = -np.inf
            out.append(top_k(None, full, depth))
    return out


def _float_rows(data: np.ndarray, start: int, buffer: np.ndarray) -> np.ndarray:
    """Rows start .. start + len(buffer) of `data` as float32: a view of float32 data, else converted into `buffer`."""
    part = data[start : start + len(buffer)]
    if part.dtype == np.float32:
        return np.asarray(part)
    out = buffer[: len(part)]
    np.copyto(out, part, casting="unsafe")
    return out


def _thresholds(queries: np.ndarray, data: np.ndarray, masks: list[np.ndarray | None], allowed: list[int],
                depths: list[int]) -> np.ndarray:
    """Per query, a score that about 3 * depth of its allowed rows reach, judged on every (n // SAMPLE_SIZE)-th row;
    +inf where the sample cannot tell (the query is then scored in full)."""
    n = len(data)
    stride = max(1, n // SAMPLE_SIZE)
    sample = queries @ np.asarray(data[::stride], dtype=np.float32).T
    out = np.full(len(queries), np.inf, dtype=np.float32)
    for j, (mask, n_allowed, depth) in enumerate(zip(masks, allowed, depths, strict=True)):
        row = sample[j] if mask is None else sample[j][mask[::stride]]
        rank = int(np.ceil(3.0 * depth * len(row) / max(n_allowed, 1))) + 8
        if rank < len(row):
            out[j] = np.partition(row, len(row) - 1 - rank)[len(row) - 1 - rank]
    return out
