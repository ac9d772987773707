"""The content upload API through httpx.ASGITransport, with the real search engine, encoder and annotator.

Upload -> processing -> completed/failed, searchable by the owner with `my_files` + `tag` and by no one
else (checked through POST /v1/search), listing, tags, deletion, 404/403/409/413 shapes, and the
background worker's failure handling (an injected crash, a restart, a delete while indexing).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import anyio
import anyio.to_thread
import httpx
import pytest

from batchsearch.api.app import create_app
from batchsearch.api.routes import contents
from batchsearch.config import Settings
from batchsearch.contents.service import ContentService
from batchsearch.embeddings import MiniLMEmbedder
from batchsearch.index.store import IndexStore
from batchsearch.ingest.annotators import DefaultAnnotator
from batchsearch.kg import KnowledgeGraph
from batchsearch.search.engine import SearchEngine
from test_contents_extract import make_pdf

pytestmark = pytest.mark.anyio

ID_PATTERN = r"^[A-F0-9]{32}$"
RECORD_KEYS = {"id", "file_name", "user_id", "org_id", "created_at", "updated_at", "published_at", "rp_collection_id",
               "raw_size", "content_type", "shared_with_orgs", "connector_id", "error_code", "error",
               "delete_started_ts", "file_metadata", "tags", "status", "request_origin"}
MY_FILES = {"mode": "INCLUDE", "values": ["my_files"]}


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture(scope="module")
def kg_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default knowledge graph, built once and copied into each test's data dir."""
    folder = tmp_path_factory.mktemp("kg-template") / "kg"
    KnowledgeGraph.open_or_build(folder)
    return folder


