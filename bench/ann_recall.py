"""Recall and speed of the ANN index (search/ann.py) against exact dense search, in one run.

Usage: python bench/ann_recall.py [--rows 200000] [--queries 500] [--nprobe 8,16,32] [--json]

Data: 200 gaussian centres in 384-d, each row a centre plus isotropic noise (SPREAD), normalised,
so a row keeps a cosine of about 0.55 to its centre; random unit vectors would have no neighbours
worth finding. Queries are data rows plus noise (cosine about 0.7 to their row), normalised.
Filters are random masks: none, broad (50% of rows), mid (15%: still the faiss selector path at
200k rows) and narrow (1%: the exact gather path). Both sides run single-threaded (BLAS and faiss)
and are timed side by side on the same queries; recall@10 is |ANN top 10 & exact top 10| / 10.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import faiss
import numpy as np
from threadpoolctl import threadpool_limits

from batchsearch.index.segment import Segment
from batchsearch.index import ann_file
from batchsearch.search import ann
from batchsearch.search.dense import DenseRequest, search_segment

DIM = 384
CENTRES = 200
SPREAD = 1.5
QUERY_SPREAD = 1.0
K = 10
FILTERS = {"none": 1.0, "broad": 0.5, "mid": 0.15, "narrow": 0.01}


@dataclass
class VectorsOnly:
    """The one part of a Segment that dense search reads."""

    vectors: np.ndarray


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, float32."""
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    """n unit rows around CENTRES gaussian centres."""
    centres = rng.standard_normal((CENTRES, DIM), dtype=np.float32) / np.sqrt(DIM)
    noise = rng.standard_normal((n, DIM), dtype=np.float32) * (SPREAD / np.sqrt(DIM))
    return unit_rows(centres[rng.integers(0, CENTRES, n)] + noise)


def near_queries(rng: np.random.Generator, vectors: np.ndarray, m: int) -> np.ndarray:
    """m unit queries, each a random data row plus noise."""
    rows = vectors[rng.integers(0, len(vectors), m)]
    return unit_rows(rows + rng.standard_normal((m, DIM), dtype=np.float32) * (QUERY_SPREAD / np.sqrt(DIM)))


def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    """fn(*args) and its wall time in seconds."""
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def recall(got: list[tuple[np.ndarray, np.ndarray]], want: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean share of each exact top-k found by the ANN top-k."""
    shares = [len(set(g[0].tolist()) & set(w[0].tolist())) / max(1, len(w[0])) for g, w in zip(got, want, strict=True)]
    return float(np.mean(shares))


def measure(index: ann.AnnIndex, vectors: np.ndarray, queries: np.ndarray, share: float,
            rng: np.random.Generator) -> dict[str, float]:
    """Recall and queries/s of exact and ANN search under one random mask."""
    m = len(queries)
    mask = None if share >= 1.0 else rng.random(len(vectors)) < share
    allowed = len(vectors) if mask is None else int(mask.sum())
    requests = [DenseRequest(vector=q, mask=mask, n_allowed=allowed, k=K) for q in queries]
    exact, exact_s = timed(search_segment, cast(Segment, VectorsOnly(vectors)), requests)
    got, ann_s = timed(index.search_many, queries, [mask] * m, [allowed] * m, [K] * m, vectors)
    return {"recall": recall(got, exact), "exact_queries_per_s": m / exact_s, "ann_queries_per_s": m / ann_s}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build once, then measure every filter at every nprobe."""
    rng = np.random.default_rng(args.seed)
    vectors = clustered_vectors(rng, args.rows)
    queries = near_queries(rng, vectors, args.queries)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _, build_s = timed(ann_file.build_ann, vectors, folder)
        out: dict[str, Any] = {"rows": args.rows, "queries": args.queries, "build_seconds": build_s,
                               "ann_bytes": os.path.getsize(folder / ann_file.ANN_FILE), "default_nprobe": ann.NPROBE,
                               "by_nprobe": {}}
        for nprobe in sorted({ann.NPROBE, *args.nprobe}):
            index = ann.AnnIndex(folder, nprobe=nprobe)
            out["nlist"] = index.nlist
            out["by_nprobe"][nprobe] = {name: measure(index, vectors, queries, share, np.random.default_rng(i))
                                        for i, (name, share) in enumerate(FILTERS.items())}
    default = out["by_nprobe"][ann.NPROBE]
    out["recall_at_10_vs_exact"] = {name: default[name]["recall"] for name in FILTERS}
    out["exact_queries_per_s"] = default["none"]["exact_queries_per_s"]
    out["ann_queries_per_s"] = default["none"]["ann_queries_per_s"]
    return out


def main() -> None:
    """Parse, run single-threaded, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--nprobe", type=lambda s: [int(x) for x in s.split(",")], default=[8, 16, 32])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    with threadpool_limits(limits=1):
        out = run(args)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"{out['rows']} rows, nlist {out['nlist']}, build {out['build_seconds']:.1f} s, "
          f"{out['ann_bytes'] / 1e6:.1f} MB")
    for nprobe, by_filter in out["by_nprobe"].items():
        for name, row in by_filter.items():
            print(f"nprobe {nprobe:4d} {name:7s} recall@10 {row['recall']:.4f}  "
                  f"exact {row['exact_queries_per_s']:8.0f} q/s  ann {row['ann_queries_per_s']:8.0f} q/s")


if __name__ == "__main__":
    main()
