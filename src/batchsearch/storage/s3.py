"""ObjectStore on any S3-compatible server (AWS S3, MinIO, R2, SeaweedFS) through boto3, with S3's own presigned URLs.

boto3 is imported only here, when a store is built, so batchsearch runs without the `s3` extra.
Every botocore exception is translated at this boundary into the batchsearch error tree.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import urlsplit

from batchsearch.errors import (
    BatchSearchError,
    InternalError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    ValidationError,
)
from batchsearch.storage.local import CHUNK_BYTES, check_key

MIN_PART_BYTES = 5 * 1024 * 1024  # S3 refuses smaller parts (EntityTooSmall), except the last one
DEFAULT_PART_BYTES = 8 * 1024 * 1024
MAX_PARTS = 10_000  # S3's limit per multipart upload: 78 GiB at the default part size
DEFAULT_PAGE_SIZE = 1000
DEFAULT_MAX_ATTEMPTS = 5
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4 presigned URLs live at most 7 days
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 60.0
_INSTALL_HINT = "pip install batchsearch[s3]"
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NotFound", "404"})
_BUSY_CODES = frozenset({"SlowDown", "ServiceUnavailable", "RequestTimeout", "InternalError", "Throttling"})
_PRESIGN_OPERATIONS = {"GET": "get_object", "PUT": "put_object"}


def _import_boto3() -> Any:
    """The boto3 module, or an ImportError that names the extra to install."""
    try:
        import boto3  # type: ignore[import-untyped,unused-ignore]
    except ImportError as exc:
        raise ImportError(f"S3 object storage needs boto3; install it with `{_INSTALL_HINT}`") from exc
    return boto3


def _error_code(exc: Any) -> str:
    """The S3 error code of a botocore ClientError ("NoSuchKey", "404", ...)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def _translate(exc: Exception, key: str) -> BatchSearchError:
    """The batchsearch error for a botocore exception raised while working on `key`."""
    from botocore.exceptions import (  # type: ignore[import-untyped,unused-ignore]
        ClientError,
        HTTPClientError,
        NoCredentialsError,
    )
    from botocore.exceptions import ConnectionError as BotoConnectionError

    if isinstance(exc, ClientError):
        code = _error_code(exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        if code in _NOT_FOUND_CODES:
            return NotFoundError(f"Object not found: {key}")
        if status >= 500 or code in _BUSY_CODES:
            return ServiceUnavailableError(f"Object store is busy or failing ({code}) for {key}")
        # Access or bucket errors are our configuration's fault, never the API caller's: 500, not 403/404.
        return InternalError(f"Object store refused the request for {key}: {code}")
    if isinstance(exc, (BotoConnectionError, HTTPClientError)):
        return ServiceUnavailableError(f"Object store unreachable while working on {key}: {exc}")
    if isinstance(exc, NoCredentialsError):
        return InternalError("No S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    return InternalError(f"Object store error for {key}: {exc}")


@contextmanager
def _s3_errors(key: str) -> Iterator[None]:
    """Re-raise botocore exceptions from the block as batchsearch errors."""
    from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped,unused-ignore]

    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise _translate(exc, key) from exc


def _body_chunks(body: Any, key: str) -> Iterator[bytes]:
    """The chunks of a get_object body, closing it when done or abandoned."""
    try:
        with _s3_errors(key):
            yield from body.iter_chunks(CHUNK_BYTES)
    finally:
        body.close()


def parse_s3_url(url: str) -> tuple[str, str]:
    """The (bucket, prefix) of an `s3://bucket/prefix` URL (ValidationError when malformed)."""
    parts = urlsplit(url)
    prefix = parts.path.strip("/")
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ValidationError(f"Expected an s3://bucket/prefix URL, got {url!r}")
    return parts.netloc, check_key(prefix) if prefix else ""


class _MultipartUpload:
    """One S3 multipart upload in progress: send parts in order, then complete or abort."""

    def __init__(self, client: Any, bucket: str, key: str, name: str) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._name = name
        with _s3_errors(name):
            self._upload_id: str = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        self._parts: list[dict[str, Any]] = []

    def send(self, body: bytes) -> None:
        """Upload the next part."""
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            raise PayloadTooLargeError(f"Object {self._name} needs more than {MAX_PARTS} parts")
        with _s3_errors(self._name):
            response = self._client.upload_part(
                Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=body
            )
        self._parts.append({"ETag": response["ETag"], "PartNumber": number})

    def complete(self) -> None:
        """Publish the object from the parts sent (atomic for readers)."""
        with _s3_errors(self._name):
            self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )

    def abort(self) -> None:
        """Drop the upload and its stored parts (best effort: the caller re-raises its own error)."""
        with suppress(BatchSearchError), _s3_errors(self._name):
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id)


