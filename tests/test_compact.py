"""Compaction (index/compact.py): records read back from segments, the merge policy, publishing merges on a local
and on a shared (S3) index, the CLI command and the merge after an ingest."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from s3_server import S3Server
from search_fixtures import FakeEmbedder, random_documents
from test_filters_oracle import CASES
from typer.testing import CliRunner

from batchsearch.cli import app
from batchsearch.db import create_db_engine
from batchsearch.documents.lookup import find_document
from batchsearch.index import builder
from batchsearch.index import compact as compact_module
from batchsearch.index import store as store_module
from batchsearch.index.compact import MergePolicy, compact, read_documents
from batchsearch.index.pointer import GenerationPointer
from batchsearch.index.records import DocumentRecord
from batchsearch.index.segment import CHUNK_CSR, DOC_CSR, Segment
from batchsearch.index.shared import SharedIndexStore
from batchsearch.index.store import IndexStore, SegmentMerge, Snapshot
from batchsearch.ingest.documents import DocumentIn
from batchsearch.ingest.documents import read_documents as read_lines
from batchsearch.ingest.pipeline import Ingestor
from batchsearch.models.search import Query
from batchsearch.search.engine import SearchEngine
from batchsearch.storage.s3 import S3ObjectStore

DIM = 8
EVERYTHING = MergePolicy(min_segments=2, tiered=False)
# a text none of the corpus' words stems to: no lexical hit anywhere, so scores are cosines only and do not depend
# on how documents are spread over segments (BM25 statistics are per segment)
UNMATCHED = "zebra quixotic"
OWNERS = (None, "alice")


def docs(seed: int, n: int, prefix: str) -> list[DocumentRecord]:
    return random_documents(np.random.default_rng(seed), n, DIM, prefix=prefix)


def corpus(store: IndexStore) -> dict[str, Any]:
    """Four segments with replaced and deleted documents; what happened to which id."""
    first, second, third, fourth = docs(1, 30, "a"), docs(2, 25, "b"), docs(3, 20, "c"), docs(4, 15, "d")
    for i, doc in enumerate(third[:4]):
        doc.id = first[i * 2].id  # new versions: the old chunks must stay gone
    with store.writer_lock():
        store.publish(first, DIM)
        store.publish(second, DIM, removed_ids={first[1].id})
        store.publish(third, DIM, removed_ids={second[0].id, second[3].id})
        store.publish(fourth, DIM, removed_ids={third[10].id} | {doc.id for doc in second[5:20]})
    return {"deleted": {second[0].id, second[3].id, first[1].id, third[10].id} | {doc.id for doc in second[5:20]},
            "replaced": {doc.id: doc for doc in third[:4]}, "fourth": fourth}


def queries(text: str | None) -> list[Query]:
    body = {"max_chunks": 40, "ranking_params": {"content_diversification": {"enabled": False}}}
    return [Query.model_validate({**body, "filters": raw, **({"text": text} if text else {})}) for raw in CASES]


def answers(store: IndexStore, qs: list[Query], snapshot: Snapshot | None = None) -> list[Any]:
    """The engine's responses for every owner, without the request's id, time and snapshot."""
    engine = SearchEngine(store, FakeEmbedder(DIM), lexical_thread=False)
    out = []
    for owner in OWNERS:
        for answer in engine.search_many(qs, owner=owner, snapshot=snapshot):
            assert isinstance(answer, dict), answer
            answer.pop("metadata")
            out.append(answer)
    return out


def live_ids(snapshot: Snapshot) -> list[str]:
    found = []
    for view in snapshot.views:
        found += [view.segment.docs[int(d)]["id"] for d in np.unique(view.segment.chunk_doc[view.live_mask()])]
    return found


# ---- reading segments back ---------------------------------------------------------------------------

def decoded(seg: Segment) -> dict[str, Any]:
    """Every column the builder writes, with vocabulary codes turned back into their strings."""
    vocab = seg.vocab
    plain = ("vectors", "chunk_doc", "cnum", "sentiment", "text_hash", "text_off", "det_off", "det_start",
             "det_end", "det_kind", "doc_ts", "doc_rank")
    out: dict[str, Any] = {name: np.asarray(seg.array(name)) for name in plain}
    kinds = np.asarray(seg.array("det_kind"))
    out["det_code"] = [vocab["entities" if k == 0 else "topics"][c] for c, k in zip(seg.array("det_code"), kinds)]
    for name, key in (("doc_source", "sources"), ("doc_category", "categories"), ("doc_type", "types"),
                      ("doc_subtype", "subtypes"), ("doc_owner", "owners")):
        out[name] = [vocab[key][c] if c >= 0 else None for c in np.asarray(seg.array(name)).tolist()]
    csr_vocab = {"doc_hent": "entities", "doc_htop": "topics", "doc_tag": "tags", "doc_rent": "entities",
                 "chunk_ent": "entities", "chunk_top": "topics"}
    for name in (*DOC_CSR, *CHUNK_CSR):
        post = seg.postings(name)
        rows = [post.codes_of(r).tolist() for r in range(len(post.indptr) - 1)]
        out[name] = rows if name == "doc_rper" else [sorted(vocab[csr_vocab[name]][c] for c in r) for r in rows]
    out["text.bin"] = (seg.path / "text.bin").read_bytes()
    out["docs.jsonl"] = (seg.path / "docs.jsonl").read_text()
    out["vocab"] = {name: sorted(values) for name, values in vocab.items()}
    out["meta"] = {k: v for k, v in seg.meta.items() if k not in ("id", "created_at", "vocab")}
    return out


def assert_same_columns(a: Segment, b: Segment) -> None:
    left, right = decoded(a), decoded(b)
    assert left.keys() == right.keys()
    for name in left:
        if isinstance(left[name], np.ndarray):
            assert left[name].dtype == right[name].dtype and np.array_equal(left[name], right[name]), name
        else:
            assert left[name] == right[name], name


def test_a_segment_read_back_and_built_again_is_the_same(tmp_path: Path) -> None:
    records = docs(5, 40, "r")
    records[0] = replace(records[0], tags=["beta", "alpha", "beta"], owner="alice", doc_subtype=None, sentiment=0.125)
    records[1] = replace(records[1], reporting_entities=["Z9Y8X7", "228D42"], reporting_periods=[(2024, 0), (2023, 4)])
    first = IndexStore(tmp_path / "one").publish(records, DIM).views[0]
    read = read_documents(first)
    assert [r.id for r in read] == [r.id for r in records]
    second = IndexStore(tmp_path / "two").publish(read, DIM).views[0]
    assert_same_columns(first.segment, second.segment)
    again = read_documents(second)
    for one, two in zip(read, again, strict=True):
        assert {**one.__dict__, "chunks": None} == {**two.__dict__, "chunks": None}
        for c1, c2 in zip(one.chunks, two.chunks, strict=True):
            assert np.array_equal(c1.vector, c2.vector)
            assert {**c1.__dict__, "vector": None} == {**c2.__dict__, "vector": None}


def test_a_stream_of_live_documents_builds_the_same_segment_as_their_list(tmp_path: Path) -> None:
    """A merge builds from a RecordStream (two passes, one document at a time); it gives the list's columns."""
    first = IndexStore(tmp_path / "one").publish(docs(4, 30, "s"), DIM).views[0]
    stream = compact_module.LiveDocuments([first])
    assert stream.n_chunks == first.segment.n_chunks and stream.n_docs == first.segment.n_docs
    from_stream = IndexStore(tmp_path / "two")
    from_stream.publish_staged([from_stream.stage(stream, DIM)])
    from_list = IndexStore(tmp_path / "three").publish(read_documents(first), DIM).views[0]
    assert_same_columns(from_list.segment, from_stream.snapshot().views[0].segment)


