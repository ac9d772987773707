"""Dense-only retrieval quality of the ONNX encoder precisions on a SciFact subset: fp32 vs int8 recipes.

Usage: python bench/encoder_quality.py [--extra-docs 1000] [--variants fp32,int8,int8-all,int8-keep-ends] [--json]

A cheap first judgement of quantisation (the real one is the full SciFact ingest and
`batchsearch eval`): the corpus is every document a train query judges relevant plus a seeded sample
of --extra-docs other documents. Documents are chunked as the ingest pipeline does (title as the
headline of every chunk, 256-token budget) and a document scores by its best chunk, as in search.
Every variant ranks the same documents for the same 809 train queries; the report gives nDCG@10 and
recall@100 per variant and each one's loss against the first (paired over the
queries, with its standard error). Numbers on a subset are higher than on the
whole corpus (fewer distractors); the differences between variants are what this measures.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np

from batchsearch.config import Settings
from batchsearch.embeddings.onnx_encoder import OnnxEmbedder
from batchsearch.eval import ndcg_at, read_qrels, read_queries, recall_at
from batchsearch.ingest.chunking import chunk_text
from batchsearch.ingest.pipeline import HEADLINE_TOKEN_CAP
from batchsearch.runtime import apply_blas_threads

SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"


def load_subset(data: Path, extra_docs: int, seed: int) -> tuple[dict[str, tuple[str, str]], dict[str, dict[str, int]],
                                                                  list[tuple[str, str]]]:
    """(documents by id: (title, text)), train qrels and train queries, over the judged docs plus a sample."""
    qrels = read_qrels(data / "qrels" / "train.tsv")
    queries = read_queries(data / "queries.jsonl", set(qrels))
    needed = {doc for judged in qrels.values() for doc in judged}
    corpus: dict[str, tuple[str, str]] = {}
    with (data / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            corpus[str(row["_id"])] = (row.get("title") or "", row.get("text") or "")
    others = sorted(set(corpus) - needed)
    sample = set(random.Random(seed).sample(others, min(extra_docs, len(others))))
    return {doc: corpus[doc] for doc in sorted(needed | sample) if doc in corpus}, qrels, queries


def chunk_documents(encoder: OnnxEmbedder, docs: dict[str, tuple[str, str]]) -> tuple[list[str], np.ndarray]:
    """Texts to embed (headline + newline + chunk, as the ingest pipeline builds them) and each one's doc index."""
    texts: list[str] = []
    owners: list[int] = []
    for index, (title, text) in enumerate(docs.values()):
        title_tokens = encoder.count_tokens([title])[0] if title else 0
        budget = encoder.max_tokens - 2 - min(title_tokens, HEADLINE_TOKEN_CAP)
        for span in chunk_text(text, budget, encoder.count_tokens) or []:
            chunk = text[span.start : span.end]
            texts.append(title + "\n" + chunk if title else chunk)
            owners.append(index)
    return texts, np.array(owners)


def rank_documents(chunk_vectors: np.ndarray, owners: np.ndarray, n_docs: int, query_vectors: np.ndarray,
                   k: int = 100) -> np.ndarray:
    """Top-k document indices per query, a document scoring by its best chunk."""
    scores = query_vectors @ chunk_vectors.T
    best = np.full((len(query_vectors), n_docs), -np.inf, dtype=np.float32)
    np.maximum.at(best.T, owners, scores.T)
    top: np.ndarray = np.argsort(-best, axis=1, kind="stable")[:, :k]
    return top


def per_query(ranked: np.ndarray, doc_ids: list[str], queries: list[tuple[str, str]],
              qrels: dict[str, dict[str, int]]) -> tuple[np.ndarray, np.ndarray]:
    """nDCG@10 and recall@100 of every query."""
    ndcg, recall = [], []
    for (query_id, _), row in zip(queries, ranked):
        found = [doc_ids[i] for i in row]
        ndcg.append(ndcg_at(found, qrels[query_id]))
        recall.append(recall_at(found, qrels[query_id]))
    return np.array(ndcg), np.array(recall)


def measure(args: argparse.Namespace) -> dict[str, object]:
    """Embed the subset with every variant and score dense-only retrieval."""
    settings = Settings()
    apply_blas_threads(settings)
    cache = Path(args.cache_dir) if args.cache_dir else settings.data_dir / "models"
    docs, qrels, queries = load_subset(Path(args.data), args.extra_docs, args.seed)
    doc_ids = list(docs)
    report: dict[str, object] = {"documents": len(docs), "queries": len(queries), "extra_docs": args.extra_docs,
                                 "seed": args.seed, "threads": settings.blas_threads or "default"}
    baseline: np.ndarray | None = None
    for variant in args.variants.split(","):
        encoder = OnnxEmbedder.from_cache(cache, precision=variant, threads=settings.blas_threads)
        if "chunks" not in report:
            texts, owners = chunk_documents(encoder, docs)
            report["chunks"] = len(texts)
        ranked = rank_documents(encoder.embed(texts), owners, len(docs), encoder.embed([text for _, text in queries]))
        ndcg, recall = per_query(ranked, doc_ids, queries, qrels)
        scores = {"ndcg_at_10": round(float(ndcg.mean()), 4), "recall_at_100": round(float(recall.mean()), 4)}
        if baseline is None:
            baseline = ndcg
        else:
            # Paired over the same queries: the loss and its standard error.
            loss = baseline - ndcg
            scores["ndcg_loss"] = round(float(loss.mean()), 4)
            scores["ndcg_loss_stderr"] = round(float(loss.std(ddof=1) / np.sqrt(len(loss))), 4)
            scores["queries_changed"] = int((np.abs(loss) > 1e-9).sum())
        report[variant] = scores
    return report


def main() -> None:
    """Parse arguments, measure, print a table or one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SCIFACT), help="the BEIR SciFact folder")
    parser.add_argument("--extra-docs", type=int, default=1000, help="documents sampled beyond the judged ones")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--variants", default="fp32,int8,int8-all,int8-keep-ends",
                        help="precisions to compare, the first is the baseline")
    parser.add_argument("--cache-dir", help="where the ONNX models are built and kept")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = measure(args)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>16}  {value}")


if __name__ == "__main__":
    main()
