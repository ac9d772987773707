"""Limits of a real `serve` process at the HTTP layer: the request line plus headers are bounded by
BATCHSEARCH_MAX_REQUEST_HEADER_BYTES while they stream in (uvicorn's h11 parser), never buffered whole."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from batch_servers import Server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path, workers=0)
    yield running
    running.stop()


def status_with_header(url: str, size: int) -> int | None:
    """The status of GET /healthz with one header of `size` bytes; None when the server closed the connection
    without an answer (it stopped reading)."""
    try:
        return httpx.get(f"{url}/healthz", headers={"X-Padding": "a" * size}, timeout=30).status_code
    except (httpx.RemoteProtocolError, httpx.WriteError, httpx.ReadError):
        return None


def test_a_1_mb_header_is_refused_and_headers_under_the_limit_pass(server: Server) -> None:
    assert status_with_header(server.base_url, 32 * 1024) == 200  # above h11's own 16 KiB default, under 64 KiB
    assert status_with_header(server.base_url, 1024 * 1024) in (400, 431, None)
    assert httpx.get(f"{server.base_url}/healthz", timeout=30).status_code == 200  # the server still serves


def test_the_header_limit_follows_the_setting(tmp_path: Path) -> None:
    running = Server(tmp_path, workers=0, max_request_header_bytes=4096)
    try:  # h11 checks the bound whenever a read leaves the head incomplete: past it by up to one read (64 KiB)
        assert status_with_header(running.base_url, 2048) == 200
        assert status_with_header(running.base_url, 256 * 1024) in (400, 431, None)
    finally:
        running.stop()
