"""Retrieval quality harness: nDCG@10 and recall@100 of the ingested index on BEIR-style qrels."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from batchsearch.models.search import Query
from batchsearch.search.engine import SearchEngine

MODES = ("lexical", "dense", "hybrid")
EVAL_CHUNKS = 300
EVAL_BATCH = 64


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """BEIR qrels TSV (`query-id corpus-id score`), tolerant of CRLF line ends and a header row."""
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8", newline=None) as fh:
        for number, raw in enumerate(fh, start=1):
            parts = raw.strip().split("\t")
            if len(parts) < 3 or (number == 1 and not parts[2].lstrip("-").isdigit()):
                continue
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return qrels


def read_queries(path: Path, wanted: set[str]) -> list[tuple[str, str]]:
    """(id, text) of the queries that have judgements."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            if raw.strip():
                row = json.loads(raw)
                if str(row["_id"]) in wanted:
                    out.append((str(row["_id"]), row["text"]))
    return out


def ndcg_at(ranked: Sequence[str], judged: dict[str, int], k: int = 10) -> float:
    """nDCG@k with graded gains (BEIR convention: gain = relevance, log2 discount)."""
    dcg = sum(judged.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted(judged.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: Sequence[str], judged: dict[str, int], k: int = 100) -> float:
    """Share of relevant documents found in the top k."""
    relevant = {d for d, g in judged.items() if g > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def ranked_documents(response: dict[str, Any]) -> list[str]:
    """Document ids in result order (documents are ranked by their best chunk)."""
    return [doc["id"] for doc in response["results"]]


def evaluate(engine: SearchEngine, queries: list[tuple[str, str]], qrels: dict[str, dict[str, int]],
             modes: Sequence[str] = MODES) -> dict[str, dict[str, float]]:
    """Metrics per mode, each query searched with no filters and neutral ranking params."""
    report: dict[str, dict[str, float]] = {}
    fusion = {"lexical": "lexical", "dense": "dense", "hybrid": engine.fusion}
    for mode in modes:
        ndcg, recall = [], []
        for start in range(0, len(queries), EVAL_BATCH):
            batch = queries[start : start + EVAL_BATCH]
            models = [Query.model_validate({"text": text, "max_chunks": EVAL_CHUNKS, "ranking_params": {
                "freshness_boost": 0, "source_boost": 0, "content_diversification": {"enabled": False}}})
                for _, text in batch]
            for (qid, _), resp in zip(batch, engine.search_many(models, fusion=fusion[mode]), strict=True):
                if isinstance(resp, Exception):
                    raise resp
                ranked = ranked_documents(resp)
                ndcg.append(ndcg_at(ranked, qrels[qid]))
                recall.append(recall_at(ranked, qrels[qid]))
        report[mode] = {"ndcg@10": round(sum(ndcg) / len(ndcg), 4), "recall@100": round(sum(recall) / len(recall), 4),
                        "queries": len(ndcg)}
    return report
