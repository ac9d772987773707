"""The search engine end to end over real segments: batched == one-by-one, ingestion, snapshots, ranking knobs."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from batchsearch.embeddings import MiniLMEmbedder
from batchsearch.index.records import ChunkRecord, DocumentRecord
from batchsearch.index.store import IndexStore
from batchsearch.ingest.pipeline import Ingestor
from batchsearch.models.search import Query
from batchsearch.search.engine import SearchEngine, _merge
from search_fixtures import (
    DOC_TYPES,
    ENTITIES,
    SOURCES,
    T0,
    TAGS,
    TOPICS,
    WORDS,
    FakeEmbedder,
    build_store,
    random_documents,
)

DIM = 16


# ---- search_many == search ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def mixed_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[SearchEngine, list[list[DocumentRecord]]]:
    rng = np.random.default_rng(31)
    batches = [random_documents(rng, n, DIM, prefix=p) for n, p in ((80, "a"), (60, "b"), (40, "c"))]
    batches[2][0].id = batches[0][0].id
    batches[2][1].id = batches[1][5].id
    # a few chunks repeated word for word in other documents, so duplicate dropping is exercised
    for i in range(8):
        batches[1][i].chunks[0].text = batches[0][i + 10].chunks[0].text
    store = build_store(tmp_path_factory.mktemp("mixed") / "index", batches, DIM)
    return SearchEngine(store, FakeEmbedder(DIM)), batches


@pytest.fixture(scope="module")
def mixed(mixed_corpus: tuple[SearchEngine, list[list[DocumentRecord]]]) -> SearchEngine:
    return mixed_corpus[0]


def _random_filters(rnd: random.Random) -> dict[str, Any]:
    pool: dict[str, Any] = {
        "timestamp": lambda: {"start": f"2024-0{rnd.randint(1, 6)}-01",
                              **({"end": "2024-11-30T12:00:00Z"} if rnd.random() < 0.5 else {})},
        "entity": lambda: {"any_of": rnd.sample(ENTITIES, 3), "search_in": rnd.choice(["HEADLINE", "BODY", "ALL"])},
        "keyword": lambda: {rnd.choice(["any_of", "all_of", "none_of"]): [rnd.choice(WORDS)]},
        "topic": lambda: {"any_of": rnd.sample(TOPICS, 2)},
        "source": lambda: {"mode": rnd.choice(["INCLUDE", "EXCLUDE"]), "values": [s[0] for s in rnd.sample(SOURCES, 2)]},
        "category": lambda: {"mode": "EXCLUDE", "values": ["news"]},
        "document_type": lambda: {"values": [rnd.choice(DOC_TYPES)[0]]},
        "sentiment": lambda: {"ranges": [{"min": -0.5, "max": 0.5}]} if rnd.random() < 0.5 else {"values": ["positive"]},
        "reporting_periods": lambda: [{"fiscal_year": 2024}],
        "chunk": lambda: {"from": 1, "to": rnd.randint(1, 3)},
        "tag": lambda: {"none_of": [rnd.choice(TAGS)]},
    }
    return {k: pool[k]() for k in rnd.sample(sorted(pool), k=rnd.choice([0, 1, 1, 2, 3]))}


def _random_ranking(rnd: random.Random) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if rnd.random() < 0.6:
        params["freshness_boost"] = rnd.choice([0, 1, 2.5, 10])
    if rnd.random() < 0.6:
        params["source_boost"] = rnd.choice([0, 1, 3])
    if rnd.random() < 0.5:
        params["content_diversification"] = {"enabled": rnd.random() < 0.5}
    if rnd.random() < 0.4:
        params["reranker"] = {"enabled": rnd.random() < 0.7, "threshold": rnd.choice([0.0, 0.05, 0.2, 0.5])}
    return params


def mixed_queries(seed: int, n: int) -> list[Query]:
    rnd = random.Random(seed)
    texts = [" ".join(rnd.sample(WORDS, rnd.randint(1, 5))) for _ in range(n // 3)] + ["zzqq nothing"]
    out = []
    while len(out) < n:
        body: dict[str, Any] = {"max_chunks": rnd.choice([1, 3, 10, 25, 100, 300])}
        if rnd.random() < 0.8:
            body["text"] = rnd.choice(texts)  # texts repeat, as they do in real batches
        filters = _random_filters(rnd)
        if filters or "text" not in body:
            body["filters"] = filters or {"category": {"mode": "EXCLUDE", "values": ["regulatory"]}}
        body["ranking_params"] = _random_ranking(rnd)
        out.append(Query.model_validate(body))
    return out


def comparable(response: dict[str, Any]) -> list[tuple[str, list[tuple[int, float]]]]:
    return [(doc["id"], [(ch["cnum"], ch["relevance"]) for ch in doc["chunks"]]) for doc in response["results"]]


def assert_same_results(got: dict[str, Any], want: dict[str, Any], context: str) -> None:
    a, b = comparable(got), comparable(want)
    assert [(d, [c for c, _ in chunks]) for d, chunks in a] == [(d, [c for c, _ in chunks]) for d, chunks in b], context
    for (_, ca), (_, cb) in zip(a, b, strict=True):
        np.testing.assert_allclose([r for _, r in ca], [r for _, r in cb], atol=1e-5, err_msg=context)
    assert got["usage"] == want["usage"]
    # the rest of each document (metadata, chunk texts, detections) is identical too
    strip = lambda r: [{**d, "chunks": [{**c, "relevance": 0} for c in d["chunks"]]} for d in r["results"]]  # noqa: E731
    assert strip(got) == strip(want), context


@pytest.mark.parametrize("fusion", ["rrf", "weighted"])
def test_search_many_equals_search_one_by_one(mixed: SearchEngine, fusion: str) -> None:
    queries = mixed_queries(5 if fusion == "rrf" else 6, 200)
    batched = mixed.search_many(queries, owner="alice", fusion=fusion)
    assert len(batched) == len(queries)
    non_empty = 0
    for i, (query, got) in enumerate(zip(queries, batched, strict=True)):
        assert isinstance(got, dict), got
        want = mixed.search(query, owner="alice", fusion=fusion)
        assert_same_results(got, want, f"query {i}: {query.model_dump(exclude_defaults=True)}")
        non_empty += bool(got["results"])
    assert non_empty > 120, "most queries should find something, or the comparison proves little"


def test_search_many_in_any_batch_split(mixed: SearchEngine) -> None:
    """How a batch is cut into micro-batches changes nothing."""
    queries = mixed_queries(8, 90)
    whole = mixed.search_many(queries)
    parts = [r for start in range(0, 90, 7) for r in mixed.search_many(queries[start : start + 7])]
    for i, (a, b) in enumerate(zip(whole, parts, strict=True)):
        assert isinstance(a, dict) and isinstance(b, dict)
        assert_same_results(a, b, f"query {i}")


def test_request_ids_and_snapshot_in_metadata(mixed: SearchEngine) -> None:
    queries = mixed_queries(9, 3)
    out = mixed.search_many(queries, request_ids=["r-1", None, "r-3"])
    assert [r["metadata"]["request_id"] for r in out][::2] == ["r-1", "r-3"]  # type: ignore[index]
    assert out[1]["metadata"]["request_id"] not in ("r-1", "r-3", None)  # type: ignore[index]
    assert {r["metadata"]["snapshot_id"] for r in out} == {f"gen-{mixed.snapshot().generation}"}  # type: ignore[index]


# ---- ranking knobs on the mixed corpus ----------------------------------------------------------

def _chunks(resp: dict[str, Any]) -> list[dict[str, Any]]:
    return [ch for doc in resp["results"] for ch in doc["chunks"]]


@pytest.mark.parametrize("max_chunks", [1, 7, 50])
def test_max_chunks_and_query_units(mixed: SearchEngine, max_chunks: int) -> None:
    resp = mixed.search(Query.model_validate({"text": "bank loans growth", "max_chunks": max_chunks}))
    n = len(_chunks(resp))
    assert n == max_chunks
    assert resp["usage"]["api_query_units"] == pytest.approx(n / 10)


def test_reranker_threshold_drops_low_relevance(mixed: SearchEngine) -> None:
    base = {"text": "bank loans growth", "max_chunks": 300}
    everything = _chunks(mixed.search(Query.model_validate(base)))
    for threshold in (0.05, 0.2, 0.5):
        kept = _chunks(mixed.search(Query.model_validate(
            {**base, "ranking_params": {"reranker": {"enabled": True, "threshold": threshold}}})))
        assert all(ch["relevance"] >= threshold for ch in kept)
        assert len(kept) == sum(ch["relevance"] >= threshold for ch in everything)
    off = _chunks(mixed.search(Query.model_validate(
        {**base, "ranking_params": {"reranker": {"enabled": False, "threshold": 1.0}}})))
    assert len(off) == len(everything)
    assert _chunks(mixed.search(Query.model_validate(
        {**base, "ranking_params": {"reranker": {"enabled": True, "threshold": 1.0}}}))) == []


def test_duplicate_texts_are_returned_once(mixed: SearchEngine) -> None:
    resp = mixed.search(Query.model_validate({"text": "market", "max_chunks": 1000,
                                              "filters": {"chunk": {"from": 1, "to": 1}}}))
    texts = [" ".join(ch["text"].lower().split()) for ch in _chunks(resp)]
    assert len(texts) == len(set(texts))


def test_filter_only_is_newest_first(mixed: SearchEngine) -> None:
    resp = mixed.search(Query.model_validate({"filters": {"category": {"values": ["news", "filings"]}},
                                              "max_chunks": 40, "ranking_params": {
                                                  "freshness_boost": 0, "source_boost": 0,
                                                  "content_diversification": {"enabled": False}}}))
    stamps = [doc["timestamp"] for doc in resp["results"]]
    assert len(_chunks(resp)) == 40
    assert stamps == sorted(stamps, reverse=True)
    assert {ch["relevance"] for ch in _chunks(resp)} == {1.0}


def test_owner_sees_public_and_own_documents_only(mixed_corpus: tuple[SearchEngine, list[list[DocumentRecord]]]) -> None:
    mixed, batches = mixed_corpus
    owners = {d.id: d.owner for batch in batches for d in batch}
    seen: dict[str | None, set[str | None]] = {}
    for owner in (None, "alice", "bob"):
        resp = mixed.search(Query.model_validate({"text": "bank", "max_chunks": 1000}), owner=owner)
        seen[owner] = {owners[doc["id"]] for doc in resp["results"]}
        for doc in resp["results"]:
            assert ("tags" in doc) == (owners[doc["id"]] is not None), "uploads carry their tags"
    assert seen == {None: {None}, "alice": {None, "alice"}, "bob": {None, "bob"}}


def test_audit_reports_the_query(mixed: SearchEngine) -> None:
    query = Query.model_validate({"text": "bank", "filters": {"chunk": {"from": 2, "to": 3}}, "max_chunks": 3})
    resp = mixed.search(query, audit=True)
    assert resp["metadata"]["audit"]["queries"][0]["filters"]["chunk"] == {"from": 2, "to": 3}
    assert "audit" not in mixed.search(query)["metadata"]


# ---- ingestion with the real encoder -------------------------------------------------------------

@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder()


DOCS = [
    {"id": "A" * 32, "headline": "Acme raises guidance", "text": "Acme Corp raised its full-year revenue guidance. "
     "Shares rose in early trading.", "timestamp": "2024-03-01T10:00:00Z", "source": {"id": "D4B903", "rank": "RANK_1"}},
    {"id": "B" * 32, "headline": "Chief executive resigns", "text": "The chief executive of Beta Bank resigned on "
     "Monday after a lawsuit.", "timestamp": "2024-03-02T09:30:00Z", "category": "news"},
    {"id": "C" * 32, "headline": "Oil output falls", "text": "Oil production fell for a third month as supply "
     "disruptions continued.", "timestamp": "2024-03-03", "document_type": {"type": "NEWS"}},
    {"id": "D" * 32, "headline": "Earnings call", "text": "Management discussed margins and cloud computing "
     "growth on the earnings call.", "timestamp": 1709600000,
     "document_type": {"type": "TRANSCRIPT", "subtype": "EARNINGS_CALL"}, "category": "transcripts"},
]


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def _by_id(engine: SearchEngine, doc: str) -> list[dict[str, Any]]:
    resp = engine.search(Query.model_validate({"filters": {"document": {"values": [doc]}}, "max_chunks": 100}))
    return resp["results"]


def test_reingesting_an_id_replaces_the_document(tmp_path: Path, minilm: MiniLMEmbedder) -> None:
    store = IndexStore(tmp_path / "index")
    ingestor = Ingestor(store, minilm)
    first = ingestor.ingest_file(str(write_jsonl(tmp_path / "a.jsonl", DOCS)))
    assert (first.documents, first.errors, first.generation) == (4, [], 1)
    engine = SearchEngine(store, minilm)
    assert engine.snapshot().n_chunks == 4
    changed = {**DOCS[1], "text": "Beta Bank named a new chief executive after the resignation.", "headline": "New CEO"}
    second = ingestor.ingest_file(str(write_jsonl(tmp_path / "b.jsonl", [changed, DOCS[2]])))
    assert (second.documents, second.generation) == (2, 2)
    assert engine.snapshot().n_chunks == 4, "two new versions replace two old ones"
    found = _by_id(engine, "B" * 32)
    assert len(found) == 1 and found[0]["headline"] == "New CEO"
    assert [ch["text"] for ch in found[0]["chunks"]] == [changed["text"]]
    resp = engine.search(Query.model_validate({"text": "chief executive resignation bank", "max_chunks": 20}))
    ids = [doc["id"] for doc in resp["results"]]
    assert len(ids) == len(set(ids)) == 4
    assert ids[0] == "B" * 32
    every = engine.search(Query.model_validate({"filters": {"category": {"mode": "EXCLUDE", "values": ["podcasts"]}},
                                                "max_chunks": 100}))
    assert sorted(d["id"] for d in every["results"]) == [c * 32 for c in "ABCD"]
    ingestor.delete({"C" * 32})
    assert _by_id(engine, "C" * 32) == []
    assert engine.snapshot().n_chunks == 3


def test_bad_document_lines_are_reported_and_the_rest_ingests(tmp_path: Path, minilm: MiniLMEmbedder) -> None:
    lines = [DOCS[0], "{not json", DOCS[1], {"id": "E" * 32, "headline": "no text", "timestamp": 0}, "",
             {**DOCS[2], "category": "Tabloids"}, DOCS[3], "[1, 2]"]
    report = Ingestor(IndexStore(tmp_path / "index"), minilm).ingest_file(str(write_jsonl(tmp_path / "in.jsonl", lines)))
    assert report.documents == 3
    assert [e.line for e in report.errors] == [2, 4, 6, 8]
    messages = [e.message for e in report.errors]
    assert "invalid JSON" in messages[0]
    assert messages[1].startswith("text:")
    assert "category" in messages[2] and "Tabloids" in messages[2]
    assert "JSON object" in messages[3]
    assert str(report.errors[1]).startswith("line 4: ")
    engine = SearchEngine(IndexStore(tmp_path / "index"), minilm)
    assert engine.snapshot().n_chunks == 3


def test_search_holds_its_snapshot_while_a_new_generation_is_published(tmp_path: Path, minilm: MiniLMEmbedder) -> None:
    store = IndexStore(tmp_path / "index")
    ingestor = Ingestor(store, minilm)
    ingestor.ingest_file(str(write_jsonl(tmp_path / "a.jsonl", DOCS)))
    engine = SearchEngine(store, minilm)
    queries = [Query.model_validate({"text": "oil supply production", "max_chunks": 10}),
               Query.model_validate({"filters": {"timestamp": {"start": "2024-01-01"}}, "max_chunks": 10})]
    pinned = engine.snapshot()
    before = engine.search_many(queries, snapshot=pinned)
    newer = {**DOCS[2], "text": "Oil output rose sharply as new fields came online.", "timestamp": "2024-04-01"}
    extra = {"id": "F" * 32, "headline": "Oil majors merge", "text": "Two oil producers agreed to merge.",
             "timestamp": "2024-04-02"}
    ingestor.ingest_file(str(write_jsonl(tmp_path / "b.jsonl", [newer, extra])))
    assert engine.snapshot().generation == pinned.generation + 1
    again = engine.search_many(queries, snapshot=pinned)
    for a, b in zip(before, again, strict=True):
        assert isinstance(a, dict) and isinstance(b, dict)
        assert_same_results(a, b, "pinned snapshot")
        assert a["metadata"]["snapshot_id"] == b["metadata"]["snapshot_id"] == pinned.id
    latest = engine.search_many(queries)
    assert isinstance(latest[0], dict) and isinstance(before[0], dict)
    old_texts = {ch["text"] for doc in before[0]["results"] for ch in doc["chunks"]}
    new_texts = {ch["text"] for doc in latest[0]["results"] for ch in doc["chunks"]}
    assert DOCS[2]["text"] in old_texts and DOCS[2]["text"] not in new_texts
    assert newer["text"] in new_texts and extra["text"] in new_texts
    # a pinned generation can also be reopened by number, as a batch job does
    reopened = engine.search_many(queries, snapshot=store.open_generation(pinned.generation))
    for a, b in zip(before, reopened, strict=True):
        assert isinstance(a, dict) and isinstance(b, dict)
        assert_same_results(a, b, "reopened generation")


def test_uploads_are_private_to_their_owner(tmp_path: Path) -> None:
    embedder = FakeEmbedder(DIM, max_tokens=32)
    store = IndexStore(tmp_path / "index")
    Ingestor(store, embedder).ingest_file(str(write_jsonl(tmp_path / "pub.jsonl", DOCS[:2])))
    mine = {"id": "9" * 32, "headline": "Board minutes", "text": "Secret board minutes about the merger.",
            "timestamp": "2024-05-01", "category": "my_files", "tags": ["Corporate Actions"]}
    Ingestor(store, embedder, owner="alice").ingest_file(str(write_jsonl(tmp_path / "mine.jsonl", [mine])))
    engine = SearchEngine(store, embedder)
    query = Query.model_validate({"text": "board minutes merger", "max_chunks": 10})
    assert "9" * 32 in [d["id"] for d in engine.search(query, owner="alice")["results"]]
    assert "9" * 32 not in [d["id"] for d in engine.search(query, owner="bob")["results"]]
    assert "9" * 32 not in [d["id"] for d in engine.search(query)["results"]]
    tagged = engine.search(Query.model_validate({"filters": {"category": {"values": ["my_files"]},
                                                             "tag": {"any_of": ["Corporate Actions"]}}}), owner="alice")
    assert [d["id"] for d in tagged["results"]] == ["9" * 32]
    assert tagged["results"][0]["tags"] == ["Corporate Actions"]


def test_empty_index_answers_with_no_results(tmp_path: Path) -> None:
    engine = SearchEngine(IndexStore(tmp_path / "index"), FakeEmbedder(DIM))
    for body in ({"text": "anything"}, {"filters": {"chunk": {"from": 1}}}):
        resp = engine.search(Query.model_validate(body))
        assert resp["results"] == [] and resp["usage"] == {"api_query_units": 0.0}


def test_segment_holding_only_textless_documents(tmp_path: Path) -> None:
    """A document whose text is whitespace has no chunks; the index still opens and searches."""
    embedder = FakeEmbedder(DIM)
    store = IndexStore(tmp_path / "index")
    Ingestor(store, embedder).ingest_file(str(write_jsonl(tmp_path / "a.jsonl", [{**DOCS[0], "text": "   "}])))
    Ingestor(store, embedder).ingest_file(str(write_jsonl(tmp_path / "b.jsonl", [DOCS[1]])))
    engine = SearchEngine(store, embedder)
    resp = engine.search(Query.model_validate({"text": "bank", "max_chunks": 5}))
    assert [d["id"] for d in resp["results"]] == ["B" * 32]


def test_chunk_numbers_and_texts_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    base = random_documents(rng, 1, DIM, owners=(None,))[0]
    chunks = [ChunkRecord(cnum=i + 1, text=f"part {i} of the report é€ {i * 'x'}", vector=np.eye(DIM, dtype=np.float32)[i])
              for i in range(6)]
    doc = DocumentRecord(**{**base.__dict__, "chunks": chunks, "timestamp": T0})
    engine = SearchEngine(build_store(tmp_path / "index", [[doc]], DIM), FakeEmbedder(DIM))
    resp = engine.search(Query.model_validate({"filters": {"chunk": {"from": 2, "to": 4}}, "ranking_params": {
        "content_diversification": {"enabled": False}}}))
    got = sorted((ch["cnum"], ch["text"]) for ch in _chunks(resp))
    assert got == [(c.cnum, c.text) for c in chunks[1:4]]


def test_one_segments_list_is_merged_as_the_general_merge_would() -> None:
    rng = np.random.default_rng(3)
    for n, depth in ((0, 5), (7, 10), (40, 12)):
        rows = rng.choice(1000, n, replace=False).astype(np.int64)
        scores = rng.integers(0, 5, n).astype(np.float32)  # many ties: broken by row
        order = np.lexsort((rows, -scores))  # how dense and lexical searches hand their lists over
        rows, scores = rows[order], scores[order]
        empty = (np.zeros(0, np.int64), np.zeros(0, np.float32))
        fast, general = _merge([(rows, scores)], depth), _merge([(rows, scores), empty], depth)
        assert np.array_equal(fast[0], general[0]) and np.array_equal(fast[1], general[1])
        assert fast[0].dtype == np.int64 and len(fast[0]) == min(n, depth)
