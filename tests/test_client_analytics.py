"""The SDK's volume, co-mentions and documents calls, sync and async, against a real uvicorn on 127.0.0.1.

Volume and co-mention counts are checked against what `POST /v1/search` returns for the same filters (a
filter-only search with room for every chunk returns all of them), so the two endpoints must agree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import batchsearch
from sdk_server import LiveServer, Reply, ScriptedServer, error_body
from test_client_sync import mentioned_company

ANNOTATED = {"document": {"id": "57BB2AD9194D71076A125A6EA3356D63", "headline": "Acme"},
             "content": [{"type": "TEXT", "text": "Acme raised guidance."}], "profiling": {}, "analytics": {}}


@pytest.fixture(scope="module")
def server(live_server: LiveServer) -> LiveServer:
    return live_server


@pytest.fixture
def client(server: LiveServer) -> Iterator[batchsearch.Client]:
    with batchsearch.Client(server.base_url, server.api_key) as c:
        yield c


def all_chunks(client: batchsearch.Client, filters: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every (document, chunk) a filter-only search finds (the corpus is far smaller than max_chunks)."""
    response = client.search({"filters": filters, "max_chunks": 1000})
    return [(doc, chunk) for doc in response["results"] for chunk in doc["chunks"]]


def test_volume_agrees_with_search(client: batchsearch.Client, sdk_index: Path) -> None:
    filters = {"entity": {"any_of": [mentioned_company(sdk_index)]}}
    found = all_chunks(client, filters)
    response = client.volume({"filters": filters})
    assert set(response) == {"results", "metadata", "usage"} and response["metadata"]["request_id"]
    total = response["results"]["total"]
    assert (total["documents"], total["chunks"]) == (len({d["id"] for d, _ in found}), len(found)) != (0, 0)
    per_day = Counter(d["timestamp"][:10] for d, _ in found)
    assert {v["date"]: v["chunks"] for v in response["results"]["volume"] if v["chunks"]} == dict(per_day)
    assert total["sentiment"] == pytest.approx(sum(c["sentiment"] for _, c in found) / len(found), abs=0.01)


def test_entity_co_mentions_agree_with_search(client: batchsearch.Client, sdk_index: Path) -> None:
    company = mentioned_company(sdk_index)
    response = client.co_mentions.entities({"filters": {}}, limit=1000)
    listed = {item["id"]: item for items in response["results"].values() for item in items}
    in_bodies = sum(company in {d["id"] for d in chunk["detections"] if d["type"] == "entity"}
                    for _, chunk in all_chunks(client, {"entity": {"any_of": [company], "search_in": "BODY"}}))
    assert listed[company]["total_chunks_count"] == in_bodies > 0
    assert listed[company]["name"] and listed[company]["category"] == "companies"
    top = client.co_mentions.entities({"filters": {}}, limit=1)["results"]
    assert all(len(items) <= 1 for items in top.values())


def test_topic_co_mentions(client: batchsearch.Client) -> None:
    topics = client.co_mentions.topics({"text": "results"}, limit=3)["results"]["topics"]
    assert 1 <= len(topics) <= 3
    assert all(t["id"] and t["name"] and isinstance(t["description"], str) for t in topics)
    counts = [t["total_chunks_count"] for t in topics]
    assert counts == sorted(counts, reverse=True)


def test_a_bad_query_raises_the_servers_validation_error(client: batchsearch.Client) -> None:
    with pytest.raises(batchsearch.ValidationError) as caught:
        client.co_mentions.entities({"filters": {}}, limit=5000)
    assert "limit" in caught.value.message and caught.value.status_code == 400
    with pytest.raises(TypeError):
        client.volume("revenue")  # type: ignore[arg-type]


def test_async_client_answers_the_same(server: LiveServer, client: batchsearch.Client) -> None:
    query = {"text": "results", "filters": {"timestamp": {"start": "2000-01-01"}}}

    async def main() -> list[dict[str, Any]]:
        async with batchsearch.AsyncClient(server.base_url, server.api_key) as aclient:
            return [await aclient.volume(query), await aclient.co_mentions.entities(query, limit=2),
                    await aclient.co_mentions.topics(query)]

    got = anyio.run(main)
    expected = [client.volume(query), client.co_mentions.entities(query, limit=2), client.co_mentions.topics(query)]
    assert [r["results"] for r in got] == [r["results"] for r in expected]


def test_documents_get_fetches_the_signed_url_without_the_key() -> None:
    with ScriptedServer(Reply(200, {})) as scripted:
        scripted.replies = [Reply(200, {"url": scripted.url + "/signed/doc.json?sig=abc", "web_content": False}),
                            Reply(200, ANNOTATED)]
        with batchsearch.Client(scripted.url, "bs_key") as client:
            assert client.documents.get("57BB2AD9194D71076A125A6EA3356D63") == ANNOTATED
    first, second = scripted.requests
    assert (first["method"], first["path"]) == ("GET", "/v1/documents/57BB2AD9194D71076A125A6EA3356D63")
    assert first["headers"]["x-api-key"] == "bs_key"
    assert second["path"] == "/signed/doc.json?sig=abc" and "x-api-key" not in second["headers"]


def test_async_documents_get_and_errors() -> None:
    with ScriptedServer(Reply(200, {})) as scripted:
        scripted.replies = [Reply(200, {"url": scripted.url + "/signed/d?sig=1", "web_content": True}),
                            Reply(200, ANNOTATED), Reply(404, error_body(404, "NOT_FOUND", "No document X")),
                            Reply(200, {"web_content": False})]

        async def main() -> Any:
            async with batchsearch.AsyncClient(scripted.url, "bs_key", max_retries=0) as aclient:
                document = await aclient.documents.get("A" * 32)
                with pytest.raises(batchsearch.NotFoundError):
                    await aclient.documents.get("B" * 32)
                with pytest.raises(batchsearch.InternalError, match="url"):
                    await aclient.documents.get("C" * 32)
                return document

        assert anyio.run(main) == ANNOTATED


def test_documents_get_on_the_live_server(client: batchsearch.Client, server: LiveServer, sdk_index: Path) -> None:
    doc_id = client.search({"text": "results", "max_chunks": 1})["results"][0]["id"]
    document = client.documents.get(doc_id)
    assert isinstance(document, dict) and document
    with pytest.raises(batchsearch.NotFoundError):
        client.documents.get("0" * 32)
