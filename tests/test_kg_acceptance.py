"""Acceptance of the knowledge-graph issue, end to end through POST /v1/search.

A small generated corpus is ingested with the real Ingestor, MiniLM encoder and default annotator
(services.build_annotator). The entity filter must return only chunks that mention the company
(checked against the generator's ground truth and by running the detector again), sentiment ranges
and the deprecated labels must hold for every returned chunk, and the topic filter must return only
chunks carrying the topic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from batchsearch.api.app import create_app
from batchsearch.config import Settings
from batchsearch.corpus import generate_documents
from batchsearch.embeddings import MiniLMEmbedder
from batchsearch.ingest.documents import DocumentIn
from batchsearch.ingest.pipeline import Annotator, Ingestor
from batchsearch.kg import KnowledgeGraph
from batchsearch.search.engine import SearchEngine
from batchsearch.search.filters import NEUTRAL_BAND
from batchsearch.services import build_annotator, index_store

pytestmark = pytest.mark.anyio

N_DOCS = 30
SEED = 11
ROUNDING = 0.005  # responses round chunk sentiment to 2 decimals
TEXTS = (None, "quarterly results and guidance")  # filter-only and hybrid retrieval


class Corpus:
    """The generated documents (with ground truth), the annotator, and an app over their index."""

    def __init__(self, data_dir: Path) -> None:
        settings = Settings(data_dir=data_dir)
        self.annotator: Annotator = build_annotator(settings)
        graph = KnowledgeGraph.open(data_dir / "kg")
        self.companies = {c.id for c in graph.companies()}
        generated = generate_documents(graph.companies(), graph.sources(), n_docs=N_DOCS, seed=SEED)
        self.docs = {d["id"]: d for d in generated}
        embedder = MiniLMEmbedder()
        ingestor = Ingestor(index_store(settings), embedder, self.annotator)
        ingestor.ingest(DocumentIn.model_validate(d) for d in self.docs.values())  # `_mentions` are ignored
        self.app = create_app(settings, engine=SearchEngine(index_store(settings), embedder))
        self.key = {"X-API-KEY": self.app.state.keys.create("tester")[1]}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return Corpus(tmp_path_factory.mktemp("kg-acceptance"))


@pytest.fixture
async def client(corpus: Corpus) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=corpus.app), base_url="http://test") as client:
        yield client


async def search(client: httpx.AsyncClient, corpus: Corpus, filters: dict[str, Any],
                 text: str | None = None) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every matching chunk (up to 1000) as (document, chunk) pairs."""
    query: dict[str, Any] = {"filters": filters, "max_chunks": 1000, "ranking_params": {
        "reranker": {"enabled": False}, "content_diversification": {"enabled": False}}}
    if text:
        query["text"] = text
    response = await client.post("/v1/search", headers=corpus.key, json={"query": query})
    assert response.status_code == 200, response.text
    return [(doc, chunk) for doc in response.json()["results"] for chunk in doc["chunks"]]


def mentioned_companies(corpus: Corpus, field: str) -> Counter[str]:
    """Companies by the number of documents whose body (`_mentions`) or headline mentions them."""
    return Counter(cid for d in corpus.docs.values() for cid in {m["id"] for m in d[field]})


def truly_mentions(doc: dict[str, Any], chunk_text: str, company: str) -> bool:
    """The generator wrote a mention of `company` inside this chunk of the document."""
    offset = doc["text"].find(chunk_text)
    assert offset >= 0, "a chunk is a span of its document's text"
    return any(m["id"] == company and offset <= m["start"] and m["end"] <= offset + len(chunk_text)
               for m in doc["_mentions"])


def companies_to_check(corpus: Corpus) -> Iterator[str]:
    """The three companies mentioned in the most documents."""
    return (cid for cid, _ in mentioned_companies(corpus, "_mentions").most_common(3))


@pytest.mark.parametrize("text", TEXTS)
async def test_entity_any_of_returns_only_chunks_that_mention_the_company(
        client: httpx.AsyncClient, corpus: Corpus, text: str | None) -> None:
    for company in companies_to_check(corpus):
        found = await search(client, corpus, {"entity": {"any_of": [company], "search_in": "BODY"}}, text)
        assert found, company
        for doc, chunk in found:
            spans = [d for d in chunk["detections"] if d["id"] == company and d["type"] == "entity"]
            assert spans, (company, chunk["text"])
            assert all(chunk["text"][d["start"] : d["end"]] for d in spans)
            assert company in {d.id for d in corpus.annotator.entities(chunk["text"])}
            assert truly_mentions(corpus.docs[doc["id"]], chunk["text"], company), (company, chunk["text"])
        expected_docs = {d["id"] for d in corpus.docs.values() if any(m["id"] == company for m in d["_mentions"])}
        assert {doc["id"] for doc, _ in found} == expected_docs


