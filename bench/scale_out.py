"""Scaling on Ray: batch lines/s and ingestion chunks/s with 1 and with 2 actors, measured in one run.

Starts a local Ray cluster (`ray start --head`, 2 CPUs, every socket on 127.0.0.1) for the run, then:
- batch: `batchsearch serve` (API + one worker with BATCHSEARCH_EXECUTOR=ray) over an index of --chunks chunks
  (generated financial paragraphs with random unit vectors, built once under .bench-cache/; queries go through
  the real encoder), a warm-up batch, then a timed batch of --lines lines, upload to downloaded output; once
  with 1 search actor and once with 2. The serve process tree's CPU time (API + the worker driving the actors)
  is measured too: what one driver costs per line bounds how many actors it can feed.
- ingest: `batchsearch ingest --executor ray` of a generated corpus of --docs documents into a fresh folder
  with the real encoder and annotator; chunks/s as the command reports it (actors loaded, publish included).
Every actor uses the one CPU Ray reserves for it: one BLAS thread, and a search engine without its lexical
helper thread. Prints the four rates and both ratios (target >= 1.7).

    python bench/scale_out.py [--chunks 200000] [--lines 6000] [--docs 240] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from batch_throughput import run_batch
from search_throughput import build_generated_index
from serving import create_key, start_serve

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from ray_server import RayHead, ray_cli  # noqa: E402

TARGET_RATIO = 1.7


def batch_lines(n: int, seed: int) -> bytes:
    """n distinct search lines about the knowledge graph's themes and keywords."""
    from batchsearch.demo import KEYWORDS, THEMES

    rng = random.Random(seed)
    lines = []
    for i in range(n):
        text = f"{rng.choice(THEMES)} {rng.choice(KEYWORDS)} {i}"
        lines.append(json.dumps({"query": {"text": text, "max_chunks": 10}}).encode())
    return b"\n".join(lines) + b"\n"


def tree_cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU seconds of a process and its children so far."""
    total = 0.0
    for member in [process, *process.children(recursive=True)]:
        try:
            times = member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def batch_rate(index_root: Path, actors: int, args: argparse.Namespace, env: dict[str, str]) -> dict[str, float]:
    """Lines/s of one timed batch through `serve` with `actors` search actors, and the serve tree's CPU/line."""
    work = Path(tempfile.mkdtemp(prefix="scale-out-", dir=args.cache))
    shutil.copytree(index_root, work / "index")  # a private copy: the run publishes nothing, but owns its folder
    try:
        key = create_key(work)
        settings = {"executor": "ray", "ray_actors": str(actors), "micro_batch_size": str(args.micro_batch),
                    "poll_seconds": "0.1"}
        process, base = start_serve(work, workers=1, settings=settings, env=env)
        try:
            run_batch(base, key, batch_lines(4 * actors * args.micro_batch, seed=1))  # actors up, caches warm
            tree = psutil.Process(process.pid)
            cpu_before = tree_cpu_seconds(tree)
            seconds, out_lines = run_batch(base, key, batch_lines(args.lines, seed=2))
            driver_cpu = tree_cpu_seconds(tree) - cpu_before
        finally:
            process.terminate()
            process.wait(timeout=120)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert out_lines == args.lines, (out_lines, args.lines)
    return {"lines_per_s": args.lines / seconds, "driver_cpu_ms_per_line": 1000 * driver_cpu / args.lines}


def corpus(path: Path, docs: int) -> Path:
    """A generated corpus of financial documents (written once)."""
    if path.exists():
        return path
    from batchsearch.corpus import generate_documents
    from batchsearch.kg import KnowledgeGraph

    graph = KnowledgeGraph.open_or_build(Path(tempfile.mkdtemp()) / "kg")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        for raw in generate_documents(graph.companies(), graph.sources(), n_docs=docs, seed=5):
            out.write(json.dumps({k: v for k, v in raw.items() if not k.startswith("_")}) + "\n")
    return path


def ingest_rate(source: Path, actors: int, args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    """The report of `batchsearch ingest --executor ray --actors N` into a fresh folder."""
    work = Path(tempfile.mkdtemp(prefix="scale-out-ingest-", dir=args.cache))
    try:
        command = [sys.executable, "-m", "batchsearch.cli", "ingest", str(source), "--executor", "ray",
                   "--actors", str(actors), "--data-dir", str(work), "--json"]
        environment = {k: v for k, v in os.environ.items() if not k.startswith("BATCHSEARCH_")} | env
        environment["BATCHSEARCH_EMBED_CACHE_DIR"] = str(args.cache / "models")
        done = subprocess.run(command, env=environment, capture_output=True, text=True, check=False, timeout=3600)
        if done.returncode != 0:
            raise SystemExit(f"ingest failed: {done.stderr[-2000:]}")
        return json.loads(done.stdout)  # type: ignore[no-any-return]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=200_000, help="chunks of the index the batch searches")
    parser.add_argument("--lines", type=int, default=6000, help="lines of the timed batch")
    parser.add_argument("--micro-batch", type=int, default=128, help="lines per micro-batch (the service default)")
    parser.add_argument("--docs", type=int, default=240, help="documents of the ingested corpus")
    parser.add_argument("--cache", type=Path, default=Path(".bench-cache") / "scale-out")
    parser.add_argument("--skip", choices=("batch", "ingest"), help="measure only the other part")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.cache = args.cache.resolve()
    args.cache.mkdir(parents=True, exist_ok=True)
    cli = ray_cli()
    if cli is None:
        raise SystemExit("needs the ray extra: pip install 'batchsearch[ray]'")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    head = RayHead(cli, num_cpus=2)
    result: dict[str, Any] = {"chunks": args.chunks, "lines": args.lines, "micro_batch_size": args.micro_batch,
                              "docs": args.docs, "cpus": os.cpu_count()}
    try:
        if args.skip != "batch":
            index_root = args.cache / f"index-{args.chunks}"
            build_generated_index(index_root, args.chunks)
            for actors in (1, 2):
                rate = batch_rate(index_root, actors, args, head.client_env)
                result[f"batch_lines_per_s_{actors}"] = round(rate["lines_per_s"], 2)
                result[f"driver_cpu_ms_per_line_{actors}"] = round(rate["driver_cpu_ms_per_line"], 3)
            result["batch_ratio"] = round(result["batch_lines_per_s_2"] / result["batch_lines_per_s_1"], 3)
        if args.skip != "ingest":
            source = corpus(args.cache / f"corpus-{args.docs}.jsonl", args.docs)
            for actors in (1, 2):
                report = ingest_rate(source, actors, args, head.client_env)
                result[f"ingest_chunks_per_s_{actors}"] = report["chunks_per_second"]
                result["ingest_chunks"] = report["chunks"]
            result["ingest_ratio"] = round(result["ingest_chunks_per_s_2"] / result["ingest_chunks_per_s_1"], 3)
    finally:
        head.stop()
    ratios = [result[k] for k in ("batch_ratio", "ingest_ratio") if k in result]
    result["within_target"] = all(r >= TARGET_RATIO for r in ratios)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
