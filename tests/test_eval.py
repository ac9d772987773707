"""The quality harness: qrels parsing (CRLF, header), nDCG@10 and recall@100 against hand-computed values."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from batchsearch.eval import evaluate, ndcg_at, ranked_documents, read_qrels, read_queries, recall_at
from batchsearch.index.records import ChunkRecord, DocumentRecord
from batchsearch.search.engine import SearchEngine
from search_fixtures import FakeEmbedder, build_store


def test_read_qrels_with_crlf_and_header(tmp_path: Path) -> None:
    path = tmp_path / "train.tsv"
    path.write_bytes(b"query-id\tcorpus-id\tscore\r\n1\t31715818\t1\r\n1\t14717500\t2\r\n3\t23389795\t0\r\n\r\n13\t3\t1\r\n")
    assert read_qrels(path) == {"1": {"31715818": 1, "14717500": 2}, "3": {"23389795": 0}, "13": {"3": 1}}


def test_read_qrels_without_header(tmp_path: Path) -> None:
    path = tmp_path / "test.tsv"
    path.write_text("q1\td1\t1\nq1\td2\t-1\nbad line\n")
    assert read_qrels(path) == {"q1": {"d1": 1, "d2": -1}}


def test_read_queries_keeps_judged_ones(tmp_path: Path) -> None:
    path = tmp_path / "queries.jsonl"
    path.write_text('{"_id": "1", "text": "a"}\n\n{"_id": 2, "text": "b"}\n{"_id": "3", "text": "c"}\n')
    assert read_queries(path, {"1", "2"}) == [("1", "a"), ("2", "b")]


def test_ndcg_by_hand() -> None:
    judged = {"a": 2, "b": 1, "c": 1}
    # ranking b, x, a: DCG = 1/log2(2) + 0 + 2/log2(4) = 2; ideal 2, 1, 1: 2 + 1/log2(3) + 1/log2(4)
    ideal = 2 + 1 / math.log2(3) + 0.5
    assert ndcg_at(["b", "x", "a"], judged) == pytest.approx(2 / ideal)
    assert ndcg_at(["a", "b", "c"], judged) == pytest.approx(1.0)
    assert ndcg_at(["x", "y"], judged) == 0.0
    assert ndcg_at(["a"], {}) == 0.0
    # only the first k count
    assert ndcg_at(["x"] * 10 + ["a"], judged) == 0.0
    assert ndcg_at(["x", "a"], {"a": 1}, k=1) == 0.0
    assert ndcg_at(["x", "a"], {"a": 1}, k=2) == pytest.approx(1 / math.log2(3))


def test_recall_by_hand() -> None:
    judged = {"a": 1, "b": 2, "c": 1, "z": 0}
    assert recall_at(["a", "x", "c"], judged) == pytest.approx(2 / 3)
    assert recall_at(["z"], judged) == 0.0
    assert recall_at(["x", "a"], judged, k=1) == 0.0
    assert recall_at(["a"], {"a": 0}) == 0.0


def test_ranked_documents_in_result_order() -> None:
    assert ranked_documents({"results": [{"id": "b"}, {"id": "a"}]}) == ["b", "a"]


def test_evaluate_on_a_tiny_index(tmp_path: Path) -> None:
    """Each query is the exact text of its relevant document, so every mode ranks it first."""
    embedder = FakeEmbedder(16)
    texts = {f"d{i}": f"topic{i} alpha{i} beta{i} common words" for i in range(8)}
    docs = [DocumentRecord(
        id=doc, headline="", timestamp=0, url="", source_id="S", source_name="S", source_rank="RANK_5",
        doc_type="NEWS", doc_subtype=None, category="news", language="en", owner=None, tags=[], headline_entities=[],
        headline_topics=[], reporting_entities=[], reporting_periods=[], sentiment=None,
        chunks=[ChunkRecord(cnum=1, text=text, vector=embedder.vector(text))]) for doc, text in texts.items()]
    engine = SearchEngine(build_store(tmp_path / "index", [docs], 16), embedder)
    queries = [(f"q{i}", texts[f"d{i}"]) for i in range(8)]
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(8)}
    report = evaluate(engine, queries, qrels)
    assert set(report) == {"lexical", "dense", "hybrid"}
    for metrics in report.values():
        assert metrics == {"ndcg@10": 1.0, "recall@100": 1.0, "queries": 8}
    half = {f"q{i}": {f"d{(i + 1) % 8}": 1} for i in range(8)}  # judged document is never first
    dense = evaluate(engine, queries, half, modes=("dense",))["dense"]
    assert dense["ndcg@10"] < 1.0 and dense["recall@100"] == 1.0


def test_evaluate_shared_scifact_format(shared_data: Path, tmp_path: Path) -> None:
    """The real qrels file (CRLF, header row) parses into the judgements the README describes."""
    qrels = read_qrels(shared_data / "scifact" / "qrels" / "train.tsv")
    assert sum(len(v) for v in qrels.values()) == 919
    assert all(isinstance(g, int) for v in qrels.values() for g in v.values())
    queries = read_queries(shared_data / "scifact" / "queries.jsonl", set(qrels))
    assert len(queries) == len(qrels)
    assert all(qid in qrels and text.strip() for qid, text in queries)