class Api:
    """The app with the content routes wired as create_app will wire them, a client, and two tenants."""

    def __init__(self, data_dir: Path, embedder: MiniLMEmbedder, kg_template: Path) -> None:
        shutil.copytree(kg_template, data_dir / "kg")
        self.settings = Settings(data_dir=data_dir, public_url="http://test")
        engine = SearchEngine(IndexStore(data_dir / "index"), embedder)
        self.app = create_app(self.settings, engine=engine)
        self.alice = {"X-API-KEY": self.app.state.keys.create("alice")[1]}
        self.bob = {"X-API-KEY": self.app.state.keys.create("bob")[1]}
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://test")

    def new_service(self) -> ContentService:
        app = self.app
        return ContentService.from_settings(
            self.settings, app.state.db, index=app.state.engine.store, embedder=app.state.engine.embedder,
            make_annotator=lambda: DefaultAnnotator(app.state.kg.detector()))

    @property
    def service(self) -> ContentService:
        service: ContentService = self.app.state.contents
        return service

    async def create(self, file_name: str, key: dict[str, str] | None = None, **fields: Any) -> dict[str, str]:
        response = await self.client.post("/contents/v1/documents", headers=key or self.alice,
                                          json={"file_name": file_name, **fields})
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def put(self, url: str, data: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        parts = urlsplit(url)
        return await self.client.put(f"{parts.path}?{parts.query}", content=data, headers=headers)

    async def record(self, content_id: str, key: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.get(f"/contents/v1/documents/{content_id}", headers=key or self.alice)

    async def wait(self, content_id: str, key: dict[str, str] | None = None, timeout: float = 60) -> dict[str, Any]:
        """Poll the record until processing has finished."""
        with anyio.fail_after(timeout):
            while True:
                body: dict[str, Any] = (await self.record(content_id, key)).json()
                if body["status"] in ("completed", "failed"):
                    return body
                await anyio.sleep(0.05)

    async def add(self, file_name: str, data: bytes, key: dict[str, str] | None = None,
                  headers: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
        """Create, upload and wait: the finished record."""
        created = await self.create(file_name, key, **fields)
        response = await self.put(created["url"], data, headers)
        assert response.status_code == 200, response.text
        assert response.content == b""
        return await self.wait(created["id"], key)

    async def search(self, text: str, key: dict[str, str], **filters: Any) -> list[dict[str, Any]]:
        body = {"query": {"text": text, "filters": filters, "max_chunks": 100,
                          "ranking_params": {"reranker": {"enabled": False}}}}
        response = await self.client.post("/v1/search", headers=key, json=body)
        assert response.status_code == 200, response.text
        return response.json()["results"]  # type: ignore[no-any-return]

    async def search_ids(self, text: str, key: dict[str, str], **filters: Any) -> set[str]:
        return {doc["id"] for doc in await self.search(text, key, **filters)}


@pytest.fixture
async def api(tmp_path: Path, embedder: MiniLMEmbedder, kg_template: Path) -> AsyncIterator[Api]:
    api = Api(tmp_path, embedder, kg_template)
    async with api.client:
        yield api
    api.service.close()


async def test_create_returns_a_signed_url_and_a_pending_record(api: Api) -> None:
    created = await api.create("Research Report.pdf", tags=["Research Team", "Research Team"],
                               published_ts="2025-06-15T10:30:00Z", share_with_org=True, enrichments=["translation"])
    assert set(created) == {"url", "id"}
    assert re.match(ID_PATTERN, created["id"])
    parts = urlsplit(created["url"])
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"http://test/contents/v1/uploads/{created['id']}"
    assert set(parse_qs(parts.query)) == {"expires", "signature"}
    record = (await api.record(created["id"])).json()
    assert set(record) == RECORD_KEYS
    assert record["status"] == "pending" and record["raw_size"] == 0 and record["error_code"] is None
    assert record["user_id"] == record["org_id"] == "alice" and record["shared_with_orgs"] == ["alice"]
    assert record["published_at"] == "2025-06-15T10:30:00.000000Z" and record["request_origin"] == "file_upload"
    assert record["created_at"].endswith("Z") and record["content_type"] == "application/pdf"
    assert [t["name"] for t in record["tags"]] == ["Research Team"]


async def test_uploads_of_every_format_are_searchable_by_their_owner_only(api: Api) -> None:
    boeing = "The Boeing Company raised its quarterly dividend and announced a two-for-one stock split."
    txt = await api.add("q3-notes.txt", f"{boeing}\n\nShareholders welcomed the news.".encode(), tags=["Research"])
    md = await api.add("deals.md", f"# Boeing corporate actions\n\n{boeing}\n".encode(), tags=["Deals"],
                       headers={"Content-Type": "text/markdown; charset=utf-8"})
    html = await api.add("page.html", f"<html><body><h1>Boeing payout</h1><p>{boeing}</p></body></html>".encode(),
                         tags=["Research", "Web"], headers={"Content-Type": "application/octet-stream"})
    pdf = await api.add("report.pdf", make_pdf([boeing, "Analysts expect more buybacks."], title="Boeing review"),
                        tags=["Research"], published_ts="2024-03-01T12:00:00Z")
    for record in (txt, md, html, pdf):
        assert record["status"] == "completed" and record["error_code"] is None and record["error"] is None
        assert record["raw_size"] > 0
    assert [r["content_type"] for r in (txt, md, html, pdf)] == ["text/plain", "text/markdown", "text/html",
                                                                  "application/pdf"]
    assert pdf["published_at"] == "2024-03-01T12:00:00.000000Z"

    research = await api.search("Boeing dividend stock split", api.alice, category=MY_FILES,
                                tag={"any_of": ["Research"]})
    assert {d["id"] for d in research} == {txt["id"], html["id"], pdf["id"]}
    by_id = {d["id"]: d for d in research}
    assert by_id[txt["id"]]["headline"] == "q3-notes.txt"  # no heading: the file name
    assert by_id[html["id"]]["headline"] == "Boeing payout"
    assert by_id[pdf["id"]]["headline"] == "Boeing review" and by_id[pdf["id"]]["timestamp"] == "2024-03-01T12:00:00Z"
    assert by_id[html["id"]]["source"] == {"id": "MYFILE", "name": "My files", "rank": "RANK_1"}
    assert sorted(by_id[html["id"]]["tags"]) == ["Research", "Web"]
    assert {d["document_type"] for d in research} == {"News"}
    boeing_id = api.app.state.kg.detector().detect("Boeing announced")[0].id
    assert all(any(det["id"] == boeing_id for c in d["chunks"] for det in c["detections"]) for d in research)

    deals = await api.search("Boeing dividend", api.alice, category=MY_FILES, tag={"any_of": ["Deals"]})
    assert [(d["id"], d["headline"]) for d in deals] == [(md["id"], "Boeing corporate actions")]
    everything = {txt["id"], md["id"], html["id"], pdf["id"]}
    assert await api.search_ids("Boeing dividend", api.alice, category=MY_FILES) == everything
    assert not await api.search_ids("Boeing dividend", api.alice, category={"mode": "INCLUDE", "values": ["news"]})
    # another key sees none of it, with or without the filters
    assert not await api.search_ids("Boeing dividend", api.bob, category=MY_FILES, tag={"any_of": ["Research"]})
    assert not await api.search_ids("Boeing dividend stock split", api.bob) & everything


async def test_native_json_lines_keep_their_headline_and_type(api: Api) -> None:
    data = (b'{"headline": "Deal closes", "text": "Acme bought Widget Co. for cash.", '
            b'"document_type": {"type": "FILING", "subtype": "SEC_8_K"}}\n'
            b'{"headline": "Follow-up", "text": "Integration of Widget starts in May."}\n')
    record = await api.add("deals.jsonl", data, tags=["Deals"])
    assert record["status"] == "completed"
    (doc,) = await api.search("Widget integration", api.alice, category=MY_FILES, tag={"any_of": ["Deals"]})
    assert doc["headline"] == "Deal closes" and doc["document_type"] == "SEC 8 K"
    assert "Integration of Widget" in " ".join(c["text"] for c in doc["chunks"])


async def test_bad_files_fail_with_a_clear_error_and_are_not_searchable(api: Api) -> None:
    cases = [
        ("deck.pptx", b"PK\x03\x04 slides", "UNSUPPORTED_FILE_TYPE", "'.pptx' files are not supported"),
        ("broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog", "CORRUPT_FILE", "The PDF could not be read"),
        ("latin.txt", "Caf\xe9 earnings".encode("latin-1"), "INVALID_ENCODING", "not valid UTF-8"),
        ("empty.md", b"", "EMPTY_TEXT", "The file is empty"),
    ]
    for name, data, code, phrase in cases:
        record = await api.add(name, data, tags=["Broken"])
        assert record["status"] == "failed", name
        assert record["error_code"] == code and phrase in record["error"], record
        assert record["raw_size"] == len(data)
    assert not await api.search_ids("earnings slides catalog", api.alice, category=MY_FILES)


async def test_tampered_or_expired_upload_urls_are_refused(api: Api) -> None:
    created = await api.create("a.txt")
    other = await api.create("b.txt")
    parts = urlsplit(created["url"])
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    flipped = query["signature"][:-1] + ("0" if query["signature"][-1] != "0" else "1")
    tampered = [
        f"{parts.path}?{urlencode({**query, 'signature': flipped})}",
        f"{parts.path}?{urlencode({**query, 'expires': int(query['expires']) + 1})}",
        f"/contents/v1/uploads/{other['id']}?{parts.query}",  # another slot's signature
        parts.path,
    ]
    for url in tampered:
        response = await api.client.put(url, content=b"hello")
        assert response.status_code == 403, url
        assert response.json()["errorCode"] == "FORBIDDEN"
    api.service.clock = lambda: datetime.now(UTC) - timedelta(hours=2)
    expired = await api.create("c.txt")
    response = await api.put(expired["url"], b"hello")
    assert response.status_code == 403 and "expired" in response.json()["message"]
    assert (await api.record(created["id"])).json()["status"] == "pending"


async def test_upload_urls_are_single_use_and_unknown_slots_404(api: Api) -> None:
    created = await api.create("a.txt")
    assert (await api.put(created["url"], b"First version.")).status_code == 200
    again = await api.put(created["url"], b"Second version.")
    assert again.status_code == 409 and "single-use" in again.json()["message"]
    assert (await api.wait(created["id"]))["raw_size"] == len(b"First version.")
    ghost = api.service.urls.url("F" * 32, int(datetime.now(UTC).timestamp()) + 60)
    response = await api.put(ghost, b"x")
    assert response.status_code == 404 and response.json()["errorCode"] == "PRIVATE_CONTENT_NOT_FOUND"


async def test_too_large_upload_is_refused_and_fails_the_record(api: Api) -> None:
    api.service.max_bytes = 10
    created = await api.create("big.txt")
    response = await api.put(created["url"], b"x" * 100)
    assert response.status_code == 413
    record = (await api.record(created["id"])).json()
    assert record["status"] == "failed" and record["error_code"] == "PAYLOAD_TOO_LARGE"


async def test_list_pages_filters_sorts_and_shows_only_the_callers(api: Api) -> None:
    names = ["Alpha.txt", "beta.md", "GAMMA.pdf", "alpine.html", "delta.json"]
    ids = [(await api.create(name, tags=["even" if i % 2 == 0 else "odd"]))["id"] for i, name in enumerate(names)]
    await api.create("alpha-bob.txt", api.bob, tags=["odd"])

    async def listing(key: dict[str, str] | None = None, **params: Any) -> httpx.Response:
        return await api.client.get("/contents/v1/documents", headers=key or api.alice, params=params)

    body = (await listing()).json()
    assert [r["id"] for r in body["results"]] == ids[::-1]  # newest first
    assert (body["page"], body["page_size"], body["total"]) == (1, 50, 5)
    pages = [(await listing(page=p, page_size=2)).json()["results"] for p in (1, 2, 3, 4)]
    assert [len(p) for p in pages] == [2, 2, 1, 0]
    assert [r["id"] for p in pages for r in p] == ids[::-1]
    found = (await listing(file_name="ALP")).json()["results"]
    assert {r["file_name"] for r in found} == {"Alpha.txt", "alpine.html"}
    found = (await listing(tags=["even", "nope"])).json()["results"]  # any of them, by name or id
    assert {r["file_name"] for r in found} == {"Alpha.txt", "GAMMA.pdf", "delta.json"}
    listed = (await api.client.get("/contents/v1/tags", headers=api.alice)).json()["results"]
    tag_ids = {t["name"]: t["id"] for t in listed}
    found = (await listing(tags=[tag_ids["odd"]])).json()["results"]
    assert {r["file_name"] for r in found} == {"beta.md", "alpine.html"}
    found = (await listing(sort_by="file_name", sort_order="asc")).json()["results"]
    assert [r["file_name"] for r in found] == ["Alpha.txt", "alpine.html", "beta.md", "delta.json", "GAMMA.pdf"]
    assert [r["file_name"] for r in (await listing(api.bob)).json()["results"]] == ["alpha-bob.txt"]
    for params, field in (({"page_size": 101}, "page_size"), ({"page": 0}, "page"), ({"sort_by": "owner"}, "sort_by")):
        response = await listing(**params)
        assert response.status_code == 400 and field in response.json()["message"], params


async def test_tags_create_list_and_patch_reindexes_the_document(api: Api) -> None:
    record = await api.add("memo.txt", b"Nvidia guidance for data center revenue was raised.", tags=["Old"])
    old = await api.search_ids("Nvidia guidance", api.alice, category=MY_FILES, tag={"any_of": ["Old"]})
    assert old == {record["id"]}
    created = await api.client.post("/contents/v1/tags", headers=api.alice, json={"name": " New "})
    assert created.status_code == 200 and created.json()["name"] == "New"
    again = await api.client.post("/contents/v1/tags", headers=api.alice, json={"name": "New"})
    assert again.json() == created.json()
    bobs = (await api.client.post("/contents/v1/tags", headers=api.bob, json={"name": "New"})).json()
    assert bobs["id"] != created.json()["id"]

    url = f"/contents/v1/documents/{record['id']}"
    for bad in (["not-a-tag"], [bobs["id"]]):
        response = await api.client.patch(url, headers=api.alice, json={"tags": bad})
        assert response.status_code == 400 and response.json()["errorCode"] == "INVALID_TAGS_ERROR"
        assert bad[0] in response.json()["message"]
    patched = await api.client.patch(url, headers=api.alice, json={"tags": [created.json()["id"]]})
    assert patched.status_code == 200
    assert [t["name"] for t in patched.json()["tags"]] == ["New"] and patched.json()["status"] == "completed"
    with anyio.fail_after(60):  # the document is indexed again in the background
        while not await api.search_ids("Nvidia guidance", api.alice, category=MY_FILES, tag={"any_of": ["New"]}):
            await anyio.sleep(0.05)
    assert not await api.search_ids("Nvidia guidance", api.alice, category=MY_FILES, tag={"any_of": ["Old"]})
    tags = (await api.client.get("/contents/v1/tags", headers=api.alice)).json()["results"]
    assert [(t["name"], t["file_count"]) for t in tags] == [("New", 1), ("Old", 0)]
    shared = await api.client.patch(url, headers=api.alice, json={"share_with_org": True})
    assert shared.json()["shared_with_orgs"] == ["alice"] and [t["name"] for t in shared.json()["tags"]] == ["New"]


async def test_delete_removes_the_document_from_search_and_storage(api: Api) -> None:
    record = await api.add("tesla.txt", b"Tesla deliveries beat estimates in the second quarter.", tags=["Autos"])
    kept = await api.add("ford.txt", b"Ford deliveries were flat in the second quarter.", tags=["Autos"])
    query = {"category": MY_FILES, "tag": {"any_of": ["Autos"]}}
    assert await api.search_ids("deliveries second quarter", api.alice, **query) == {record["id"], kept["id"]}
    objects = api.settings.data_dir / "objects" / "contents"
    assert any((objects / record["id"]).iterdir())

    response = await api.client.delete(f"/contents/v1/documents/{record['id']}", headers=api.alice)
    assert response.status_code == 200 and response.content == b""
    assert await api.search_ids("deliveries second quarter", api.alice, **query) == {kept["id"]}
    assert not any((objects / record["id"]).iterdir())
    assert (await api.record(record["id"])).status_code == 404
    assert (await api.client.delete(f"/contents/v1/documents/{record['id']}", headers=api.alice)).status_code == 404


async def test_unknown_and_foreign_documents_are_404_private_content_not_found(api: Api) -> None:
    mine = await api.create("mine.txt")
    url = f"/contents/v1/documents/{mine['id']}"
    calls = [
        api.client.get("/contents/v1/documents/" + "A" * 32, headers=api.alice),
        api.client.get(url, headers=api.bob),
        api.client.patch(url, headers=api.bob, json={"tags": []}),
        api.client.delete(url, headers=api.bob),
    ]
    for call in calls:
        response = await call
        assert response.status_code == 404
        body = response.json()
        assert {k: body[k] for k in ("statusCode", "message", "errorCode")} == {
            "statusCode": 404, "message": "Document not found", "errorCode": "PRIVATE_CONTENT_NOT_FOUND"}
        assert body["requestId"]
    assert (await api.record(mine["id"])).json()["status"] == "pending"  # bob's DELETE changed nothing


async def test_routes_need_an_api_key(api: Api) -> None:
    assert (await api.client.post("/contents/v1/documents", json={"file_name": "a.txt"})).status_code == 401
    assert (await api.client.get("/contents/v1/tags", headers={"X-API-KEY": "wrong"})).status_code == 403
    response = await api.client.post("/contents/v1/documents", headers=api.alice, json={"file_name": " "})
    assert response.status_code == 400 and "file_name" in response.json()["message"]


async def test_a_crash_while_processing_fails_the_record_and_the_worker_goes_on(api: Api) -> None:
    working = api.service.make_annotator

    def broken() -> None:
        raise RuntimeError("annotator exploded")

    api.service.make_annotator = broken  # type: ignore[assignment]
    record = await api.add("a.txt", b"Some text about Apple.")
    assert record["status"] == "failed" and record["error_code"] == "PROCESSING_ERROR"
    assert "RuntimeError" in record["error"]
    api.service.make_annotator = working
    assert (await api.add("b.txt", b"Some text about Apple."))["status"] == "completed"


async def test_records_left_processing_resume_after_a_restart(api: Api) -> None:
    created = await api.create("resume.txt", tags=["Later"])
    api.service.close()  # the server stops: the upload lands, but nothing runs it
    assert (await api.put(created["url"], b"Amazon opened a new logistics hub.")).status_code == 200
    assert (await api.record(created["id"])).json()["status"] == "processing"
    api.app.state.contents = api.new_service()
    assert api.service.resume() == 1
    assert (await api.wait(created["id"]))["status"] == "completed"
    assert await api.search_ids("Amazon logistics", api.alice, category=MY_FILES) == {created["id"]}


async def test_a_document_deleted_while_it_is_indexed_does_not_come_back(api: Api) -> None:
    service = api.service
    created = await api.create("race.txt")
    working = service.make_annotator

    def delete_then_annotate() -> Any:
        service.delete(service.fetch_owned(created["id"], "alice"))  # a DELETE arrives mid-processing
        return working()

    service.make_annotator = delete_then_annotate
    assert (await api.put(created["url"], b"Microsoft cloud revenue grew strongly.")).status_code == 200
    with anyio.fail_after(60):
        while service.store.get(created["id"]) is not None:
            await anyio.sleep(0.05)
    await anyio.to_thread.run_sync(service.close)  # waits for the running task to finish
    assert not await api.search_ids("Microsoft cloud revenue", api.alice, category=MY_FILES)


@pytest.mark.parametrize(
    ("params", "field", "reason"),
    [
        ({"page": 2**62}, "query.page", "less than or equal to 1000000"),  # an OFFSET past 64 bits: used to be 500
        ({"page": 10**30}, "query.page", "less than or equal to 1000000"),
        ({"page": 0}, "query.page", "greater than or equal to 1"),
        ({"page_size": 101}, "query.page_size", "less than or equal to 100"),
        ({"file_name": "f" * 1025}, "query.file_name", "at most 1024 characters"),
        ({"tags": ["t" * 201]}, "query.tags.0", "at most 200 characters"),
        ({"tags": [f"t{i}" for i in range(101)]}, "query.tags", "at most 100 items"),
    ],
)
async def test_list_params_out_of_bounds_are_400_naming_the_param(api: Api, params: dict[str, Any], field: str,
                                                                  reason: str) -> None:
    response = await api.client.get("/contents/v1/documents", params=params, headers=api.alice)
    assert response.status_code == 400, response.text
    assert f"\n{field}\n" in response.json()["message"] and reason in response.json()["message"]


async def test_the_last_allowed_page_is_empty_not_an_error(api: Api) -> None:
    response = await api.client.get("/contents/v1/documents", params={"page": contents.MAX_PAGE, "page_size": 100},
                                    headers=api.alice)
    assert response.status_code == 200 and response.json()["results"] == []


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"published_ts": "0001-01-01T00:00:00+05:00"}, "published_ts", "out of range once converted to UTC"),
        ({"published_ts": "9999-12-31T23:30:00-05:00"}, "published_ts", "out of range once converted to UTC"),
        ({"tags": ["t" * 201]}, "tags.0", "at most 200 characters"),
        ({"tags": [f"t{i}" for i in range(101)]}, "tags", "at most 100 items"),
    ],
)
async def test_create_fields_out_of_range_are_400_naming_the_field(api: Api, fields: dict[str, Any], field: str,
                                                                   reason: str) -> None:
    response = await api.client.post("/contents/v1/documents", headers=api.alice, json={"file_name": "a.txt", **fields})
    assert response.status_code == 400, response.text  # the year-1 date at +05:00 used to answer 500
    assert f"\n{field}\n" in response.json()["message"] and reason in response.json()["message"]


