"""Garbage collection of the embedded index (index/gc.py collect_local_garbage): a real index folder, a real SQLite
jobs database for the generations batch jobs pin, real compactions, the worker's sweep and the CLI."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from batchsearch.cli import app
from batchsearch.config import Settings
from batchsearch.db import create_db_engine
from batchsearch.index.compact import MergePolicy, compact
from batchsearch.index.gc import GarbageReport, collect_local_garbage
from batchsearch.index.records import DocumentRecord
from batchsearch.index.store import IndexStore, Snapshot
from batchsearch.jobs.model import Job
from batchsearch.jobs.states import JobStatus
from batchsearch.jobs.store import SqlJobStore
from batchsearch.models.search import Query
from batchsearch.search.engine import SearchEngine
from batchsearch.services import collect_index_garbage, pinned_generations

from search_fixtures import FakeEmbedder, random_documents

DIM = 8
EVERYTHING = MergePolicy(min_segments=2, tiered=False)
QUERIES = [Query.model_validate({"text": "alpha beta gamma", "max_chunks": 30}),
           Query.model_validate({"filters": {"timestamp": {"start": "2024-01-01"}}, "max_chunks": 60})]


def later() -> datetime:
    """A time when every segment built by the test is past the orphan grace period."""
    return datetime.now(UTC) + timedelta(days=1)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """An embedded deployment in tmp_path: the index in tmp_path/index, jobs in tmp_path/batchsearch.db."""
    for name in ("BATCHSEARCH_OBJECT_STORE_URL", "BATCHSEARCH_DATABASE_URL", "BATCHSEARCH_INDEX_KEEP_GENERATIONS"):
        monkeypatch.delenv(name, raising=False)
    return Settings(data_dir=tmp_path)


@pytest.fixture
def store(settings: Settings) -> IndexStore:
    """The deployment's embedded index."""
    return IndexStore(settings.data_dir / "index")


@pytest.fixture
def db(settings: Settings) -> Iterator[Engine]:
    """The jobs database of the deployment, as its worker opens it."""
    engine = create_db_engine(settings.resolved_database_url())
    yield engine
    engine.dispose()


def docs(seed: int, n: int, prefix: str) -> list[DocumentRecord]:
    return random_documents(np.random.default_rng(seed), n, DIM, prefix=prefix)


def publish(store: IndexStore, batch: list[DocumentRecord], removed: set[str] | None = None) -> Snapshot:
    with store.writer_lock():
        return store.publish(batch, DIM, removed_ids=removed or set())


def collect(store: IndexStore, keep: int, pinned: set[int] | None = None, *,
            now: datetime | None = None) -> GarbageReport:
    report = collect_local_garbage(store, keep=keep, pinned=pinned or set(), now=now or later())
    assert report is not None, "the writer lock was free"
    return report


def listing(store: IndexStore) -> set[str]:
    """The index's manifests, segment and build folders, and delete files (not the files segments are built of)."""
    found = {f"manifests/{p.name}" for p in store.manifests_dir.iterdir()}
    for folder in store.segments_dir.iterdir():
        found.add(f"segments/{folder.name}")
        found |= {f"segments/{folder.name}/{p.name}" for p in folder.iterdir() if p.name.startswith("deletes-")}
    return found


def segment_ids(snapshot: Snapshot) -> list[str]:
    return [view.segment.id for view in snapshot.views]


def answers(store: IndexStore, generation: int | None = None) -> list[Any]:
    """The engine's answers to QUERIES from a fresh process's view of the folder, without request id and time."""
    fresh = IndexStore(store.root)
    snapshot = fresh.open_generation(generation) if generation is not None else None
    out = SearchEngine(fresh, FakeEmbedder(DIM), lexical_thread=False).search_many(QUERIES, snapshot=snapshot)
    for answer in out:
        assert isinstance(answer, dict), answer
        answer["metadata"].pop("request_id")
        answer["metadata"].pop("timestamp")
    return out


def job(status: JobStatus, generation: int) -> Job:
    now = datetime.now(UTC)
    return Job(id=str(uuid.uuid4()), owner="alice", status=status, created_at=now, upload_expires_at=now,
               input_key=f"batches/{uuid.uuid4().hex}/input.jsonl", snapshot_generation=generation)


def orphan(store: IndexStore, built: datetime, *, is_build: bool = False) -> str:
    """A segment folder (or a `.<id>.tmp` build folder) no manifest lists, built at `built`; its name."""
    segment_id = built.strftime("%Y%m%d%H%M%S") + "-" + uuid.uuid4().hex[:8]
    name = f".{segment_id}.tmp" if is_build else segment_id
    (store.segments_dir / name).mkdir(parents=True)
    (store.segments_dir / name / "meta.json").write_text("{}")
    return f"segments/{name}"


