"""Throughput of the numpy MiniLM encoder: short queries, 256-token chunks, one-query latency.

Usage: python bench/embed_speed.py [--queries 512] [--chunks 64] [--rounds 3] [--json]

The 1-minute load average is printed with the numbers: OpenBLAS's worker threads lose badly
to other busy processes, so compare runs on a quiet machine, or set OPENBLAS_NUM_THREADS=1.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from collections.abc import Callable, Sequence

from batchsearch.embeddings import MiniLMEmbedder

_WORDS = (
    "revenue margin guidance quarter fiscal growth decline earnings profit loss bank rate "
    "inflation tariff supply chain demand Europe Asia market share buyback dividend debt "
    "bond yield credit rating merger acquisition board review regulatory risk semiconductor "
    "cloud software energy oil gas pipeline outage central policy investors analysts expect "
    "shares rose fell percent billion million cost inventory forecast outlook strong weak "
    "company reported announced record results sales customers price contract capital "
    "cash flow operating expenses tax lawsuit settlement factory production exports imports"
).split()


def make_texts(embedder: MiniLMEmbedder, count: int, content_tokens: int, seed: int) -> list[str]:
    """Synthetic texts of exactly content_tokens wordpieces each (plus [CLS]/[SEP])."""
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        words = [rng.choice(_WORDS) for _ in range(content_tokens)]
        while embedder.count_tokens([" ".join(words)])[0] > content_tokens:
            words.pop()
        texts.append(" ".join(words))
    return texts


def best_rate(run: Callable[[], object], items: int, rounds: int) -> float:
    """Best items/s over several timed rounds (after one warm-up)."""
    run()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return items / best


def median_latency_ms(embedder: MiniLMEmbedder, texts: Sequence[str]) -> float:
    """Median wall time of embedding one text at a time, in milliseconds."""
    embedder.embed(texts[:1])
    times = []
    for text in texts:
        start = time.perf_counter()
        embedder.embed([text])
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def measure(args: argparse.Namespace) -> dict[str, float | int | str]:
    """Run every measurement and return the numbers."""
    start = time.perf_counter()
    embedder = MiniLMEmbedder(batch_tokens=args.batch_tokens)
    load_s = time.perf_counter() - start
    queries = make_texts(embedder, args.queries, 14, seed=1)
    chunks = make_texts(embedder, args.chunks, embedder.max_tokens - 2, seed=2)
    query_rate = best_rate(lambda: embedder.embed(queries), len(queries), args.rounds)
    chunk_rate = best_rate(lambda: embedder.embed(chunks), len(chunks), args.rounds)
    # count_tokens runs the same wordpiece tokenizer (minus specials): its share of the time.
    chunk_tok_rate = best_rate(lambda: embedder.count_tokens(chunks), len(chunks), args.rounds)
    query_tok_rate = best_rate(lambda: embedder.count_tokens(queries), len(queries), args.rounds)
    return {
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
        "load_s": round(load_s, 3),
        "batch_tokens": args.batch_tokens,
        "queries": len(queries),
        "query_tokens": 16,
        "queries_per_s": round(query_rate, 1),
        "chunks": len(chunks),
        "chunk_tokens": embedder.max_tokens,
        "chunks_per_s": round(chunk_rate, 2),
        "single_query_ms": round(median_latency_ms(embedder, queries[:50]), 2),
        "tokenizer_share_queries": round(query_rate / query_tok_rate, 4),
        "tokenizer_share_chunks": round(chunk_rate / chunk_tok_rate, 4),
    }


def main() -> None:
    """Parse arguments, measure, print a table or one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=512)
    parser.add_argument("--chunks", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-tokens", type=int, default=4096)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = measure(args)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>24}  {value}")


if __name__ == "__main__":
    main()