def test_a_stream_announcing_the_wrong_chunk_count_builds_nothing(tmp_path: Path) -> None:
    first = IndexStore(tmp_path / "one").publish(docs(2, 10, "w"), DIM).views[0]
    stream = compact_module.LiveDocuments([first])
    stream.n_chunks += 1
    store = IndexStore(tmp_path / "two")
    with pytest.raises(ValueError, match="announced"):
        store.stage(stream, DIM)
    assert list(store.segments_dir.iterdir()) == []


def test_a_vector_of_the_wrong_width_is_refused(tmp_path: Path) -> None:
    bad = docs(1, 3, "v")
    bad[0].chunks[1].vector = np.ones(DIM + 1, np.float32)
    with pytest.raises(ValueError, match="shape"):
        IndexStore(tmp_path / "index").publish(bad, DIM)


def test_reading_back_leaves_out_deleted_documents(tmp_path: Path) -> None:
    store = IndexStore(tmp_path / "index")
    records = docs(6, 10, "x")
    store.publish(records, DIM)
    view = store.publish([], DIM, removed_ids={records[2].id, records[7].id}).views[0]
    assert [r.id for r in read_documents(view)] == [r.id for i, r in enumerate(records) if i not in (2, 7)]


# ---- the policy ---------------------------------------------------------------------------------------