class S3ObjectStore:
    """Objects under `prefix` in an S3 bucket; large puts stream as multipart uploads of `part_bytes`.

    Credentials come from the standard AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_REGION environment, or
    from `session` (a boto3 Session, shared by stores built from one thread).
    """

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        part_bytes: int = DEFAULT_PART_BYTES,
        page_size: int = DEFAULT_PAGE_SIZE,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        session: Any = None,
    ) -> None:
        if part_bytes < MIN_PART_BYTES:
            raise ValueError(f"part_bytes must be at least {MIN_PART_BYTES} (S3's minimum part size)")
        if page_size < 1 or max_attempts < 1:
            raise ValueError("page_size and max_attempts must be positive")
        self.bucket = bucket
        self.prefix = check_key(prefix.strip("/")) if prefix.strip("/") else ""
        self._key_prefix = f"{self.prefix}/" if self.prefix else ""
        self._part_bytes = part_bytes
        self._page_size = page_size
        self._client = _make_client(endpoint_url, max_attempts, session)

    @classmethod
    def from_url(cls, url: str, *, endpoint_url: str | None = None, session: Any = None) -> S3ObjectStore:
        """The store for `s3://bucket/prefix` on `endpoint_url` (None for AWS itself)."""
        bucket, prefix = parse_s3_url(url)
        return cls(bucket, prefix=prefix, endpoint_url=endpoint_url, session=session)

    def _object_key(self, key: str) -> str:
        """The bucket key that holds `key`."""
        return self._key_prefix + check_key(key)

    def put_stream(self, key: str, chunks: Iterable[bytes], *, max_bytes: int | None = None) -> int:
        """Store the chunks under `key` atomically and durably; return the size (413 past max_bytes)."""
        object_key = self._object_key(key)
        buffer = bytearray()
        size = 0
        upload: _MultipartUpload | None = None
        try:
            for chunk in chunks:
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise PayloadTooLargeError(f"File is larger than the limit of {max_bytes} bytes")
                buffer += chunk
                # Strictly greater: the last part is never empty and an object of one part size is one PUT.
                while len(buffer) > self._part_bytes:
                    upload = upload or _MultipartUpload(self._client, self.bucket, object_key, key)
                    upload.send(bytes(buffer[: self._part_bytes]))
                    del buffer[: self._part_bytes]
            if upload is None:
                with _s3_errors(key):
                    self._client.put_object(Bucket=self.bucket, Key=object_key, Body=bytes(buffer))
            else:
                upload.send(bytes(buffer))
                upload.complete()
        except BaseException:
            if upload is not None:
                upload.abort()
            raise
        return size

    def iter_bytes(self, key: str, *, start: int = 0) -> Iterator[bytes]:
        """The object's bytes from offset `start`, in chunks (NotFoundError when missing)."""
        if start < 0:
            raise ValidationError(f"Negative start offset {start}")
        response = self._get(key, start)
        return iter(()) if response is None else _body_chunks(response["Body"], key)

    def _get(self, key: str, start: int) -> Any:
        """The get_object response from `start` on; None when `start` is at or past the end."""
        from botocore.exceptions import ClientError  # type: ignore[import-untyped,unused-ignore]

        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._object_key(key)}
        if start:
            params["Range"] = f"bytes={start}-"
        with _s3_errors(key):
            try:
                return self._client.get_object(**params)
            except ClientError as exc:
                if _error_code(exc) == "InvalidRange":  # the object exists, the offset is past its end
                    return None
                raise

    def size(self, key: str) -> int | None:
        """The object's size in bytes, or None when missing."""
        try:
            with _s3_errors(key):
                response = self._client.head_object(Bucket=self.bucket, Key=self._object_key(key))
        except NotFoundError:
            return None
        return int(response["ContentLength"])

    def list_keys(self, prefix: str) -> list[str]:
        """Keys that start with `prefix`, sorted."""
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.bucket,
            Prefix=self._key_prefix + prefix,
            PaginationConfig={"PageSize": self._page_size},
        )
        cut = len(self._key_prefix)
        with _s3_errors(prefix):
            keys = [item["Key"][cut:] for page in pages for item in page.get("Contents", [])]
        return sorted(keys)

    def delete(self, key: str) -> None:
        """Remove `key` if present."""
        with _s3_errors(key):
            self._client.delete_object(Bucket=self.bucket, Key=self._object_key(key))

    def presign(self, method: str, key: str, expires_at: int) -> str:
        """A URL that lets anyone run `method` (GET or PUT) on `key` until the unix time `expires_at`."""
        verb = method.upper()
        operation = _PRESIGN_OPERATIONS.get(verb)
        if operation is None:
            raise ValidationError(f"Cannot presign {method!r}: only GET and PUT")
        # SigV4 counts X-Amz-Expires from the signing second; S3 wants 1 s .. 7 days.
        seconds = min(max(expires_at - int(time.time()), 1), MAX_PRESIGN_SECONDS)
        params = {"Bucket": self.bucket, "Key": self._object_key(key)}
        with _s3_errors(key):
            url: str = self._client.generate_presigned_url(
                operation, Params=params, ExpiresIn=seconds, HttpMethod=verb
            )
        return url


def _make_client(endpoint_url: str | None, max_attempts: int, session: Any) -> Any:
    """A boto3 S3 client: credentials from `session` or the AWS_* environment, SigV4, path style, standard retries."""
    boto3 = _import_boto3()
    from botocore.config import Config  # type: ignore[import-untyped,unused-ignore]

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    config = Config(
        region_name=region,
        signature_version="s3v4",
        s3={"addressing_style": "path"},  # virtual hosts do not resolve for 127.0.0.1 or most self-hosted servers
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
    )
    # A session of our own unless given one: boto3's default session is a module global, unsafe to create from
    # several threads. A given session saves loading the service model again (~0.3 s per store).
    session = session if session is not None else boto3.session.Session()
    return session.client("s3", endpoint_url=endpoint_url, config=config)
