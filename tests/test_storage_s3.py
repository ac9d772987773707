"""The S3 ObjectStore against a real SeaweedFS server: streamed and multipart puts, ranged reads,
paged listing, deletes, limits, S3's own presigned URLs (signature and expiry enforced) and job parts."""

from __future__ import annotations

import inspect
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from s3_server import S3Server

from batchsearch.errors import (
    InternalError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    ValidationError,
)
from batchsearch.jobs import parts
from batchsearch.storage.protocol import ObjectStore
from batchsearch.storage.s3 import MAX_PRESIGN_SECONDS, MIN_PART_BYTES, S3ObjectStore, parse_s3_url

MiB = 1024 * 1024


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return s3_server


@pytest.fixture
def prefix() -> str:
    """A fresh prefix per test, so tests sharing the session's bucket never see each other's objects."""
    return f"t/{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def session(s3_server: S3Server) -> Any:
    """One boto3 session with the test credentials, so each store skips reloading the S3 model."""
    import boto3  # type: ignore[import-untyped,unused-ignore]

    return boto3.session.Session(
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key=s3_server.secret_key,
        region_name=s3_server.region,
    )


@pytest.fixture
def store(s3_env: S3Server, session: Any, prefix: str) -> S3ObjectStore:
    url = f"s3://{s3_env.bucket}/{prefix}"
    return S3ObjectStore.from_url(url, endpoint_url=s3_env.endpoint_url, session=session)


@pytest.fixture
def small_parts(s3_env: S3Server, session: Any, prefix: str) -> S3ObjectStore:
    """A store with S3's smallest part size and two keys per listing page."""
    return S3ObjectStore(
        s3_env.bucket,
        prefix=prefix,
        endpoint_url=s3_env.endpoint_url,
        part_bytes=MIN_PART_BYTES,
        page_size=2,
        session=session,
    )


