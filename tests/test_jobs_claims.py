"""Claims: two workers on one deployment never run the same line twice (a counter per line)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest

from batchsearch.models.search import Query

from batch_fakes import AsgiBatches, FakeSearcher

pytestmark = pytest.mark.anyio
BATCH_SETTINGS = {"micro_batch_size": 7, "poll_seconds": 0.01}
JOBS, LINES = 6, 40


class CountingSearcher(FakeSearcher):
    """A searcher that counts every query text it searches, across the workers that share it."""

    def __init__(self, seen: Counter[str], lock: threading.Lock) -> None:
        super().__init__(delay=0.002)
        self.seen = seen
        self.lock = lock

    def search_many(self, queries: Sequence[Query], **kwargs: Any) -> Any:
        with self.lock:
            self.seen.update(q.text or "" for q in queries)
        return super().search_many(queries, **kwargs)


async def test_two_workers_search_every_line_of_every_job_exactly_once(api: AsgiBatches) -> None:
    ids = []
    for job in range(JOBS):
        lines = [json.dumps({"query": {"text": f"job {job} line {i}"}}) for i in range(LINES)]
        ids.append(await api.submit(("\n".join(lines) + "\n").encode()))
    seen: Counter[str] = Counter()
    lock = threading.Lock()
    stop = threading.Event()
    workers = [api.worker(CountingSearcher(seen, lock)) for _ in range(2)]
    threads = [threading.Thread(target=worker.run, args=(stop,)) for worker in workers]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            statuses = [(await api.status(batch_id))["status"] for batch_id in ids]
            if all(status == "completed" for status in statuses):
                break
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert statuses == ["completed"] * JOBS
    assert len(seen) == JOBS * LINES and set(seen.values()) == {1}  # every line once, none twice
