"""Throughput of the sentence encoders in one run on the same texts: numpy, ONNX fp32, ONNX int8.

Usage: python bench/embed_speed.py [--chunks 48] [--queries 512] [--rounds 3] [--ingest-docs 400] [--json]

Chunks are 256-token chunks (254 wordpieces plus [CLS]/[SEP]) cut from documents of the sample
corpus generator; queries are the generated headlines (about 10-20 tokens). The encoders take
turns within each round and the best round counts, so a noisy neighbour hits all three alike.
Threads: BATCHSEARCH_BLAS_THREADS (numpy's BLAS and ONNX Runtime's intra-op pool), default all
cores. The ONNX models are built into --cache-dir on first use (default <data_dir>/models).
Parity: least cosine of each ONNX encoder's vectors to the numpy encoder's, over every text.
Ingestion: the same generated documents ingested end to end (chunking, annotation, embedding, index
segments) into a fresh index with each encoder in turn: `ingest_<encoder>_chunks_per_s` and the ratio
to numpy (0 documents skips it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from batchsearch.config import Settings
from batchsearch.corpus import generate_documents, write_corpus
from batchsearch.embeddings import MiniLMEmbedder
from batchsearch.embeddings.onnx_encoder import OnnxEmbedder
from batchsearch.ingest.annotators import DefaultAnnotator
from batchsearch.ingest.pipeline import Ingestor
from batchsearch.ingest.chunking import chunk_text
from batchsearch.kg import KnowledgeGraph
from batchsearch.runtime import apply_blas_threads
from batchsearch.services import index_store

CHUNK_TOKENS = 254  # + [CLS] and [SEP] = the encoder's 256


def sample_texts(counter: MiniLMEmbedder, n_chunks: int, n_queries: int, seed: int = 5) -> tuple[list[str], list[str]]:
    """Full 256-token chunks and short headline queries from generated documents."""
    with tempfile.TemporaryDirectory(prefix="bench-kg-") as folder:
        graph = KnowledgeGraph.open_or_build(Path(folder) / "kg")
    chunks: list[str] = []
    queries: list[str] = []
    stream = ""
    for document in generate_documents(graph.companies(), graph.sources(), n_docs=10_000, seed=seed):
        queries.append(document["headline"])
        # Documents are run together so that chunks fill the whole budget, as long documents do.
        stream += " " + document["text"]
        if len(stream) > 4000:
            spans = chunk_text(stream, CHUNK_TOKENS, counter.count_tokens)
            texts = [stream[s.start : s.end] for s in spans[:-1]]
            chunks += [t for t, n in zip(texts, counter.count_tokens(texts)) if n >= CHUNK_TOKENS - 24]
            stream = stream[spans[-1].start :] if spans else ""
        if len(chunks) >= n_chunks and len(queries) >= n_queries:
            return chunks[:n_chunks], queries[:n_queries]
    raise RuntimeError("the generator ran out of documents")


def timed(run: Callable[[], object]) -> float:
    """Wall seconds of one call."""
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def median_latency_ms(encoder: MiniLMEmbedder | OnnxEmbedder, texts: Sequence[str]) -> float:
    """Median wall time of embedding one text at a time, in milliseconds."""
    encoder.embed(texts[:1])
    return statistics.median(timed(lambda: encoder.embed([text])) for text in texts) * 1000


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Least row-wise cosine of two sets of unit vectors."""
    return float(np.einsum("ij,ij->i", a.astype(np.float64), b.astype(np.float64)).min())