def test_the_policy_merges_a_tier_once_it_has_min_segments() -> None:
    policy = MergePolicy(max_chunks=1_000_000, min_segments=4)
    assert policy.plan([(100_000, 100_000)] * 3) == []
    assert policy.plan([(100_000, 100_000)] * 10) == [list(range(10))], "ten segments of 100k make one of 1M"
    # small ones of another tier are not dragged in; the 1M segment is not small
    sizes = [(1_000_000, 1_000_000), (10, 10), (100_000, 100_000), (12, 12), (11, 11), (9, 9)]
    assert policy.plan(sizes) == [[1, 3, 4, 5]]
    assert policy.plan([(30, 30)] * 3 + [(3000, 3000)]) == []


def test_the_policy_keeps_merged_segments_under_max_chunks() -> None:
    policy = MergePolicy(max_chunks=250, min_segments=4)
    # tier of 64..255 live chunks: the smallest are merged while they fit in 250
    assert policy.plan([(100, 100), (70, 70), (90, 90), (80, 80), (200, 200)]) == [[1, 2, 3]]


def test_the_policy_rewrites_segments_that_are_mostly_deleted() -> None:
    policy = MergePolicy(max_chunks=1000, min_segments=4, min_live_share=0.5)
    assert policy.plan([(5000, 6000), (2000, 9000), (0, 40), (30, 50)]) == [[1], [2]]
    assert MergePolicy(min_live_share=0.0).plan([(0, 40)]) == []
    with pytest.raises(ValueError):
        MergePolicy(min_segments=1)


# ---- merging a local index ----------------------------------------------------------------------------

def test_merging_changes_no_search_result(tmp_path: Path) -> None:
    store = IndexStore(tmp_path / "index")
    facts = corpus(store)
    qs = queries(None) + queries(UNMATCHED)
    before, ids_before = answers(store, qs), sorted(live_ids(store.snapshot()))
    assert any(answer["results"] for answer in before) and any(not answer["results"] for answer in before)

    report = compact(store, EVERYTHING)
    snap = store.snapshot()
    assert (report.segments_before, report.segments_after, report.generation) == (4, 1, 5) == (4, len(snap.views), 5)
    assert report.chunks == snap.n_chunks and snap.views[0].deleted is None
    assert answers(store, qs) == before
    assert sorted(live_ids(snap)) == ids_before
    assert not facts["deleted"] & set(live_ids(snap))
    for doc_id in facts["deleted"]:
        assert find_document(snap, doc_id, None, any_owner=True) is None
    for doc_id, doc in facts["replaced"].items():
        found = find_document(snap, doc_id, doc.owner)
        assert found is not None and [c.text for c in found.chunks] == [c.text for c in doc.chunks]


