"""Every SDK call as a flow: a generator that yields the IO it needs and returns the call's result.

A flow holds all the logic of a call (the request, its retries, polling, renewing an expired URL)
and none of its IO: it yields steps (send this request, sleep, size this file, save this body) and
is sent back each step's result. `Client` drives the flows with blocking IO and `AsyncClient` with
awaited IO, so the two cannot drift apart.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from batchsearch.client._shared import (
    BATCHES_PATH,
    BatchProgress,
    Meter,
    PollSchedule,
    ProgressCallback,
    RetryPolicy,
    StrPath,
    api_headers,
    batch_path,
    connection_error,
    content_length,
    create_body,
    create_headers,
    analytics_body,
    criteria,
    decoded,
    document_url,
    error_from_response,
    id_chunks,
    is_terminal,
    list_params,
    origin,
    output_url,
    presigned_url,
    processing_progress,
    resolve_api_key,
    resolve_base_url,
    retry_after_seconds,
    search_body,
    upload_headers,
)
from batchsearch.errors import PermissionDeniedError

T = TypeVar("T")
KG_PATH = "/v1/knowledge-graph"
CO_MENTIONS_PATH = "/v1/search/co-mentions"
DOCUMENTS_PATH = "/v1/documents"


# --- steps: the IO a flow asks its client to do ----------------------------------------------


@dataclass(frozen=True)
class Upload:
    """A local file streamed as a request body, metered afresh on every attempt."""

    path: StrPath
    size: int
    batch_id: str | None = None
    on_progress: ProgressCallback | None = None

    def meter(self) -> Meter:
        """The byte count of one attempt."""
        return Meter(self.batch_id, "upload", self.size, self.on_progress)


@dataclass(frozen=True)
class Send:
    """Step: one attempt at a request; the reply is the response (its failed body read) or the transport error."""

    method: str
    url: str
    params: dict[str, Any] | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    upload: Upload | None = None
    stream: bool = False

    def build(self, http: httpx.Client | httpx.AsyncClient,
              content: Iterator[bytes] | AsyncIterator[bytes] | None) -> httpx.Request:
        """The httpx request of this attempt; `content` is the upload's chunks as the client reads them."""
        return http.build_request(self.method, self.url, params=self.params, json=self.json,
                                  headers=self.headers, content=content)


@dataclass(frozen=True)
class Sleep:
    """Step: wait between retries or polls; the reply is None."""

    seconds: float


@dataclass(frozen=True)
class Stat:
    """Step: the size in bytes of a local file (FileNotFoundError when it is missing)."""

    path: StrPath


@dataclass(frozen=True)
class Save:
    """Step: stream a successful response into `target` through a .partial file, metered; the reply is None."""

    response: httpx.Response
    target: Path
    meter: Meter

    @property
    def partial(self) -> Path:
        """Where the body is written until it is complete (then it is moved to `target`)."""
        return self.target.with_name(self.target.name + ".partial")


Step = Send | Sleep | Stat | Save
Flow = Generator[Step, Any, T]


@dataclass(frozen=True)
class Done(Generic[T]):
    """A flow that has finished, with its result."""

    value: T


def advance(flow: Flow[T], reply: Any) -> Step | Done[T]:
    """Resume a flow with the result of its last step (None to start it): its next step, or Done."""
    try:
        return flow.send(reply)
    except StopIteration as stop:
        return Done(stop.value)


def send(request: Send, policy: RetryPolicy, *, is_idempotent: bool = True) -> Flow[httpx.Response]:
    """Send until a success, retrying per the policy; otherwise raise the server's (or the connection's) error."""
    attempt = 0
    while True:
        outcome: httpx.Response | httpx.TransportError = yield request
        if isinstance(outcome, httpx.TransportError):
            if not policy.should_retry_error(attempt, outcome, is_idempotent=is_idempotent):
                raise connection_error(origin(httpx.URL(request.url)), outcome) from outcome
            yield Sleep(policy.delay(attempt))
        elif outcome.is_success:
            return outcome
        elif policy.should_retry_status(attempt, outcome.status_code):
            yield Sleep(policy.delay(attempt, retry_after_seconds(outcome)))
        else:
            raise error_from_response(outcome)
        attempt += 1


# --- the flow of every public call ------------------------------------------------------------


