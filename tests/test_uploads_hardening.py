"""Uploads against a real server process: chunked bodies over a limit get 413 without the body landing in the
server's memory, slow uploads hold no worker thread (other tenants' status reads still answer), and the per-key
and per-URL upload limits answer 429 and 409 (issue 12: H3, M1)."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from batchsearch.api.bodies import JSON_BODY_LIMIT

from batch_servers import Server, copy_index

MiB = 1024 * 1024
BATCH_LIMIT = 4 * MiB
CONTENT_LIMIT = 100 * MiB  # contents.service.MAX_UPLOAD_BYTES
SLOW_UPLOADS = 45  # more than anyio's default 40 worker threads


@pytest.fixture(scope="module")
def open_server(batch_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose upload gates let everything through, so only the body handling is under test."""
    data_dir = tmp_path_factory.mktemp("uploads-open")
    copy_index(batch_index, data_dir)
    server = Server(data_dir, workers=0, batch_max_bytes=BATCH_LIMIT, upload_max_concurrent_per_key=1000,
                    upload_max_concurrent_per_url=1000)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gated_server(batch_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with the default upload gates (4 per key, 1 per URL)."""
    data_dir = tmp_path_factory.mktemp("uploads-gated")
    copy_index(batch_index, data_dir)
    server = Server(data_dir, workers=0)
    yield server
    server.stop()


# ---- raw HTTP/1.1 over a socket: chunked bodies, early answers, 100-continue -------------------------------------
class RawUpload:
    """One request with a chunked body, sent by hand so the test controls every byte and sees early answers."""

    def __init__(self, url: str, method: str = "PUT", headers: dict[str, str] | None = None,
                 expect_continue: bool = False) -> None:
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        self.sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=30)
        lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}", "Transfer-Encoding: chunked",
                 "Content-Type: application/octet-stream"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if expect_continue:
            lines.append("Expect: 100-continue")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.received = b""

    def wait_continue(self, timeout: float) -> bool:
        """Whether the server asked for the body (it sends 100 Continue when the route starts reading it)."""
        self.sock.settimeout(timeout)
        try:
            while b"\r\n\r\n" not in self.received:
                data = self.sock.recv(65536)
                if not data:
                    return False
                self.received += data
        except (TimeoutError, OSError):
            return False
        head, _, self.received = self.received.partition(b"\r\n\r\n")
        return head.startswith(b"HTTP/1.1 100")

    def send_chunk(self, data: bytes) -> None:
        self.sock.sendall(b"%x\r\n%s\r\n" % (len(data), data))

    def has_answer(self) -> bool:
        """Whether the server already answered (without blocking)."""
        readable, _, _ = select.select([self.sock], [], [], 0)
        return bool(readable)

    def stream(self, total: int, chunk: int = 256 * 1024) -> tuple[int, dict[str, str], bytes]:
        """Send `total` bytes of body (stopping early when the server answers), then read the answer."""
        piece = b"x" * (chunk - 1) + b"\n"
        sent = 0
        try:
            while sent < total and not self.has_answer():
                self.send_chunk(piece)
                sent += len(piece)
            if not self.has_answer():
                self.sock.sendall(b"0\r\n\r\n")
        except OSError:  # the server answered and closed while we were still sending
            pass
        return self.answer()

    def answer(self) -> tuple[int, dict[str, str], bytes]:
        """The status, headers and body of the server's answer."""
        data = self.received
        self.sock.settimeout(30)
        try:
            while True:
                head, sep, body = data.partition(b"\r\n\r\n")
                if sep:
                    headers = _headers(head)
                    if len(body) >= int(headers.get("content-length", "0")):
                        break
                more = self.sock.recv(65536)
                if not more:
                    break
                data += more
        except ConnectionResetError:
            pass
        self.close()
        head, _, body = data.partition(b"\r\n\r\n")
        assert head, "the server closed the connection without an answer"
        return int(head.split(b" ", 2)[1]), _headers(head), body

    def close(self) -> None:
        self.sock.close()


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}


class PeakRss:
    """The largest resident size of a process while the block runs, sampled in a thread."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.baseline = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


# ---- helpers over the API -----------------------------------------------------------------------------------------
def api(server: Server, name: str) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers={"X-API-KEY": server.create_key(name)}, timeout=30)


def new_upload_url(client: httpx.Client) -> tuple[str, str]:
    created = client.post("/v1/search/batches")
    assert created.status_code == 200, created.text
    return created.json()["batch_id"], created.json()["presigned_url"]


def new_content_url(client: httpx.Client) -> tuple[str, str]:
    created = client.post("/contents/v1/documents", json={"file_name": "notes.txt"})
    assert created.status_code == 200, created.text
    return created.json()["id"], created.json()["url"]


def over_limit(server: Server, url: str, size: int, headers: dict[str, str] | None = None,
               method: str = "PUT") -> tuple[int, dict[str, str], bytes, PeakRss]:
    """Stream `size` chunked bytes to `url` while watching the server's memory."""
    with PeakRss(server.process.pid) as rss:
        status, answer_headers, body = RawUpload(url, method, headers).stream(size)
    return status, answer_headers, body, rss


