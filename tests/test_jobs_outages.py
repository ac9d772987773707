"""Outages of the shared services: the API answers 503 with Retry-After, workers back off and carry on."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from typing import Any

import pytest
import sqlalchemy.exc

from batchsearch.errors import ServiceUnavailableError
from batchsearch.jobs.store import SqlJobStore
from batchsearch.jobs.worker import Worker

from batch_fakes import AsgiBatches, FakeSearcher, jsonl

pytestmark = [pytest.mark.anyio, pytest.mark.deployment("sqlite+file")]
BATCH_SETTINGS = {"micro_batch_size": 5, "poll_seconds": 0.01, "lease_seconds": 1.0}


def database_down() -> sqlalchemy.exc.OperationalError:
    """The error a driver raises when the database server is gone."""
    return sqlalchemy.exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))


async def test_the_api_answers_503_with_retry_after_while_the_database_is_away(
    api: AsgiBatches, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch_id = await api.submit(jsonl(3))

    def fail(*args: Any) -> Any:
        raise database_down()

    monkeypatch.setattr(api.service.backend, "get", fail)
    response = await api.client.get(f"/v1/search/batches/{batch_id}")
    assert response.status_code == 503 and response.headers["retry-after"] == "2"
    assert response.json()["errorCode"] == "UNAVAILABLE" and "database" in response.json()["message"]


class FlakyStore(SqlJobStore):
    """A job store whose first `outages` claims fail as if the database were down (injected fault)."""

    def __init__(self, engine: Any, outages: int) -> None:
        super().__init__(engine)
        self.outages = outages

    def claim(self, *args: Any, **kwargs: Any) -> Any:
        if self.outages > 0:
            self.outages -= 1
            raise database_down()
        return super().claim(*args, **kwargs)


class FlakyObjects:
    """An object store whose `failures` part writes fail as if S3 were unreachable (injected fault)."""

    def __init__(self, inner: Any, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    def put_stream(self, key: str, chunks: Iterable[bytes], *, max_bytes: int | None = None) -> int:
        if "/parts/" in key and self.failures > 0:
            self.failures -= 1
            raise ServiceUnavailableError("S3 is unreachable")
        return self.inner.put_stream(key, chunks, max_bytes=max_bytes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_worker_backs_off_through_database_and_object_store_outages_and_finishes(api: AsgiBatches) -> None:
    batch_id = await api.submit(jsonl(40))
    service = api.service
    flaky = FlakyStore(service.backend._engine, outages=3)  # type: ignore[attr-defined]
    objects = FlakyObjects(service.objects, failures=2)
    worker = Worker(service.settings, flaky, objects, FakeSearcher(), clock=service.clock)  # type: ignore[arg-type]
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while (status := await api.status(batch_id))["status"] != "completed" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert status["status"] == "completed", status
    assert flaky.outages == 0 and objects.failures == 0  # every injected outage happened
    rows = [json.loads(line) for line in (await api.fetch(status["output_file_url"])).content.splitlines()]
    assert [row["line_number"] for row in rows] == list(range(1, 41))  # every line exactly once, in order
