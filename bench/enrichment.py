"""Auto-enrichment quality: precision@10 of queries that name a company, with and without auto_enrich_filters.

    python bench/enrichment.py [--docs 300] [--seed 11] [--queries 40] [--json]

1. The default knowledge graph is built into a temporary folder; `generate_documents` writes `--docs`
   documents about its companies, and the real ingest pipeline (MiniLM embedder, the default annotator
   with the graph's detector) indexes them.
2. Queries: for the companies the corpus mentions most (up to `--queries`, each in at least 3 documents),
   "<the company's usual short name> <a business theme>", themes cycling through a fixed list.
3. Ground truth comes from the generator, not the detector: a returned chunk is relevant when its text
   contains a surface the generator wrote for that company in that document (`_mentions`,
   `_headline_mentions`).
4. Each query runs twice through the same engine: as written with auto_enrich_filters false, and planned
   by search/planner.py with it true (the detected company added to entity.any_of).
   precision@10 = relevant chunks in the top 10 / 10, averaged over queries; also the mean number returned.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batchsearch.corpus import generate_documents
from batchsearch.embeddings import MiniLMEmbedder
from batchsearch.index.store import IndexStore
from batchsearch.ingest.annotators import DefaultAnnotator
from batchsearch.ingest.pipeline import Ingestor
from batchsearch.kg import KnowledgeGraph
from batchsearch.models.search import parse_search_request
from batchsearch.search.engine import SearchEngine
from batchsearch.search.planner import plan_search

THEMES = ("quarterly earnings and revenue guidance", "job cuts and restructuring", "new product launch",
          "lawsuit and regulatory investigation", "share buyback and dividend", "merger and acquisition talks")
K = 10


def _surfaces(documents: list[dict[str, Any]]) -> dict[str, dict[str, set[str]]]:
    """Document id -> company id -> the surfaces the generator wrote for it."""
    truth: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for doc in documents:
        for field, text in (("_mentions", doc["text"]), ("_headline_mentions", doc["headline"])):
            for m in doc.get(field, []):
                truth[doc["id"]][m["id"]].add(text[m["start"]:m["end"]])
    return truth


def _precision(response: dict[str, Any], company: str, truth: dict[str, dict[str, set[str]]]) -> tuple[float, int]:
    chunks = [(doc["id"], chunk["text"]) for doc in response["results"] for chunk in doc["chunks"]][:K]
    relevant = sum(any(s in text for s in truth.get(doc_id, {}).get(company, ())) for doc_id, text in chunks)
    return relevant / K, len(chunks)


def _share(rows: list[dict[str, Any]], which: str) -> float:
    relevant = sum(r[f"precision_{which}"] * K for r in rows)
    return round(relevant / max(1, sum(r[f"returned_{which}"] for r in rows)), 4)


def run(n_docs: int, seed: int, n_queries: int) -> dict[str, Any]:
    """Build, ingest, query twice; the figures."""
    with tempfile.TemporaryDirectory() as folder:
        graph = KnowledgeGraph.open_or_build(Path(folder) / "kg")
        detector = graph.detector()
        documents = list(generate_documents(graph.companies(), graph.sources(), n_docs=n_docs, seed=seed))
        corpus = Path(folder) / "corpus.jsonl"
        corpus.write_text("".join(json.dumps({k: v for k, v in d.items() if not k.startswith("_")}) + "\n"
                                  for d in documents))
        embedder = MiniLMEmbedder()
        store = IndexStore(Path(folder) / "index")
        Ingestor(store, embedder, DefaultAnnotator(detector)).ingest_file(str(corpus))
        truth = _surfaces(documents)
        counts = Counter(company for doc in truth.values() for company in doc)
        by_id = {c.id: c for c in graph.companies()}
        picked = [(c, detector.surface_forms(by_id[c])) for c, n in counts.most_common() if n >= 3 and c in by_id]
        picked = [(c, forms[0]) for c, forms in picked if forms][:n_queries]
        engine = SearchEngine(store, embedder)
        texts = [f"{name} {THEMES[i % len(THEMES)]}" for i, (_, name) in enumerate(picked)]
        plain = [parse_search_request({"query": {"text": t, "auto_enrich_filters": False}}).query for t in texts]
        now = datetime.now(UTC)
        enriched = [plan_search(parse_search_request({"query": {"text": t}}).query, detector, now).queries[0]
                    for t in texts]
        rows = []
        for (company, _), text, query, a, b in zip(picked, texts, enriched, engine.search_many(plain),
                                                   engine.search_many(enriched), strict=True):
            assert not isinstance(a, Exception) and not isinstance(b, Exception)
            (p_off, n_off), (p_on, n_on) = _precision(a, company, truth), _precision(b, company, truth)
            rows.append({"query": text, "precision_without": p_off, "precision_with": p_on,
                         "returned_without": n_off, "returned_with": n_on,
                         "enriched": query.filters.entity is not None})
    n = max(1, len(rows))
    return {
        "docs": n_docs, "seed": seed, "queries": len(rows),
        "queries_enriched": sum(r["enriched"] for r in rows),
        "precision_at_10_without_enrichment": round(sum(r["precision_without"] for r in rows) / n, 4),
        "precision_at_10_with_enrichment": round(sum(r["precision_with"] for r in rows) / n, 4),
        "mean_returned_without": round(sum(r["returned_without"] for r in rows) / n, 2),
        "mean_returned_with": round(sum(r["returned_with"] for r in rows) / n, 2),
        # relevant / returned: fewer than 10 chunks may match a company at all in a small corpus
        "precision_of_returned_without": _share(rows, "without"),
        "precision_of_returned_with": _share(rows, "with"),
        "worst_with_enrichment": sorted(rows, key=lambda r: r["precision_with"])[:3],
    }


def main() -> None:
    """Parse arguments, run, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.docs, args.seed, args.queries)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['queries']} queries naming a company ({result['queries_enriched']} enriched), "
          f"{result['docs']} generated documents")
    print(f"precision@10 without enrichment: {result['precision_at_10_without_enrichment']:.3f} "
          f"(mean {result['mean_returned_without']} chunks returned)")
    print(f"precision@10 with enrichment:    {result['precision_at_10_with_enrichment']:.3f} "
          f"(mean {result['mean_returned_with']} chunks returned)")
    print(f"relevant share of the chunks returned: {result['precision_of_returned_without']:.3f} without, "
          f"{result['precision_of_returned_with']:.3f} with")


if __name__ == "__main__":
    main()
