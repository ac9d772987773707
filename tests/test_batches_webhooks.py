"""Webhooks: the signed status document POSTed on terminal states to a loopback receiver, with backoff retries."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from batchsearch.config import Settings
from batchsearch.jobs.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, backoff_seconds, is_valid_signature

from batch_fakes import AsgiBatches, FakeSearcher, jsonl

pytestmark = pytest.mark.anyio


class Receiver:
    """An HTTP server on 127.0.0.1 that fails its first `failures` requests with 500 and records them all."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.requests: list[tuple[float, dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((time.monotonic(), dict(self.headers), body))
                self.send_response(500 if len(receiver.requests) <= receiver.failures else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/batch"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


BATCH_SETTINGS = {"batch_webhook_backoff_seconds": 0.05, "batch_webhook_timeout_seconds": 5}  # for the shared `api` fixture


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver(failures=3)
    yield receiver
    receiver.close()


def deliver_until(api: AsgiBatches, receiver: Receiver, count: int, timeout: float = 20) -> None:
    worker = api.worker()
    deadline = time.monotonic() + timeout
    while len(receiver.requests) < count and time.monotonic() < deadline:
        worker.webhooks.run_once()
        time.sleep(0.01)
    worker.webhooks.close()


async def test_a_receiver_failing_three_times_gets_the_fourth_delivery_signed(api: AsgiBatches, receiver: Receiver) -> None:
    created = (await api.client.post("/v1/search/batches", json={"webhook_url": receiver.url})).json()
    secret = created["webhook_secret"]
    assert secret.startswith("whsec_")
    await api.put(created["presigned_url"], jsonl(5))
    api.work(FakeSearcher())
    deliver_until(api, receiver, 4)
    assert len(receiver.requests) == 4
    for _, headers, body in receiver.requests:
        assert is_valid_signature(secret, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
        assert not is_valid_signature("whsec_other", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    document = json.loads(receiver.requests[-1][2])
    assert document["batch_id"] == created["batch_id"] and document["status"] == "completed"
    assert document["request_counts"]["succeeded"] == 5 and document["output_file_url"]
    status = await api.status(created["batch_id"])
    webhook = status["webhook"]
    assert webhook["url"] == receiver.url and webhook["state"] == "delivered"
    assert [(d["attempt"], d["status_code"], d["delivered"]) for d in webhook["deliveries"]] == [
        (1, 500, False), (2, 500, False), (3, 500, False), (4, 204, True)]
    started = [datetime.fromisoformat(d["at"]) for d in webhook["deliveries"]]
    gaps = [(b - a).total_seconds() for a, b in zip(started, started[1:])]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1 and gaps[2] >= 0.2  # each attempt waits out its backoff
    deliver_until(api, receiver, 5, timeout=0.3)
    assert len(receiver.requests) == 4  # delivered once: nothing more


async def test_cancel_and_failure_are_notified_too_and_jobs_without_webhook_are_not(api: AsgiBatches) -> None:
    receiver = Receiver()
    try:
        cancelled = (await api.client.post("/v1/search/batches", json={"webhook_url": receiver.url})).json()
        await api.client.post(f"/v1/search/batches/{cancelled['batch_id']}/cancel")
        failed = (await api.client.post("/v1/search/batches", json={"webhook_url": receiver.url})).json()
        await api.put(failed["presigned_url"], b"")
        await api.submit(jsonl(2))
        api.work()
        deliver_until(api, receiver, 2)
        time.sleep(0.1)
        api.worker().webhooks.run_once()
        got = sorted((json.loads(body)["batch_id"], json.loads(body)["status"]) for _, _, body in receiver.requests)
        assert got == sorted([(cancelled["batch_id"], "cancelled"), (failed["batch_id"], "failed")])
    finally:
        receiver.close()


async def test_only_http_urls_are_accepted(api: AsgiBatches) -> None:
    for url in ("file:///etc/passwd", "ftp://127.0.0.1/x", "127.0.0.1:9/x", ""):
        response = await api.client.post("/v1/search/batches", json={"webhook_url": url})
        assert response.status_code == 400 and "webhook_url" in response.json()["message"]
    plain = (await api.client.post("/v1/search/batches")).json()
    assert set(plain) == {"batch_id", "presigned_url"}


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff_seconds(n, 10, 60) for n in (1, 2, 3, 4, 5)] == [10, 20, 40, 60, 60]


async def test_a_running_worker_delivers_and_gives_up_after_the_window(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, public_url="http://test", batch_webhook_backoff_seconds=0.05,
                        batch_webhook_give_up_seconds=0.5, poll_seconds=0.02)
    api = AsgiBatches(settings)
    receiver = Receiver(failures=1000)
    async with api.client:
        try:
            batch_id = await api.submit(jsonl(3), {"webhook_url": receiver.url})
            stop = threading.Event()
            worker = threading.Thread(target=api.worker().run, args=(stop,))
            worker.start()
            deadline = time.monotonic() + 20
            while (await api.status(batch_id))["webhook"]["state"] != "failed" and time.monotonic() < deadline:
                time.sleep(0.05)
            stop.set()
            worker.join(timeout=30)
            webhook = (await api.status(batch_id))["webhook"]
            assert webhook["state"] == "failed" and 2 <= len(webhook["deliveries"]) <= 6
            assert len(receiver.requests) == len(webhook["deliveries"])
        finally:
            receiver.close()
