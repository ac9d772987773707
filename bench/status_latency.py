"""Status latency under another tenant's queue: GET status and list of tenant B, idle vs 2,000 waiting jobs of A.

Starts `python -m batchsearch.cli serve --workers 0` on 127.0.0.1 (no worker: every uploaded job stays waiting),
gives tenant B two uploaded jobs, times B's `GET /v1/search/batches/{id}` and `GET /v1/search/batches` on the
idle server, then lets tenant A create and upload N jobs with a higher priority (so all of them wait ahead of
B's jobs, which must still report their queue position and estimate) and times the same calls again.

    python bench/status_latency.py [--other-jobs 2000] [--calls 200] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from serving import create_key, start_serve

LINE = b'{"query": {"text": "guidance cut after weak demand", "max_chunks": 5}}\n'


def submit(http: httpx.Client, key: str, priority: int = 0) -> str:
    """Create a job with this key and upload a one-line input: it waits for a worker."""
    created = http.post("/v1/search/batches", headers={"X-API-KEY": key}, json={"priority": priority}).json()
    put = http.put(created["presigned_url"], content=LINE, headers={"Content-Type": "application/jsonl"})
    put.raise_for_status()
    return str(created["batch_id"])


def timed(http: httpx.Client, key: str, path: str, calls: int) -> dict[str, float]:
    """Median and 90th percentile latency of `calls` GETs of `path`, in milliseconds."""
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        response = http.get(path, headers={"X-API-KEY": key})
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    samples.sort()
    return {"median_ms": round(statistics.median(samples), 2), "p90_ms": round(samples[int(0.9 * len(samples))], 2)}


def measure(http: httpx.Client, key: str, jobs: list[str], calls: int) -> dict[str, dict[str, float]]:
    """Latency of B's status calls (its first and last job) and of its list page."""
    return {
        "status_first_job": timed(http, key, f"/v1/search/batches/{jobs[0]}", calls),
        "status_last_job": timed(http, key, f"/v1/search/batches/{jobs[-1]}", calls),
        "list": timed(http, key, "/v1/search/batches?limit=20", calls),
    }


def run(other_jobs: int, calls: int) -> dict[str, Any]:
    """The whole measurement; returns the report."""
    with tempfile.TemporaryDirectory(prefix="status-latency-") as folder:
        data_dir = Path(folder)
        key_a, key_b = create_key(data_dir, "tenant-a"), create_key(data_dir, "tenant-b")
        process, base = start_serve(data_dir, workers=0)
        try:
            with httpx.Client(base_url=base, timeout=60) as http:
                jobs_b = [submit(http, key_b) for _ in range(2)]
                idle = measure(http, key_b, jobs_b, calls)
                started = time.perf_counter()
                for _ in range(other_jobs):
                    submit(http, key_a, priority=1)
                setup_s = time.perf_counter() - started
                position = http.get(f"/v1/search/batches/{jobs_b[-1]}", headers={"X-API-KEY": key_b}).json()
                loaded = measure(http, key_b, jobs_b, calls)
        finally:
            process.terminate()
            process.wait(timeout=60)
    ratios = {name: round(loaded[name]["median_ms"] / idle[name]["median_ms"], 2) for name in idle}
    return {"other_tenant_jobs": other_jobs, "calls": calls, "idle": idle, "loaded": loaded,
            "median_ratio_loaded_over_idle": ratios, "queue_position_of_last_b_job": position["queue_position"],
            "setup_seconds": round(setup_s, 1)}


def main() -> int:
    """Parse arguments, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--other-jobs", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    report = run(args.other_jobs, args.calls)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"tenant B's calls, idle vs {report['other_tenant_jobs']} waiting jobs of tenant A "
          f"(B's last job at queue position {report['queue_position_of_last_b_job']}):")
    for name, ratio in report["median_ratio_loaded_over_idle"].items():
        idle, loaded = report["idle"][name], report["loaded"][name]
        print(f"  {name:18s} idle {idle['median_ms']:7.2f} ms (p90 {idle['p90_ms']:.2f})  "
              f"loaded {loaded['median_ms']:7.2f} ms (p90 {loaded['p90_ms']:.2f})  ratio {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
