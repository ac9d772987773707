"""The asynchronous SDK: `AsyncClient`, the same calls as `Client` awaited (asyncio or trio)."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import anyio
import httpx

from batchsearch.client import _shared as shared
from batchsearch.client._shared import BatchProgress, ProgressCallback
from batchsearch.errors import PermissionDeniedError, SearchTimeoutError


async def _sleep(seconds: float) -> None:
    """Wait between retries and polls (a seam for tests that inject time)."""
    await anyio.sleep(seconds)


class AsyncClient:
    """The async twin of `batchsearch.Client`: same arguments, same calls, same errors."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = shared.DEFAULT_TIMEOUT,
        max_retries: int = shared.DEFAULT_MAX_RETRIES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = shared.resolve_base_url(base_url)
        self._api_key = shared.resolve_api_key(api_key)
        self._retry = shared.RetryPolicy(max_retries=max_retries)
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport,
                                       headers={"User-Agent": shared.user_agent()})
        self.batches = AsyncBatches(self)
        self.kg = AsyncKnowledgeGraphAPI(self)

    def __repr__(self) -> str:
        return f"AsyncClient(base_url={self.base_url!r})"

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
        result: dict[str, Any] = await self._call("POST", "/v1/search", json=shared.search_body(query, include_audit))
        return result

    async def _call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                    headers: dict[str, str] | None = None, is_idempotent: bool = True) -> Any:
        """An authenticated API call; the decoded JSON answer."""
        url = self.base_url + path
        all_headers = shared.api_headers(self._api_key) | (headers or {})

        def build() -> httpx.Request:
            return self._http.build_request(method, url, json=json, params=params, headers=all_headers)

        return shared.decoded(await self._send(build, is_idempotent=is_idempotent))

    async def _send(self, build: Callable[[], httpx.Request], *, is_idempotent: bool = True,
                    stream: bool = False) -> httpx.Response:
        """Send a request, retrying per the policy; raise the server's error for a failed answer."""
        attempt = 0
        while True:
            request = build()
            try:
                response = await self._http.send(request, stream=stream)
                if not response.is_success:
                    await response.aread()
            except httpx.TransportError as exc:
                if not self._retry.should_retry_error(attempt, exc, is_idempotent=is_idempotent):
                    raise shared.connection_error(shared.origin(request.url), exc) from exc
                await _sleep(self._retry.delay(attempt))
                attempt += 1
                continue
            if response.is_success:
                return response
            await response.aclose()
            if not self._retry.should_retry_status(attempt, response.status_code):
                raise shared.error_from_response(response)
            await _sleep(self._retry.delay(attempt, shared.retry_after_seconds(response)))
            attempt += 1