# ---- what goes and what stays ------------------------------------------------------------------------------

def test_generations_beyond_keep_go_with_the_segments_and_delete_files_only_they_use(store: IndexStore) -> None:
    big, small_b, small_c = docs(1, 30, "a"), docs(2, 5, "b"), docs(3, 5, "c")
    s_a = segment_ids(publish(store, big))[0]                                       # 1
    s_b = segment_ids(publish(store, small_b, {big[0].id}))[1]                       # 2: s_a/deletes-2
    s_c = segment_ids(publish(store, small_c, {big[1].id}))[2]                       # 3: s_a/deletes-3
    live_a = int(store.snapshot().views[0].live_mask().sum())
    compact(store, MergePolicy(min_segments=2, tiered=False, max_chunks=live_a))  # 4: s_b + s_c -> s_m
    s_m = segment_ids(store.snapshot())[1]
    publish(store, [], {big[2].id})                                                  # 5: s_a/deletes-5
    assert segment_ids(store.snapshot()) == [s_a, s_m]
    before = listing(store)
    expected = {4: answers(store, 4), 5: answers(store)}

    report = collect(store, keep=2)

    assert report.kept == [4, 5] and report.collected == [1, 2, 3]
    gone = {"manifests/00000001.json", "manifests/00000002.json", "manifests/00000003.json",
            f"segments/{s_a}/deletes-00000002.npy", f"segments/{s_b}", f"segments/{s_c}"}
    assert before - listing(store) == gone and listing(store) <= before
    assert f"segments/{s_a}/deletes-00000003.npy" in listing(store), "generation 4 still uses it"
    assert report.deleted_objects == len(gone)
    assert {4: answers(store, 4), 5: answers(store)} == expected
    assert collect(store, keep=2) == GarbageReport(kept=[4, 5], collected=[], deleted_objects=0)


def test_a_pinned_generation_stays_with_its_segments_until_its_job_finishes(store: IndexStore, db: Engine) -> None:
    first = docs(1, 10, "a")
    s_a = segment_ids(publish(store, first))[0]                                      # 1
    s_b = segment_ids(publish(store, docs(2, 6, "b"), {first[0].id}))[1]             # 2
    compact(store, EVERYTHING)                                                       # 3: s_a + s_b -> s_m
    publish(store, docs(3, 4, "c"))                                                  # 4
    jobs = SqlJobStore(db)
    running = job(JobStatus.PROCESSING, 1)
    jobs.create(running)
    jobs.create(job(JobStatus.COMPLETED, 2))
    expected = answers(store, 1)

    report = collect(store, keep=1, pinned=pinned_generations(db))
    assert report.kept == [1, 4] and report.collected == [2, 3]
    assert f"segments/{s_a}" in listing(store) and f"segments/{s_b}" not in listing(store)
    assert answers(store, 1) == expected, "the running job still searches what it searched before"

    jobs.transition(running.id, JobStatus.PROCESSING, JobStatus.COMPLETED)
    report = collect(store, keep=1, pinned=pinned_generations(db))
    assert report.kept == [4] and report.collected == [1]
    assert {p.name for p in store.segments_dir.iterdir()} == set(segment_ids(store.snapshot()))
    assert listing(store) == {"manifests/00000004.json"} | {f"segments/{s}" for s in segment_ids(store.snapshot())}


def test_young_orphans_and_build_folders_survive_old_ones_go(store: IndexStore) -> None:
    publish(store, docs(1, 6, "a"))
    now = datetime.now(UTC)
    old = {orphan(store, now - timedelta(days=2)), orphan(store, now - timedelta(days=2), is_build=True)}
    young = {orphan(store, now), orphan(store, now, is_build=True)}
    with store.writer_lock():  # a writer staged a segment and has not published it yet
        staged = store.stage(docs(2, 3, "s"), DIM)["id"]
    (store.segments_dir / "not-a-segment").mkdir()  # no build time in its name: never ours to judge
    before = listing(store)

    report = collect(store, keep=1, now=now)
    assert report.collected == [] and report.deleted_objects == 2
    assert before - listing(store) == old
    assert young | {f"segments/{staged}"} <= listing(store)

    report = collect(store, keep=1, now=later())
    assert report.deleted_objects == 3
    current = {f"segments/{s}" for s in segment_ids(store.snapshot())}
    assert listing(store) == {"manifests/00000001.json", "segments/not-a-segment"} | current