async def test_update_tags_are_bounded(api: Api) -> None:
    created = await api.create("a.txt")
    for tags, field in (([f"t{i}" for i in range(101)], "tags"), (["t" * 201], "tags.0")):
        response = await api.client.patch(f"/contents/v1/documents/{created['id']}", headers=api.alice,
                                          json={"tags": tags})
        assert response.status_code == 400 and f"\n{field}\n" in response.json()["message"], response.text


async def test_list_filters_by_origin_from_date_and_ownership(api: Api) -> None:
    first = (await api.create("first.txt"))["id"]
    await anyio.sleep(0.01)  # created_at of the second is later
    second = (await api.create("second.txt"))["id"]
    since = (await api.record(second)).json()["created_at"]

    async def ids(**params: Any) -> list[str]:
        response = await api.client.get("/contents/v1/documents", headers=api.alice, params=params)
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["results"]]

    assert await ids(from_date=since) == [second]
    assert await ids(from_date=since.replace("Z", "+02:00")) == [second, first]  # two hours earlier
    assert await ids(from_date=since[:10]) == [second, first]  # a date: from its midnight, UTC
    assert await ids(origin="file_upload") == await ids(ownership="owned") == await ids(ownership="all") == [second,
                                                                                                              first]
    assert await ids(origin="email") == [] and await ids(ownership="shared") == []
    for params, field in (({"from_date": "yesterday"}, "query.from_date"), ({"origin": "fax"}, "query.origin"),
                          ({"ownership": "mine"}, "query.ownership"),
                          ({"from_date": "0001-01-01T00:00:00+05:00"}, "query.from_date")):
        response = await api.client.get("/contents/v1/documents", headers=api.alice, params=params)
        assert response.status_code == 400 and f"\n{field}\n" in response.json()["message"], response.text


