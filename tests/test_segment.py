"""Segment.vectors is the read-only memory map of vectors.npy: one page-cache copy shared by every process."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from batchsearch.index.records import DocumentRecord
from batchsearch.index.segment import DocTable, Segment, mapped_file
from batchsearch.index.store import IndexStore
from batchsearch.search.dense import DenseRequest, exact_search, search_segment
from search_fixtures import random_documents, unit_vectors

DIM = 8


def _docs(seed: int, n: int) -> list[DocumentRecord]:
    return random_documents(np.random.default_rng(seed), n, DIM)


def _segment(tmp_path: Path, docs: list[DocumentRecord]) -> Segment:
    return IndexStore(tmp_path / "index").publish(docs, DIM).views[0].segment


def test_vectors_are_the_read_only_memory_map_of_the_file(tmp_path: Path) -> None:
    seg = _segment(tmp_path, _docs(1, 10))
    vectors = seg.vectors
    # a copy (faiss storage, astype) would be private per process
    assert mapped_file(vectors) == (seg.path / "vectors.npy").resolve()
    assert not vectors.flags.writeable
    assert vectors.dtype == np.float32 and vectors.flags.c_contiguous and vectors.shape == (seg.n_chunks, DIM)
    assert seg.vectors is vectors and np.shares_memory(vectors, seg.array("vectors"))
    with pytest.raises(ValueError, match="read-only"):
        vectors[0, 0] = 1.0


def test_dense_search_reads_the_map_without_writing_it(tmp_path: Path) -> None:
    seg = _segment(tmp_path, _docs(2, 40))
    before = (seg.path / "vectors.npy").read_bytes()
    query = unit_vectors(np.random.default_rng(3), 1, DIM)[0]
    mask = np.zeros(seg.n_chunks, dtype=bool)
    mask[::3] = True
    expected = np.argsort(-(np.asarray(seg.vectors) @ query), kind="stable")[:5]
    rows, _ = exact_search(seg, query, None, seg.n_chunks, 5)
    assert set(rows.tolist()) == set(expected.tolist())
    exact_search(seg, query, mask, int(mask.sum()), 5)
    search_segment(seg, [DenseRequest(query, mask, int(mask.sum()), 5), DenseRequest(query, None, seg.n_chunks, 5)])
    assert (seg.path / "vectors.npy").read_bytes() == before


def test_vectors_of_another_dtype_are_refused_not_copied(tmp_path: Path) -> None:
    seg = _segment(tmp_path, _docs(4, 5))
    np.save(seg.path / "vectors.npy", np.asarray(seg.vectors, dtype=np.float64))
    with pytest.raises(ValueError, match="float64.*re-ingest"):
        _ = Segment(seg.path).vectors


def test_empty_segment_has_an_empty_map(tmp_path: Path) -> None:
    docs = [replace(doc, chunks=[]) for doc in _docs(5, 2)]
    seg = _segment(tmp_path, docs)
    assert seg.vectors.shape == (0, DIM) and seg.vectors.dtype == np.float32
    assert exact_search(seg, np.ones(DIM, np.float32), None, 0, 5)[0].size == 0


def test_doc_table_parses_each_documents_line_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    rows = [{"id": "a", "headline": "Zürich plant €5m"}, {"id": "b", "source": {"name": "x", "rank": "RANK_1"}},
            {"id": "c"}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")  # no final newline
    table = DocTable(path)
    assert len(table) == 3 and list(table) == rows
    assert table[np.int64(1)] == rows[1] and table[-1] == rows[2] and table[1:] == rows[1:]
    with pytest.raises(IndexError):
        table[3]
    table[0]["chunks"] = []  # each read is a fresh dict: filling a response never changes the table
    assert table[0] == rows[0]
    path.write_text("", encoding="utf-8")
    assert len(DocTable(path)) == 0


def test_a_published_segments_documents_come_back_in_order(tmp_path: Path) -> None:
    docs = _docs(5, 6)
    seg = _segment(tmp_path, docs)
    assert isinstance(seg.docs, DocTable)
    assert sorted(d["id"] for d in seg.docs) == sorted(d.id for d in docs)
    assert [seg.docs[int(o)]["id"] for o in np.unique(seg.chunk_doc)] == [d["id"] for d in seg.docs]
