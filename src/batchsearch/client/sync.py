"""The synchronous SDK: `Client` with `.search()`, `.volume()`, `.batches`, `.kg`, `.co_mentions` and `.documents`, doing the shared flows' IO by blocking."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

from batchsearch.client import _shared as shared
from batchsearch.client._flows import BaseClient, Done, Flow, Save, Send, Sleep, Stat, Step, Upload, advance
from batchsearch.client._shared import ProgressCallback, StrPath

T = TypeVar("T")


def _sleep(seconds: float) -> None:
    """Wait between retries and polls (a seam for tests that inject time)."""
    time.sleep(seconds)


def _chunks(upload: Upload) -> Iterator[bytes]:
    """An upload's file, chunk by chunk, metered as each chunk goes out."""
    meter = upload.meter()
    with open(upload.path, "rb") as handle:
        while chunk := handle.read(shared.CHUNK_BYTES):
            yield chunk
            meter.add(len(chunk))


class Client(BaseClient):
    """A client of a batchsearch (or Bigdata-compatible) server.

    `base_url` and `api_key` default to $BATCHSEARCH_URL and $BATCHSEARCH_API_KEY. Connection
    errors, 429 and 5xx answers are retried `max_retries` times with exponential backoff and
    jitter (honouring Retry-After); other errors raise the server's exception from
    `batchsearch.errors` at once.
    """

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 timeout: float = shared.DEFAULT_TIMEOUT, max_retries: int = shared.DEFAULT_MAX_RETRIES,
                 transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(base_url, api_key, max_retries)
        self._http = httpx.Client(timeout=timeout, transport=transport, headers={"User-Agent": shared.user_agent()})
        self.batches = Batches(self)
        self.kg = KnowledgeGraphAPI(self)
        self.co_mentions = CoMentions(self)
        self.documents = Documents(self)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def search(self, query: dict[str, Any], *, include_audit: bool = False) -> dict[str, Any]:
        """`POST /v1/search`: the response (`results`, `metadata`, `usage`) for one `query` object."""
        return self._run(self._flows.search(query, include_audit))

    def volume(self, query: dict[str, Any]) -> dict[str, Any]:
        """`POST /v1/search/volume`: daily `volume` and `total` counts of the chunks matching one `query` object."""
        return self._run(self._flows.volume(query))

    def _run(self, flow: Flow[T]) -> T:
        """Drive a shared flow: do each step's IO and send back its result until the flow returns."""
        step = advance(flow, None)
        while not isinstance(step, Done):
            step = advance(flow, self._do(step))
        return step.value

    def _do(self, step: Step) -> Any:
        """The IO of one step, blocking."""
        match step:
            case Send():
                return self._send(step)
            case Sleep():
                return _sleep(step.seconds)
            case Stat():
                return Path(step.path).stat().st_size
            case Save():
                return self._save(step)

    def _send(self, send: Send) -> httpx.Response | httpx.TransportError:
        """One attempt: the response, or the transport error for the flow to judge."""
        request = send.build(self._http, _chunks(send.upload) if send.upload else None)
        try:
            response = self._http.send(request, stream=send.stream)
            if not response.is_success:
                response.read()  # the error body; reading it to the end also closes the response
        except httpx.TransportError as exc:
            return exc
        return response

    def _save(self, save: Save) -> None:
        """Write a streamed body to its .partial file, then move it into place."""
        try:
            with shared.reading(save.response, save.partial), open(save.partial, "wb") as out:
                for chunk in save.response.iter_bytes(shared.CHUNK_BYTES):
                    out.write(chunk)
                    save.meter.add(len(chunk))
        finally:
            save.response.close()
        os.replace(save.partial, save.target)


