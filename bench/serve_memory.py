"""Serve memory: resident memory of `batchsearch serve` (API + worker processes) after the workers searched.

Builds (or reuses, under .bench-cache/) the same index as bench/search_throughput.py (N chunks of generated
financial text with random unit vectors), starts `python -m batchsearch.cli serve` on 127.0.0.1 with a free
port and W worker processes over it, then submits small batch jobs through the HTTP API (unfiltered queries,
so each search scores every chunk vector) until every worker has searched. Reports each process's RSS, USS
(private pages) and PSS (shared pages split between the processes that map them): memory-mapped index files
sit in the shared page cache, so they count in RSS but not in USS.

    BATCHSEARCH_BLAS_THREADS=1 python bench/serve_memory.py [--chunks 200000] [--workers 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from search_throughput import build_generated_index
from serving import create_key, start_serve

DIM = 384
MB = 1024 * 1024


def prepare_data_dir(cache: Path, n_chunks: int) -> Path:
    """A fresh data dir whose index and knowledge graph are links to cached ones (built once)."""
    from batchsearch.kg import KnowledgeGraph

    index = (cache / f"generated-{n_chunks}" / "index").resolve()
    build_generated_index(index, n_chunks)
    kg = (cache / "kg").resolve()
    KnowledgeGraph.open_or_build(kg)
    run = (cache / f"serve-memory-{os.getpid()}").resolve()
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    (run / "index").symlink_to(index, target_is_directory=True)
    (run / "kg").symlink_to(kg, target_is_directory=True)
    return run


def batch_lines(n: int, seed: int) -> bytes:
    """n unfiltered queries (financial themes): each dense search scores every chunk vector."""
    from batchsearch.demo import THEMES

    lines = [json.dumps({"query": {"text": THEMES[(seed + i) % len(THEMES)], "max_chunks": 10}}) for i in range(n)]
    return ("\n".join(lines) + "\n").encode()


def submit(http: httpx.Client, data: bytes) -> str:
    """Create a batch job, upload its file; the job id."""
    created = http.post("/v1/search/batches").json()
    response = httpx.put(created["presigned_url"], content=data, headers={"Content-Type": "application/jsonl"}, timeout=60)
    response.raise_for_status()
    return str(created["batch_id"])


def wait_done(http: httpx.Client, batch_ids: list[str], timeout: float = 600.0) -> None:
    """Block until every job is completed (exit on failure or timeout)."""
    deadline = time.monotonic() + timeout
    for batch_id in batch_ids:
        while (status := http.get(f"/v1/search/batches/{batch_id}").json())["status"] != "completed":
            if status["status"] in ("failed", "cancelled") or time.monotonic() > deadline:
                raise SystemExit(f"batch {batch_id} ended {status}")
            time.sleep(0.2)


def searched_pids(data_dir: Path) -> set[int]:
    """Pids of worker processes that reported a search rate (that is, searched at least one micro-batch)."""
    from batchsearch.config import Settings
    from batchsearch.db import create_db_engine
    from batchsearch.jobs.store import SqlJobStore

    store = SqlJobStore(create_db_engine(Settings(data_dir=data_dir).resolved_database_url()))
    infos = store.live_workers(datetime(1970, 1, 1, tzinfo=UTC))
    return {int(w.id.split("-")[0]) for w in infos if w.lines_per_s is not None}


def make_every_worker_search(base: str, key: str, data_dir: Path, worker_pids: set[int], lines: int) -> int:
    """Submit jobs (two at a time) until each worker has searched; the number of jobs submitted."""
    http = httpx.Client(base_url=base, headers={"X-API-KEY": key}, timeout=60)
    jobs = 0
    for _ in range(10):
        batch_ids = [submit(http, batch_lines(lines, jobs + j)) for j in range(len(worker_pids))]
        jobs += len(batch_ids)
        wait_done(http, batch_ids)
        for _ in range(20):  # heartbeats report the rate every 0.5 s
            if worker_pids <= searched_pids(data_dir):
                return jobs
            time.sleep(0.25)
    raise SystemExit(f"workers {sorted(worker_pids - searched_pids(data_dir))} never searched")


def memory_of(process: psutil.Process) -> dict[str, float]:
    """RSS, USS and PSS of one process in MiB (USS/PSS only where the platform reports them)."""
    try:
        info = process.memory_full_info()
    except psutil.AccessDenied:
        info = process.memory_info()
    out = {"rss_mb": info.rss / MB}
    for name in ("uss", "pss"):
        if hasattr(info, name):
            out[f"{name}_mb"] = getattr(info, name) / MB
    return {k: round(v, 1) for k, v in out.items()}


def worker_processes(api: psutil.Process, workers: int, timeout: float = 300.0) -> list[psutil.Process]:
    """The API's batch worker children, once all are running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [p for p in api.children() if "multiprocessing.spawn" in " ".join(p.cmdline())
                 and "resource_tracker" not in " ".join(p.cmdline())]
        if len(found) >= workers:
            return found[:workers]
        time.sleep(0.2)
    raise SystemExit("worker processes did not start")


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Start the server, make every worker search, read the memory of each process."""
    data_dir = prepare_data_dir(args.cache, args.chunks)
    try:
        key = create_key(data_dir)
        process, base = start_serve(data_dir, workers=args.workers, settings={
            "poll_seconds": "0.1", "heartbeat_seconds": "0.5", "micro_batch_size": "10"})
        try:
            api = psutil.Process(process.pid)
            workers = worker_processes(api, args.workers)
            jobs = make_every_worker_search(base, key, data_dir, {p.pid for p in workers}, args.lines)
            time.sleep(1.0)
            processes = {"api": memory_of(api)} | {f"worker_{i + 1}": memory_of(p) for i, p in enumerate(workers)}
        finally:
            process.terminate()
            process.wait(timeout=60)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    total = {name: round(sum(p.get(name, 0.0) for p in processes.values()), 1)
             for name in ("rss_mb", "uss_mb", "pss_mb") if all(name in p for p in processes.values())}
    return {"chunks": args.chunks, "workers": args.workers, "vectors_mb": round(args.chunks * DIM * 4 / MB, 1),
            "batch_jobs": jobs, "lines_per_job": args.lines, "processes": processes, "total": total}


def print_summary(result: dict[str, Any]) -> None:
    """A table of the processes' memory."""
    print(f"batchsearch serve, {result['chunks']} chunks (vectors {result['vectors_mb']} MiB), "
          f"{result['workers']} workers, after {result['batch_jobs']} batch jobs of {result['lines_per_job']} lines")
    columns = list(result["total"])
    print(f"{'process':10s}" + "".join(f"{c.removesuffix('_mb').upper() + ' MiB':>12s}" for c in columns))
    for name, mem in [*result["processes"].items(), ("total", result["total"])]:
        print(f"{name:10s}" + "".join(f"{mem.get(c, float('nan')):12.1f}" for c in columns))


def main() -> None:
    """Parse arguments, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--lines", type=int, default=50, help="lines per batch job")
    parser.add_argument("--cache", type=Path, default=Path(".bench-cache"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args)
    if args.json:
        print(json.dumps(result))
    else:
        print_summary(result)


if __name__ == "__main__":
    main()
