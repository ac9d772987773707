"""Batch Search overhead: lines/s of a batch end to end (upload to downloaded file) vs `search_many` in-process.

Starts a real server (uvicorn on 127.0.0.1 + worker processes, as `batchsearch serve` does) over a small
ingested index (built once under .bench-cache/batch with the real embedder, or --data-dir), uploads an
N-line batch, polls until completed and downloads the output; then runs engine.search_many on the same
queries in this process, in micro-batches of the same size. Prints both rates and their ratio.

With `--backend postgres-s3` it also runs the same batch on a shared deployment's engines, a PostgreSQL and
a SeaweedFS S3 server started on 127.0.0.1 for the run (jobs and keys in PostgreSQL, batch files and the index
in S3, uploads and downloads through S3 presigned URLs), and prints both rates and their ratio.

    python bench/batch_throughput.py [--lines 10000] [--micro-batch 64] [--backend postgres-s3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

import httpx

from serving import create_key, start_serve

WORDS = (
    "revenue guidance lawsuit growth cloud computing outlook margin profit loss dividend merger acquisition "
    "chief executive board shares stock price inflation rates bank loan factory energy oil gas supply demand "
    "market quarter earnings analyst forecast semiconductor tariffs central interest decision"
).split()
TARGET_OVERHEAD = 1.3


def build_index(data_dir: Path, n_docs: int) -> None:
    """Ingest a deterministic synthetic corpus with the real embedder (once)."""
    from batchsearch.config import Settings
    from batchsearch.services import build_ingestor

    if (data_dir / "index").exists():
        return
    rng = random.Random(7)
    data_dir.mkdir(parents=True, exist_ok=True)
    docs = data_dir / "docs.jsonl"
    with docs.open("w") as out:
        for i in range(n_docs):
            text = " ".join(rng.choice(WORDS) for _ in range(80)) + "."
            out.write(json.dumps({"id": f"D{i:05d}", "headline": f"{rng.choice(WORDS)} report {i}", "text": text,
                                  "timestamp": 1_700_000_000 + i * 3600}) + "\n")
    build_ingestor(Settings(data_dir=data_dir)).ingest_file(str(docs), "jsonl")


def batch_file(n: int) -> bytes:
    """n search lines with varied texts."""
    rng = random.Random(3)
    lines = []
    for _ in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(3))
        lines.append(json.dumps({"query": {"text": text, "max_chunks": 5}}).encode())
    return b"\n".join(lines) + b"\n"


def run_batch(base: str, api_key: str, data: bytes) -> tuple[float, int]:
    """Seconds from upload to downloaded output, and the number of output lines."""
    http = httpx.Client(base_url=base, headers={"X-API-KEY": api_key}, timeout=120)
    created = http.post("/v1/search/batches").json()
    started = time.perf_counter()
    httpx.put(created["presigned_url"], content=data, headers={"Content-Type": "application/jsonl"}, timeout=120)
    while (status := http.get(f"/v1/search/batches/{created['batch_id']}").json())["status"] not in (
        "completed", "failed", "cancelled"):
        time.sleep(0.1)
    if status["status"] != "completed":
        raise SystemExit(f"batch ended {status}")
    output = httpx.get(status["output_file_url"], timeout=300).content
    return time.perf_counter() - started, output.count(b"\n")


def timed_batch(source: Path, args: argparse.Namespace, data: bytes, settings: dict[str, str],
                env: dict[str, str]) -> float:
    """Seconds of one batch through a fresh server over a copy of the index (settings pick the deployment)."""
    work = args.cache / f"run-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(source / "index", work / "index")
    try:
        key = create_key(work, database_url=settings.get("database_url"))
        settings = settings | {"micro_batch_size": str(args.micro_batch), "poll_seconds": "0.1"}
        process, base = start_serve(work, workers=args.workers, settings=settings, env=env)
        try:
            time.sleep(2)  # let the worker processes load the engine, as a running service has
            seconds, out_lines = run_batch(base, key, data)
        finally:
            process.terminate()
            process.wait(timeout=60)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert out_lines == args.lines, (out_lines, args.lines)
    return seconds


def on_postgres_and_s3(source: Path, args: argparse.Namespace, data: bytes) -> float:
    """Seconds of the same batch with jobs in PostgreSQL and files and the index in S3 (both started here)."""
    import sys
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from pg_server import running_pg_server
    from s3_server import running_s3_server

    with tempfile.TemporaryDirectory(prefix="bench-s3-") as root, running_pg_server() as database_url, \
            running_s3_server(Path(root)) as s3:
        settings = {"database_url": database_url, "object_store_url": f"s3://{s3.bucket}/bench",
                    "s3_endpoint_url": s3.endpoint_url}
        return timed_batch(source, args, data, settings, dict(s3.env()))


def search_many_rate(data_dir: Path, data: bytes, micro_batch: int) -> dict[str, float]:
    """Lines/s of engine.search_many on the same queries in this process (micro-batched and all at once)."""
    from batchsearch.models.search import parse_search_request
    from batchsearch.search.engine import SearchEngine

    engine = SearchEngine.open(data_dir)  # the embedded index of the source folder
    queries = [parse_search_request(json.loads(line)).query for line in data.splitlines()]
    engine.search_many(queries[:micro_batch], owner="bench")  # warm-up, as a worker's first micro-batch
    started = time.perf_counter()
    for i in range(0, len(queries), micro_batch):
        engine.search_many(queries[i : i + micro_batch], owner="bench")
    micro = len(queries) / (time.perf_counter() - started)
    return {"search_many_lines_per_s": micro}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--micro-batch", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--docs", type=int, default=300, help="documents of the synthetic index")
    parser.add_argument("--data-dir", type=Path, help="an already ingested data dir to search (copied)")
    parser.add_argument("--cache", type=Path, default=Path(".bench-cache") / "batch")
    parser.add_argument("--backend", choices=("sqlite-file", "postgres-s3"), default="sqlite-file",
                        help="postgres-s3: also run the batch on PostgreSQL + S3 and compare")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    source = args.data_dir or args.cache / f"index-{args.docs}"
    if args.data_dir is None:
        build_index(source, args.docs)
    data = batch_file(args.lines)
    result: dict[str, Any] = {"lines": args.lines, "micro_batch_size": args.micro_batch, "workers": args.workers}
    seconds = timed_batch(source, args, data, {}, {})
    result["batch_seconds"] = round(seconds, 3)
    result["batch_lines_per_s"] = round(args.lines / seconds, 2)
    result |= {k: round(v, 2) for k, v in search_many_rate(source, data, args.micro_batch).items()}
    if args.backend == "postgres-s3":
        shared = on_postgres_and_s3(source, args, data)
        result["postgres_s3_batch_seconds"] = round(shared, 3)
        result["postgres_s3_batch_lines_per_s"] = round(args.lines / shared, 2)
        result["postgres_s3_over_sqlite_file"] = round(shared / seconds, 3)
    result["overhead"] = round(result["search_many_lines_per_s"] / result["batch_lines_per_s"], 3)
    result["within_target"] = result["overhead"] <= TARGET_OVERHEAD
    if args.json:
        print(json.dumps(result))
        return
    print(f"batch end to end: {result['batch_lines_per_s']:.1f} lines/s ({result['batch_seconds']:.1f} s for {args.lines} lines)")
    print(f"search_many in-process (micro-batches of {args.micro_batch}): {result['search_many_lines_per_s']:.1f} lines/s")
    print(f"overhead {result['overhead']:.2f}x (target <= {TARGET_OVERHEAD}x): {'ok' if result['within_target'] else 'OVER'}")
    if "postgres_s3_batch_lines_per_s" in result:
        print(f"postgresql + s3: {result['postgres_s3_batch_lines_per_s']:.1f} lines/s, "
              f"{result['postgres_s3_over_sqlite_file']:.2f}x the time of sqlite + local files")


if __name__ == "__main__":
    main()