def pattern(size: int) -> bytes:
    """`size` bytes where every offset is distinguishable from its neighbours."""
    return bytes(i * 7 % 251 for i in range(251)) * (size // 251) + bytes(size % 251)


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


def pending_uploads(server: S3Server) -> list[str]:
    return [u["Key"] for u in server.client().list_multipart_uploads(Bucket=server.bucket).get("Uploads", [])]


def read(store: S3ObjectStore, key: str, start: int = 0) -> bytes:
    return b"".join(store.iter_bytes(key, start=start))


def test_small_object_round_trip_from_any_offset(store: S3ObjectStore) -> None:
    assert store.put_stream("a/b.jsonl", iter([b"hello ", b"world"])) == 11
    assert read(store, "a/b.jsonl") == b"hello world"
    assert read(store, "a/b.jsonl", start=6) == b"world"
    assert read(store, "a/b.jsonl", start=11) == b""
    assert read(store, "a/b.jsonl", start=50) == b""
    assert store.size("a/b.jsonl") == 11
    assert store.put_stream("empty.jsonl", []) == 0
    assert read(store, "empty.jsonl") == b"" and store.size("empty.jsonl") == 0


def test_multipart_object_round_trip(small_parts: S3ObjectStore, s3_env: S3Server, prefix: str) -> None:
    data = pattern(2 * MIN_PART_BYTES + 12345)
    assert small_parts.put_stream("big.bin", chunked(data, 700 * 1024)) == len(data)
    head = s3_env.client().head_object(Bucket=s3_env.bucket, Key=f"{prefix}/big.bin")
    assert head["ETag"].strip('"').endswith("-3")  # three parts: S3 names multipart ETags md5-N
    assert read(small_parts, "big.bin") == data
    offset = MIN_PART_BYTES + 99  # inside the second part
    assert read(small_parts, "big.bin", start=offset) == data[offset:]
    assert small_parts.size("big.bin") == len(data)
    assert pending_uploads(s3_env) == []


def test_exactly_one_part_is_a_single_put(small_parts: S3ObjectStore, s3_env: S3Server, prefix: str) -> None:
    data = pattern(MIN_PART_BYTES)
    small_parts.put_stream("one.bin", chunked(data, MiB))
    head = s3_env.client().head_object(Bucket=s3_env.bucket, Key=f"{prefix}/one.bin")
    assert "-" not in head["ETag"]
    assert read(small_parts, "one.bin") == data


def test_readers_see_the_old_object_until_the_multipart_upload_completes(small_parts: S3ObjectStore) -> None:
    small_parts.put_stream("out.jsonl", [b"old"])
    seen_midway: list[bytes] = []

    def chunks() -> Iterator[bytes]:
        yield pattern(MIN_PART_BYTES + 1)  # the store uploads part 1 before asking for more
        seen_midway.append(read(small_parts, "out.jsonl"))
        yield b"tail"

    small_parts.put_stream("out.jsonl", chunks())
    assert seen_midway == [b"old"]
    assert read(small_parts, "out.jsonl") == pattern(MIN_PART_BYTES + 1) + b"tail"


def test_missing_objects(store: S3ObjectStore) -> None:
    with pytest.raises(NotFoundError):
        store.iter_bytes("no/such.jsonl")  # raised on the call, before any iteration (parts.py relies on it)
    with pytest.raises(NotFoundError):
        store.iter_bytes("no/such.jsonl", start=5)
    assert store.size("no/such.jsonl") is None
    store.delete("no/such.jsonl")


def test_listing_with_a_prefix_over_several_pages(small_parts: S3ObjectStore, s3_env: S3Server) -> None:
    for key in ("j/parts/3.jsonl", "j/parts/1.jsonl", "j/parts/5.jsonl", "j/parts/2.jsonl", "j/parts/4.jsonl"):
        small_parts.put_stream(key, [b"x"])
    small_parts.put_stream("j/out.jsonl", [b"x"])
    small_parts.put_stream("k/parts/1.jsonl", [b"x"])
    s3_env.client().put_object(Bucket=s3_env.bucket, Key="elsewhere/j/parts/9.jsonl", Body=b"x")
    assert small_parts.list_keys("j/parts/") == [f"j/parts/{i}.jsonl" for i in range(1, 6)]
    assert small_parts.list_keys("j/") == ["j/out.jsonl"] + [f"j/parts/{i}.jsonl" for i in range(1, 6)]
    assert small_parts.list_keys("") == small_parts.list_keys("j/") + ["k/parts/1.jsonl"]
    assert small_parts.list_keys("nothing/here/") == []


def test_delete(store: S3ObjectStore) -> None:
    store.put_stream("j/parts/1.jsonl", [b"x"])
    store.put_stream("j/parts/2.jsonl", [b"y"])
    store.delete("j/parts/1.jsonl")
    store.delete("j/parts/1.jsonl")
    assert store.list_keys("j/") == ["j/parts/2.jsonl"]
    with pytest.raises(NotFoundError):
        store.iter_bytes("j/parts/1.jsonl")


def test_too_large_small_stream_keeps_the_previous_object(store: S3ObjectStore, s3_env: S3Server) -> None:
    store.put_stream("a.jsonl", [b"old"])
    with pytest.raises(PayloadTooLargeError):
        store.put_stream("a.jsonl", iter([b"12345", b"67890", b"x"]), max_bytes=10)
    with pytest.raises(PayloadTooLargeError):
        store.put_stream("new.jsonl", iter([b"12345", b"67890", b"x"]), max_bytes=10)
    assert read(store, "a.jsonl") == b"old"
    assert store.list_keys("") == ["a.jsonl"]
    assert pending_uploads(s3_env) == []


def test_too_large_multipart_stream_aborts_the_upload(small_parts: S3ObjectStore, s3_env: S3Server) -> None:
    limit = MIN_PART_BYTES + 2 * MiB  # part 1 is uploaded before the limit is crossed
    with pytest.raises(PayloadTooLargeError):
        small_parts.put_stream("big.bin", chunked(pattern(limit + 3 * MiB), MiB), max_bytes=limit)
    assert small_parts.size("big.bin") is None
    assert small_parts.list_keys("") == []
    assert pending_uploads(s3_env) == []
    assert small_parts.put_stream("big.bin", chunked(pattern(limit), MiB), max_bytes=limit) == limit


def test_failed_stream_aborts_and_keeps_the_previous_object(small_parts: S3ObjectStore, s3_env: S3Server) -> None:
    def broken() -> Iterator[bytes]:
        yield pattern(MIN_PART_BYTES + 10)
        raise ConnectionError("client went away")

    small_parts.put_stream("a.jsonl", [b"old"])
    with pytest.raises(ConnectionError):  # the caller's own error comes through untouched
        small_parts.put_stream("a.jsonl", broken())
    assert read(small_parts, "a.jsonl") == b"old"
    assert pending_uploads(s3_env) == []


@pytest.mark.parametrize("key", ["../x", "/etc/passwd", "a/../../b", "a//b", ".tmp/x", "a b", ""])
def test_unsafe_keys_are_refused(store: S3ObjectStore, key: str) -> None:
    with pytest.raises(ValidationError):
        store.put_stream(key, [b"x"])
    with pytest.raises(ValidationError):
        store.presign("GET", key, int(time.time()) + 60)


def test_presigned_put_then_get_with_plain_http(store: S3ObjectStore) -> None:
    expires_at = int(time.time()) + 300
    body = b'{"custom_id": "1", "query": "revenue"}\n' * 100
    put = httpx.put(store.presign("PUT", "batches/j/input.jsonl", expires_at), content=body)
    assert put.status_code == 200, put.text
    assert read(store, "batches/j/input.jsonl") == body
    get = httpx.get(store.presign("get", "batches/j/input.jsonl", expires_at))
    assert get.status_code == 200 and get.content == body


def test_range_through_a_presigned_get(store: S3ObjectStore) -> None:
    data = pattern(1000)
    store.put_stream("out.jsonl", [data])
    url = store.presign("GET", "out.jsonl", int(time.time()) + 300)
    response = httpx.get(url, headers={"Range": "bytes=100-199"})
    assert response.status_code == 206
    assert response.headers["content-range"] == "bytes 100-199/1000"
    assert response.content == data[100:200]
    assert httpx.get(url, headers={"Range": "bytes=990-"}).content == data[990:]


def test_tampered_presigned_urls_are_refused(store: S3ObjectStore) -> None:
    store.put_stream("mine.jsonl", [b"secret"])
    store.put_stream("other.jsonl", [b"other"])
    url = store.presign("GET", "mine.jsonl", int(time.time()) + 300)
    signature = parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    assert httpx.get(url.replace(signature, flipped)).status_code == 403
    assert httpx.get(url.replace("mine.jsonl", "other.jsonl")).status_code == 403
    assert httpx.put(url, content=b"overwrite").status_code == 403  # a GET URL does not authorise a PUT
    assert read(store, "mine.jsonl") == b"secret"


def test_expired_presigned_urls_are_refused(store: S3ObjectStore) -> None:
    store.put_stream("a.jsonl", [b"x"])
    expires_at = int(time.time()) + 2
    get_url = store.presign("GET", "a.jsonl", expires_at)
    put_url = store.presign("PUT", "a.jsonl", expires_at)
    assert parse_qs(urlsplit(get_url).query)["X-Amz-Expires"][0] in ("1", "2")
    assert httpx.get(get_url).status_code == 200
    time.sleep(max(expires_at + 1.5 - time.time(), 0))
    assert httpx.get(get_url).status_code == 403
    assert httpx.put(put_url, content=b"late").status_code == 403
    assert read(store, "a.jsonl") == b"x"


def test_presign_caps_expiry_at_seven_days_and_refuses_other_methods(store: S3ObjectStore) -> None:
    url = store.presign("PUT", "a.jsonl", int(time.time()) + 30 * 24 * 3600)
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == [str(MAX_PRESIGN_SECONDS)]
    past = store.presign("GET", "a.jsonl", int(time.time()) - 60)
    assert parse_qs(urlsplit(past).query)["X-Amz-Expires"] == ["1"]
    with pytest.raises(ValidationError):
        store.presign("DELETE", "a.jsonl", int(time.time()) + 60)


def test_satisfies_the_object_store_protocol(store: S3ObjectStore) -> None:
    objects: ObjectStore = store  # mypy checks the structure here
    for name, member in inspect.getmembers(ObjectStore, inspect.isfunction):
        if not name.startswith("_"):
            assert inspect.signature(getattr(S3ObjectStore, name)) == inspect.signature(member), name
    assert objects.list_keys("") == []


def test_job_parts_are_assembled_into_an_output_on_s3(store: S3ObjectStore) -> None:
    job = "job-1"
    lines = {n: f'{{"line": {n}}}\n'.encode() for n in range(1, 8)}
    for first, last in [(1, 2), (3, 5), (1, 1), (6, 7)]:
        store.put_stream(parts.part_key(job, first, last), [lines[n] for n in range(first, last + 1)])
    assert parts.plan_chain(parts.job_part_ranges(store, job), 5) == [(1, 2), (3, 5)]
    assert b"".join(parts.iter_finished_parts(store, job, 7, from_line=4)) == b"".join(
        lines[n] for n in range(4, 8)
    )
    key = parts.output_key(job)
    store.put_stream(key, parts.chain_bytes(store, job, 5))  # as jobs/finalize.py writes a completed output
    assert read(store, key) == b"".join(lines[n] for n in range(1, 6))
    assert b"".join(parts.iter_output(store, key, 3)) == b"".join(lines[n] for n in range(3, 6))
    parts.discard_parts_after(store, job, 5)
    assert parts.job_part_ranges(store, job) == [(1, 1), (1, 2), (3, 5)]
    parts.delete_parts(store, job)
    assert store.list_keys(parts.job_prefix(job)) == [parts.output_key(job)]


def test_credentials_come_from_the_environment(s3_env: S3Server, prefix: str) -> None:
    store = S3ObjectStore.from_url(f"s3://{s3_env.bucket}/{prefix}", endpoint_url=s3_env.endpoint_url)
    store.put_stream("a.jsonl", [b"x"])
    assert read(store, "a.jsonl") == b"x"


def test_wrong_credentials_raise_our_error_not_botocore(
    s3_env: S3Server, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    store = S3ObjectStore(s3_env.bucket, prefix=prefix, endpoint_url=s3_env.endpoint_url, max_attempts=1)
    with pytest.raises(InternalError, match="SignatureDoesNotMatch"):
        store.put_stream("a.jsonl", [b"x"])


def test_missing_bucket_is_a_server_error(s3_env: S3Server) -> None:
    store = S3ObjectStore.from_url("s3://no-such-bucket-here/x", endpoint_url=s3_env.endpoint_url)
    with pytest.raises(InternalError, match="NoSuchBucket"):
        store.list_keys("")


def test_unreachable_server_is_service_unavailable(s3_env: S3Server) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    store = S3ObjectStore(s3_env.bucket, endpoint_url=closed, max_attempts=1)
    with pytest.raises(ServiceUnavailableError):
        store.iter_bytes("a.jsonl")
    with pytest.raises(ServiceUnavailableError):
        store.put_stream("a.jsonl", [b"x"])
    with pytest.raises(ServiceUnavailableError):
        store.list_keys("")


def test_s3_urls_are_parsed() -> None:
    assert parse_s3_url("s3://my-bucket") == ("my-bucket", "")
    assert parse_s3_url("s3://my-bucket/a/b/") == ("my-bucket", "a/b")
    for bad in ("http://my-bucket/a", "s3:///a", "s3://my-bucket/../a", "s3://my-bucket/a?x=1"):
        with pytest.raises(ValidationError):
            parse_s3_url(bad)


def test_part_size_below_the_s3_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="part_bytes"):
        S3ObjectStore("my-bucket", part_bytes=MIN_PART_BYTES - 1)


def test_missing_boto3_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # makes `import boto3` raise ImportError
    with pytest.raises(ImportError, match=r"pip install batchsearch\[s3\]"):
        S3ObjectStore("my-bucket")