class AsyncBatches:
    """Batch Search, awaited: create, upload, wait, download, cancel, run."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(self, *, priority: int | None = None, webhook_url: str | None = None,
                     validate_first: bool | None = None, idempotency_key: str | None = None) -> dict[str, Any]:
        """`POST /v1/search/batches`: `{batch_id, presigned_url}` (plus `webhook_secret` with `webhook_url`).

        Only the options given are sent (none: no body, the Bigdata request). Not retried after it
        was sent, unless `idempotency_key` is given: the server then answers a repeat with the same job.
        """
        body = shared.create_body(priority=priority, webhook_url=webhook_url, validate_first=validate_first)
        created: dict[str, Any] = await self._client._call("POST", shared.BATCHES_PATH, json=body,
                                                           headers=shared.create_headers(idempotency_key),
                                                           is_idempotent=idempotency_key is not None)
        return created

    async def list(self, status: str | None = None, limit: int | None = None,
                   after: str | None = None) -> dict[str, Any]:
        """`GET /v1/search/batches`: one page of your jobs, newest first: `{data, has_more, next_after}`."""
        page: dict[str, Any] = await self._client._call("GET", shared.BATCHES_PATH,
                                                        params=shared.list_params(status, limit, after))
        return page

    async def iter_all(self, status: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """Every one of your jobs (optionally in one status), newest first, following the cursor page by page."""
        after: str | None = None
        while True:
            page = await self.list(status, shared.LIST_PAGE_SIZE, after)
            for job in page["data"]:
                yield job
            after = page.get("next_after")
            if not page.get("has_more") or not after:
                return

    async def delete(self, batch_id: str) -> dict[str, Any]:
        """`DELETE /v1/search/batches/{id}`: delete a finished job and its files (ConflictError while it runs)."""
        deleted: dict[str, Any] = await self._client._call("DELETE", shared.batch_path(batch_id))
        return deleted

    async def retry(self, batch_id: str) -> dict[str, Any]:
        """`POST /v1/search/batches/{id}/retry`: queue a completed job's timeout and exception lines again."""
        status: dict[str, Any] = await self._client._call("POST", shared.batch_path(batch_id, "retry"))
        return status

    async def validate(self, path: str | os.PathLike[str]) -> dict[str, Any]:
        """`POST /v1/search/batches/validate`: check a .jsonl file line by line (streamed; nothing is queued)."""
        size = (await anyio.Path(path).stat()).st_size
        url = self._client.base_url + shared.BATCHES_PATH + "/validate"
        headers = shared.api_headers(self._client._api_key) | {"Content-Type": shared.JSONL,
                                                               "Content-Length": str(size)}

        async def chunks() -> AsyncIterator[bytes]:
            async with await anyio.open_file(path, "rb") as handle:
                while chunk := await handle.read(shared.CHUNK_BYTES):
                    yield chunk

        def build() -> httpx.Request:
            return self._client._http.build_request("POST", url, content=chunks(), headers=headers)

        report: dict[str, Any] = shared.decoded(await self._client._send(build))
        return report

    async def results(self, batch_id: str, from_line: int = 1) -> AsyncIterator[dict[str, Any]]:
        """`GET /v1/search/batches/{id}/results`: the finished output lines from `from_line`, parsed, in order.

        Use with `async for`; works while the job runs (the finished prefix) and after.
        """
        url = self._client.base_url + shared.batch_path(batch_id, "results")
        headers = shared.api_headers(self._client._api_key)
        response = await self._client._send(
            lambda: self._client._http.build_request("GET", url, params={"from_line": from_line}, headers=headers),
            stream=True,
        )
        try:
            async for line in response.aiter_lines():
                row = shared.result_line(line)
                if row is not None:
                    yield row
        except httpx.TransportError as exc:
            raise shared.connection_error(shared.origin(response.request.url), exc) from exc
        finally:
            await response.aclose()

    async def upload(self, batch_or_url: dict[str, Any] | str, path: str | os.PathLike[str], *,
                     on_progress: ProgressCallback | None = None) -> None:
        """Stream a .jsonl file to the job's presigned URL (`Content-Type: application/jsonl`, no API key)."""
        url = shared.presigned_url(batch_or_url)
        batch_id = batch_or_url.get("batch_id") if isinstance(batch_or_url, dict) else None
        size = (await anyio.Path(path).stat()).st_size
        headers = {"Content-Type": shared.JSONL, "Content-Length": str(size)}

        async def chunks() -> AsyncIterator[bytes]:
            sent = 0
            async with await anyio.open_file(path, "rb") as handle:
                while chunk := await handle.read(shared.CHUNK_BYTES):
                    sent += len(chunk)
                    yield chunk
                    if on_progress:
                        on_progress(BatchProgress(batch_id, "upload", sent, size))

        def build() -> httpx.Request:
            return self._client._http.build_request("PUT", url, content=chunks(), headers=headers)

        await self._client._send(build)
        if on_progress and size == 0:
            on_progress(BatchProgress(batch_id, "upload", 0, 0))

    async def submit(self, path: str | os.PathLike[str], *,
                     on_progress: ProgressCallback | None = None) -> dict[str, Any]:
        """Create a job and upload `path` to it; returns what create() returned."""
        await anyio.Path(path).stat()  # a missing file fails before a job is created
        created = await self.create()
        await self.upload(created, path, on_progress=on_progress)
        return created

    async def get(self, batch_id: str) -> dict[str, Any]:
        """`GET /v1/search/batches/{id}`: status, estimate, counts and (once there is output) its URL."""
        status: dict[str, Any] = await self._client._call("GET", shared.batch_path(batch_id))
        return status

    async def cancel(self, batch_id: str) -> dict[str, Any]:
        """`POST /v1/search/batches/{id}/cancel`: the cancelled job's status (finished lines stay downloadable)."""
        status: dict[str, Any] = await self._client._call("POST", shared.batch_path(batch_id, "cancel"))
        return status

    async def wait(self, batch_id: str, *, on_progress: ProgressCallback | None = None,
                   timeout: float | None = None) -> dict[str, Any]:
        """Poll until the job is completed, failed or cancelled (0.5 s growing to 10 s, sooner near the ETA)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = shared.POLL_INITIAL_SECONDS
        while True:
            status = await self.get(batch_id)
            if on_progress:
                on_progress(shared.processing_progress(batch_id, status))
            if shared.is_terminal(status):
                return status
            delay = shared.poll_delay(interval, status)
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SearchTimeoutError(shared.wait_timeout_message(batch_id, status, timeout or 0))
                delay = min(delay, left)
            await _sleep(delay)
            interval = shared.next_poll_interval(interval)

    async def download(self, id_or_status: str | dict[str, Any], path: str | os.PathLike[str], *,
                       on_progress: ProgressCallback | None = None) -> Path:
        """Stream the results .jsonl to `path` (written atomically); an expired URL is renewed once."""
        status = await self.get(id_or_status) if isinstance(id_or_status, str) else id_or_status
        batch_id = status.get("batch_id")
        try:
            return await self._fetch(shared.output_url(status), Path(path), batch_id, on_progress)
        except PermissionDeniedError:
            if not batch_id:
                raise
            fresh = await self.get(batch_id)
            return await self._fetch(shared.output_url(fresh), Path(path), batch_id, on_progress)

    async def _fetch(self, url: str, target: Path, batch_id: str | None,
                     on_progress: ProgressCallback | None) -> Path:
        """GET a presigned URL into target (no API key)."""
        partial = target.with_name(target.name + ".partial")
        response = await self._client._send(lambda: self._client._http.build_request("GET", url), stream=True)
        total, done = shared.content_length(response), 0
        try:
            async with await anyio.open_file(partial, "wb") as out:
                async for chunk in response.aiter_bytes(shared.CHUNK_BYTES):
                    await out.write(chunk)
                    done += len(chunk)
                    if on_progress:
                        on_progress(BatchProgress(batch_id, "download", done, total))
        except httpx.TransportError as exc:
            partial.unlink(missing_ok=True)
            raise shared.connection_error(shared.origin(response.request.url), exc) from exc
        finally:
            await response.aclose()
        os.replace(partial, target)
        return target

    async def run(self, path: str | os.PathLike[str], out: str | os.PathLike[str], *,
                  on_progress: ProgressCallback | None = None, timeout: float | None = None) -> dict[str, Any]:
        """Submit `path`, wait, download the results to `out`; returns the final status."""
        created = await self.submit(path, on_progress=on_progress)
        status = await self.wait(created["batch_id"], on_progress=on_progress, timeout=timeout)
        await self.download(status, out, on_progress=on_progress)
        return status


class AsyncKnowledgeGraphAPI:
    """Knowledge graph lookups, awaited."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def find_companies(self, query: str | None = None, *, types: Sequence[str] | None = None,
                             countries: Sequence[str] | None = None, sectors: Sequence[str] | None = None,
                             limit: int | None = None) -> list[dict[str, Any]]:
        """Companies by name, ticker or identifier (and filters), well-known companies first."""
        body = shared.criteria(query=query, types=types, countries=countries, sectors=sectors, limit=limit)
        answer = await self._client._call("POST", "/v1/knowledge-graph/companies", json=body)
        found: list[dict[str, Any]] = answer["results"]
        return found

    async def by_isin(self, isin: str) -> dict[str, Any]:
        """The company with this ISIN; NotFoundError when there is none."""
        path = f"/v1/knowledge-graph/companies/isin/{quote(isin, safe='')}"
        company: dict[str, Any] = await self._client._call("GET", path)
        return company

    async def entities(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Entities by id (any number, sent 100 at a time); unknown ids are left out."""
        found: dict[str, dict[str, Any]] = {}
        for chunk in shared.id_chunks(ids):
            answer = await self._client._call("POST", "/v1/knowledge-graph/entities/id", json={"values": chunk})
            found.update(answer["results"])
        return found

    async def sources(self, query: str | None = None, *, countries: Sequence[str] | None = None,
                      ranks: Sequence[str] | None = None, categories: Sequence[str] | None = None,
                      packages: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Sources by name and filters, best match then best rank first."""
        body = shared.criteria(query=query, countries=countries, ranks=ranks, categories=categories, packages=packages)
        answer = await self._client._call("POST", "/v1/knowledge-graph/sources", json=body)
        found: list[dict[str, Any]] = answer["results"]
        return found

    async def sectors(self) -> list[str]:
        """The sector names the `sectors` criterion accepts."""
        answer = await self._client._call("GET", "/v1/knowledge-graph/companies/sectors")
        names: list[str] = answer["results"]
        return names
