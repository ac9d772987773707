"""Managing jobs: list (cursor paging, newest first, own jobs only), delete (finished only), retention."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from batchsearch.jobs import parts

from batch_fakes import AsgiBatches, jsonl

pytestmark = pytest.mark.anyio


async def test_list_pages_newest_first_and_filters_by_status(api: AsgiBatches) -> None:
    ids = [await api.submit(jsonl(2)) for _ in range(5)]
    api.work()
    waiting = (await api.client.post("/v1/search/batches")).json()["batch_id"]
    await api.client.post("/v1/search/batches", headers={"X-API-KEY": api.other})
    seen, after = [], None
    while True:
        page = (await api.client.get("/v1/search/batches", params={"limit": 2, **({"after": after} if after else {})})).json()
        seen += [job["batch_id"] for job in page["data"]]
        if not page["has_more"]:
            assert page["next_after"] is None
            break
        after = page["next_after"]
    assert seen == [waiting, *reversed(ids)]
    done = (await api.client.get("/v1/search/batches?status=completed&limit=100")).json()
    assert {job["batch_id"] for job in done["data"]} == set(ids) and not done["has_more"]
    assert all(job["request_counts"]["succeeded"] == 2 for job in done["data"])
    pending = (await api.client.get("/v1/search/batches?status=pending")).json()
    assert [job["batch_id"] for job in pending["data"]] == [waiting]
    assert (await api.client.get("/v1/search/batches?status=bogus")).status_code == 400
    assert (await api.client.get("/v1/search/batches?limit=0")).status_code == 400
    foreign = await api.client.get("/v1/search/batches", headers={"X-API-KEY": api.other})
    assert len(foreign.json()["data"]) == 1
    assert (await api.client.get(f"/v1/search/batches?after={foreign.json()['data'][0]['batch_id']}")).status_code == 404


async def test_delete_only_finished_jobs_and_their_files(api: AsgiBatches) -> None:
    running = await api.submit(jsonl(3))
    response = await api.client.delete(f"/v1/search/batches/{running}")
    assert response.status_code == 409 and "cancel it" in response.json()["message"]
    assert (await api.client.delete(f"/v1/search/batches/{running}", headers={"X-API-KEY": api.other})).status_code == 404
    api.work()
    url = (await api.status(running))["output_file_url"]
    assert api.service.objects.list_keys(parts.job_prefix(running))
    response = await api.client.delete(f"/v1/search/batches/{running}")
    assert response.status_code == 200 and response.json() == {"batch_id": running, "deleted": True}
    assert api.service.objects.list_keys(parts.job_prefix(running)) == []
    assert (await api.client.get(f"/v1/search/batches/{running}")).status_code == 404
    assert (await api.fetch(url)).status_code == 404


async def test_retention_deletes_files_of_old_jobs(api: AsgiBatches) -> None:
    old, recent = await api.submit(jsonl(3)), await api.submit(jsonl(3))
    api.work()
    assert (await api.status(old))["files_expire_at"].endswith("Z")
    backend = api.service.backend
    completed = backend.get(old).completed_at  # type: ignore[union-attr]
    backend.update_fields(old, backend.get(old).status, {"completed_at": completed - timedelta(days=31)})  # type: ignore[union-attr]
    api.worker().run_once(threading.Event())  # a worker's sweep applies retention
    gone, kept = await api.status(old), await api.status(recent)
    assert gone["output_file_url"] is None and gone["files_deleted_at"] and gone["files_expire_at"] is None
    assert gone["status"] == "completed" and gone["request_counts"]["succeeded"] == 3
    assert api.service.objects.list_keys(parts.job_prefix(old)) == []
    assert kept["output_file_url"] and api.service.objects.list_keys(parts.job_prefix(recent))