def test_text_searches_over_a_merged_segment_equal_one_built_from_its_documents(tmp_path: Path) -> None:
    store = IndexStore(tmp_path / "index")
    corpus(store)
    compact(store, EVERYTHING)
    fresh = IndexStore(tmp_path / "fresh")
    fresh.publish(read_documents(store.snapshot().views[0]), DIM)
    qs = queries("revenue growth outlook") + queries("bank loans")
    assert answers(store, qs) == answers(fresh, qs)


def test_a_document_ingested_again_after_a_merge_replaces_the_merged_version(tmp_path: Path) -> None:
    store = IndexStore(tmp_path / "index")
    facts = corpus(store)
    compact(store, EVERYTHING)
    old = facts["fourth"][3]
    new = replace(docs(9, 1, "n")[0], id=old.id, owner=None)
    with store.writer_lock():
        snap = store.publish([new], DIM)
    assert live_ids(snap).count(old.id) == 1 and snap.views[0].deleted is not None
    found = find_document(snap, old.id, None)
    assert found is not None and [c.text for c in found.chunks] == [c.text for c in new.chunks]


def test_a_snapshot_taken_before_a_merge_still_searches(tmp_path: Path) -> None:
    store = IndexStore(tmp_path / "index")
    corpus(store)
    qs = queries(None)[:20] + queries(UNMATCHED)[:20]
    pinned = store.snapshot()
    before = answers(store, qs, pinned)
    compact(store, EVERYTHING)
    assert answers(store, qs, pinned) == before
    assert answers(IndexStore(tmp_path / "index"), qs, IndexStore(tmp_path / "index").open_generation(4)) == before


def test_merged_away_segments_are_released_once_no_snapshot_holds_them(tmp_path: Path) -> None:
    """A long-running process forgets segments the newest generation no longer lists: its memory maps go once the
    last snapshot using them is dropped (gc then frees their disk space too)."""
    import gc
    import weakref

    store = IndexStore(tmp_path / "index")
    corpus(store)
    old = store.snapshot()
    watched = [weakref.ref(view.segment) for view in old.views]
    assert len(watched) > 1
    compact(store, EVERYTHING)
    new = store.snapshot()
    assert len(new.views) == 1
    assert answers(store, queries(None)[:5], old)  # a held snapshot still searches its own segments
    del old
    gc.collect()
    assert all(ref() is None for ref in watched)


def test_a_merge_deletes_what_was_deleted_after_it_read_the_segments(tmp_path: Path) -> None:
    """publish_merged rebases: documents deleted between reading and publishing stay deleted."""
    store = IndexStore(tmp_path / "index")
    first, second = docs(1, 8, "a"), docs(2, 8, "b")
    with store.writer_lock():
        store.publish(first, DIM)
        base = store.publish(second, DIM)
        staged = store.stage([r for view in base.views for r in read_documents(view)], DIM)
        store.publish([], DIM, removed_ids={first[3].id, second[6].id})
        merged = store.publish_merged(base, [SegmentMerge([v.segment.id for v in base.views], staged)])
    ids = live_ids(merged)
    assert len(merged.views) == 1 and len(ids) == 14 and not {first[3].id, second[6].id} & set(ids)


def test_nothing_to_merge_publishes_nothing(tmp_path: Path) -> None:
    store = IndexStore(tmp_path / "index")
    with store.writer_lock():
        for seed in range(3):
            store.publish(docs(seed, 10, f"p{seed}"), DIM)
    report = compact(store)  # the default policy: three small segments are not enough
    assert (report.merged, report.generation, report.segments_after) == ([], 3, 3)
    assert store.current_generation() == 3


def test_segments_without_live_documents_are_dropped(tmp_path: Path) -> None:
    store = IndexStore(tmp_path / "index")
    gone, kept = docs(1, 5, "a"), docs(2, 5, "b")
    with store.writer_lock():
        store.publish(gone, DIM)
        store.publish(kept, DIM, removed_ids={d.id for d in gone})
    report = compact(store, MergePolicy(min_segments=10))
    snap = store.snapshot()
    assert report.segments_after == len(snap.views) == 1 and snap.views[0].segment.id not in report.merged[0]
    assert sorted(live_ids(snap)) == sorted(d.id for d in kept)


