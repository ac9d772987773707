"""Retries, error mapping and polling of the SDK against a tiny real HTTP server that answers from a script.

Only time is injected: the SDK's sleep is replaced by one that records the delay, so the backoff
and poll intervals are checked exactly without waiting for them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

import batchsearch
from batchsearch.client import _shared as shared

from batch_fakes import status_document
from sdk_server import Reply, ScriptedServer, dead_url, error_body

OK = {"results": [], "metadata": {"request_id": "r"}, "usage": {"api_query_units": 0}}


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays the sync client asked to sleep, in order (nothing actually sleeps)."""
    recorded: list[float] = []
    monkeypatch.setattr("batchsearch.client.sync._sleep", recorded.append)
    return recorded


def status(state: str, eta: datetime | None = None, lines_done: int = 0, **extra: Any) -> dict[str, Any]:
    """A status document as the server renders it, for a 4-line job."""
    return status_document(state, eta=eta, lines_total=4, lines_done=lines_done, checkpoint_line=lines_done,
                           **extra)


def test_503_twice_then_success_is_retried_with_growing_backoff(sleeps: list[float]) -> None:
    busy = Reply(503, error_body(503, "UNAVAILABLE", "busy"))
    with ScriptedServer(busy, busy, Reply(200, OK)) as server, batchsearch.Client(server.url, "k") as client:
        assert client.search({"text": "x"}) == OK
    assert [r["method"] for r in server.requests] == ["POST"] * 3
    assert len(sleeps) == 2
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0


def test_400_is_not_retried_and_raises_the_servers_validation_error(sleeps: list[float]) -> None:
    body = error_body(400, "VALIDATION_ERROR", "1 validation error for PublicSearchRequest", "req-42")
    with ScriptedServer(Reply(400, body), Reply(200, OK)) as server, batchsearch.Client(server.url, "k") as client:
        with pytest.raises(batchsearch.ValidationError) as caught:
            client.search({"text": "x"})
    assert len(server.requests) == 1 and sleeps == []
    err = caught.value
    assert (err.status_code, err.error_code, err.request_id) == (400, "VALIDATION_ERROR", "req-42")
    assert err.message == "1 validation error for PublicSearchRequest"


@pytest.mark.parametrize("status_code", [401, 403, 404, 409, 413, 422])
def test_no_4xx_but_429_is_retried(status_code: int, sleeps: list[float]) -> None:
    with ScriptedServer(Reply(status_code, {"message": "no"}), Reply(200, OK)) as server:
        with batchsearch.Client(server.url, "k") as client, pytest.raises(batchsearch.BatchSearchError) as caught:
            client.search({"text": "x"})
    assert len(server.requests) == 1
    assert caught.value.status_code == status_code


def test_429_honours_retry_after_seconds_and_dates(sleeps: list[float]) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    replies = [Reply(429, {"message": "slow down"}, {"Retry-After": "7"}),
               Reply(429, {"message": "slow down"}, {"Retry-After": later}), Reply(200, OK)]
    with ScriptedServer(*replies) as server, batchsearch.Client(server.url, "k") as client:
        assert client.search({"text": "x"}) == OK
    assert sleeps[0] == 7
    assert 25 <= sleeps[1] <= 30


def test_retries_stop_after_max_retries_with_the_last_error(sleeps: list[float]) -> None:
    with ScriptedServer(Reply(503, error_body(503, "UNAVAILABLE", "busy"))) as server:
        with batchsearch.Client(server.url, "k", max_retries=2) as client, \
                pytest.raises(batchsearch.ServiceUnavailableError, match="busy"):
            client.search({"text": "x"})
    assert len(server.requests) == 3 and len(sleeps) == 2


def test_max_retries_zero_sends_once(sleeps: list[float]) -> None:
    with ScriptedServer(Reply(500, error_body(500, "INTERNAL_ERROR", "boom")), Reply(200, OK)) as server:
        with batchsearch.Client(server.url, "k", max_retries=0) as client, pytest.raises(batchsearch.InternalError):
            client.search({"text": "x"})
    assert len(server.requests) == 1


