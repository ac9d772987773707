"""The asynchronous SDK: `AsyncClient`, the same calls as `Client` awaited (asyncio or trio)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import anyio
import httpx

from batchsearch.client import _shared as shared
from batchsearch.client._flows import BaseClient, Done, Flow, Save, Send, Sleep, Stat, Step, Upload, advance
from batchsearch.client._shared import ProgressCallback, StrPath

T = TypeVar("T")


async def _sleep(seconds: float) -> None:
    """Wait between retries and polls (a seam for tests that inject time)."""
    await anyio.sleep(seconds)


async def _chunks(upload: Upload) -> AsyncIterator[bytes]:
    """An upload's file, chunk by chunk, metered as each chunk goes out."""
    meter = upload.meter()
    async with await anyio.open_file(upload.path, "rb") as handle:
        while chunk := await handle.read(shared.CHUNK_BYTES):
            yield chunk
            meter.add(len(chunk))


class AsyncClient(BaseClient):
    """The async twin of `batchsearch.Client`: same arguments, same calls, same errors."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 timeout: float = shared.DEFAULT_TIMEOUT, max_retries: int = shared.DEFAULT_MAX_RETRIES,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(base_url, api_key, max_retries)
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport,
                                       headers={"User-Agent": shared.user_agent()})
        self.batches = AsyncBatches(self)
        self.kg = AsyncKnowledgeGraphAPI(self)
        self.co_mentions = AsyncCoMentions(self)
        self.documents = AsyncDocuments(self)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def search(self, query: dict[str, Any], *, include_audit: bool = False) -> dict[str, Any]:
        """`POST /v1/search`: the response (`results`, `metadata`, `usage`) for one `query` object."""
        return await self._run(self._flows.search(query, include_audit))

    async def volume(self, query: dict[str, Any]) -> dict[str, Any]:
        """`POST /v1/search/volume`: daily `volume` and `total` counts of the chunks matching one `query` object."""
        return await self._run(self._flows.volume(query))

    async def _run(self, flow: Flow[T]) -> T:
        """Drive a shared flow: await each step's IO and send back its result until the flow returns."""
        step = advance(flow, None)
        while not isinstance(step, Done):
            step = advance(flow, await self._do(step))
        return step.value

    async def _do(self, step: Step) -> Any:
        """The IO of one step, awaited."""
        match step:
            case Send():
                return await self._send(step)
            case Sleep():
                return await _sleep(step.seconds)
            case Stat():
                return (await anyio.Path(step.path).stat()).st_size
            case Save():
                return await self._save(step)

    async def _send(self, send: Send) -> httpx.Response | httpx.TransportError:
        """One attempt: the response, or the transport error for the flow to judge."""
        request = send.build(self._http, _chunks(send.upload) if send.upload else None)
        try:
            response = await self._http.send(request, stream=send.stream)
            if not response.is_success:
                await response.aread()  # the error body; reading it to the end also closes the response
        except httpx.TransportError as exc:
            return exc
        return response

    async def _save(self, save: Save) -> None:
        """Write a streamed body to its .partial file, then move it into place."""
        try:
            with shared.reading(save.response, save.partial):
                async with await anyio.open_file(save.partial, "wb") as out:
                    async for chunk in save.response.aiter_bytes(shared.CHUNK_BYTES):
                        await out.write(chunk)
                        save.meter.add(len(chunk))
        finally:
            await save.response.aclose()
        os.replace(save.partial, save.target)


