"""Volume and co-mentions over a large index: seconds per call, side by side with one search on the same index.

Builds (once, cached under .bench-cache) an index of --chunks paragraphs of generated financial news with random
vectors (bench/search_throughput.py's builder), then times, for a few query shapes (everything, an entity
filter, a timestamp range, a text), the whole count behind `POST /v1/search/volume` and
`POST /v1/search/co-mentions/entities` and `/topics` (filters, text match, counting): median of --repeats
calls, against the target of well under a second at a million chunks.

    python bench/analytics_speed.py [--chunks 1000000] [--repeats 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from search_throughput import build_generated_index

from batchsearch.models.analytics import AnalyticsQuery
from batchsearch.search import analytics
from batchsearch.search.engine import SearchEngine

TARGET_SECONDS = 1.0  # "a volume over 1M chunks in well under a second"


class NoEmbedder:
    """Queries here have no text to embed (or are timed lexically); the engine needs an embedder object."""

    dim = 384

    def embed(self, texts: list[str]) -> Any:
        raise RuntimeError("the analytics bench embeds nothing")


def median_seconds(call: Callable[[], object], repeats: int) -> float:
    """Median wall time of `repeats` calls after one warm-up."""
    call()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=Path(".bench-cache"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    started = time.perf_counter()
    store, entities, _ = build_generated_index(args.cache / f"analytics-{args.chunks}", args.chunks)
    build_seconds = time.perf_counter() - started
    engine = SearchEngine(store, NoEmbedder())  # type: ignore[arg-type]
    snap = engine.snapshot()
    shapes = {
        "all": {},
        "entity": {"filters": {"entity": {"any_of": entities[:3]}}},
        "timestamp": {"filters": {"timestamp": {"start": "2024-01-01", "end": "2024-12-31"}}},
        "text": {"text": "revenue guidance"},
    }
    report: dict[str, Any] = {"chunks": snap.n_chunks, "index_build_or_load_s": round(build_seconds, 1),
                              "target_s": TARGET_SECONDS, "shapes": {}}
    for name, body in shapes.items():
        query = AnalyticsQuery.model_validate(body)

        def volume(query: AnalyticsQuery = query) -> object:
            return analytics.volume(analytics.matching_parts(engine, snap, query, None), 1000)

        def entity_mentions(query: AnalyticsQuery = query) -> object:
            return analytics.co_mentions(analytics.matching_parts(engine, snap, query, None), "entity")

        def topic_mentions(query: AnalyticsQuery = query) -> object:
            return analytics.co_mentions(analytics.matching_parts(engine, snap, query, None), "topic")

        matched = sum(int(part.mask.sum()) for part in analytics.matching_parts(engine, snap, query, None))
        report["shapes"][name] = {
            "matching_chunks": matched,
            "volume_s": round(median_seconds(volume, args.repeats), 4),
            "co_mentions_entities_s": round(median_seconds(entity_mentions, args.repeats), 4),
            "co_mentions_topics_s": round(median_seconds(topic_mentions, args.repeats), 4),
        }
    slowest = max(max(row["volume_s"], row["co_mentions_entities_s"], row["co_mentions_topics_s"])
                  for row in report["shapes"].values())
    report["slowest_call_s"] = slowest
    report["within_target"] = slowest < TARGET_SECONDS
    if args.json:
        print(json.dumps(report))
        return
    print(f"{report['chunks']:,} chunks (index ready in {build_seconds:.0f} s)")
    for name, row in report["shapes"].items():
        print(f"  {name:9} {row['matching_chunks']:>9,} matching: volume {row['volume_s']:.3f} s, entity co-mentions "
              f"{row['co_mentions_entities_s']:.3f} s, topic co-mentions {row['co_mentions_topics_s']:.3f} s")
    print(f"slowest call {slowest:.3f} s (target < {TARGET_SECONDS} s): {'ok' if report['within_target'] else 'OVER'}")


if __name__ == "__main__":
    main()