class Batches:
    """Batch Search: create a job, upload its .jsonl, wait for it, download the results."""

    def __init__(self, client: Client) -> None:
        self._run, self._flows = client._run, client._flows

    def create(self, *, priority: int | None = None, webhook_url: str | None = None,
               validate_first: bool | None = None, idempotency_key: str | None = None) -> dict[str, Any]:
        """`POST /v1/search/batches`: `{batch_id, presigned_url}` (plus `webhook_secret` with `webhook_url`).

        Only the options given are sent (none: no body, the Bigdata request). Not retried after it
        was sent, unless `idempotency_key` is given: the server then answers a repeat with the same job.
        """
        return self._run(self._flows.create(priority, webhook_url, validate_first, idempotency_key))

    def list(self, status: str | None = None, limit: int | None = None, after: str | None = None) -> dict[str, Any]:
        """`GET /v1/search/batches`: one page of your jobs, newest first: `{data, has_more, next_after}`."""
        return self._run(self._flows.list_batches(status, limit, after))

    def iter_all(self, status: str | None = None) -> Iterator[dict[str, Any]]:
        """Every one of your jobs (optionally in one status), newest first, following the cursor page by page."""
        after: str | None = None
        while True:
            page = self.list(status, shared.LIST_PAGE_SIZE, after)
            yield from page["data"]
            if (after := shared.next_cursor(page)) is None:
                return

    def delete(self, batch_id: str) -> dict[str, Any]:
        """`DELETE /v1/search/batches/{id}`: delete a finished job and its files (ConflictError while it runs)."""
        return self._run(self._flows.delete(batch_id))

    def retry(self, batch_id: str) -> dict[str, Any]:
        """`POST /v1/search/batches/{id}/retry`: queue a completed job's timeout and exception lines again."""
        return self._run(self._flows.retry(batch_id))

    def validate(self, path: StrPath) -> dict[str, Any]:
        """`POST /v1/search/batches/validate`: check a .jsonl file line by line (streamed; nothing is queued)."""
        return self._run(self._flows.validate(path))

    def results(self, batch_id: str, from_line: int = 1) -> Iterator[dict[str, Any]]:
        """`GET .../{id}/results`: the finished output lines from `from_line`, parsed (sent when iteration starts)."""
        response = self._run(self._flows.results(batch_id, from_line))
        try:
            with shared.reading(response):
                for line in response.iter_lines():
                    if (row := shared.result_line(line)) is not None:
                        yield row
        finally:
            response.close()

    def upload(self, batch_or_url: dict[str, Any] | str, path: StrPath, *,
               on_progress: ProgressCallback | None = None) -> None:
        """Stream a .jsonl file to the job's presigned URL (`Content-Type: application/jsonl`, no API key)."""
        self._run(self._flows.upload(batch_or_url, path, on_progress))

    def submit(self, path: StrPath, *, on_progress: ProgressCallback | None = None) -> dict[str, Any]:
        """Create a job and upload `path` to it; returns what create() returned."""
        return self._run(self._flows.submit(path, on_progress))

    def get(self, batch_id: str) -> dict[str, Any]:
        """`GET /v1/search/batches/{id}`: status, estimate, counts and (once there is output) its URL."""
        return self._run(self._flows.get(batch_id))

    def cancel(self, batch_id: str) -> dict[str, Any]:
        """`POST /v1/search/batches/{id}/cancel`: the cancelled job's status (finished lines stay downloadable)."""
        return self._run(self._flows.cancel(batch_id))

    def wait(self, batch_id: str, *, on_progress: ProgressCallback | None = None,
             timeout: float | None = None) -> dict[str, Any]:
        """Poll until the job is completed, failed or cancelled; returns that final status.

        Polls start at 0.5 s and grow to 10 s, sooner when the server's estimate is sooner.
        SearchTimeoutError when `timeout` seconds pass first (the job keeps running).
        """
        return self._run(self._flows.wait(batch_id, on_progress, timeout))

    def download(self, id_or_status: str | dict[str, Any], path: StrPath, *,
                 on_progress: ProgressCallback | None = None) -> Path:
        """Stream the results .jsonl to `path` (written atomically); an expired URL is renewed once."""
        return self._run(self._flows.download(id_or_status, path, on_progress))

    def run(self, path: StrPath, out: StrPath, *, on_progress: ProgressCallback | None = None,
            timeout: float | None = None) -> dict[str, Any]:
        """Submit `path`, wait, download to `out`; the final status (a cancelled job's lines are still downloaded)."""
        return self._run(self._flows.run(path, out, on_progress, timeout))


class KnowledgeGraphAPI:
    """Knowledge graph lookups: the entity and source ids that search filters take."""

    def __init__(self, client: Client) -> None:
        self._run, self._flows = client._run, client._flows

    def find_companies(self, query: str | None = None, *, types: Sequence[str] | None = None,
                       countries: Sequence[str] | None = None, sectors: Sequence[str] | None = None,
                       limit: int | None = None) -> list[dict[str, Any]]:
        """Companies by name, ticker or identifier (and filters), well-known companies first."""
        return self._run(self._flows.find_companies(query, types, countries, sectors, limit))

    def by_isin(self, isin: str) -> dict[str, Any]:
        """The company with this ISIN; NotFoundError when there is none."""
        return self._run(self._flows.by_isin(isin))

    def entities(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Entities by id (any number, sent 100 at a time); unknown ids are left out."""
        return self._run(self._flows.entities(ids))

    def sources(self, query: str | None = None, *, countries: Sequence[str] | None = None,
                ranks: Sequence[str] | None = None, categories: Sequence[str] | None = None,
                packages: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Sources by name and filters, best match then best rank first."""
        return self._run(self._flows.sources(query, countries, ranks, categories, packages))

    def sectors(self) -> list[str]:
        """The sector names the `sectors` criterion accepts."""
        return self._run(self._flows.sectors())


class CoMentions:
    """Entities and topics mentioned in the chunks a query matches, most mentioned first."""

    def __init__(self, client: Client) -> None:
        self._run, self._flows = client._run, client._flows

    def entities(self, query: dict[str, Any], *, limit: int | None = None) -> dict[str, Any]:
        """`POST /v1/search/co-mentions/entities`: the response; `results` holds a list per entity category."""
        return self._run(self._flows.co_mentions("entities", query, limit))

    def topics(self, query: dict[str, Any], *, limit: int | None = None) -> dict[str, Any]:
        """`POST /v1/search/co-mentions/topics`: the response; `results.topics` is the ranked list."""
        return self._run(self._flows.co_mentions("topics", query, limit))


class Documents:
    """Whole documents of the corpus by id."""

    def __init__(self, client: Client) -> None:
        self._run, self._flows = client._run, client._flows

    def get(self, document_id: str) -> Any:
        """`GET /v1/documents/{id}`, then the annotated document JSON its signed `url` serves."""
        return self._run(self._flows.document(document_id))
