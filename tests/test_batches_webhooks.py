"""Webhooks: the signed status document POSTed on terminal states to a loopback receiver, with backoff retries."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from batchsearch.config import Settings
from batchsearch.jobs.webhook_targets import parse_networks
from batchsearch.jobs.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookDispatcher,
    WebhookPolicy,
    backoff_seconds,
    is_valid_signature,
)

from batch_fakes import AsgiBatches, FakeSearcher, jsonl

pytestmark = pytest.mark.anyio


class Receiver:
    """An HTTP server on 127.0.0.1 that fails its first `failures` requests with 500 (and `answer` as the body),
    records them all, and holds each request until `release` is set when `hold` is True."""

    def __init__(self, failures: int = 0, answer: bytes = b"", hold: bool = False) -> None:
        self.failures = failures
        self.requests: list[tuple[float, dict[str, str], bytes]] = []
        self.release = threading.Event()
        if not hold:
            self.release.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((time.monotonic(), dict(self.headers), body))
                receiver.release.wait(60)
                self.send_response(500 if len(receiver.requests) <= receiver.failures else 204)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/batch"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


LOOPBACK = ["127.0.0.1/32"]  # the receivers listen on loopback, which webhooks may only reach when allowlisted
BATCH_SETTINGS = {"batch_webhook_backoff_seconds": 0.05, "batch_webhook_timeout_seconds": 5,
                  "batch_webhook_allowed_networks": LOOPBACK}  # for the shared `api` fixture


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
    for url in ("file:///etc/passwd", "ftp://127.0.0.1/x", "127.0.0.1:9/x", "", "http://[::1", "http://[::1]:99999/",
                "http://user:pw@example.com/", "http://example.com\\@127.0.0.1/", "http:///x", "http://exa mple.com/",
                "http://1.2.3.4.5/", "http://[fe80::1%25eth0]/"):
        response = await api.client.post("/v1/search/batches", json={"webhook_url": url})
        assert response.status_code == 400 and "webhook_url" in response.json()["message"]
    plain = (await api.client.post("/v1/search/batches")).json()
    assert set(plain) == {"batch_id", "presigned_url"}


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff_seconds(n, 10, 60) for n in (1, 2, 3, 4, 5)] == [10, 20, 40, 60, 60]


async def test_a_running_worker_delivers_and_gives_up_after_the_window(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, public_url="http://test", batch_webhook_backoff_seconds=0.05,
                        batch_webhook_give_up_seconds=0.5, poll_seconds=0.02, batch_webhook_allowed_networks=LOOPBACK)
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


# --- targets: no SSRF (H2), and deliveries that never wait for each other (M3) ----------------------------------

FAST = {"batch_webhook_backoff_seconds": 0.01, "batch_webhook_timeout_seconds": 30}


@asynccontextmanager
async def batches(tmp_path: Path, **settings: Any) -> AsyncIterator[AsgiBatches]:
    """The batch API on SQLite with these settings (the `api` fixture's tuning aside)."""
    api = AsgiBatches(Settings(data_dir=tmp_path, public_url="http://test", **(FAST | settings)))
    async with api.client:
        yield api


async def notified_job(api: AsgiBatches, url: str) -> str:
    """A job with this webhook URL whose notification is due now (it was cancelled before any upload)."""
    created = await api.client.post("/v1/search/batches", json={"webhook_url": url})
    assert created.status_code == 200, created.text
    batch_id = str(created.json()["batch_id"])
    assert (await api.client.post(f"/v1/search/batches/{batch_id}/cancel")).status_code == 200
    return batch_id


def dispatch(dispatcher: Any, until: Callable[[], bool], timeout: float = 30) -> None:
    """Start due deliveries until `until()` holds (or the deadline passes)."""
    deadline = time.monotonic() + timeout
    while not until() and time.monotonic() < deadline:
        dispatcher.run_once()
        time.sleep(0.01)


async def attempts_of(api: AsgiBatches, batch_id: str) -> list[dict[str, Any]]:
    return list((await api.status(batch_id))["webhook"]["deliveries"])


def recorded(api: AsgiBatches, batch_id: str) -> int:
    job = api.service.backend.get(batch_id)
    assert job is not None
    return int(job.webhook_attempts)


async def test_forbidden_addresses_are_refused_at_create_and_at_delivery(tmp_path: Path) -> None:
    receiver = Receiver()
    port = receiver.port
    urls = [f"http://127.0.0.1:{port}/h", f"http://localhost:{port}/h", f"http://2130706433:{port}/h",
            f"http://[::1]:{port}/h", f"http://0x7f000001:{port}/h", f"http://0x7f.1:{port}/h", "http://10.1.2.3/h",
            "http://169.254.169.254/latest/meta-data", f"http://[::ffff:127.0.0.1]:{port}/h",
            "http://[::ffff:10.0.0.1]/h", "http://0.0.0.0/h", "http://224.0.0.1/h", "http://100.64.0.1/h"]
    try:
        async with batches(tmp_path) as strict:  # an IP literal (or localhost) is refused at create
            for url in urls:
                refused = await strict.client.post("/v1/search/batches", json={"webhook_url": url})
                assert refused.status_code == 400 and "webhook_url" in refused.text, (url, refused.text)
        # jobs stored while an operator's allowlist let every address in, delivered after it was removed
        async with batches(tmp_path, batch_webhook_allowed_networks=["0.0.0.0/0", "::/0"]) as lenient:
            ids = [await notified_job(lenient, url) for url in urls]
        async with batches(tmp_path, batch_webhook_timeout_seconds=1, batch_webhook_max_attempts=1) as api:
            dispatcher = api.worker().webhooks
            dispatch(dispatcher, lambda: all(recorded(api, i) for i in ids))
            dispatcher.close()
            for batch_id, url in zip(ids, urls):
                attempts = await attempts_of(api, batch_id)
                assert [(a["status_code"], a["error"], a["delivered"]) for a in attempts] == [
                    (None, "address not allowed", False)], url
            assert receiver.requests == []
    finally:
        receiver.close()


async def test_the_allowlist_lets_a_network_in_and_nothing_else(tmp_path: Path) -> None:
    receiver = Receiver()
    try:
        async with batches(tmp_path, batch_webhook_allowed_networks=LOOPBACK) as api:
            allowed = await notified_job(api, receiver.url)
            refused = await api.client.post("/v1/search/batches", json={"webhook_url": "http://10.1.2.3/h"})
            assert refused.status_code == 400 and "webhook_url" in refused.text
            dispatcher = api.worker().webhooks
            dispatch(dispatcher, lambda: recorded(api, allowed))
            dispatcher.close()
            assert (await api.status(allowed))["webhook"]["state"] == "delivered"
    finally:
        receiver.close()


async def test_a_name_resolving_to_loopback_is_refused_and_the_checked_address_is_pinned(tmp_path: Path) -> None:
    receiver = Receiver()
    answers = {"hooks.test": ["127.0.0.1"], "mixed.test": ["93.184.216.34", "127.0.0.1", "10.0.0.1"]}
    resolved: list[str] = []

    def resolve(host: str, port: int) -> list[str]:  # DNS answers of names only this test knows
        resolved.append(host)
        return answers[host]

    try:
        for allowed, expected in (([], (None, "address not allowed")), (LOOPBACK, (204, None))):
            async with batches(tmp_path / str(len(allowed)), batch_webhook_allowed_networks=allowed) as api:
                named = await notified_job(api, f"http://hooks.test:{receiver.port}/h")
                mixed = await notified_job(api, f"http://mixed.test:{receiver.port}/h")
                policy = WebhookPolicy(backoff_seconds=0.01, max_backoff_seconds=1, give_up_after_seconds=60,
                                       timeout_seconds=5, allowed_networks=parse_networks(allowed))
                dispatcher = WebhookDispatcher(api.service.backend, lambda job: {"batch_id": job.id}, policy,
                                               api.service.clock, resolve=resolve)
                dispatch(dispatcher, lambda: recorded(api, named) > 0 and recorded(api, mixed) > 0)
                dispatcher.close()
                assert [(a["status_code"], a["error"]) for a in await attempts_of(api, named)] == [expected]
                assert [a["error"] for a in await attempts_of(api, mixed)] == ["address not allowed"]
        # hooks.test exists for no real resolver: the request went to the checked address, with the name as Host
        assert [headers["Host"] for _, headers, _ in receiver.requests] == [f"hooks.test:{receiver.port}"]
        assert sorted(set(resolved)) == ["hooks.test", "mixed.test"]
    finally:
        receiver.close()


async def test_response_bodies_and_error_texts_are_never_stored(tmp_path: Path) -> None:
    secret = b"internal-admin-page: root password is hunter2"
    receiver = Receiver(failures=1000, answer=secret)
    closed = Receiver()
    closed.close()  # a port nothing listens on any more
    try:
        async with batches(tmp_path, batch_webhook_allowed_networks=LOOPBACK, batch_webhook_max_attempts=1) as api:
            failing = await notified_job(api, receiver.url)
            refused = await notified_job(api, closed.url)
            dispatcher = api.worker().webhooks
            dispatch(dispatcher, lambda: recorded(api, failing) > 0 and recorded(api, refused) > 0)
            dispatcher.close()
            job = api.service.backend.get(failing)
            assert job is not None and b"hunter2" not in (job.webhook_deliveries or "").encode()
            assert [(a["status_code"], a["error"]) for a in await attempts_of(api, failing)] == [(500, "HTTP 500")]
            assert [(a["status_code"], a["error"]) for a in await attempts_of(api, refused)] == [
                (None, "connection failed")]
            text = json.dumps(await api.status(refused)).lower()
            assert "refused" not in text and "errno" not in text
    finally:
        receiver.close()


async def test_attempts_stored_before_the_fix_are_shown_without_their_body(tmp_path: Path) -> None:
    async with batches(tmp_path) as api:
        batch_id = await notified_job(api, "https://example.com/hook")
        old = [{"attempt": 1, "at": "2026-01-01T00:00:00+00:00", "job_status": "cancelled", "status_code": 500,
                "error": "<html>secret</html>", "delivered": False},
               {"attempt": 2, "at": "2026-01-01T00:01:00+00:00", "job_status": "cancelled", "status_code": None,
                "error": "ConnectError: [Errno 111] Connection refused", "delivered": False}]
        assert api.service.backend.record_webhook(batch_id, 0, {"webhook_attempts": 2,
                                                                "webhook_deliveries": json.dumps(old)})
        assert [(a["status_code"], a["error"]) for a in await attempts_of(api, batch_id)] == [
            (500, "HTTP 500"), (None, "delivery failed")]


async def test_slow_receivers_do_not_hold_up_another_jobs_webhook(tmp_path: Path) -> None:
    slow, fast = Receiver(hold=True), Receiver()
    try:
        async with batches(tmp_path, batch_webhook_allowed_networks=LOOPBACK) as api:
            stuck = [await notified_job(api, f"{slow.url}/{n}") for n in range(4)]  # due first
            quick = await notified_job(api, fast.url)
            dispatcher = api.worker().webhooks
            runner = threading.Thread(target=dispatch, args=(dispatcher, lambda: bool(fast.requests), 30))
            runner.start()
            runner.join(timeout=40)
            slow_done = [recorded(api, i) for i in stuck]
            slow_seen = len(slow.requests)
            slow.release.set()
            dispatch(dispatcher, lambda: all(recorded(api, i) for i in [*stuck, quick]))
            dispatcher.close()
            assert fast.requests and slow_seen == 4  # all five were on their way at once
            assert slow_done == [0, 0, 0, 0]  # ... and the fast one did not wait for any slow one to end
            assert (await api.status(quick))["webhook"]["state"] == "delivered"
            assert [(await api.status(i))["webhook"]["state"] for i in stuck] == ["delivered"] * 4
    finally:
        slow.close()
        fast.close()


async def test_at_most_concurrency_deliveries_run_at_once(tmp_path: Path) -> None:
    slow = Receiver(hold=True)
    try:
        async with batches(tmp_path, batch_webhook_allowed_networks=LOOPBACK, batch_webhook_concurrency=2) as api:
            ids = [await notified_job(api, slow.url) for _ in range(3)]
            dispatcher = api.worker().webhooks
            assert dispatcher.run_once() == 2
            dispatch(dispatcher, lambda: len(slow.requests) == 2)
            assert dispatcher.run_once() == 0 and len(slow.requests) == 2  # the pool is full
            slow.release.set()
            dispatch(dispatcher, lambda: all(recorded(api, i) for i in ids))
            dispatcher.close()
            assert len(slow.requests) == 3
    finally:
        slow.close()


async def test_retries_stop_after_max_attempts(tmp_path: Path) -> None:
    receiver = Receiver(failures=1000)
    try:
        async with batches(tmp_path, batch_webhook_allowed_networks=LOOPBACK, batch_webhook_max_attempts=3) as api:
            batch_id = await notified_job(api, receiver.url)
            dispatcher = api.worker().webhooks
            dispatch(dispatcher, lambda: (await_state := api.service.backend.get(batch_id)) is not None
                     and not await_state.webhook_pending, timeout=20)
            for _ in range(20):
                dispatcher.run_once()
            dispatcher.close()
            webhook = (await api.status(batch_id))["webhook"]
            assert webhook["state"] == "failed" and [a["attempt"] for a in webhook["deliveries"]] == [1, 2, 3]
            assert len(receiver.requests) == 3
    finally:
        receiver.close()


async def test_an_invalid_url_stored_before_the_fix_is_recorded_once_and_given_up(tmp_path: Path) -> None:
    async with batches(tmp_path) as api:
        created = api.service.create("alice", webhook_url="https://hooks.example.com/h")
        stored = api.service.backend.update_fields(created.job.id, created.job.status, {"webhook_url": "http://[::1"})
        assert stored  # a URL the API refuses now (400), kept by a job made before the fix
        assert (await api.client.post(f"/v1/search/batches/{created.job.id}/cancel")).status_code == 200
        dispatcher = api.worker().webhooks
        dispatch(dispatcher, lambda: recorded(api, created.job.id) > 0)
        for _ in range(10):
            dispatcher.run_once()
        dispatcher.close()
        webhook = (await api.status(created.job.id))["webhook"]
        assert webhook["state"] == "failed"
        assert [(a["attempt"], a["error"]) for a in webhook["deliveries"]] == [(1, "invalid URL")]
