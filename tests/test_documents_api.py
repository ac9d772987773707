"""GET /v1/documents/{id} and its signed annotated-JSON URL through the real app (httpx.ASGITransport), over an
index built with the real encoder and the default knowledge graph's annotator; the block derivation of
documents.annotated on texts with every block type."""

from __future__ import annotations

import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from batchsearch.api.app import create_app
from batchsearch.api.routes import documents
from batchsearch.config import Settings
from batchsearch.documents import IndexedChunk, content_blocks
from batchsearch.embeddings import MiniLMEmbedder
from batchsearch.index.store import IndexStore
from batchsearch.ingest.annotators import DefaultAnnotator
from batchsearch.ingest.documents import DocumentIn
from batchsearch.ingest.pipeline import Ingestor
from batchsearch.kg import KnowledgeGraph
from batchsearch.search.engine import SearchEngine

pytestmark = pytest.mark.anyio

REPORT = """# Boeing quarterly results

The Boeing Company raised its quarterly dividend and announced a two-for-one stock split.

Highlights
- Revenue rose 12% to $20bn
- Free cash flow turned positive

Next steps:
1. Close the Spirit AeroSystems deal
2) Ramp 737 production

| Segment | Revenue |
|---|---|
| Commercial | 9.1 |
| Defense | 6.4 |

Outlook unchanged.
"""
PUBLIC = {"id": "0" * 31 + "1", "headline": "Boeing lifts its dividend", "text": REPORT, "timestamp": 1_714_000_000,
          "url": "https://example.com/boeing", "source": {"id": "D4B903", "name": "Factset Transcripts"}}
PRIVATE = {"id": "A" * 32, "headline": "Alice's notes on Boeing", "timestamp": 1_714_100_000,
           "text": "Boeing delivered more jets than expected. Analysts at the desk turned bullish.",
           "category": "my_files", "source": {"id": "MYFILE", "name": "My files"}}


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture(scope="module")
def kg_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("kg-template") / "kg"
    KnowledgeGraph.open_or_build(folder)
    return folder


class Api:
    """The app with the document routes wired as create_app will wire them, and two tenants."""

    def __init__(self, data_dir: Path, embedder: MiniLMEmbedder, kg_template: Path) -> None:
        shutil.copytree(kg_template, data_dir / "kg")
        self.app = create_app(Settings(data_dir=data_dir, public_url="http://test"),
                              engine=SearchEngine(IndexStore(data_dir / "index"), embedder))
        self.alice = {"X-API-KEY": self.app.state.keys.create("alice")[1]}
        self.bob = {"X-API-KEY": self.app.state.keys.create("bob")[1]}
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://test")

    def ingest(self, doc: dict[str, Any], owner: str | None = None) -> None:
        annotator = DefaultAnnotator(self.app.state.kg.detector())
        Ingestor(self.app.state.engine.store, self.app.state.engine.embedder, annotator, owner=owner).ingest(
            [DocumentIn.model_validate(doc)])

    async def link(self, document_id: str, key: dict[str, str]) -> httpx.Response:
        return await self.client.get(f"/v1/documents/{document_id}", headers=key)

    async def download(self, url: str, **changes: str) -> httpx.Response:
        parts = urlsplit(url)
        query = urlencode(dict(parse_qsl(parts.query)) | changes)
        return await self.client.get(f"{parts.path}?{query}")  # no API key

    async def annotated(self, document_id: str, key: dict[str, str]) -> dict[str, Any]:
        link = await self.link(document_id, key)
        assert link.status_code == 200, link.text
        response = await self.download(link.json()["url"])
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def search_doc(self, text: str, key: dict[str, str], document_id: str) -> dict[str, Any]:
        body = {"query": {"text": text, "max_chunks": 1000, "ranking_params": {"reranker": {"enabled": False}}}}
        response = await self.client.post("/v1/search", headers=key, json=body)
        assert response.status_code == 200, response.text
        (doc,) = [d for d in response.json()["results"] if d["id"] == document_id]
        return doc  # type: ignore[no-any-return]


@pytest.fixture
async def api(tmp_path: Path, embedder: MiniLMEmbedder, kg_template: Path) -> AsyncIterator[Api]:
    api = Api(tmp_path, embedder, kg_template)
    api.ingest(PUBLIC)
    api.ingest(PRIVATE, owner="alice")
    async with api.client:
        yield api
    api.app.state.contents.close()


def test_blocks_of_every_type_with_spans_into_the_chunk_text() -> None:
    chunk = IndexedChunk(cnum=3, text=REPORT, sentiment=0.0, detections=[])
    blocks = content_blocks(chunk)
    assert [b["type"] for b in blocks] == ["HEADING", "TEXT", "HEADING", "LIST_UNORDERED", "HEADING",
                                          "LIST_ORDERED", "TABLE", "TEXT"]
    assert blocks[0]["text"] == "Boeing quarterly results"
    assert blocks[3]["items"] == ["Revenue rose 12% to $20bn", "Free cash flow turned positive"]
    assert blocks[5]["items"] == ["Close the Spirit AeroSystems deal", "Ramp 737 production"]
    assert blocks[6]["rows"] == [["Segment", "Revenue"], ["Commercial", "9.1"], ["Defense", "6.4"]]
    assert blocks[7]["text"] == "Outlook unchanged."
    for block in blocks:
        assert block["cnum"] == 3
        span = REPORT[block["start"]:block["end"]]
        assert span == span.strip() and "\n\n" not in span
        for piece in block.get("items", []) + [c for row in block.get("rows", []) for c in row]:
            assert piece in span
    starts = [b["start"] for b in blocks]
    assert starts == sorted(starts) and all(a["end"] < b["start"] for a, b in zip(blocks, blocks[1:], strict=False))


