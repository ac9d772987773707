"""Mixed load on one server: pollers, concurrent batches and steady search traffic, errors and latency per route.

Starts a real server (`batchsearch serve`, uvicorn on 127.0.0.1 + worker processes) over the small synthetic
index of bench/batch_throughput.py, then for --seconds runs at once:
- --pollers clients, spread over --tenants API keys, each polling its tenant's batch status (and now and then
  the tenant's job list) every --poll-interval seconds;
- --batches batch jobs in flight at all times (a finished one is replaced by a new one), --lines lines each;
- --search-rate searches per second (POST /v1/search), spread over the tenants.
It counts every answer by route and status: an error is a 5xx, a connection failure or timeout, or a 4xx other
than 429 (a 429 is the server's own back-pressure and is counted apart). It prints p50/p99 latency per route and
the server's resident memory (API and worker processes together) before and after.

    python bench/load.py [--seconds 60] [--pollers 50] [--batches 10] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from batch_throughput import WORDS, build_index
from serving import create_key, start_serve

TERMINAL = ("completed", "failed", "cancelled")


@dataclass
class Tally:
    """Answers by route: latencies of the non-error ones, statuses of all, errors named."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    errors: list[str] = field(default_factory=list)

    def record(self, route: str, started: float, response: httpx.Response | None, problem: str | None = None) -> None:
        """One answer (or failure) of `route` that took since `started`."""
        if response is None:
            self.statuses[route]["connection error"] += 1
            self.errors.append(f"{route}: {problem}")
            return
        self.statuses[route][str(response.status_code)] += 1
        if response.status_code >= 500 or (400 <= response.status_code < 500 and response.status_code != 429):
            self.errors.append(f"{route}: {response.status_code} {response.text[:200]}")
            return
        if response.status_code != 429:
            self.latencies[route].append((time.perf_counter() - started) * 1000)

    def report(self) -> dict[str, Any]:
        """Per route: answers by status, p50 and p99 in milliseconds."""
        routes = {}
        for route, counts in sorted(self.statuses.items()):
            samples = sorted(self.latencies.get(route, []))
            routes[route] = {
                "answers": dict(counts),
                "p50_ms": round(statistics.median(samples), 1) if samples else None,
                "p99_ms": round(samples[min(len(samples) - 1, int(0.99 * len(samples)))], 1) if samples else None,
            }
        return routes


async def call(http: httpx.AsyncClient, tally: Tally, route: str, method: str, url: str, **kwargs: Any
               ) -> httpx.Response | None:
    """One request, recorded under `route`."""
    started = time.perf_counter()
    try:
        response = await http.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        tally.record(route, started, None, f"{type(exc).__name__}: {exc}")
        return None
    tally.record(route, started, response)
    return response


def batch_lines(rng: random.Random, n: int) -> bytes:
    """n search lines with varied texts."""
    return b"".join(json.dumps({"query": {"text": " ".join(rng.sample(WORDS, 3)), "max_chunks": 5}}).encode() + b"\n"
                    for _ in range(n))


class Load:
    """The clients of one run, sharing the tally and each tenant's current batch id."""

    def __init__(self, http: httpx.AsyncClient, keys: list[str], args: argparse.Namespace) -> None:
        self.http, self.keys, self.args = http, keys, args
        self.tally = Tally()
        self.current: dict[str, str] = {}  # tenant key -> a batch id of theirs to poll
        self.finished_batches = 0
        self.stop_at = 0.0

    def running(self) -> bool:
        return time.monotonic() < self.stop_at

    async def submit(self, key: str, rng: random.Random) -> str | None:
        """Create a job and upload its lines; its id, or None when the server pushed back."""
        headers = {"X-API-KEY": key}
        created = await call(self.http, self.tally, "POST /v1/search/batches", "POST", "/v1/search/batches",
                             headers=headers)
        if created is None or created.status_code != 200:
            return None
        body = created.json()
        put = await call(self.http, self.tally, "PUT presigned_url", "PUT", body["presigned_url"],
                         content=batch_lines(rng, self.args.lines), headers={"Content-Type": "application/jsonl"})
        if put is None or put.status_code != 200:
            return None
        self.current[key] = body["batch_id"]
        return str(body["batch_id"])

    async def batch_slot(self, slot: int) -> None:
        """Keep one batch in flight: submit, wait for its end, submit the next."""
        rng = random.Random(slot)
        key = self.keys[slot % len(self.keys)]
        while self.running():
            batch_id = await self.submit(key, rng)
            if batch_id is None:
                await asyncio.sleep(1)
                continue
            while self.running():
                await asyncio.sleep(0.5)
                status = await call(self.http, self.tally, "GET /v1/search/batches/{id}", "GET",
                                    f"/v1/search/batches/{batch_id}", headers={"X-API-KEY": key})
                if status is not None and status.status_code == 200 and status.json()["status"] in TERMINAL:
                    self.finished_batches += 1
                    break

    async def poller(self, index: int) -> None:
        """Poll the tenant's batch status, and every tenth time its job list."""
        key = self.keys[index % len(self.keys)]
        headers = {"X-API-KEY": key}
        await asyncio.sleep(index * self.args.poll_interval / max(1, self.args.pollers))  # spread the phase
        count = 0
        while self.running():
            count += 1
            batch_id = self.current.get(key)
            if count % 10 == 0 or batch_id is None:
                await call(self.http, self.tally, "GET /v1/search/batches", "GET", "/v1/search/batches?limit=20",
                           headers=headers)
            else:
                await call(self.http, self.tally, "GET /v1/search/batches/{id}", "GET",
                           f"/v1/search/batches/{batch_id}", headers=headers)
            await asyncio.sleep(self.args.poll_interval)

    async def searcher(self) -> None:
        """Searches at a steady rate, one tenant after another, each in its own task."""
        rng = random.Random(11)
        tasks: set[asyncio.Task[Any]] = set()
        index = 0
        while self.running():
            key = self.keys[index % len(self.keys)]
            index += 1
            body = {"query": {"text": " ".join(rng.sample(WORDS, 3)), "max_chunks": 5}}
            task = asyncio.create_task(call(self.http, self.tally, "POST /v1/search", "POST", "/v1/search",
                                            json=body, headers={"X-API-KEY": key}))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            await asyncio.sleep(1 / self.args.search_rate)
        await asyncio.gather(*tasks)

    async def run(self) -> None:
        self.stop_at = time.monotonic() + self.args.seconds
        await asyncio.gather(*(self.batch_slot(i) for i in range(self.args.batches)),
                             *(self.poller(i) for i in range(self.args.pollers)), self.searcher())