# ---- M1: every byte limit holds while streaming, and bodies never land in memory ----------------------------------
def test_chunked_validate_body_over_the_limit_is_413_without_buffering(open_server: Server) -> None:
    client = api(open_server, "m1-validate")
    assert client.post("/v1/search/batches/validate", content=b'{"query": {"text": "warm"}}\n').status_code == 200
    size = 64 * MiB
    status, _, body, rss = over_limit(open_server, f"{open_server.base_url}/v1/search/batches/validate", size,
                                      {"X-API-KEY": client.headers["X-API-KEY"]}, method="POST")
    assert status == 413, body
    assert str(BATCH_LIMIT) in json.loads(body)["message"]
    assert rss.growth < size // 4, f"server RSS grew by {rss.growth} bytes for a {size}-byte body"


def test_chunked_create_body_over_the_limit_is_413_without_buffering(open_server: Server) -> None:
    client = api(open_server, "m1-create")
    assert client.post("/v1/search/batches", json={"priority": 1}).status_code == 200
    size = 64 * MiB
    status, _, body, rss = over_limit(open_server, f"{open_server.base_url}/v1/search/batches", size,
                                      {"X-API-KEY": client.headers["X-API-KEY"]}, method="POST")
    assert status == 413, body
    assert "65536" in json.loads(body)["message"]
    assert rss.growth < size // 4, f"server RSS grew by {rss.growth} bytes for a {size}-byte body"


@pytest.mark.parametrize("path", ["/v1/search", "/v1/knowledge-graph/companies", "/contents/v1/documents"])
def test_chunked_json_bodies_over_the_limit_are_413_without_buffering(open_server: Server, path: str) -> None:
    client = api(open_server, f"m1-json{path.replace('/', '-')}")
    size = 64 * MiB
    status, _, body, rss = over_limit(open_server, f"{open_server.base_url}{path}", size,
                                      {"X-API-KEY": client.headers["X-API-KEY"], "Content-Type": "application/json"},
                                      method="POST")
    assert status == 413, body
    assert str(JSON_BODY_LIMIT) in json.loads(body)["message"]
    assert rss.growth < size // 4, f"server RSS grew by {rss.growth} bytes for a {size}-byte body"
    declared = client.post(path, content=b" " * (JSON_BODY_LIMIT + 1), headers={"Content-Type": "application/json"})
    assert declared.status_code == 413, declared.text
    assert client.post("/v1/search", json={"query": {"text": "revenue", "max_chunks": 1}}).status_code == 200


def test_chunked_batch_upload_over_the_limit_is_413_and_fails_the_job(open_server: Server) -> None:
    client = api(open_server, "m1-files")
    batch_id, url = new_upload_url(client)
    size = 64 * MiB
    status, _, body, rss = over_limit(open_server, url, size)
    assert status == 413, body
    assert str(BATCH_LIMIT) in json.loads(body)["message"]
    assert rss.growth < size // 4, f"server RSS grew by {rss.growth} bytes for a {size}-byte body"
    job = client.get(f"/v1/search/batches/{batch_id}").json()
    assert job["status"] == "failed" and str(BATCH_LIMIT) in job["error"]