class AsyncBatches:
    """Batch Search, awaited: create, upload, wait, download, cancel, run."""

    def __init__(self, client: AsyncClient) -> None:
        self._run, self._flows = client._run, client._flows

    async def create(self, *, priority: int | None = None, webhook_url: str | None = None,
                     validate_first: bool | None = None, idempotency_key: str | None = None) -> dict[str, Any]:
        """`POST /v1/search/batches` with the options given (retried once sent only with an `idempotency_key`)."""
        return await self._run(self._flows.create(priority, webhook_url, validate_first, idempotency_key))

    async def list(self, status: str | None = None, limit: int | None = None,
                   after: str | None = None) -> dict[str, Any]:
        """`GET /v1/search/batches`: one page of your jobs, newest first: `{data, has_more, next_after}`."""
        return await self._run(self._flows.list_batches(status, limit, after))

    async def iter_all(self, status: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """Every one of your jobs (optionally in one status), newest first, following the cursor page by page."""
        after: str | None = None
        while True:
            page = await self.list(status, shared.LIST_PAGE_SIZE, after)
            for job in page["data"]:
                yield job
            if (after := shared.next_cursor(page)) is None:
                return

    async def delete(self, batch_id: str) -> dict[str, Any]:
        """`DELETE /v1/search/batches/{id}`: delete a finished job and its files (ConflictError while it runs)."""
        return await self._run(self._flows.delete(batch_id))

    async def retry(self, batch_id: str) -> dict[str, Any]:
        """`POST /v1/search/batches/{id}/retry`: queue a completed job's timeout and exception lines again."""
        return await self._run(self._flows.retry(batch_id))

    async def validate(self, path: StrPath) -> dict[str, Any]:
        """`POST /v1/search/batches/validate`: check a .jsonl file line by line (streamed; nothing is queued)."""
        return await self._run(self._flows.validate(path))

    async def results(self, batch_id: str, from_line: int = 1) -> AsyncIterator[dict[str, Any]]:
        """`GET .../{id}/results`: the finished output lines from `from_line`, parsed (use with `async for`)."""
        response = await self._run(self._flows.results(batch_id, from_line))
        try:
            with shared.reading(response):
                async for line in response.aiter_lines():
                    if (row := shared.result_line(line)) is not None:
                        yield row
        finally:
            await response.aclose()

    async def upload(self, batch_or_url: dict[str, Any] | str, path: StrPath, *,
                     on_progress: ProgressCallback | None = None) -> None:
        """Stream a .jsonl file to the job's presigned URL (`Content-Type: application/jsonl`, no API key)."""
        await self._run(self._flows.upload(batch_or_url, path, on_progress))

    async def submit(self, path: StrPath, *, on_progress: ProgressCallback | None = None) -> dict[str, Any]:
        """Create a job and upload `path` to it; returns what create() returned."""
        return await self._run(self._flows.submit(path, on_progress))

    async def get(self, batch_id: str) -> dict[str, Any]:
        """`GET /v1/search/batches/{id}`: status, estimate, counts and (once there is output) its URL."""
        return await self._run(self._flows.get(batch_id))

    async def cancel(self, batch_id: str) -> dict[str, Any]:
        """`POST /v1/search/batches/{id}/cancel`: the cancelled job's status (finished lines stay downloadable)."""
        return await self._run(self._flows.cancel(batch_id))

    async def wait(self, batch_id: str, *, on_progress: ProgressCallback | None = None,
                   timeout: float | None = None) -> dict[str, Any]:
        """Poll until the job is completed, failed or cancelled (0.5 s growing to 10 s, sooner near the ETA)."""
        return await self._run(self._flows.wait(batch_id, on_progress, timeout))

    async def download(self, id_or_status: str | dict[str, Any], path: StrPath, *,
                       on_progress: ProgressCallback | None = None) -> Path:
        """Stream the results .jsonl to `path` (written atomically); an expired URL is renewed once."""
        return await self._run(self._flows.download(id_or_status, path, on_progress))

    async def run(self, path: StrPath, out: StrPath, *,
                  on_progress: ProgressCallback | None = None, timeout: float | None = None) -> dict[str, Any]:
        """Submit `path`, wait, download the results to `out`; returns the final status."""
        return await self._run(self._flows.run(path, out, on_progress, timeout))


class AsyncKnowledgeGraphAPI:
    """Knowledge graph lookups, awaited."""

    def __init__(self, client: AsyncClient) -> None:
        self._run, self._flows = client._run, client._flows

    async def find_companies(self, query: str | None = None, *, types: Sequence[str] | None = None,
                             countries: Sequence[str] | None = None, sectors: Sequence[str] | None = None,
                             limit: int | None = None) -> list[dict[str, Any]]:
        """Companies by name, ticker or identifier (and filters), well-known companies first."""
        return await self._run(self._flows.find_companies(query, types, countries, sectors, limit))

    async def by_isin(self, isin: str) -> dict[str, Any]:
        """The company with this ISIN; NotFoundError when there is none."""
        return await self._run(self._flows.by_isin(isin))

    async def entities(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Entities by id (any number, sent 100 at a time); unknown ids are left out."""
        return await self._run(self._flows.entities(ids))

    async def sources(self, query: str | None = None, *, countries: Sequence[str] | None = None,
                      ranks: Sequence[str] | None = None, categories: Sequence[str] | None = None,
                      packages: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Sources by name and filters, best match then best rank first."""
        return await self._run(self._flows.sources(query, countries, ranks, categories, packages))

    async def sectors(self) -> list[str]:
        """The sector names the `sectors` criterion accepts."""
        return await self._run(self._flows.sectors())


class AsyncCoMentions:
    """Co-mentioned entities and topics, awaited."""

    def __init__(self, client: AsyncClient) -> None:
        self._run, self._flows = client._run, client._flows

    async def entities(self, query: dict[str, Any], *, limit: int | None = None) -> dict[str, Any]:
        """`POST /v1/search/co-mentions/entities`: the response; `results` holds a list per entity category."""
        return await self._run(self._flows.co_mentions("entities", query, limit))

    async def topics(self, query: dict[str, Any], *, limit: int | None = None) -> dict[str, Any]:
        """`POST /v1/search/co-mentions/topics`: the response; `results.topics` is the ranked list."""
        return await self._run(self._flows.co_mentions("topics", query, limit))


class AsyncDocuments:
    """Whole documents of the corpus by id, awaited."""

    def __init__(self, client: AsyncClient) -> None:
        self._run, self._flows = client._run, client._flows

    async def get(self, document_id: str) -> Any:
        """`GET /v1/documents/{id}`, then the annotated document JSON its signed `url` serves."""
        return await self._run(self._flows.document(document_id))
