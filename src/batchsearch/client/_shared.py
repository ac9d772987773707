"""What the sync and async clients share: configuration, request bodies, error mapping, retry and poll policy.

Nothing here sends, sleeps or streams (dropping a failed download's partial file is the one file operation),
so both clients (and their tests) rely on the same rules.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import httpx

from batchsearch.errors import (
    ERROR_CLASSES,
    BatchSearchError,
    ConflictError,
    InternalError,
    SearchTimeoutError,
    ServiceUnavailableError,
    error_for_status,
)

URL_ENV = "BATCHSEARCH_URL"
API_KEY_ENV = "BATCHSEARCH_API_KEY"
DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 3
BATCHES_PATH = "/v1/search/batches"
API_KEY_HEADER = "X-API-KEY"
IDEMPOTENCY_HEADER = "Idempotency-Key"
JSONL = "application/jsonl"
CHUNK_BYTES = 256 * 1024
LIST_PAGE_SIZE = 100
MAX_ENTITY_IDS = 100

TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})
POLL_INITIAL_SECONDS = 0.5
POLL_MAX_SECONDS = 10.0
POLL_GROWTH = 1.5

BACKOFF_INITIAL_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 8.0
RETRY_AFTER_MAX_SECONDS = 60.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

Phase = Literal["upload", "processing", "download"]
StrPath = str | os.PathLike[str]


class APIConnectionError(ServiceUnavailableError):
    """The server could not be reached (refused, DNS, timeout, dropped connection) after every retry."""

    error_code = "CONNECTION_ERROR"

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


@dataclass(frozen=True)
class BatchProgress:
    """One progress report of a batch: bytes while uploading or downloading, lines while processing."""

    batch_id: str | None
    phase: Phase
    done: int
    total: int | None
    status: dict[str, Any] | None = None

    @property
    def estimated_completion(self) -> datetime | None:
        """The server's estimate of when the batch finishes (processing phase only)."""
        return parse_time(self.status.get("estimated_completion_time")) if self.status else None


ProgressCallback = Callable[[BatchProgress], None]


@dataclass
class Meter:
    """Counts the bytes of one upload or download attempt and reports each step to the progress callback."""

    batch_id: str | None
    phase: Phase
    total: int | None
    on_progress: ProgressCallback | None
    done: int = 0

    def add(self, count: int) -> None:
        """Count `count` more bytes moved and report the running total."""
        self.done += count
        if self.on_progress:
            self.on_progress(BatchProgress(self.batch_id, self.phase, self.done, self.total))


