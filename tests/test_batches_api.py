"""The Batch Search HTTP API through httpx.ASGITransport: create, signed upload, status, download, cancel."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from batchsearch.config import Settings
from batchsearch.jobs.states import JobStatus
from batchsearch.jobs.worker import Worker

from batch_fakes import FakeSearcher, build_app, jsonl

pytestmark = pytest.mark.anyio


class Api:
    """The app, a client for it, and two tenants' keys."""

    def __init__(self, settings: Settings, clock: object = None) -> None:
        self.app = build_app(settings, clock) if clock else build_app(settings)
        self.alice = self.app.state.keys.create("alice")[1]
        self.bob = self.app.state.keys.create("bob")[1]
        transport = httpx.ASGITransport(app=self.app)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://test")

    async def create(self, key: str | None = None, body: bytes | None = None) -> dict[str, str]:
        headers = {"X-API-KEY": key or self.alice, "Content-Type": "application/json"}
        response = await self.client.post("/v1/search/batches", headers=headers, content=body)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def put(self, url: str, data: bytes) -> httpx.Response:
        parts = urlsplit(url)
        return await self.client.put(f"{parts.path}?{parts.query}", content=data, headers={"Content-Type": "application/jsonl"})

    async def get(self, url: str) -> httpx.Response:
        parts = urlsplit(url)
        return await self.client.get(f"{parts.path}?{parts.query}")

    async def status(self, batch_id: str, key: str | None = None) -> httpx.Response:
        return await self.client.get(f"/v1/search/batches/{batch_id}", headers={"x-api-key": key or self.alice})

    def work(self) -> None:
        service = self.app.state.batches
        worker = Worker(service.settings, service.backend, service.objects, FakeSearcher(), clock=service.clock)
        while worker.run_once(threading.Event()):
            pass


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    api = Api(Settings(data_dir=tmp_path, public_url="http://test", micro_batch_size=16))
    async with api.client:
        yield api


@pytest.mark.parametrize("body", [None, b"", b"{}", b'{"organizationId": null, "userId": null}'])
async def test_create_accepts_and_ignores_any_small_body(api: Api, body: bytes | None) -> None:
    created = await api.create(body=body)
    assert uuid.UUID(created["batch_id"])
    assert created["presigned_url"].startswith(f"http://test/files/batches/{created['batch_id']}/input.jsonl?expires=")
    status = (await api.status(created["batch_id"])).json()
    assert status["status"] == "pending" and status["output_file_url"] is None
    assert status["estimated_completion_time"].endswith("Z")


async def test_full_flow_upload_process_download(api: Api) -> None:
    created = await api.create()
    assert (await api.put(created["presigned_url"], jsonl(40, bad_every=10))).status_code == 200
    pending = (await api.status(created["batch_id"])).json()
    assert (pending["status"], pending["lines_total"], pending["lines_done"]) == ("pending", 40, 0)
    api.work()
    done = (await api.status(created["batch_id"])).json()
    assert done["status"] == "completed" and done["estimated_completion_time"] is None
    assert done["completed_at"] and done["started_at"] and done["error"] is None
    download = await api.get(done["output_file_url"])
    assert download.status_code == 200 and download.headers["content-type"].startswith("application/jsonl")
    rows = [json.loads(line) for line in download.content.splitlines()]
    assert [r["line_number"] for r in rows] == list(range(1, 41))
    assert sum(r["status"] == "error" and r["code"] == 400 for r in rows) == 4
    again = (await api.status(created["batch_id"])).json()
    assert (await api.get(again["output_file_url"])).content == download.content


async def test_other_tenant_and_unknown_ids_get_404(api: Api) -> None:
    created = await api.create()
    for response in (
        await api.status(created["batch_id"], key=api.bob),
        await api.status(str(uuid.uuid4())),
        await api.client.post(f"/v1/search/batches/{created['batch_id']}/cancel", headers={"X-API-KEY": api.bob}),
    ):
        assert response.status_code == 404
        assert response.json()["statusCode"] == 404 and "not found" in response.json()["message"]
    assert (await api.client.get(f"/v1/search/batches/{created['batch_id']}")).status_code == 401


async def test_tampered_or_expired_upload_urls_get_403_and_change_nothing(api: Api, tmp_path: Path) -> None:
    created = await api.create()
    url = created["presigned_url"]
    tampered = [
        url.replace("signature=", "signature=0"),
        url.replace("/input.jsonl", "/other.jsonl"),
        url.replace("expires=", "expires=9"),
        url.split("&signature=")[0],
    ]
    for bad in tampered:
        response = await api.put(bad, jsonl(3))
        assert response.status_code == 403, bad
        assert response.json()["statusCode"] == 403
    assert (await api.status(created["batch_id"])).json()["status"] == "pending"
    assert api.app.state.object_store.list_keys(f"batches/{created['batch_id']}/") == []

    service = api.app.state.batches
    service.clock = lambda: datetime.now(UTC) - timedelta(hours=2)
    old = await api.create()
    service.clock = lambda: datetime.now(UTC)
    response = await api.put(old["presigned_url"], jsonl(3))
    assert response.status_code == 403 and "expired" in response.json()["message"]
    failed = (await api.status(old["batch_id"])).json()
    assert failed["status"] == "failed" and "upload URL expired" in failed["error"]


async def test_download_url_cannot_be_used_to_upload_or_for_another_file(api: Api) -> None:
    created = await api.create()
    await api.put(created["presigned_url"], jsonl(3))
    api.work()
    url = (await api.status(created["batch_id"])).json()["output_file_url"]
    assert (await api.put(url, b"overwrite")).status_code == 403
    assert (await api.get(url.replace("output.jsonl", "input.jsonl"))).status_code == 403
    assert (await api.get(created["presigned_url"])).status_code == 403


async def test_second_upload_conflicts(api: Api) -> None:
    created = await api.create()
    assert (await api.put(created["presigned_url"], jsonl(3))).status_code == 200
    response = await api.put(created["presigned_url"], jsonl(5))
    assert response.status_code == 409 and response.json()["statusCode"] == 409
    assert (await api.status(created["batch_id"])).json()["lines_total"] == 3


async def test_oversized_or_unusable_uploads_fail_the_job(tmp_path: Path) -> None:
    api = Api(Settings(data_dir=tmp_path, public_url="http://test", batch_max_bytes=1000, batch_max_lines=5))
    async with api.client:
        cases = [(jsonl(100), 413, "bytes"), (jsonl(6), 413, "5 lines"), (b"", 400, "empty"), (b"\xff\n", 400, "UTF-8")]
        for data, code, words in cases:
            created = await api.create()
            response = await api.put(created["presigned_url"], data)
            assert response.status_code == code and words in response.json()["message"]
            status = (await api.status(created["batch_id"])).json()
            assert status["status"] == "failed" and words in status["error"]
            assert status["estimated_completion_time"] is None


async def test_cancel(api: Api) -> None:
    created = await api.create()
    await api.put(created["presigned_url"], jsonl(3))
    response = await api.client.post(f"/v1/search/batches/{created['batch_id']}/cancel", headers={"X-API-KEY": api.alice})
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    api.work()
    assert api.app.state.batches.backend.get(created["batch_id"]).status is JobStatus.CANCELLED
    again = await api.client.post(f"/v1/search/batches/{created['batch_id']}/cancel", headers={"X-API-KEY": api.alice})
    assert again.status_code == 409
    assert (await api.put(created["presigned_url"], jsonl(3))).status_code == 409