async def test_the_original_url_serves_the_uploaded_bytes_without_a_key(api: Api) -> None:
    data = "Quarterly memo: Boeing raised its dividend. ünïcode kept.\n".encode()
    pending = await api.create("memo.txt")
    response = await api.client.get(f"/contents/v1/documents/{pending['id']}/original", headers=api.alice)
    assert response.status_code == 409 and "no file yet" in response.json()["message"]
    record = await api.add("memo2.txt", data)
    response = await api.client.get(f"/contents/v1/documents/{record['id']}/original", headers=api.alice)
    assert response.status_code == 200 and set(response.json()) == {"url"}
    url = urlsplit(response.json()["url"])
    download = await api.client.get(f"{url.path}?{url.query}")
    assert download.status_code == 200 and download.content == data
    tampered = await api.client.get(f"{url.path}?{url.query.replace('signature=', 'signature=0')}")
    assert tampered.status_code == 403
    foreign = await api.client.get(f"/contents/v1/documents/{record['id']}/original", headers=api.bob)
    assert foreign.status_code == 404 and foreign.json()["errorCode"] == "PRIVATE_CONTENT_NOT_FOUND"


async def test_the_annotated_document_of_a_processed_file(api: Api) -> None:
    text = ("# Boeing corporate actions\n\nThe Boeing Company raised its quarterly dividend.\n\n"
            "Highlights\n- Two-for-one stock split\n- Buyback extended\n\n"
            "| Item | Value |\n|---|---|\n| Dividend | 0.55 |\n")
    pending = await api.create("early.md")
    response = await api.client.get(f"/contents/v1/documents/{pending['id']}/annotated", headers=api.alice)
    assert response.status_code == 409 and "pending" in response.json()["message"]
    record = await api.add("actions.md", text.encode(), tags=["Deals"])
    response = await api.client.get(f"/contents/v1/documents/{record['id']}/annotated", headers=api.alice)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"url", "document", "content", "profiling", "analytics"}
    assert body["document"]["id"] == record["id"] and body["document"]["tags"] == ["Deals"]
    assert body["content"]["title"] == {"type": "HEADING", "text": "Boeing corporate actions"}
    blocks = body["content"]["body"]
    assert [b["type"] for b in blocks] == ["HEADING", "TEXT", "HEADING", "LIST_UNORDERED", "TABLE"]
    assert blocks[3]["items"] == ["Two-for-one stock split", "Buyback extended"]
    assert blocks[4]["rows"] == [["Item", "Value"], ["Dividend", "0.55"]]
    boeing = api.app.state.kg.detector().detect("Boeing announced")[0].id
    assert boeing in {e["id"] for e in body["analytics"]["entities"]}
    url = urlsplit(body.pop("url"))
    download = await api.client.get(f"{url.path}?{url.query}")  # no API key
    assert download.status_code == 200 and download.json() == body
    foreign = await api.client.get(f"/contents/v1/documents/{record['id']}/annotated", headers=api.bob)
    assert foreign.status_code == 404
    assert (await api.client.get(f"/v1/documents/{record['id']}", headers=api.bob)).status_code == 404
    assert (await api.client.get(f"/v1/documents/{record['id']}", headers=api.alice)).status_code == 200
