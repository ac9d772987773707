"""The SDK's shared flows driven by hand, with no client, server or clock: the steps they ask for, given replies."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import batchsearch
from batchsearch.client import _shared as shared
from batchsearch.client._flows import Done, Flow, Flows, Save, Send, Sleep, Stat, Step, advance, send

BASE = "http://api.test"


def drive(flow: Flow[Any], answer: Callable[[Step], Any]) -> tuple[list[Step], Any]:
    """Run a flow to its end, replying to each step with `answer(step)`; the steps it asked for and its result."""
    steps: list[Step] = []
    step = advance(flow, None)
    while not isinstance(step, Done):
        steps.append(step)
        step = advance(flow, answer(step))
    return steps, step.value


def reply(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Callable[[Send], httpx.Response]:
    def respond(request: Send) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers, request=httpx.Request(request.method, request.url))
    return respond


def script(*answers: Any) -> Callable[[Step], Any]:
    """Answers for the Send steps in order (a callable makes the response); other steps get None, Stat gets 10."""
    queue = list(answers)

    def answer(step: Step) -> Any:
        if isinstance(step, Stat):
            return 10
        if not isinstance(step, Send):
            return None
        nxt = queue.pop(0)
        return nxt(step) if callable(nxt) else nxt
    return answer


def flows(max_retries: int = 3) -> Flows:
    return Flows(BASE, "key", shared.RetryPolicy(max_retries=max_retries))


def test_a_call_is_one_send_with_the_key_and_decodes_the_answer() -> None:
    steps, value = drive(flows().get("b 1"), script(reply(200, {"status": "pending"})))
    assert value == {"status": "pending"}
    [request] = steps
    assert isinstance(request, Send)
    assert (request.method, request.url, request.headers["X-API-KEY"]) == ("GET", f"{BASE}/v1/search/batches/b%201", "key")


def test_503_sleeps_for_retry_after_then_sends_again() -> None:
    busy = reply(503, {"message": "busy"}, {"Retry-After": "4"})
    steps, value = drive(flows().sectors(), script(busy, reply(200, {"results": ["Energy"]})))
    assert value == ["Energy"]
    assert [type(s).__name__ for s in steps] == ["Send", "Sleep", "Send"]
    assert steps[1] == Sleep(4.0)


def test_4xx_raises_the_servers_error_without_sleeping() -> None:
    body = {"message": "bad", "errorCode": "VALIDATION_ERROR", "requestId": "req-1"}
    flow = flows().search({"text": "x"}, include_audit=False)
    with pytest.raises(batchsearch.ValidationError) as caught:
        drive(flow, script(reply(400, body)))
    assert caught.value.request_id == "req-1"


def test_a_dropped_create_is_final_but_a_refused_one_is_retried() -> None:
    request = Send("POST", BASE + "/v1/search/batches")
    dropped = httpx.ReadError("dropped")
    with pytest.raises(batchsearch.APIConnectionError) as caught:
        drive(send(request, shared.RetryPolicy(), is_idempotent=False), script(dropped))
    assert caught.value.url == BASE and caught.value.__cause__ is dropped
    refused = httpx.ConnectError("refused")
    steps, _ = drive(send(request, shared.RetryPolicy(), is_idempotent=False), script(refused, reply(200, {})))
    assert [type(s).__name__ for s in steps] == ["Send", "Sleep", "Send"]


def test_wait_sleeps_a_growing_interval_until_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("batchsearch.client._flows.time.monotonic", lambda: 0.0)
    pending = reply(200, {"batch_id": "b1", "status": "pending"})
    steps, value = drive(flows().wait("b1", None, None),
                         script(pending, pending, pending, reply(200, {"batch_id": "b1", "status": "failed"})))
    assert value["status"] == "failed"
    assert [s.seconds for s in steps if isinstance(s, Sleep)] == [0.5, 0.75, 1.125]


def test_wait_stops_at_its_deadline() -> None:
    schedule = shared.PollSchedule("b1", timeout=1.0, started=100.0)
    status = {"batch_id": "b1", "status": "processing", "lines_done": 1, "lines_total": 3}
    assert schedule.next_delay(status, now=100.0) == 0.5
    assert schedule.next_delay(status, now=100.6) == pytest.approx(0.4)
    with pytest.raises(batchsearch.SearchTimeoutError, match=r"b1 is still processing \(1/3 lines\) after 1s"):
        schedule.next_delay(status, now=101.0)


def test_upload_asks_for_the_file_size_then_puts_it_without_the_key(tmp_path: Path) -> None:
    steps, _ = drive(flows().upload({"batch_id": "b1", "presigned_url": "http://files.test/in"}, tmp_path / "q", None),
                     script(reply(200)))
    stat, put = steps
    assert stat == Stat(tmp_path / "q")
    assert isinstance(put, Send) and put.method == "PUT" and "X-API-KEY" not in put.headers
    assert put.upload is not None and put.upload.size == 10 and put.headers["Content-Length"] == "10"


def test_download_renews_an_expired_url_once_then_saves(tmp_path: Path) -> None:
    status = {"batch_id": "b1", "status": "completed", "output_file_url": "http://files.test/out?sig=old"}
    fresh = status | {"output_file_url": "http://files.test/out?sig=new"}
    expired = reply(403, {"message": "expired", "errorCode": "FORBIDDEN"})
    steps, value = drive(flows().download(status, tmp_path / "out.jsonl", None),
                         script(expired, reply(200, fresh), reply(200, {})))
    assert value == tmp_path / "out.jsonl"
    assert [s.url for s in steps if isinstance(s, Send)] == [
        "http://files.test/out?sig=old", f"{BASE}/v1/search/batches/b1", "http://files.test/out?sig=new"]
    assert isinstance(steps[-1], Save) and steps[-1].partial == tmp_path / "out.jsonl.partial"