def resolve_base_url(base_url: str | None) -> str:
    """The base URL: the argument, else $BATCHSEARCH_URL, else the local default."""
    return (base_url or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")


def resolve_api_key(api_key: str | None) -> str | None:
    """The API key: the argument, else $BATCHSEARCH_API_KEY (None: the server will answer 401)."""
    return api_key or os.environ.get(API_KEY_ENV) or None


def user_agent() -> str:
    """The User-Agent of every request: this package and its version."""
    try:
        version = metadata.version("batchsearch")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return f"batchsearch-python/{version}"


def api_headers(api_key: str | None) -> dict[str, str]:
    """Headers of calls to the API (never sent to presigned URLs)."""
    headers = {"Accept": "application/json"}
    if api_key:
        headers[API_KEY_HEADER] = api_key
    return headers


# --- request bodies --------------------------------------------------------------------------


def search_body(query: dict[str, Any], include_audit: bool) -> dict[str, Any]:
    """The body of `POST /v1/search`."""
    if not isinstance(query, dict):
        raise TypeError("query must be a dict: the `query` object of the Search API")
    body: dict[str, Any] = {"query": query}
    if include_audit:
        body["include_audit"] = True
    return body


def analytics_body(query: dict[str, Any], limit: int | None = None) -> dict[str, Any]:
    """The body of `POST /v1/search/volume` and `.../co-mentions/*`: the query object, and the limit when given."""
    if not isinstance(query, dict):
        raise TypeError("query must be a dict: the `query` object of the Search API")
    body: dict[str, Any] = {"query": query}
    if limit is not None:
        body["limit"] = limit
    return body


def document_url(answer: Any) -> str:
    """The signed URL in a `GET /v1/documents/{id}` answer; InternalError when there is none."""
    url = answer.get("url") if isinstance(answer, dict) else None
    if not isinstance(url, str) or not url:
        raise InternalError("the document answer has no `url` to fetch the annotated document from")
    return url


def create_body(*, priority: int | None, webhook_url: str | None,
                validate_first: bool | None) -> dict[str, Any] | None:
    """The body of `POST /v1/search/batches` with only the options given; None (no body) when there are none."""
    body = {name: value for name, value in
            (("priority", priority), ("webhook_url", webhook_url), ("validate_first", validate_first))
            if value is not None}
    return body or None


def create_headers(idempotency_key: str | None) -> dict[str, str]:
    """The extra headers of a create call (the Idempotency-Key, when given)."""
    return {IDEMPOTENCY_HEADER: idempotency_key} if idempotency_key is not None else {}


def list_params(status: str | None, limit: int | None, after: str | None) -> dict[str, Any]:
    """The query of `GET /v1/search/batches` without the parameters left out."""
    return {name: value for name, value in (("status", status), ("limit", limit), ("after", after))
            if value is not None}


def next_cursor(page: dict[str, Any]) -> str | None:
    """The `after` of the page that follows a listed page; None when it was the last."""
    after = page.get("next_after")
    return str(after) if page.get("has_more") and after else None


def upload_headers(size: int) -> dict[str, str]:
    """The headers of a streamed .jsonl body (a declared length, so no chunked encoding)."""
    return {"Content-Type": JSONL, "Content-Length": str(size)}


def batch_path(batch_id: str, action: str = "") -> str:
    """The API path of one batch job (its id URL-quoted), optionally of one of its actions."""
    path = f"{BATCHES_PATH}/{quote(batch_id, safe='')}"
    return f"{path}/{action}" if action else path


def result_line(line: str) -> dict[str, Any] | None:
    """One parsed output line of `GET .../results`; None for a blank line."""
    if not line.strip():
        return None
    try:
        row: dict[str, Any] = json.loads(line)
    except ValueError as exc:
        raise InternalError(f"the server sent a results line that is not JSON: {line[:80]!r}") from exc
    return row


def criteria(**values: Any) -> dict[str, Any]:
    """A knowledge-graph finder body without the criteria left out."""
    return {name: value for name, value in values.items() if value is not None}


def id_chunks(ids: Sequence[str]) -> list[list[str]]:
    """Entity ids split into requests of at most 100 (the endpoint's limit)."""
    unique = list(dict.fromkeys(ids))
    return [unique[i : i + MAX_ENTITY_IDS] for i in range(0, len(unique), MAX_ENTITY_IDS)]


def presigned_url(batch_or_url: dict[str, Any] | str) -> str:
    """The upload URL from what `batches.create()` returned, or the URL itself."""
    if isinstance(batch_or_url, str):
        return batch_or_url
    url = batch_or_url.get("presigned_url")
    if not isinstance(url, str):
        raise TypeError("expected the dict returned by batches.create() or a presigned URL")
    return url


def output_url(status: dict[str, Any]) -> str:
    """The results URL of a batch status, or ConflictError saying why there is none."""
    url = status.get("output_file_url")
    if isinstance(url, str) and url:
        return url
    state = status.get("status", "unknown")
    if state == "failed":
        raise InternalError(f"Batch job {status.get('batch_id')} failed: {status.get('error') or 'no detail'}")
    raise ConflictError(f"Batch job {status.get('batch_id')} is {state} and has no output file yet")


# --- responses and errors --------------------------------------------------------------------

_ERRORS_BY_CODE = {cls.error_code: cls for cls in ERROR_CLASSES}
_XML_MESSAGE = re.compile(r"<Message>(.*?)</Message>", re.S)
_XML_CODE = re.compile(r"<Code>(.*?)</Code>", re.S)


def error_from_response(response: httpx.Response) -> BatchSearchError:
    """The exception the server raised, rebuilt from its error body (status, message, code, request id)."""
    status = response.status_code
    body = _json_or_none(response)
    message = code = request_id = None
    details = None
    if isinstance(body, dict):
        message = body.get("message") or _first_error(body.get("errors"))
        code = body.get("errorCode")
        request_id = body.get("requestId")
        details = body.get("details")
    if not message:
        message = _text_message(response)
    cls = _ERRORS_BY_CODE.get(code) if isinstance(code, str) else None
    exc = cls(str(message), request_id=request_id) if cls else error_for_status(status, str(message), request_id=request_id)
    exc.details = details
    # statuses without a class of their own (405, 415, a proxy's 502) keep their real status and code
    if type(exc).status_code != status:
        setattr(exc, "status_code", status)
    if isinstance(code, str) and code != type(exc).error_code:
        setattr(exc, "error_code", code)
    return exc


def decoded(response: httpx.Response) -> Any:
    """The JSON body of a successful API answer; InternalError when it is not JSON (a proxy's page, say)."""
    try:
        return response.json()
    except ValueError as exc:
        raise InternalError(f"the server at {origin(response.request.url)} answered HTTP {response.status_code} "
                            "with a body that is not JSON") from exc


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _first_error(errors: Any) -> str | None:
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        message = errors[0].get("message")
        return str(message) if message else None
    return None


def _text_message(response: httpx.Response) -> str:
    """A short message for a non-JSON error body (an object store's XML, a proxy's HTML page)."""
    text = response.text.strip()
    head = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    if "<Error>" in text:
        code, message = _XML_CODE.search(text), _XML_MESSAGE.search(text)
        parts = [m.group(1).strip() for m in (code, message) if m]
        return f"{head}: {': '.join(parts)}" if parts else head
    if not text or text.lstrip().startswith("<"):
        return head
    return f"{head}: {text[:200]}"


def origin(url: httpx.URL) -> str:
    """scheme://host[:port] of a URL, for messages (never its path, query or signature)."""
    return f"{url.scheme}://{url.netloc.decode('ascii')}"


def connection_error(base_url: str, exc: httpx.TransportError) -> APIConnectionError:
    """The error for a server that could not be reached."""
    if isinstance(exc, httpx.TimeoutException):
        reason = f"no answer in time ({type(exc).__name__})"
    else:
        reason = str(exc) or type(exc).__name__
    return APIConnectionError(f"cannot reach the server at {base_url}: {reason}", url=base_url)


@contextmanager
def reading(response: httpx.Response, partial: Path | None = None) -> Iterator[None]:
    """Around reading a streamed body: a dropped connection is an APIConnectionError (and drops `partial`)."""
    try:
        yield
    except httpx.TransportError as exc:
        if partial is not None:
            partial.unlink(missing_ok=True)
        raise connection_error(origin(response.request.url), exc) from exc


# --- retries ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter on connection errors, 429 and 5xx; never on other 4xx."""

    max_retries: int = DEFAULT_MAX_RETRIES
    initial: float = BACKOFF_INITIAL_SECONDS
    maximum: float = BACKOFF_MAX_SECONDS
    retry_after_max: float = RETRY_AFTER_MAX_SECONDS

    def should_retry_status(self, attempt: int, status: int) -> bool:
        """Whether a response with this status is worth another attempt."""
        return attempt < self.max_retries and status in RETRY_STATUSES

    def should_retry_error(self, attempt: int, exc: httpx.TransportError, *, is_idempotent: bool) -> bool:
        """Whether a transport error is worth another attempt.

        A connection that never opened is always safe to retry; one that broke after the request
        was sent is retried only for idempotent calls (creating a batch twice would make two jobs).
        """
        if attempt >= self.max_retries:
            return False
        never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        return never_sent or is_idempotent

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `attempt + 1`: the server's Retry-After, else jittered backoff."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_max)
        ceiling = min(self.maximum, self.initial * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)


def retry_after_seconds(response: httpx.Response, now: datetime | None = None) -> float | None:
    """The Retry-After header in seconds (delta-seconds or an HTTP date), None when absent or unreadable."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


# --- polling ---------------------------------------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 timestamp from the wire as an aware datetime (None when absent or unreadable)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def is_terminal(status: dict[str, Any]) -> bool:
    """Whether a batch has stopped changing (completed, failed or cancelled)."""
    return status.get("status") in TERMINAL_STATUSES


def next_poll_interval(interval: float) -> float:
    """The next base interval between status polls: 0.5 s growing to 10 s."""
    return min(interval * POLL_GROWTH, POLL_MAX_SECONDS)


def poll_delay(interval: float, status: dict[str, Any], now: datetime | None = None) -> float:
    """How long to sleep before the next poll: the base interval, or less when the ETA is sooner.

    An ETA in the past (the job overran its estimate) is ignored, so an overdue job is still
    polled at the growing interval rather than as fast as possible.
    """
    eta = parse_time(status.get("estimated_completion_time"))
    if eta is None:
        return interval
    remaining = (eta - (now or datetime.now(UTC))).total_seconds()
    if remaining <= 0:
        return interval
    return max(POLL_INITIAL_SECONDS, min(interval, remaining))


@dataclass
class PollSchedule:
    """When wait() polls next: 0.5 s growing to 10 s, sooner at the ETA, never past the deadline."""

    batch_id: str
    timeout: float | None
    started: float
    interval: float = POLL_INITIAL_SECONDS

    def next_delay(self, status: dict[str, Any], now: float) -> float:
        """Seconds to sleep before the next poll; SearchTimeoutError once `timeout` has passed."""
        delay = poll_delay(self.interval, status)
        self.interval = next_poll_interval(self.interval)
        if self.timeout is None:
            return delay
        left = self.started + self.timeout - now
        if left <= 0:
            raise SearchTimeoutError(wait_timeout_message(self.batch_id, status, self.timeout))
        return min(delay, left)


def processing_progress(batch_id: str, status: dict[str, Any]) -> BatchProgress:
    """A progress report from a status body (lines_* are our additions; Bigdata omits them)."""
    total = status.get("lines_total")
    return BatchProgress(batch_id, "processing", int(status.get("lines_done") or 0),
                         int(total) if isinstance(total, int) else None, status)


def content_length(response: httpx.Response) -> int | None:
    """The declared body size of a response, when there is one."""
    value = response.headers.get("content-length")
    return int(value) if value and value.isdigit() else None


def wait_timeout_message(batch_id: str, status: dict[str, Any], timeout: float) -> str:
    """The message of the error raised when wait() gives up."""
    done, total = status.get("lines_done"), status.get("lines_total")
    counts = f" ({done}/{total} lines)" if total else ""
    return f"Batch job {batch_id} is still {status.get('status')}{counts} after {timeout:g}s"