class Flows:
    """The flow of every public SDK call against one server, with one API key and retry policy."""

    def __init__(self, base_url: str, api_key: str | None, retry: RetryPolicy) -> None:
        self._base_url = base_url
        self._api_key = api_key
        self._retry = retry

    def _api(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None, upload: Upload | None = None, stream: bool = False,
             is_idempotent: bool = True) -> Flow[httpx.Response]:
        """An authenticated API request, retried; its successful response."""
        request = Send(method, self._base_url + path, params, json, api_headers(self._api_key) | (headers or {}),
                       upload, stream)
        return send(request, self._retry, is_idempotent=is_idempotent)

    def _call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
              headers: dict[str, str] | None = None, is_idempotent: bool = True) -> Flow[Any]:
        """An authenticated API call; its decoded JSON answer."""
        response = yield from self._api(method, path, json=json, params=params, headers=headers,
                                        is_idempotent=is_idempotent)
        return decoded(response)

    def search(self, query: dict[str, Any], include_audit: bool) -> Flow[dict[str, Any]]:
        """`POST /v1/search`."""
        return self._call("POST", "/v1/search", json=search_body(query, include_audit))

    # --- analytics and documents ---

    def volume(self, query: dict[str, Any]) -> Flow[dict[str, Any]]:
        """`POST /v1/search/volume`."""
        return self._call("POST", "/v1/search/volume", json=analytics_body(query))

    def co_mentions(self, kind: str, query: dict[str, Any], limit: int | None) -> Flow[dict[str, Any]]:
        """`POST /v1/search/co-mentions/{entities|topics}`."""
        return self._call("POST", f"{CO_MENTIONS_PATH}/{kind}", json=analytics_body(query, limit))

    def document(self, document_id: str) -> Flow[Any]:
        """`GET /v1/documents/{id}`, then the annotated JSON at the signed URL it names (no API key)."""
        answer = yield from self._call("GET", f"{DOCUMENTS_PATH}/{quote(document_id, safe='')}")
        response = yield from send(Send("GET", document_url(answer)), self._retry)
        return decoded(response)

    # --- batches ---

    def create(self, priority: int | None = None, webhook_url: str | None = None, validate_first: bool | None = None,
               idempotency_key: str | None = None) -> Flow[dict[str, Any]]:
        """`POST /v1/search/batches`: retried after it was sent only with an idempotency key."""
        body = create_body(priority=priority, webhook_url=webhook_url, validate_first=validate_first)
        return self._call("POST", BATCHES_PATH, json=body, headers=create_headers(idempotency_key),
                          is_idempotent=idempotency_key is not None)

    def list_batches(self, status: str | None, limit: int | None, after: str | None) -> Flow[dict[str, Any]]:
        """`GET /v1/search/batches`: one page."""
        return self._call("GET", BATCHES_PATH, params=list_params(status, limit, after))

    def get(self, batch_id: str) -> Flow[dict[str, Any]]:
        """`GET /v1/search/batches/{id}`."""
        return self._call("GET", batch_path(batch_id))

    def cancel(self, batch_id: str) -> Flow[dict[str, Any]]:
        """`POST /v1/search/batches/{id}/cancel`."""
        return self._call("POST", batch_path(batch_id, "cancel"))

    def delete(self, batch_id: str) -> Flow[dict[str, Any]]:
        """`DELETE /v1/search/batches/{id}`."""
        return self._call("DELETE", batch_path(batch_id))

    def retry(self, batch_id: str) -> Flow[dict[str, Any]]:
        """`POST /v1/search/batches/{id}/retry`."""
        return self._call("POST", batch_path(batch_id, "retry"))

    def validate(self, path: StrPath) -> Flow[dict[str, Any]]:
        """`POST /v1/search/batches/validate` with the file streamed as the body."""
        size: int = yield Stat(path)
        response = yield from self._api("POST", BATCHES_PATH + "/validate", headers=upload_headers(size),
                                        upload=Upload(path, size))
        return decoded(response)

    def results(self, batch_id: str, from_line: int) -> Flow[httpx.Response]:
        """`GET /v1/search/batches/{id}/results`: the streamed response, for the client to read line by line."""
        return self._api("GET", batch_path(batch_id, "results"), params={"from_line": from_line}, stream=True)

    def upload(self, batch_or_url: dict[str, Any] | str, path: StrPath,
               on_progress: ProgressCallback | None) -> Flow[None]:
        """PUT the file to the presigned URL (no API key: the URL is the credential)."""
        url = presigned_url(batch_or_url)
        batch_id = batch_or_url.get("batch_id") if isinstance(batch_or_url, dict) else None
        size: int = yield Stat(path)
        request = Send("PUT", url, headers=upload_headers(size), upload=Upload(path, size, batch_id, on_progress))
        yield from send(request, self._retry)
        if on_progress and size == 0:
            on_progress(BatchProgress(batch_id, "upload", 0, 0))

    def submit(self, path: StrPath, on_progress: ProgressCallback | None) -> Flow[dict[str, Any]]:
        """Create a job, then upload the file to it; a missing file fails before the job is created."""
        yield Stat(path)
        created = yield from self.create()
        yield from self.upload(created, path, on_progress)
        return created

    def wait(self, batch_id: str, on_progress: ProgressCallback | None,
             timeout: float | None) -> Flow[dict[str, Any]]:
        """Poll the status until it is terminal, reporting each one; SearchTimeoutError after `timeout`."""
        schedule = PollSchedule(batch_id, timeout, time.monotonic())
        while True:
            status = yield from self.get(batch_id)
            if on_progress:
                on_progress(processing_progress(batch_id, status))
            if is_terminal(status):
                return status
            yield Sleep(schedule.next_delay(status, time.monotonic()))

    def download(self, id_or_status: str | dict[str, Any], path: StrPath,
                 on_progress: ProgressCallback | None) -> Flow[Path]:
        """Save the results file to `path`, renewing an expired URL once from a fresh status."""
        status = (yield from self.get(id_or_status)) if isinstance(id_or_status, str) else id_or_status
        batch_id = status.get("batch_id")
        try:
            return (yield from self._fetch(output_url(status), Path(path), batch_id, on_progress))
        except PermissionDeniedError:
            if not batch_id:
                raise
            fresh = yield from self.get(batch_id)
            return (yield from self._fetch(output_url(fresh), Path(path), batch_id, on_progress))

    def _fetch(self, url: str, target: Path, batch_id: str | None,
               on_progress: ProgressCallback | None) -> Flow[Path]:
        """GET a presigned URL (no API key) into `target`."""
        response = yield from send(Send("GET", url, stream=True), self._retry)
        yield Save(response, target, Meter(batch_id, "download", content_length(response), on_progress))
        return target

    def run(self, path: StrPath, out: StrPath, on_progress: ProgressCallback | None,
            timeout: float | None) -> Flow[dict[str, Any]]:
        """Submit, wait, download; the final status."""
        created = yield from self.submit(path, on_progress)
        status = yield from self.wait(created["batch_id"], on_progress, timeout)
        yield from self.download(status, out, on_progress)
        return status

    # --- knowledge graph ---

    def find_companies(self, query: str | None, types: Sequence[str] | None, countries: Sequence[str] | None,
                       sectors: Sequence[str] | None, limit: int | None) -> Flow[list[dict[str, Any]]]:
        """`POST /v1/knowledge-graph/companies`: the matches."""
        body = criteria(query=query, types=types, countries=countries, sectors=sectors, limit=limit)
        return (yield from self._call("POST", f"{KG_PATH}/companies", json=body))["results"]

    def by_isin(self, isin: str) -> Flow[dict[str, Any]]:
        """`GET /v1/knowledge-graph/companies/isin/{isin}`."""
        return self._call("GET", f"{KG_PATH}/companies/isin/{quote(isin, safe='')}")

    def entities(self, ids: Sequence[str]) -> Flow[dict[str, dict[str, Any]]]:
        """`POST /v1/knowledge-graph/entities/id`, 100 ids a request, merged."""
        found: dict[str, dict[str, Any]] = {}
        for chunk in id_chunks(ids):
            found.update((yield from self._call("POST", f"{KG_PATH}/entities/id", json={"values": chunk}))["results"])
        return found

    def sources(self, query: str | None, countries: Sequence[str] | None, ranks: Sequence[str] | None,
                categories: Sequence[str] | None, packages: Sequence[str] | None) -> Flow[list[dict[str, Any]]]:
        """`POST /v1/knowledge-graph/sources`: the matches."""
        body = criteria(query=query, countries=countries, ranks=ranks, categories=categories, packages=packages)
        return (yield from self._call("POST", f"{KG_PATH}/sources", json=body))["results"]

    def sectors(self) -> Flow[list[str]]:
        """`GET /v1/knowledge-graph/companies/sectors`: the names."""
        return (yield from self._call("GET", f"{KG_PATH}/companies/sectors"))["results"]


class BaseClient:
    """What `Client` and `AsyncClient` share: the server, the API key, the retry policy and every call's flow."""

    def __init__(self, base_url: str | None, api_key: str | None, max_retries: int) -> None:
        self.base_url = resolve_base_url(base_url)
        self._flows = Flows(self.base_url, resolve_api_key(api_key), RetryPolicy(max_retries=max_retries))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"