async def test_entity_search_in_headline_and_all(client: httpx.AsyncClient, corpus: Corpus) -> None:
    company = mentioned_companies(corpus, "_headline_mentions").most_common(1)[0][0]
    in_headline = {d["id"] for d in corpus.docs.values() if any(m["id"] == company for m in d["_headline_mentions"])}
    found = await search(client, corpus, {"entity": {"any_of": [company], "search_in": "HEADLINE"}})
    assert {doc["id"] for doc, _ in found} == in_headline
    for doc, _ in found:
        assert company in {d.id for d in corpus.annotator.entities(doc["headline"])}
    both = await search(client, corpus, {"entity": {"any_of": [company], "search_in": "ALL"}})
    for doc, chunk in both:
        in_body = any(d["id"] == company for d in chunk["detections"])
        assert in_body or doc["id"] in in_headline, chunk["text"]
    assert {(d["id"], c["cnum"]) for d, c in found} <= {(d["id"], c["cnum"]) for d, c in both}


async def test_entity_none_of_never_returns_a_mention(client: httpx.AsyncClient, corpus: Corpus) -> None:
    company = next(companies_to_check(corpus))
    found = await search(client, corpus, {"entity": {"none_of": [company], "search_in": "BODY"},
                                          "category": {"mode": "EXCLUDE", "values": ["my_files"]}})
    assert found
    assert not any(d["id"] == company for _, chunk in found for d in chunk["detections"])


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("ranges", [
    [(0.3, 1.0)],
    [(-1.0, -0.3)],
    [(-1.0, -0.5), (0.5, 1.0)],
    [(-0.1, 0.1)],
])
async def test_sentiment_ranges_hold_for_every_chunk(
        client: httpx.AsyncClient, corpus: Corpus, ranges: list[tuple[float, float]], text: str | None) -> None:
    filters = {"sentiment": {"ranges": [{"min": lo, "max": hi} for lo, hi in ranges]}}
    found = await search(client, corpus, filters, text)
    assert found
    for _, chunk in found:
        value = chunk["sentiment"]
        assert any(lo - ROUNDING <= value <= hi + ROUNDING for lo, hi in ranges), (value, ranges)


async def test_deprecated_sentiment_labels_map_to_the_documented_bands(
        client: httpx.AsyncClient, corpus: Corpus) -> None:
    assert NEUTRAL_BAND == 0.05  # documented: positive > 0.05, negative < -0.05, neutral in between
    groups = {}
    for label in ("positive", "negative", "neutral"):
        found = await search(client, corpus, {"sentiment": {"values": [label]}})
        groups[label] = {(doc["id"], chunk["cnum"]) for doc, chunk in found}
        values = [chunk["sentiment"] for _, chunk in found]
        assert values, label
        if label == "positive":
            assert all(v >= NEUTRAL_BAND for v in values)  # raw > 0.05, rounded to 2 decimals
        elif label == "negative":
            assert all(v <= -NEUTRAL_BAND for v in values)
        else:
            assert all(-NEUTRAL_BAND <= v <= NEUTRAL_BAND for v in values)
    assert not groups["positive"] & groups["negative"]
    assert not groups["neutral"] & (groups["positive"] | groups["negative"])
    both = await search(client, corpus, {"sentiment": {"values": ["positive", "negative"]}})
    assert {(d["id"], c["cnum"]) for d, c in both} <= groups["positive"] | groups["negative"]


@pytest.mark.parametrize("text", TEXTS)
async def test_topic_filter_returns_only_chunks_with_the_topic(
        client: httpx.AsyncClient, corpus: Corpus, text: str | None) -> None:
    counts = Counter(d.id for doc in corpus.docs.values() for d in corpus.annotator.topics(doc["text"]))
    for topic, _ in counts.most_common(3):
        found = await search(client, corpus, {"topic": {"any_of": [topic.upper()], "search_in": "BODY"}}, text)
        assert found, topic
        for _, chunk in found:
            assert any(d["id"] == topic and d["type"] == "topic" for d in chunk["detections"]), (topic, chunk["text"])
            assert topic in {d.id for d in corpus.annotator.topics(chunk["text"])}
        anywhere = await search(client, corpus, {"topic": {"any_of": [topic], "search_in": "ALL"}}, text)
        for doc, chunk in anywhere:
            in_body = any(d["id"] == topic for d in chunk["detections"])
            assert in_body or topic in {d.id for d in corpus.annotator.topics(doc["headline"])}
