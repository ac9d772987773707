"""The local-file ObjectStore: atomic streamed puts, ranged reads, listing, limits, safe keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchsearch.errors import NotFoundError, PayloadTooLargeError, ValidationError
from batchsearch.storage.local import LocalObjectStore


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects", base_url="http://127.0.0.1:9", secret=b"k")


def test_put_stream_then_read_back_from_any_offset(store: LocalObjectStore) -> None:
    assert store.put_stream("a/b.jsonl", iter([b"hello ", b"world"])) == 11
    assert b"".join(store.iter_bytes("a/b.jsonl")) == b"hello world"
    assert b"".join(store.iter_bytes("a/b.jsonl", start=6)) == b"world"
    assert store.size("a/b.jsonl") == 11


def test_listing_and_delete(store: LocalObjectStore) -> None:
    for key in ("j/parts/2.jsonl", "j/parts/1.jsonl", "j/out.jsonl", "k/parts/1.jsonl"):
        store.put_stream(key, [b"x"])
    assert store.list_keys("j/parts/") == ["j/parts/1.jsonl", "j/parts/2.jsonl"]
    store.delete("j/parts/1.jsonl")
    store.delete("j/parts/1.jsonl")
    assert store.list_keys("j/parts/") == ["j/parts/2.jsonl"]
    assert store.list_keys("nothing/here/") == []
    with pytest.raises(NotFoundError):
        store.iter_bytes("j/parts/1.jsonl")


def test_too_large_stream_leaves_nothing_behind(store: LocalObjectStore) -> None:
    store.put_stream("a.jsonl", [b"old"])
    with pytest.raises(PayloadTooLargeError):
        store.put_stream("a.jsonl", iter([b"12345", b"67890", b"x"]), max_bytes=10)
    assert b"".join(store.iter_bytes("a.jsonl")) == b"old"
    assert list((store.root / ".tmp").iterdir()) == []


def test_failed_stream_keeps_the_previous_object(store: LocalObjectStore) -> None:
    def broken():  # type: ignore[no-untyped-def]
        yield b"partial"
        raise ConnectionError("client went away")

    store.put_stream("a.jsonl", [b"old"])
    with pytest.raises(ConnectionError):
        store.put_stream("a.jsonl", broken())
    assert b"".join(store.iter_bytes("a.jsonl")) == b"old"


@pytest.mark.parametrize("key", ["../x", "/etc/passwd", "a/../../b", "a//b", ".tmp/x", "a b", ""])
def test_unsafe_keys_are_refused(store: LocalObjectStore, key: str) -> None:
    with pytest.raises(ValidationError):
        store.put_stream(key, [b"x"])


def test_presigned_url_verifies_with_the_same_store(store: LocalObjectStore) -> None:
    url = store.presign("GET", "a/b.jsonl", 2_000_000_000)
    assert url.startswith("http://127.0.0.1:9/files/a/b.jsonl?expires=2000000000&signature=")
    store.verify("GET", "a/b.jsonl", "2000000000", url.rsplit("=", 1)[1], now=0)