def measure(args: argparse.Namespace) -> dict[str, object]:
    """Load the three encoders, take turns timing them, and compare their vectors."""
    settings = Settings()
    apply_blas_threads(settings)
    cache = Path(args.cache_dir) if args.cache_dir else settings.data_dir / "models"
    encoders: dict[str, MiniLMEmbedder | OnnxEmbedder] = {}
    load_s: dict[str, float] = {}
    for name, make in (
        ("numpy", lambda: MiniLMEmbedder(batch_tokens=args.batch_tokens)),
        ("onnx_fp32", lambda: OnnxEmbedder.from_cache(cache, precision="fp32", threads=settings.blas_threads)),
        ("onnx_int8", lambda: OnnxEmbedder.from_cache(cache, precision="int8", threads=settings.blas_threads)),
    ):
        start = time.perf_counter()
        encoders[name] = make()
        load_s[name] = round(time.perf_counter() - start, 2)
    chunks, queries = sample_texts(encoders["numpy"], args.chunks, args.queries)
    vectors = {name: (enc.embed(chunks), enc.embed(queries)) for name, enc in encoders.items()}  # warm-up
    best: dict[str, list[float]] = {name: [float("inf"), float("inf")] for name in encoders}
    for _ in range(args.rounds):
        for name, enc in encoders.items():
            best[name][0] = min(best[name][0], timed(lambda: enc.embed(chunks)))
            best[name][1] = min(best[name][1], timed(lambda: enc.embed(queries)))
    out: dict[str, object] = {
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "threads": settings.blas_threads or "default",
        "chunks": len(chunks), "chunk_tokens": CHUNK_TOKENS + 2, "queries": len(queries),
        "query_tokens_mean": round(float(np.mean(encoders["numpy"].count_tokens(queries))) + 2, 1),
    }
    for name in encoders:
        out[f"{name}_chunks_per_s"] = round(len(chunks) / best[name][0], 2)
    for name in encoders:
        out[f"{name}_queries_per_s"] = round(len(queries) / best[name][1], 1)
    for name in ("onnx_fp32", "onnx_int8"):
        out[f"{name}_chunk_speedup"] = round(best["numpy"][0] / best[name][0], 2)
        out[f"{name}_query_speedup"] = round(best["numpy"][1] / best[name][1], 2)
    for name in ("onnx_fp32", "onnx_int8"):
        out[f"{name}_min_cosine_chunks"] = round(min_cosine(vectors[name][0], vectors["numpy"][0]), 6)
        out[f"{name}_min_cosine_queries"] = round(min_cosine(vectors[name][1], vectors["numpy"][1]), 6)
    for name, enc in encoders.items():
        out[f"{name}_single_query_ms"] = round(median_latency_ms(enc, queries[:40]), 2)
    out["load_s"] = load_s
    if args.ingest_docs:
        out.update(measure_ingest(encoders, args.ingest_docs))
    return out


def measure_ingest(encoders: dict[str, MiniLMEmbedder | OnnxEmbedder], n_docs: int) -> dict[str, object]:
    """Ingest the same generated documents into a fresh index with every encoder; chunks/s and ratios."""
    out: dict[str, object] = {"ingest_docs": n_docs}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as folder:
        root = Path(folder)
        graph = KnowledgeGraph.open_or_build(root / "kg")
        corpus = root / "corpus.jsonl"
        write_corpus(corpus, graph.companies(), graph.sources(), n_docs=n_docs, seed=11)
        annotator = DefaultAnnotator(graph.detector())
        seconds: dict[str, float] = {}
        for name, encoder in encoders.items():
            store = index_store(Settings(data_dir=root / name))
            report = Ingestor(store, encoder, annotator).ingest_file(str(corpus), "jsonl")
            out["ingest_chunks"] = report.chunks
            out[f"ingest_{name}_chunks_per_s"] = round(report.chunks_per_second, 2)
            seconds[name] = report.seconds
        for name in encoders:
            if name != "numpy":
                out[f"ingest_{name}_speedup"] = round(seconds["numpy"] / seconds[name], 2)
    return out


def main() -> None:
    """Parse arguments, measure, print a table or one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=48)
    parser.add_argument("--queries", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-tokens", type=int, default=4096, help="numpy micro-batch budget")
    parser.add_argument("--ingest-docs", type=int, default=400,
                        help="generated documents ingested end to end with each encoder (0: skip)")
    parser.add_argument("--cache-dir", help="where the ONNX models are built and kept")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = measure(args)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>32}  {value}")


if __name__ == "__main__":
    main()