def test_declared_length_over_the_limit_is_413_before_the_body(open_server: Server) -> None:
    client = api(open_server, "m1-declared")
    _, url = new_upload_url(client)
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(f"PUT {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                     f"Content-Length: {BATCH_LIMIT + 1}\r\n\r\n".encode())
        answer = sock.recv(65536)  # no body byte sent: the server answers from the header alone
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_chunked_content_upload_over_the_limit_is_413_without_buffering(open_server: Server) -> None:
    client = api(open_server, "m1-contents")
    content_id, url = new_content_url(client)
    size = CONTENT_LIMIT + 16 * MiB
    status, _, body, rss = over_limit(open_server, url, size)
    assert status == 413, body
    assert rss.growth < CONTENT_LIMIT // 4, f"server RSS grew by {rss.growth} bytes for a {size}-byte body"
    record = client.get(f"/contents/v1/documents/{content_id}").json()
    assert record["status"] == "failed" and record["error_code"] == "PAYLOAD_TOO_LARGE"


def test_a_streamed_upload_under_the_limit_is_taken_whole(open_server: Server) -> None:
    client = api(open_server, "m1-ok")
    batch_id, url = new_upload_url(client)
    lines = b"".join(b'{"query": {"text": "revenue %d"}}\n' % i for i in range(40_000))  # ~1.3 MB: spills to disk
    upload = RawUpload(url)
    for start in range(0, len(lines), 100_000):
        upload.send_chunk(lines[start:start + 100_000])
    upload.sock.sendall(b"0\r\n\r\n")
    status, _, body = upload.answer()
    assert status == 200, body
    job = client.get(f"/v1/search/batches/{batch_id}").json()
    assert job["status"] in ("pending", "processing") and job["lines_total"] == 40_000, job


# ---- H3: slow uploads hold no worker thread ------------------------------------------------------------------------
def test_slow_uploads_leave_status_reads_of_another_tenant_answering(open_server: Server) -> None:
    slow = api(open_server, "h3-slow")
    other = api(open_server, "h3-other")
    other_id, _ = new_upload_url(other)
    slow_id, url = new_upload_url(slow)
    uploads = [RawUpload(url, expect_continue=True) for _ in range(SLOW_UPLOADS)]
    stop = threading.Event()

    def trickle() -> None:  # a byte a second on every socket, bounded by the test's own end
        for _ in range(30):
            for upload in uploads:
                try:
                    upload.send_chunk(b"{")
                except OSError:
                    pass
            if stop.wait(1.0):
                return

    sender = threading.Thread(target=trickle, daemon=True)
    try:
        deadline = time.monotonic() + 10
        reading = sum(upload.wait_continue(max(0.1, deadline - time.monotonic())) for upload in uploads)
        sender.start()
        try:  # a liveness check while all the slow uploads are still open, not a latency assertion
            status = other.get(f"/v1/search/batches/{other_id}", timeout=10)
        except httpx.TimeoutException:
            pytest.fail(f"another tenant's status read got no answer while {reading} slow uploads were open")
        assert status.status_code == 200, status.text
        assert reading == SLOW_UPLOADS  # the server was reading every slow body at once
    finally:
        stop.set()
        for upload in uploads:
            upload.close()
        if sender.is_alive():
            sender.join()
    # uploads cut short are not refusals: the job still waits for its input
    assert slow.get(f"/v1/search/batches/{slow_id}").json()["status"] == "pending"


# ---- upload gates: per key 429 with Retry-After, per URL 409 -------------------------------------------------------
def test_one_key_streams_at_most_four_uploads_then_429(gated_server: Server) -> None:
    client = api(gated_server, "gate-key")
    urls = [new_upload_url(client)[1] for _ in range(5)]
    held = [RawUpload(url, expect_continue=True) for url in urls[:4]]
    try:
        assert all(upload.wait_continue(10) for upload in held)
        status, headers, body = RawUpload(urls[4]).stream(1024)
        assert status == 429, body
        assert int(headers["retry-after"]) >= 1
        assert json.loads(body)["errorCode"] == "RATE_LIMITED"
        other = api(gated_server, "gate-other")  # other keys are not affected
        other_content, other_url = new_content_url(other)
        status, _, body = RawUpload(other_url).stream(1024)
        assert status == 200, body
    finally:
        for upload in held:
            upload.close()


def test_a_second_upload_to_the_same_url_is_409_while_the_first_streams(gated_server: Server) -> None:
    client = api(gated_server, "gate-url")
    _, url = new_upload_url(client)
    first = RawUpload(url, expect_continue=True)
    try:
        assert first.wait_continue(10)
        status, _, body = RawUpload(url).stream(1024)
        assert status == 409, body
        assert "already in progress" in json.loads(body)["message"]
    finally:
        first.close()
    _, content_url = new_content_url(client)
    first = RawUpload(content_url, expect_continue=True)
    try:
        assert first.wait_continue(10)
        status, _, body = RawUpload(content_url).stream(1024)
        assert status == 409, body
        assert "already in progress" in json.loads(body)["message"]
    finally:
        first.close()


def test_the_gates_open_again_when_uploads_end(gated_server: Server) -> None:
    client = api(gated_server, "gate-free")
    urls = [new_upload_url(client)[1] for _ in range(5)]
    held = [RawUpload(url, expect_continue=True) for url in urls[:4]]
    assert all(upload.wait_continue(10) for upload in held)
    for upload in held:  # a client that goes away frees its place
        upload.close()
    deadline = time.monotonic() + 10
    while True:
        status, _, body = RawUpload(urls[4]).stream(100)
        if status != 429 or time.monotonic() > deadline:
            break
        time.sleep(0.1)  # the server notices the closed sockets when it next reads from them
    assert status == 200, body


def test_the_raw_body_routes_describe_their_bodies_in_openapi(open_server: Server) -> None:
    paths = httpx.get(f"{open_server.base_url}/openapi.json", timeout=30).json()["paths"]
    create = paths["/v1/search/batches"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"validate_first", "priority", "webhook_url"} <= set(create["properties"])
    validate = paths["/v1/search/batches/validate"]["post"]["requestBody"]["content"]
    assert set(validate) == {"application/x-ndjson", "application/json"}
    for path in ("/files/{key}", "/contents/v1/uploads/{content_id}"):
        body = paths[path]["put"]["requestBody"]["content"]
        assert body["application/octet-stream"]["schema"] == {"type": "string", "format": "binary"}