# ---- failures -------------------------------------------------------------------------------------------

def segment_folders(store: IndexStore) -> set[str]:
    return {path.name for path in store.segments_dir.iterdir() if path.is_dir()}


def break_the_build(monkeypatch: pytest.MonkeyPatch) -> str:
    def broken(*args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(builder, "_write_lexical", broken)
    return "disk full"


def break_the_publish(monkeypatch: pytest.MonkeyPatch) -> str:
    atomic_write = store_module._atomic_write

    def crash_on_current(path: Path, text: str) -> None:
        if path.name == "CURRENT":
            raise OSError("power cut")
        atomic_write(path, text)

    monkeypatch.setattr(store_module, "_atomic_write", crash_on_current)
    return "power cut"


@pytest.mark.parametrize("fault", [break_the_build, break_the_publish])
def test_a_merge_that_fails_leaves_the_index_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       fault: Callable[[pytest.MonkeyPatch], str]) -> None:
    """A fault while building the merged segment or while moving CURRENT: same generation, same segment folders,
    same answers; once the fault is gone the merge succeeds."""
    store = IndexStore(tmp_path / "index")
    corpus(store)
    qs = queries(UNMATCHED)[:10]
    before, folders = answers(store, qs), segment_folders(store)
    message = fault(monkeypatch)
    with pytest.raises(OSError, match=message):
        compact(store, EVERYTHING)
    assert store.current_generation() == 4 and segment_folders(store) == folders
    assert answers(IndexStore(tmp_path / "index"), qs) == before
    monkeypatch.undo()
    assert compact(store, EVERYTHING).generation == 5 and len(store.snapshot().views) == 1


# ---- merging after an ingest ----------------------------------------------------------------------------

