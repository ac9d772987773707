"""Fit the calibrated relevance (sigmoid of cosine and normalised BM25) on judged queries.

Collects hybrid candidates for each judged query from an ingested BEIR index, labels a chunk 1
when its document is judged relevant, fits a logistic regression (Newton's method in numpy) and
prints the coefficients with a reliability table (mean predicted vs observed per bin).

    python bench/calibrate_relevance.py --data-dir DIR --queries Q.jsonl --qrels QRELS.tsv [--json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from batchsearch.eval import read_qrels, read_queries
from batchsearch.models.search import Query
from batchsearch.search import ranking
from batchsearch.search.engine import ROW_BITS, SearchEngine


def collect(engine: SearchEngine, queries: list[tuple[str, str]], qrels: dict[str, dict[str, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Features (cosine, normalised BM25) and labels of every fused candidate."""
    feats, labels = [], []
    snap = engine.snapshot()
    for start in range(0, len(queries), 64):
        batch = queries[start : start + 64]
        models = [Query.model_validate({"text": t, "max_chunks": 50}) for _, t in batch]
        plans = engine._plan(models, snap, None)
        engine._embed(plans)
        dense = engine._dense(plans, snap)
        for (qid, _), plan, found in zip(batch, plans, dense, strict=True):
            cand = engine._candidates(plan, found, engine._lexical(plan, snap), snap)
            for key, cos, lex in zip(cand.keys, cand.dense_score, cand.lexical_norm, strict=True):
                seg = snap.views[int(key) >> ROW_BITS].segment
                doc_id = seg.docs[int(seg.chunk_doc[int(key) & ((1 << ROW_BITS) - 1)])]["id"]
                feats.append((cos, lex))
                labels.append(1.0 if qrels[qid].get(doc_id, 0) > 0 else 0.0)
    return np.asarray(feats), np.asarray(labels)


def fit_logistic(x: np.ndarray, y: np.ndarray, iterations: int = 50) -> np.ndarray:
    """Weights (a, b, c) of sigmoid(a*x0 + b*x1 + c) by Newton-Raphson with a tiny ridge."""
    design = np.column_stack([x, np.ones(len(x))])
    w = np.zeros(design.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-design @ w))
        grad = design.T @ (p - y) + 1e-6 * w
        hess = (design * (p * (1 - p))[:, None]).T @ design + 1e-6 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def reliability(pred: np.ndarray, y: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    edges = np.linspace(0, 1, bins + 1)
    table = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (pred >= lo) & (pred < hi if hi < 1 else pred <= hi)
        if sel.any():
            table.append({"bin": f"{lo:.1f}-{hi:.1f}", "n": int(sel.sum()), "predicted": round(float(pred[sel].mean()), 3),
                          "observed": round(float(y[sel].mean()), 3)})
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True)
    parser.add_argument("--qrels", type=Path, required=True)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    qrels = read_qrels(args.qrels)
    engine = SearchEngine.open(args.data_dir)
    x, y = collect(engine, read_queries(args.queries, set(qrels)), qrels)
    a, b, c = fit_logistic(x, y)
    current = ranking.relevance(x[:, 0], x[:, 1])
    fitted = 1.0 / (1.0 + np.exp(-(a * x[:, 0] + b * x[:, 1] + c)))
    out = {"pairs": len(y), "positives": int(y.sum()), "fit": {"a": round(a, 3), "b": round(b, 3), "c": round(c, 3)},
           "in_use": {"a": ranking.REL_A, "b": ranking.REL_B, "c": ranking.REL_C},
           "brier_in_use": round(float(np.mean((current - y) ** 2)), 4),
           "brier_fit": round(float(np.mean((fitted - y) ** 2)), 4),
           "reliability_in_use": reliability(current, y)}
    print(json.dumps(out, indent=None if args.json else 1))


if __name__ == "__main__":
    main()