def test_compaction_then_gc_frees_the_merged_away_segments_once_they_leave_the_kept_window(
        store: IndexStore) -> None:
    batches = [docs(i, 8, f"b{i}") for i in range(4)]
    for batch in batches:
        publish(store, batch)                                                        # 1-4
    small = set(segment_ids(store.snapshot()))
    compact(store, EVERYTHING)                                                       # 5
    [merged] = segment_ids(store.snapshot())
    expected = answers(store)

    report = collect(store, keep=3)
    assert report.kept == [3, 4, 5] and report.collected == [1, 2]
    assert {p.name for p in store.segments_dir.iterdir()} == small | {merged}, "generation 4 still lists them"

    publish(store, docs(9, 5, "late"))                                               # 6
    publish(store, [], {batches[0][0].id})                                           # 7
    expected_after = answers(store)
    report = collect(store, keep=3)
    assert report.kept == [5, 6, 7] and report.collected == [3, 4]
    assert {p.name for p in store.segments_dir.iterdir()} == set(segment_ids(store.snapshot()))
    assert merged in segment_ids(store.snapshot()) and len(segment_ids(store.snapshot())) == 2
    assert answers(store) == expected_after and answers(store, 5) == expected


def test_a_busy_writer_lock_skips_the_collection_without_deleting_anything(
        store: IndexStore, caplog: pytest.LogCaptureFixture) -> None:
    for i in range(3):
        publish(store, docs(i, 4, f"b{i}"))
    compact(store, EVERYTHING)
    orphan(store, datetime.now(UTC) - timedelta(days=2))
    before = listing(store)

    with store.writer_lock(), caplog.at_level(logging.INFO, logger="batchsearch.index.gc"):
        assert collect_local_garbage(store, keep=1, pinned=set(), now=later(), lock_wait=0.05) is None
    assert "skipped" in caplog.text
    assert listing(store) == before

    assert collect(store, keep=1).collected == [1, 2, 3], "collected once the writer is done"


# ---- the services, the worker and the CLI ------------------------------------------------------------------

def test_collect_index_garbage_collects_the_embedded_index(settings: Settings, store: IndexStore, db: Engine) -> None:
    for i in range(5):
        publish(store, docs(i, 3, f"g{i}"))
    SqlJobStore(db).create(job(JobStatus.QUEUED, 2))
    report = collect_index_garbage(settings.model_copy(update={"index_keep_generations": 2}))
    assert report is not None and report.kept == [2, 4, 5] and report.collected == [1, 3]
    assert {p.name for p in store.manifests_dir.iterdir()} == {"00000002.json", "00000004.json", "00000005.json"}


def test_worker_sweeps_collect_the_embedded_index_at_most_once_a_minute(settings: Settings, store: IndexStore) -> None:
    from batch_fakes import FakeSearcher
    from batchsearch.jobs.worker import build_worker

    for i in range(4):
        publish(store, docs(i, 2, f"g{i}"))
    keep_one = settings.model_copy(update={"index_keep_generations": 1})
    assert build_worker(keep_one, FakeSearcher()).run_once(threading.Event()) is False
    assert store.manifest_generations() == [4]
    publish(store, docs(9, 2, "late"))
    build_worker(keep_one, FakeSearcher()).run_once(threading.Event())
    assert store.manifest_generations() == [4, 5], "this index was collected less than a minute ago"


def test_cli_index_gc_on_an_embedded_data_dir(settings: Settings, store: IndexStore,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    first = docs(1, 6, "a")
    publish(store, first)
    publish(store, docs(2, 4, "b"), {first[0].id})
    publish(store, [], {first[1].id})  # its delete file replaces generation 2's in the first segment
    monkeypatch.setenv("BATCHSEARCH_INDEX_KEEP_GENERATIONS", "1")
    data_dir = ["--data-dir", str(settings.data_dir)]

    with store.writer_lock():
        busy = CliRunner().invoke(app, ["index", "gc", "--json", *data_dir])
    assert busy.exit_code == 1 and "writer lock" in busy.output
    assert store.manifest_generations() == [1, 2, 3]

    done = CliRunner().invoke(app, ["index", "gc", "--json", *data_dir])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {"shared": False, "kept": [3], "collected": [1, 2], "deleted_objects": 3,
                                       "pruned_segments": 0}
    again = CliRunner().invoke(app, ["index", "gc", *data_dir])
    assert again.exit_code == 0, again.output
    assert "kept generations [3]; collected none: 0 manifests, delete files and segment folders deleted" in again.output


def test_index_gc_on_an_empty_embedded_data_dir_collects_nothing(settings: Settings) -> None:
    done = CliRunner().invoke(app, ["index", "gc", "--json", "--data-dir", str(settings.data_dir)])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {"shared": False, "kept": [], "collected": [], "deleted_objects": 0,
                                       "pruned_segments": 0}
    assert not (settings.data_dir / "index").exists(), "collecting creates no index"
