"""Fit the calibrated relevance (sigmoid of cosine and normalised BM25) on judged queries of two domains.

Collects hybrid candidates for each judged query, labels a chunk 1 when its document is judged relevant, fits a
logistic regression (Newton's method in numpy) and prints the coefficients with reliability tables (mean
predicted vs observed per decile). The judged queries come from an ingested BEIR index (SciFact: scientific
claims) and from the sample financial corpus: the generator records each document's main company and what it
reports, so "<company> <event>" queries have known relevant documents. Half of the financial queries (by a hash
of their id) are held apart for checking; the fit weighs both domains equally.

    python bench/calibrate_relevance.py --data-dir DIR --queries Q.jsonl --qrels QRELS.tsv [--generated 400] [--json]
"""

from __future__ import annotations

import argparse
import json
import zlib
from collections import defaultdict
from pathlib import Path

import numpy as np

from batchsearch.eval import read_qrels, read_queries
from batchsearch.models.search import Query
from batchsearch.search import ranking
from batchsearch.search.engine import ROW_BITS, SearchEngine


def collect(engine: SearchEngine, queries: list[tuple[str, str]], qrels: dict[str, dict[str, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Features (cosine, normalised BM25, cosine minus the query's best candidate cosine) and labels of every fused
    candidate."""
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
            best = float(cand.dense_score.max()) if len(cand.keys) else 0.0
            for key, cos, lex in zip(cand.keys, cand.dense_score, cand.lexical_norm, strict=True):
                seg = snap.views[int(key) >> ROW_BITS].segment
                doc_id = seg.docs[int(seg.chunk_doc[int(key) & ((1 << ROW_BITS) - 1)])]["id"]
                feats.append((cos, lex, cos - best))
                labels.append(1.0 if qrels[qid].get(doc_id, 0) > 0 else 0.0)
    return np.asarray(feats), np.asarray(labels)


EVENT_QUERIES = {
    "earnings": "quarterly earnings results", "guidance": "revenue guidance and outlook",
    "analyst": "analyst rating change", "capital_return": "share buyback and dividend",
    "acquisition": "acquisition deal", "layoffs": "job cuts and layoffs", "legal": "lawsuit and legal dispute",
    "product": "new product launch", "executive": "executive leadership change", "tariffs": "tariffs impact",
    "rates": "interest rates impact", "regulatory": "regulatory investigation", "contract": "major contract win",
    "earnings call": "earnings call remarks",
}


def generated_judgements(cache: Path, n_docs: int, seed: int) -> tuple[Path, list[tuple[str, str]],
                                                                        dict[str, dict[str, int]]]:
    """An ingested sample financial corpus (built once under `cache`) and its judged "<company> <event>" queries."""
    from batchsearch.config import Settings
    from batchsearch.corpus import generate_documents
    from batchsearch.kg import KnowledgeGraph
    from batchsearch.services import build_ingestor

    data_dir = cache / f"generated-{n_docs}-{seed}"
    graph = KnowledgeGraph.open_or_build(data_dir / "kg")
    names = {company.id: company.name for company in graph.companies()}
    docs = list(generate_documents(graph.companies(), graph.sources(), n_docs=n_docs, seed=seed))
    if not (data_dir / "index").exists():
        corpus = data_dir / "corpus.jsonl"
        corpus.write_text("".join(json.dumps(doc) + "\n" for doc in docs))
        build_ingestor(Settings(data_dir=data_dir)).ingest_file(str(corpus), "jsonl")
    about: dict[tuple[str, str], list[str]] = defaultdict(list)
    for doc in docs:
        if doc["_event"] in EVENT_QUERIES:
            about[(doc["_company"], doc["_event"])].append(doc["id"])
    queries, qrels = [], {}
    for (company, event), ids in sorted(about.items()):
        qid = f"{company}:{event}"
        queries.append((qid, f"{names[company]} {EVENT_QUERIES[event]}"))
        qrels[qid] = {doc_id: 1 for doc_id in ids}
    return data_dir, queries, qrels


def held_apart(qid: str) -> bool:
    """Whether a generated query is kept for checking (half of them, by a hash of the id)."""
    return zlib.crc32(qid.encode()) % 2 == 1


def fit_logistic(x: np.ndarray, y: np.ndarray, iterations: int = 50, weights: np.ndarray | None = None) -> np.ndarray:
    """Coefficients of sigmoid(x @ w[:-1] + w[-1]) by Newton-Raphson with a tiny ridge (`weights`: per sample)."""
    design = np.column_stack([x, np.ones(len(x))])
    sample = np.ones(len(y)) if weights is None else weights
    w = np.zeros(design.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-design @ w))
        grad = design.T @ (sample * (p - y)) + 1e-6 * w
        hess = (design * (sample * p * (1 - p))[:, None]).T @ design + 1e-6 * np.eye(len(w))
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


def predict(coef: tuple[float, ...], x: np.ndarray) -> np.ndarray:
    """sigmoid(a * cosine + b * normalised BM25 + g * gap to the best cosine + c)."""
    a, b, g, c = coef
    return 1.0 / (1.0 + np.exp(-(a * x[:, 0] + b * x[:, 1] + g * x[:, 2] + c)))


def report(coef: tuple[float, ...], x: np.ndarray, y: np.ndarray) -> dict[str, object]:
    """Brier score and reliability per decile of one set of coefficients on one set of pairs."""
    pred = predict(coef, x)
    return {"pairs": len(y), "positives": int(y.sum()), "brier": round(float(np.mean((pred - y) ** 2)), 4),
            "reliability": reliability(pred, y)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True)
    parser.add_argument("--qrels", type=Path, required=True)
    parser.add_argument("--generated", type=int, default=400, help="documents of the financial corpus (0: none)")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--cache", type=Path, default=Path(".bench-cache") / "calibration")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    qrels = read_qrels(args.qrels)
    sci_x, sci_y = collect(SearchEngine.open(args.data_dir), read_queries(args.queries, set(qrels)), qrels)
    sets = {"scifact": (sci_x, sci_y)}
    if args.generated:
        data_dir, queries, judged = generated_judgements(args.cache.resolve(), args.generated, args.seed)
        engine = SearchEngine.open(data_dir)
        sets["financial_fit"] = collect(engine, [q for q in queries if not held_apart(q[0])], judged)
        sets["financial_held_apart"] = collect(engine, [q for q in queries if held_apart(q[0])], judged)
    fitting = [name for name in sets if name != "financial_held_apart"]
    x = np.concatenate([sets[name][0] for name in fitting])
    y = np.concatenate([sets[name][1] for name in fitting])
    weights = np.concatenate([np.full(len(sets[name][1]), len(y) / (len(fitting) * len(sets[name][1])))
                              for name in fitting])  # each domain counts equally
    a, b, g, c = (float(v) for v in fit_logistic(x, y, weights=weights))
    in_use = (ranking.REL_A, ranking.REL_B, ranking.REL_G, ranking.REL_C)
    out = {"fit": {"a": round(a, 3), "b": round(b, 3), "g": round(g, 3), "c": round(c, 3)},
           "in_use": dict(zip("abgc", in_use, strict=True)),
           "with_fit": {name: report((a, b, g, c), *pairs) for name, pairs in sets.items()},
           "with_in_use": {name: report(in_use, *pairs) for name, pairs in sets.items()}}
    print(json.dumps(out, indent=None if args.json else 1))


if __name__ == "__main__":
    main()
