"""The scan of a large segment's head codes as an integer matrix product (ONNX Runtime's MatMulInteger).

Dense search over a segment with compact vectors (index/projection.py) first scores every allowed row on the
HEAD_DIM leading directions of its codes. Converting the codes to float32 for a BLAS product costs more than
the product itself; ONNX Runtime multiplies uint8 by int8 into int32 with the CPU's integer dot-product
instructions (VNNI, AMX) instead, several times faster (1M rows x 256 queries on one core: 0.6 ms per query
against 2.9 for conversion and sgemm). Its fast kernel wants the large operand unsigned, which is why the head
is stored as code + 128: the shift adds 128 * sum(query) to every score of a query, the same for all its
rows, so thresholds and ranks are taken on the shifted scores and the shift is taken off the few kept.

Queries are rounded to int8 too (each on its own step, the largest magnitude over `query_limit()`), so head
scores carry one more rounding than the float32 scan; the shortlist the scan keeps is rescored on the full codes
and the best of it exactly in float32 (search/dense.py), so only which rows make the shortlist can change.
`head_top` returns the same thing as `dense.blocked_top`: each query's exact top-depth allowed rows by (its
integer) head score.

Not every CPU multiplies at full range: without integer dot-product instructions ONNX Runtime adds the
products in pairs into 16 bits (AVX2's vpmaddubsw), which saturate at 2 x 255 x 127 (seen on an AMD EPYC of
the Zen 1 family: a product of 128 x 255 x 127 came out 2,097,088 instead of 4,145,280). A probe product at
the first scan tells: where it saturates, queries are rounded to +-64 (2 x 255 x 64 fits in 16 bits), so
every score is still exact. The integer product stays the faster scan there, by less (1M rows x 256 queries,
one core: 8.8 ms per query against 10.2 for conversion and sgemm).

Needs onnxruntime and onnx (the `onnx` extra); `usable()` says whether they can be imported and multiply
exactly, and dense search falls back to the float32 scan otherwise.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from batchsearch.embeddings.factory import is_onnx_available
from batchsearch.index.projection import HEAD_SHIFT

# scores per product (8 MB of int32): 8,192 rows for 256 queries, 32,768 for 64, a whole segment for one query
# (1M chunks: 64 queries a group 3.0 ms/query against 3.2-3.8 in blocks of 8,192; one query 38 searches/s against 25-33)
BLOCK_SCORES = 1 << 21
MIN_BLOCK_ROWS = 4_096
# thresholds: the score about REACH * depth of a query's allowed rows reach, judged on every (n // SAMPLE_SIZE)-th
# row. Every row kept costs bookkeeping, and a threshold judged on 4,096 rows with 3 * depth kept 2-3x the rows
# needed; 16,384 and 2 * depth: 1M chunks, 530 wide queries, 1.79-1.91 -> 1.43-1.45 ms/query, none scored again
SAMPLE_SIZE = 16_384
REACH = 2.0
FULL_RANGE = 127
PROBE_WIDTH = 128
PAIR_SAFE_RANGE = 64  # 2 x 255 x 64 = 32,640: a pair of products fits in a 16-bit sum
available = cache(is_onnx_available)  # whether onnxruntime and onnx can be imported, asked once per process


@cache
def query_limit() -> int:
    """The largest magnitude of a query's int8 values for which this CPU's product is exact: FULL_RANGE, else
    PAIR_SAFE_RANGE, judged on probe products at each (once per process); 0 where neither is exact."""
    head = np.full((1, PROBE_WIDTH), 255, np.uint8)
    for limit in (FULL_RANGE, PAIR_SAFE_RANGE):
        ints = np.full((PROBE_WIDTH, 2), limit, np.int8)
        ints[:, 1] = -limit
        want = 255 * limit * PROBE_WIDTH
        if _product(head, ints)[0].tolist() == [want, -want]:
            return limit
    return 0


def usable() -> bool:
    """Whether dense search can scan heads with the integer product: onnxruntime is there and multiplies exactly."""
    return available() and query_limit() > 0


@cache
def _session() -> Any:
    """One single-threaded ONNX Runtime session computing Y = A @ B for A uint8 (rows x width) and B int8
    (width x queries), per process (`run` is safe to call from several threads)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["A", "B"], ["Y"])], "head_scan",
        [helper.make_tensor_value_info("A", TensorProto.UINT8, ["rows", "width"]),
         helper.make_tensor_value_info("B", TensorProto.INT8, ["width", "queries"])],
        [helper.make_tensor_value_info("Y", TensorProto.INT32, ["rows", "queries"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    options = ort.SessionOptions()
    # one CPU per scan, as the rest of a search uses; no spinning threads left waiting between products
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def quantized(queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each query rounded to int8 on its own step, within +-query_limit(): (width x queries int8, the steps)."""
    limit = query_limit()
    if not limit:
        raise RuntimeError("this CPU's integer product is not exact even at +-64: use the float32 scan")
    steps = np.abs(queries).max(axis=1) / float(limit)
    steps[steps == 0] = 1.0
    ints = np.clip(np.rint(queries / steps[:, None]), -limit, limit).astype(np.int8)
    return np.ascontiguousarray(ints.T), steps.astype(np.float32)


def _product(head: np.ndarray, ints: np.ndarray) -> np.ndarray:
    """Shifted integer scores (rows x queries int32) of a slice of uint8 head rows."""
    return _session().run(None, {"A": np.ascontiguousarray(head), "B": ints})[0]


def head_top(queries: np.ndarray, head: np.ndarray, masks: list[np.ndarray | None], allowed: list[int],
             depths: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per query (float32, in code space: the head part of `Codes.queries`), its top-`depth` allowed rows of the
    uint8 `head` by integer head score, best first (ties by row), with those scores in code units."""
    if head.dtype != np.uint8 or queries.shape[1] != head.shape[1]:
        raise ValueError(f"head_top needs a uint8 head as wide as the queries, got {head.dtype}{head.shape} "
                         f"and queries {queries.shape}")
    ints, steps = quantized(queries)
    shift = HEAD_SHIFT * ints.astype(np.int64).sum(axis=0)  # what the stored shift adds to each query's scores
    thresholds = _thresholds(ints, head, masks, allowed, depths)
    # kept rows of masked queries include disallowed ones until the check below (a mask allowing 5% of the rows:
    # 20x as many), so they are held compactly: 2 + 4 + 4 bytes
    q_type, row_type = np.int16 if len(queries) <= np.iinfo(np.int16).max else np.int64, _row_type(len(head))
    q_parts, row_parts, score_parts = [], [], []
    block_rows = _block_rows(len(queries))
    for start in range(0, len(head), block_rows):
        scores = _product(head[start : start + block_rows], ints)
        flat = np.flatnonzero(scores >= thresholds)
        row, q = np.divmod(flat, len(queries))
        q_parts.append(q.astype(q_type))
        row_parts.append((row + start).astype(row_type))
        score_parts.append((scores.ravel()[flat] - shift[q]).astype(np.int32))  # |score| < 2^23 (128 x 255 x 127)
    out = []
    for j, (rows, scores), mask, n_allowed, depth in zip(range(len(queries)),
                                                         by_query(q_parts, row_parts, score_parts, len(queries)),
                                                         masks, allowed, depths, strict=True):
        if mask is not None:  # checked on the rows that reached the threshold only, once per query (not per block)
            keep = mask[rows]
            rows, scores = rows[keep], scores[keep]
        if len(rows) < min(depth, n_allowed):  # the sample misjudged this query: score it in full
            scores = np.concatenate([_product(head[at : at + _block_rows(1)], ints[:, j : j + 1])[:, 0]
                                     for at in range(0, len(head), _block_rows(1))]).astype(np.int64) - shift[j]
            rows = np.arange(len(head)) if mask is None else np.flatnonzero(mask)
            scores = scores[rows]
        out.append(_best(rows, scores, depth, steps[j]))
    return out


def by_query(q_parts: list[np.ndarray], row_parts: list[np.ndarray], score_parts: list[np.ndarray],
             n_queries: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(query, row, score) triples gathered block by block, as each query's (rows, scores) in the order found."""
    q_all = np.concatenate(q_parts)
    if n_queries <= np.iinfo(np.int16).max:  # numpy sorts 16-bit keys stably by radix: 7x faster than int64 keys
        q_all = q_all.astype(np.int16, copy=False)
    order = np.argsort(q_all, kind="stable")
    rows_all, scores_all = np.concatenate(row_parts)[order], np.concatenate(score_parts)[order]
    bounds = np.searchsorted(q_all[order], np.arange(n_queries + 1))
    return [(rows_all[bounds[j] : bounds[j + 1]], scores_all[bounds[j] : bounds[j + 1]]) for j in range(n_queries)]


def _row_type(n_rows: int) -> type[np.signedinteger]:
    return np.int32 if n_rows <= np.iinfo(np.int32).max else np.int64


def _block_rows(n_queries: int) -> int:
    return max(MIN_BLOCK_ROWS, BLOCK_SCORES // max(n_queries, 1))


def _best(rows: np.ndarray, scores: np.ndarray, depth: int, step: float) -> tuple[np.ndarray, np.ndarray]:
    """The `depth` best (rows, integer scores) by score then row, as int64 rows and float32 code-unit scores."""
    if len(rows) > depth:
        # integer scores tie often: of the rows tied at the cut, the lowest rows, so the answer does not depend on
        # which rows the threshold let through
        kth = np.partition(scores, len(scores) - depth)[len(scores) - depth]
        above = np.flatnonzero(scores > kth)
        tied = np.flatnonzero(scores == kth)
        tied = tied[np.argsort(rows[tied], kind="stable")[: depth - len(above)]]
        part = np.concatenate([above, tied])
        rows, scores = rows[part], scores[part]
    order = np.lexsort((rows, -scores))
    return rows[order].astype(np.int64), (scores[order] * step).astype(np.float32)


def _thresholds(ints: np.ndarray, head: np.ndarray, masks: list[np.ndarray | None], allowed: list[int],
                depths: list[int]) -> np.ndarray:
    """Per query, a shifted integer score that about REACH * depth of its allowed rows reach, judged on every
    (n // SAMPLE_SIZE)-th row; the lowest int32 (every row reaches it) where the sample cannot tell."""
    stride = max(1, len(head) // SAMPLE_SIZE)
    sample = _product(head[::stride], ints).T
    out = np.full(ints.shape[1], np.iinfo(np.int32).min, dtype=np.int64)
    for j, (mask, n_allowed, depth) in enumerate(zip(masks, allowed, depths, strict=True)):
        row = sample[j] if mask is None else sample[j][mask[::stride]]
        rank = int(np.ceil(REACH * depth * len(row) / max(n_allowed, 1))) + 8
        if rank < len(row):
            out[j] = np.partition(row, len(row) - 1 - rank)[len(row) - 1 - rank]
    return out.astype(np.int32)