def test_a_sentence_that_ends_a_paragraph_stays_text_and_lone_cells_are_not_a_table() -> None:
    text = ("Shares fell 3%.\n\nRevenue | 9.1 | up 3%.\n\n"
            "Total revenue for the year rose sharply on higher deliveries of jets to airlines in Asia")
    kinds = [b["type"] for b in content_blocks(IndexedChunk(1, text, 0.0, []))]
    assert kinds == ["TEXT", "TEXT", "TEXT"]


async def test_fetch_gives_a_signed_url_to_the_annotated_json_of_what_search_returns(api: Api) -> None:
    link = await api.link(PUBLIC["id"], api.alice)
    assert link.status_code == 200 and link.json()["web_content"] is False
    url = urlsplit(link.json()["url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"http://test/v1/documents/{PUBLIC['id']}/annotated"
    assert set(dict(parse_qsl(url.query))) == {"expires", "signature"}
    assert int(dict(parse_qsl(url.query))["expires"]) > time.time() + 23 * 3600  # about a day

    annotated = await api.annotated(PUBLIC["id"], api.alice)
    assert set(annotated) == {"document", "content", "profiling", "analytics"}
    found = await api.search_doc("Boeing dividend stock split revenue", api.alice, PUBLIC["id"])
    chunks = sorted(found.pop("chunks"), key=lambda c: c["cnum"])
    assert annotated["document"] == {**found, "chunk_count": len(chunks)}
    assert annotated["content"]["title"] == {"type": "HEADING", "text": PUBLIC["headline"]}
    body = annotated["content"]["body"]
    assert {"HEADING", "TEXT", "LIST_UNORDERED", "LIST_ORDERED", "TABLE"} <= {b["type"] for b in body}
    assert {b["cnum"] for b in body} == {c["cnum"] for c in chunks}
    assert annotated["profiling"]["chunks"] == len(chunks)
    assert sum(annotated["profiling"]["blocks"].values()) == len(body)

    analytics = annotated["analytics"]
    assert analytics["sentiment"]["chunks"] == [{"cnum": c["cnum"], "sentiment": c["sentiment"]} for c in chunks]
    entity_spans = {(c["cnum"], d["id"], d["start"], d["end"]) for c in chunks for d in c["detections"]
                    if d["type"] == "entity"}
    assert entity_spans, "the annotator finds Boeing"
    assert {(m["cnum"], e["id"], m["start"], m["end"]) for e in analytics["entities"]
            for m in e["mentions"]} == entity_spans
    boeing = api.app.state.kg.detector().detect("Boeing announced")[0].id
    assert any(e["id"] == boeing and all(m["text"] == "Boeing" or "Boeing" in m["text"] for m in e["mentions"])
               for e in analytics["entities"])
    topics = {(c["cnum"], d["id"]) for c in chunks for d in c["detections"] if d["type"] == "topic"}
    assert {(m["cnum"], t["id"]) for t in analytics["topics"] for m in t["mentions"]} == topics


async def test_private_documents_are_their_owners_only(api: Api) -> None:
    mine = await api.annotated(PRIVATE["id"], api.alice)
    assert mine["document"]["id"] == PRIVATE["id"] and mine["content"]["body"][0]["type"] == "TEXT"
    for document_id, key in ((PRIVATE["id"], api.bob), ("F" * 32, api.alice), ("nope", api.bob)):
        response = await api.link(document_id, key)
        assert response.status_code == 404 and response.json()["message"] == "Document not found"
    assert (await api.link(PUBLIC["id"], api.bob)).status_code == 200
    assert (await api.client.get(f"/v1/documents/{PUBLIC['id']}")).status_code == 401


async def test_the_url_is_refused_when_tampered_expired_or_moved_to_another_document(api: Api) -> None:
    url = (await api.link(PUBLIC["id"], api.alice)).json()["url"]
    query = dict(parse_qsl(urlsplit(url).query))
    assert (await api.download(url, signature="0" * 64)).status_code == 403
    assert (await api.download(url, expires=str(int(query["expires"]) + 1))).status_code == 403
    other = url.replace(PUBLIC["id"], PRIVATE["id"])
    response = await api.client.get(other)
    assert response.status_code == 403 and response.json()["errorCode"] == "FORBIDDEN"
    bare = await api.client.get(f"/v1/documents/{PUBLIC['id']}/annotated")
    assert bare.status_code == 403


async def test_an_expired_url_and_a_deleted_document_are_refused(api: Api) -> None:
    urls = documents.DocumentUrls("http://test", api.app.state.settings.resolved_signing_secret())
    expired = urls.url(PUBLIC["id"], int(time.time()) - 1)
    response = await api.download(expired)
    assert response.status_code == 403 and "expired" in response.json()["message"]
    url = (await api.link(PRIVATE["id"], api.alice)).json()["url"]
    Ingestor(api.app.state.engine.store, api.app.state.engine.embedder).delete({PRIVATE["id"]})
    assert (await api.download(url)).status_code == 404
    assert (await api.link(PRIVATE["id"], api.alice)).status_code == 404


async def test_an_overlong_id_is_a_400_naming_it(api: Api) -> None:
    response = await api.link("x" * 129, api.alice)
    assert response.status_code == 400 and "document_id" in response.json()["message"]