def test_connection_refused_is_retried_then_raised(sleeps: list[float]) -> None:
    url = dead_url()
    with batchsearch.Client(url, "k", max_retries=3) as client, pytest.raises(batchsearch.APIConnectionError) as caught:
        client.kg.sectors()
    assert len(sleeps) == 3
    assert caught.value.url == url and url in caught.value.message
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_a_dropped_create_is_not_retried_but_a_dropped_get_is(sleeps: list[float]) -> None:
    with ScriptedServer(Reply(drop=True), Reply(200, {"batch_id": "b1", "presigned_url": "u"})) as server:
        with batchsearch.Client(server.url, "k") as client:
            with pytest.raises(batchsearch.APIConnectionError):
                client.batches.create()  # the job may exist: a retry could create a second one
            assert len(server.requests) == 1
            server.replies[:] = [Reply(drop=True), Reply(200, status("completed"))]
            assert client.batches.get("b1")["status"] == "completed"
    assert len(server.requests) == 3


def test_error_bodies_without_a_class_keep_their_status_and_code(sleeps: list[float]) -> None:
    body = error_body(405, "HTTP_405", "Method Not Allowed")
    with ScriptedServer(Reply(405, body)) as server, batchsearch.Client(server.url, "k") as client:
        with pytest.raises(batchsearch.BatchSearchError) as caught:
            client.batches.get("b1")
    assert (caught.value.status_code, caught.value.error_code) == (405, "HTTP_405")


def test_html_and_object_store_xml_errors_become_short_messages(sleeps: list[float], tmp_path: Path) -> None:
    html = Reply(403, b"<html><body><h1>403 Forbidden</h1></body></html>", {"Content-Type": "text/html"})
    xml = Reply(403, b"<?xml version='1.0'?><Error><Code>SignatureDoesNotMatch</Code><Message>The signature does not"
                     b" match</Message></Error>", {"Content-Type": "application/xml"})
    file = tmp_path / "q.jsonl"
    file.write_text('{"query": {"text": "x"}}\n')
    with ScriptedServer(html, xml) as server, batchsearch.Client(server.url, "k") as client:
        with pytest.raises(batchsearch.PermissionDeniedError) as page:
            client.search({"text": "x"})
        with pytest.raises(batchsearch.PermissionDeniedError) as s3:
            client.batches.upload(server.url + "/bucket/key?X-Amz-Signature=1", file)
    assert page.value.message == "HTTP 403 Forbidden"
    assert s3.value.message == "HTTP 403 Forbidden: SignatureDoesNotMatch: The signature does not match"


def test_upload_streams_jsonl_without_the_api_key(sleeps: list[float], tmp_path: Path) -> None:
    file = tmp_path / "q.jsonl"
    file.write_bytes(b'{"query": {"text": "a"}}\n' * 20_000)  # several chunks
    with ScriptedServer(Reply(200, b""), Reply(200, {"results": []})) as server, \
            batchsearch.Client(server.url, "secret-key") as client:
        client.batches.upload({"batch_id": "b1", "presigned_url": server.url + "/files/up?signature=s"}, file)
        client.kg.sectors()
    put, api = server.requests
    assert put["method"] == "PUT" and put["path"] == "/files/up?signature=s"
    assert put["headers"]["content-type"] == "application/jsonl"
    assert put["headers"]["content-length"] == str(file.stat().st_size)
    assert "x-api-key" not in put["headers"] and "transfer-encoding" not in put["headers"]
    assert put["body"] == file.read_bytes()
    assert api["headers"]["x-api-key"] == "secret-key"


