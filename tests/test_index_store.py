"""Segments, manifests, generations, snapshots and deletes on real files."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from filelock import Timeout

from batchsearch.index.builder import document_type_label, text_hash
from batchsearch.index.records import ChunkRecord, DocumentRecord
from batchsearch.index.segment import SEGMENT_FORMAT_VERSION, Segment
from batchsearch.index.store import MANIFEST_FORMAT_VERSION, IndexStore
from search_fixtures import random_documents, unit_vectors

DIM = 8


def _docs(seed: int, n: int, prefix: str = "s") -> list[DocumentRecord]:
    return random_documents(np.random.default_rng(seed), n, DIM, prefix=prefix)


def test_empty_index(tmp_path: Path) -> None:
    store = IndexStore(tmp_path / "index")
    snap = store.snapshot()
    assert (store.current_generation(), snap.generation, snap.views, snap.n_chunks, snap.id) == (0, 0, [], 0, "gen-0")


def test_publish_writes_segment_manifest_and_current(tmp_path: Path) -> None:
    store = IndexStore(tmp_path / "index")
    docs = _docs(1, 12)
    snap = store.publish(docs, DIM)
    assert snap.generation == 1 == store.current_generation()
    assert (tmp_path / "index" / "CURRENT").read_text() == "1"
    manifest = json.loads((tmp_path / "index" / "manifests" / "00000001.json").read_text())
    assert manifest["format_version"] == MANIFEST_FORMAT_VERSION and manifest["generation"] == 1
    [entry] = manifest["segments"]
    assert entry["deletes"] is None
    assert sorted(p.name for p in (tmp_path / "index" / "segments").iterdir()) == [entry["id"]], "no temporary folder left"
    seg = snap.views[0].segment
    assert seg.id == entry["id"] and seg.meta["format_version"] == SEGMENT_FORMAT_VERSION
    assert (seg.n_docs, seg.n_chunks) == (12, sum(len(d.chunks) for d in docs))
    assert snap.n_chunks == seg.n_chunks and snap.max_timestamp == max(d.timestamp for d in docs)


def test_segment_columns_round_trip(tmp_path: Path) -> None:
    docs = _docs(2, 15)
    seg = IndexStore(tmp_path / "index").publish(docs, DIM).views[0].segment
    chunks = [(d, c) for d in docs for c in d.chunks]
    np.testing.assert_array_equal(seg.vectors, np.stack([c.vector for _, c in chunks]))
    assert seg.array("cnum").tolist() == [c.cnum for _, c in chunks]
    np.testing.assert_array_equal(seg.array("sentiment"), np.asarray([c.sentiment for _, c in chunks], np.float32))
    assert [seg.chunk_text(r) for r in range(seg.n_chunks)] == [c.text for _, c in chunks]
    assert seg.chunk_ts.tolist() == [d.timestamp for d, _ in chunks]
    assert [seg.docs[int(o)]["id"] for o in seg.chunk_doc] == [d.id for d, _ in chunks]
    for row, (_, chunk) in enumerate(chunks):
        assert seg.detections(row) == [{"id": d.id, "start": d.start, "end": d.end, "type": d.type} for d in chunk.detections]
        ents = seg.postings("chunk_ent").codes_of(row)
        assert sorted(seg.vocab["entities"][c] for c in ents) == sorted(set(chunk.entities))
    for ordinal, doc in enumerate(docs):
        tags = seg.postings("doc_tag").codes_of(ordinal)
        assert sorted(seg.vocab["tags"][c] for c in tags) == sorted(set(doc.tags))
        periods = seg.postings("doc_rper").codes_of(ordinal).tolist()
        assert periods == sorted({y * 10 + q for y, q in doc.reporting_periods})
    some_entity = next(e for _, c in chunks for e in c.entities)
    code = seg.codes["entities"][some_entity]
    expected_rows = [r for r, (_, c) in enumerate(chunks) if some_entity in c.entities]
    assert seg.postings("chunk_ent").rows_with(code).tolist() == expected_rows


def test_spread_gives_each_chunk_its_documents_value(tmp_path: Path) -> None:
    docs = _docs(4, 9)
    docs[3] = replace(docs[3], chunks=[])  # a document without chunks spreads to nothing
    seg = IndexStore(tmp_path / "index").publish(docs, DIM).views[0].segment
    per_doc = np.arange(seg.n_docs) * 10
    expected = [per_doc[seg.doc_index[d.id]] for d in docs for _ in d.chunks]

    contiguous = seg.spread(per_doc).tolist()
    seg.__dict__["chunk_doc"] = seg.chunk_doc[::-1].copy()  # not in document order: a gather serves any layout
    del seg.__dict__["_chunk_doc_index"]
    gathered = seg.spread(per_doc).tolist()

    assert contiguous == expected and len(expected) == seg.n_chunks
    assert gathered == per_doc[seg.chunk_doc].tolist() == expected[::-1]


def test_chunks_of_documents_in_either_layout(tmp_path: Path) -> None:
    """chunks_of gives exactly the chunk rows of the chosen documents, by range or (other layouts) by lookup."""
    docs = _docs(5, 12)
    docs[4] = replace(docs[4], chunks=[])
    seg = IndexStore(tmp_path / "index").publish(docs, DIM).views[0].segment
    picks = [np.array([], np.int64), np.array([0]), np.array([4, 1, 7]), np.arange(seg.n_docs)]
    for pick in picks:
        want = np.flatnonzero(np.isin(seg.chunk_doc, pick))
        assert np.sort(seg.chunks_of(pick)).tolist() == want.tolist()
    seg.__dict__["chunk_doc"] = seg.chunk_doc[::-1].copy()
    for name in ("_doc_chunk_counts", "_doc_starts"):
        seg.__dict__.pop(name, None)
    for pick in picks:
        assert seg.chunks_of(pick).tolist() == np.flatnonzero(np.isin(seg.chunk_doc, pick)).tolist()


def test_document_metadata_for_responses(tmp_path: Path) -> None:
    doc = replace(_docs(3, 1)[0], timestamp=int(datetime(2025, 4, 30, 21, 30, tzinfo=UTC).timestamp()),
                  doc_type="TRANSCRIPT", doc_subtype="EARNINGS_CALL", source_id="D4B903", source_name="Factset Transcripts",
                  source_rank="RANK_1", owner=None, sentiment=0.333, reporting_entities=["228D42"], headline="Q3 call")
    meta = IndexStore(tmp_path / "index").publish([doc], DIM).views[0].segment.docs[0]
    assert meta == {
        "id": doc.id, "headline": "Q3 call", "timestamp": "2025-04-30T21:30:00Z",
        "source": {"id": "D4B903", "name": "Factset Transcripts", "rank": "RANK_1"}, "url": doc.url,
        "document_type": "Earnings Call", "language": "en", "reporting_entities": ["228D42"], "sentiment": 0.33,
    }
    upload = replace(doc, id="F" * 32, owner="alice", tags=["Corporate Actions"], sentiment=None, reporting_entities=[])
    meta = IndexStore(tmp_path / "other").publish([upload], DIM).views[0].segment.docs[0]
    assert meta["tags"] == ["Corporate Actions"] and "sentiment" not in meta and "reporting_entities" not in meta


@pytest.mark.parametrize(("doc_type", "subtype", "label"), [
    ("NEWS", None, "News"), ("TRANSCRIPT", "EARNINGS_CALL", "Earnings Call"), ("FILING", "SEC_8_K", "SEC 8 K"),
    ("FILING", "SEC_10_K", "SEC 10 K"), ("INVESTMENT-RESEARCH", None, "Investment Research"),
    ("INVESTMENT-RESEARCH", "RESEARCH_NOTE", "Research Note"), ("FILING", None, "Filing"),
])
def test_document_type_labels(doc_type: str, subtype: str | None, label: str) -> None:
    assert document_type_label(doc_type, subtype) == label


def test_text_hash_ignores_case_and_spacing() -> None:
    assert text_hash("Revenue  rose.\n") == text_hash(" revenue rose.") != text_hash("revenue rose!")
    assert 0 <= text_hash("x") < 2**63


def test_republishing_an_id_deletes_the_old_version(tmp_path: Path) -> None:
    store = IndexStore(tmp_path / "index")
    first = _docs(4, 10, "a")
    gen1 = store.publish(first, DIM)
    vector = unit_vectors(np.random.default_rng(0), 1, DIM)[0]
    new_version = replace(first[3], headline="new", chunks=[ChunkRecord(1, "new text", vector)])
    gen2 = store.publish([new_version, *_docs(5, 3, "b")], DIM)
    assert gen2.generation == 2 and len(gen2.views) == 2
    old_view = gen2.views[0]
    assert old_view.deletes_file == "deletes-00000002.npy" and (old_view.segment.path / "deletes-00000002.npy").exists()
    dead_rows = np.flatnonzero(old_view.segment.chunk_doc == 3)
    assert not old_view.live_mask()[dead_rows].any() and old_view.live_mask().sum() == old_view.segment.n_chunks - len(dead_rows)
    assert gen2.n_chunks == gen1.n_chunks - len(first[3].chunks) + 1 + sum(len(d.chunks) for d in _docs(5, 3, "b"))
    assert old_view.segment is gen1.views[0].segment, "segments are loaded once and shared by snapshots"
    # the older snapshot is untouched and can be reopened by number
    assert gen1.views[0].deleted is None and gen1.n_chunks == sum(len(d.chunks) for d in first)
    assert store.open_generation(1).n_chunks == gen1.n_chunks
    # deletes accumulate: a third version of another id keeps the first delete too
    gen3 = store.publish([replace(first[5], headline="v3")], DIM)
    assert gen3.views[0].deletes_file == "deletes-00000003.npy"
    assert (~gen3.views[0].live_mask()).sum() == len(first[3].chunks) + len(first[5].chunks)
    assert gen3.views[1].deletes_file is None, "untouched segments keep their delete file"
    # another store object on the same folder (another process) sees the same generation
    assert IndexStore(tmp_path / "index").snapshot().n_chunks == gen3.n_chunks


def test_removing_ids_without_new_documents(tmp_path: Path) -> None:
    store = IndexStore(tmp_path / "index")
    docs = _docs(6, 5)
    store.publish(docs, DIM)
    snap = store.publish([], DIM, removed_ids={docs[0].id, docs[4].id, "NOT-THERE"})
    assert snap.generation == 2 and len(snap.views) == 1
    assert snap.n_chunks == sum(len(d.chunks) for d in docs[1:4])


def test_last_line_wins_within_one_batch(tmp_path: Path) -> None:
    docs = _docs(7, 3)
    later = replace(docs[0], headline="the later line")
    seg = IndexStore(tmp_path / "index").publish([docs[0], docs[1], later, docs[2]], DIM).views[0].segment
    assert [d["id"] for d in seg.docs] == [docs[1].id, docs[0].id, docs[2].id]
    assert seg.docs[1]["headline"] == "the later line"


def test_failed_build_leaves_no_trace(tmp_path: Path) -> None:
    store = IndexStore(tmp_path / "index")
    store.publish(_docs(8, 2), DIM)
    broken = _docs(9, 2)
    broken[1].chunks[0].vector = np.zeros(DIM + 3, np.float32)  # wrong dimension: the build fails midway
    with pytest.raises(ValueError):
        store.publish(broken, DIM)
    assert store.current_generation() == 1
    assert len(list((tmp_path / "index" / "segments").iterdir())) == 1, "the half-built segment is removed"
    assert store.snapshot().n_chunks == sum(len(d.chunks) for d in _docs(8, 2))


def test_format_versions_are_checked(tmp_path: Path) -> None:
    store = IndexStore(tmp_path / "index")
    seg_path = store.publish(_docs(10, 2), DIM).views[0].segment.path
    meta = json.loads((seg_path / "meta.json").read_text())
    (seg_path / "meta.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(ValueError, match="re-ingest"):
        Segment(seg_path)
    manifest_path = tmp_path / "index" / "manifests" / "00000001.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(ValueError, match="manifest format 99"):
        IndexStore(tmp_path / "index").snapshot()


def test_writers_exclude_each_other(tmp_path: Path) -> None:
    with IndexStore(tmp_path / "index").writer_lock():
        with pytest.raises(Timeout):
            IndexStore(tmp_path / "index").writer_lock().acquire(blocking=False)
    with IndexStore(tmp_path / "index").writer_lock():
        pass