def rss_mb(process: psutil.Process) -> float:
    """Resident memory of a process and its children, in MiB."""
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return round(total / 2**20, 1)


def warm_up(base: str, key: str) -> None:
    """One search and one finished batch, so the API and the workers have loaded the engine, as on a running
    service."""
    with httpx.Client(base_url=base, headers={"X-API-KEY": key}, timeout=300) as http:
        http.post("/v1/search", json={"query": {"text": "revenue guidance", "max_chunks": 5}}).raise_for_status()
        created = http.post("/v1/search/batches").json()
        httpx.put(created["presigned_url"], content=batch_lines(random.Random(0), 5), timeout=60).raise_for_status()
        deadline = time.monotonic() + 300
        while http.get(f"/v1/search/batches/{created['batch_id']}").json()["status"] not in TERMINAL:
            if time.monotonic() > deadline:
                raise SystemExit("the warm-up batch did not finish")
            time.sleep(0.2)


async def drive(base: str, keys: list[str], args: argparse.Namespace) -> Load:
    limits = httpx.Limits(max_connections=args.pollers + 3 * args.batches + 20)
    async with httpx.AsyncClient(base_url=base, timeout=args.timeout, limits=limits) as http:
        load = Load(http, keys, args)
        await load.run()
        return load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--pollers", type=int, default=50)
    parser.add_argument("--poll-interval", type=float, default=1.0, help="seconds between one poller's calls")
    parser.add_argument("--tenants", type=int, default=5, help="API keys the clients are spread over")
    parser.add_argument("--batches", type=int, default=10, help="batch jobs kept in flight")
    parser.add_argument("--lines", type=int, default=100, help="lines per batch job")
    parser.add_argument("--search-rate", type=float, default=5.0, help="searches per second")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=30.0, help="client timeout of one request (an error)")
    parser.add_argument("--docs", type=int, default=300, help="documents of the synthetic index")
    parser.add_argument("--cache", type=Path, default=Path(".bench-cache") / "batch")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    source = args.cache / f"index-{args.docs}"
    build_index(source, args.docs)
    work = args.cache / "load-run"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(source / "index", work / "index")
    keys = [create_key(work, name=f"tenant{i}") for i in range(args.tenants)]
    settings = {"poll_seconds": "0.1", "embed_cache_dir": str((args.cache / "models").resolve())}
    process, base = start_serve(work, workers=args.workers, settings=settings)
    try:
        warm_up(base, keys[0])
        server = psutil.Process(process.pid)
        before = rss_mb(server)
        started = time.monotonic()
        load = asyncio.run(drive(base, keys, args))
        elapsed = time.monotonic() - started
        after = rss_mb(server)
    finally:
        process.terminate()
        process.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)

    routes = load.tally.report()
    answers = sum(sum(r["answers"].values()) for r in routes.values())
    throttled = sum(r["answers"].get("429", 0) for r in routes.values())
    report = {
        "seconds": round(elapsed, 1), "pollers": args.pollers, "tenants": args.tenants, "batches_in_flight": args.batches,
        "lines_per_batch": args.lines, "search_rate_per_s": args.search_rate, "requests": answers,
        "errors": len(load.tally.errors), "throttled_429": throttled, "batches_finished": load.finished_batches,
        "rss_mb_before": before, "rss_mb_after": after, "routes": routes, "first_errors": load.tally.errors[:10],
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{answers} requests in {elapsed:.0f} s: {len(load.tally.errors)} errors, {throttled} answered 429; "
              f"{load.finished_batches} batches of {args.lines} lines finished; RSS {before} -> {after} MiB")
        for route, row in routes.items():
            print(f"  {route:34} p50 {row['p50_ms']} ms  p99 {row['p99_ms']} ms  {row['answers']}")
        for error in load.tally.errors[:10]:
            print("  error:", error)
    sys.exit(1 if load.tally.errors else 0)


if __name__ == "__main__":
    main()