def test_wait_polls_from_half_a_second_growing_to_ten(sleeps: list[float]) -> None:
    replies = [Reply(200, status("pending")) for _ in range(12)] + [Reply(200, status("completed"))]
    with ScriptedServer(*replies) as server, batchsearch.Client(server.url, "k") as client:
        assert client.batches.wait("b1")["status"] == "completed"
    assert len(server.requests) == 13
    assert sleeps[:4] == [0.5, 0.75, 1.125, 1.6875]
    assert all(a <= b for a, b in zip(sleeps, sleeps[1:], strict=False))
    assert max(sleeps) == 10.0


def test_wait_wakes_up_at_the_eta_but_not_faster_than_half_a_second(sleeps: list[float]) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=30)
    replies = [Reply(200, status("processing", soon)) for _ in range(8)] + [Reply(200, status("completed"))]
    with ScriptedServer(*replies) as server, batchsearch.Client(server.url, "k") as client:
        client.batches.wait("b1")
    assert max(sleeps) <= 30 and min(sleeps) >= 0.5
    assert shared.poll_delay(10.0, status("processing", datetime.now(UTC) + timedelta(seconds=2))) <= 2
    assert shared.poll_delay(10.0, status("processing", datetime.now(UTC) + timedelta(milliseconds=10))) == 0.5


def test_an_overdue_eta_does_not_make_wait_hammer(sleeps: list[float]) -> None:
    overdue = datetime.now(UTC) - timedelta(minutes=5)
    replies = [Reply(200, status("processing", overdue)) for _ in range(6)] + [Reply(200, status("completed"))]
    with ScriptedServer(*replies) as server, batchsearch.Client(server.url, "k") as client:
        client.batches.wait("b1")
    assert sleeps[:3] == [0.5, 0.75, 1.125]


def test_wait_timeout_names_the_batch_and_its_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    monkeypatch.setattr("batchsearch.client.sync._sleep", lambda s: clock.__setitem__(0, clock[0] + s))
    monkeypatch.setattr("batchsearch.client.sync.time.monotonic", lambda: clock[0])
    with ScriptedServer(Reply(200, status("processing", lines_done=2))) as server, \
            batchsearch.Client(server.url, "k") as client:
        with pytest.raises(batchsearch.SearchTimeoutError, match=r"b1 is still processing \(2/4 lines\) after 5s"):
            client.batches.wait("b1", timeout=5)
    assert 5 <= clock[0] <= 6


def test_download_renews_an_expired_url_once(sleeps: list[float], tmp_path: Path) -> None:
    expired = Reply(403, error_body(403, "FORBIDDEN", "URL expired"))
    with ScriptedServer(expired) as server, batchsearch.Client(server.url, "k") as client:
        fresh = status("completed", output_file_url=server.url + "/files/out?sig=new")
        server.replies[:] = [expired, Reply(200, fresh), Reply(200, b'{"line_number": 1}\n')]
        stale = status("completed", output_file_url=server.url + "/files/out?sig=old")
        client.batches.download(stale, tmp_path / "out.jsonl")
    assert [r["path"] for r in server.requests] == ["/files/out?sig=old", "/v1/search/batches/b1", "/files/out?sig=new"]
    assert (tmp_path / "out.jsonl").read_bytes() == b'{"line_number": 1}\n'


def test_a_success_that_is_not_json_is_an_internal_error(sleeps: list[float]) -> None:
    page = Reply(200, b"<html>captive portal</html>", {"Content-Type": "text/html"})
    with ScriptedServer(page) as server, batchsearch.Client(server.url, "k") as client:
        with pytest.raises(batchsearch.InternalError, match="not JSON"):
            client.kg.sectors()


def test_backoff_is_jittered_and_capped() -> None:
    policy = shared.RetryPolicy(max_retries=10)
    for attempt in range(10):
        ceiling = min(8.0, 0.5 * 2**attempt)
        assert ceiling / 2 <= policy.delay(attempt) <= ceiling
    assert policy.delay(0, retry_after=3600) == 60.0
    assert policy.delay(0, retry_after=0) == 0.0