def write_jsonl(path: Path, n: int, prefix: str) -> Path:
    lines = [{"id": f"{prefix}{i}", "headline": f"{prefix} report {i}", "timestamp": 1_700_000_000 + i,
              "text": f"quarterly revenue {prefix} {i} grew strongly. " * 3} for i in range(n)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_an_ingest_merges_segments_when_the_policy_says_so(tmp_path: Path) -> None:
    embedder = FakeEmbedder(DIM)
    merging = Ingestor(IndexStore(tmp_path / "merging"), embedder, merge_policy=MergePolicy(min_segments=3))
    plain = Ingestor(IndexStore(tmp_path / "plain"), embedder, merge_policy=None)
    for ingestor in (merging, plain):
        reports = [ingestor.ingest_file(str(write_jsonl(tmp_path / f"{p}.jsonl", 2, p))) for p in "ab"]
        assert [report.generation for report in reports] == [1, 2]
        built = ingestor.build([line for line in read_lines(str(write_jsonl(tmp_path / "c.jsonl", 2, "c")), "jsonl")
                                if isinstance(line, DocumentIn)])
        assert ingestor.publish(built) == ingestor.store.current_generation()
    assert len(merging.store.snapshot().views) == 1 and merging.store.current_generation() == 4
    assert len(plain.store.snapshot().views) == 3 and plain.store.current_generation() == 3
    assert sorted(live_ids(merging.store.snapshot())) == sorted(live_ids(plain.store.snapshot()))
    qs = queries(UNMATCHED)[:10]
    assert answers(merging.store, qs) == answers(plain.store, qs)


def test_an_ingest_whose_merge_fails_is_still_published(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ingestor = Ingestor(IndexStore(tmp_path / "index"), FakeEmbedder(DIM), merge_policy=MergePolicy(min_segments=2))
    ingestor.ingest_file(str(write_jsonl(tmp_path / "a.jsonl", 2, "a")))

    def broken(*args: Any) -> None:
        raise OSError("unreadable segment")

    monkeypatch.setattr(compact_module, "LiveDocuments", broken)
    report = ingestor.ingest_file(str(write_jsonl(tmp_path / "b.jsonl", 2, "b")))
    assert report.documents == 2 and report.generation == 2
    assert len(ingestor.store.snapshot().views) == 2 and len(live_ids(ingestor.store.snapshot())) == 4


# ---- the command ----------------------------------------------------------------------------------------

def test_index_compact_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BATCHSEARCH_OBJECT_STORE_URL", raising=False)
    store = IndexStore(tmp_path / "data" / "index")
    corpus(store)
    runner = CliRunner()
    args = ["index", "compact", "--data-dir", str(tmp_path / "data"), "--all"]
    plan = runner.invoke(app, [*args, "--dry-run"])
    assert plan.exit_code == 0, plan.output
    assert "would merge 4 segment(s)" in plan.output and "4 -> 1 segments" in plan.output
    assert store.current_generation() == 4

    # the default policy: four small segments of different tiers stay, the mostly deleted second one is rewritten
    mostly_deleted = store.snapshot().views[1].segment.id
    default = runner.invoke(app, ["index", "compact", "--data-dir", str(tmp_path / "data")])
    assert default.exit_code == 0, default.output
    assert f"merged 1 segment(s): {mostly_deleted}" in default.output and "4 -> 4 segments" in default.output
    assert store.current_generation() == 5 and store.snapshot().views[1].segment.id != mostly_deleted
    again = runner.invoke(app, ["index", "compact", "--data-dir", str(tmp_path / "data")])
    assert "nothing to merge" in again.output and store.current_generation() == 5

    done = runner.invoke(app, [*args, "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    assert (report["segments_before"], report["segments_after"], report["generation"]) == (4, 1, 6)
    assert report["chunks"] == store.snapshot().n_chunks and report["dry_run"] is False
    assert len(store.snapshot().views) == 1


# ---- a shared index -------------------------------------------------------------------------------------

def test_merging_a_shared_index(s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Host B merges what host A published; A searches the merge; a delete A publishes while B merges is kept."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    objects = S3ObjectStore.from_url(f"s3://{s3_server.bucket}/{uuid.uuid4().hex}", endpoint_url=s3_server.endpoint_url)
    db = create_db_engine(f"sqlite:///{tmp_path / 'shared.db'}")
    try:
        a, b = (SharedIndexStore(tmp_path / host / "index-cache", objects, GenerationPointer(db), check_seconds=0)
                for host in ("a", "b"))
        facts = corpus(a)
        qs = queries(None)[:30] + queries(UNMATCHED)[:30]
        before = answers(a, qs)
        report = compact(b, EVERYTHING)
        assert (report.segments_before, report.segments_after, report.generation) == (4, 1, 5)
        assert answers(a, qs) == before and not facts["deleted"] & set(live_ids(a.snapshot()))

        # B reads and stages a merge, A deletes meanwhile (another host: B's writer lock does not stop it)
        with a.writer_lock():
            a.publish(docs(7, 6, "e"), DIM)
        with b.writer_lock():
            base = b.snapshot()
            staged = b.stage([r for view in base.views for r in read_documents(view)], DIM)
            victim = live_ids(base)[0]
            with a.writer_lock():
                a.publish([], DIM, removed_ids={victim})
            merged = b.publish_merged(base, [SegmentMerge([v.segment.id for v in base.views], staged)])
        assert merged.generation == 8 and len(merged.views) == 1
        assert victim not in live_ids(a.snapshot()) and len(live_ids(a.snapshot())) == len(live_ids(base)) - 1
    finally:
        db.dispose()


def test_the_setting_switches_merging_after_ingest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """BATCHSEARCH_INDEX_AUTO_COMPACT reaches the ingestor the services build (on by default)."""
    from batchsearch.config import Settings
    from batchsearch.index.compact import DEFAULT_POLICY
    from batchsearch.services import build_ingestor

    monkeypatch.setenv("BATCHSEARCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BATCHSEARCH_EMBED_BACKEND", "numpy")
    assert build_ingestor(Settings()).merge_policy is DEFAULT_POLICY
    monkeypatch.setenv("BATCHSEARCH_INDEX_AUTO_COMPACT", "false")
    assert build_ingestor(Settings()).merge_policy is None
