"""The index shared through object storage: hosts with their own (empty) data folders publish and search through
one real S3-compatible server (SeaweedFS) and one database (a SQLite file, and a real PostgreSQL)."""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine

from batchsearch.config import Settings
from batchsearch.db import create_db_engine
from batchsearch.errors import NotFoundError
from batchsearch.index import projection
from batchsearch.index import objects as layout
from batchsearch.index.deployment import open_index_store
from batchsearch.index.gc import collect_garbage
from batchsearch.index.objects import IndexIntegrityError
from batchsearch.index.pointer import GenerationPointer
from batchsearch.index.records import DocumentRecord
from batchsearch.index.shared import SharedIndexStore
from batchsearch.index.store import IndexStore, Snapshot
from batchsearch.jobs.model import Job
from batchsearch.jobs.states import JobStatus
from batchsearch.jobs.store import SqlJobStore
from batchsearch.models.search import Query
from batchsearch.search.engine import SearchEngine
from batchsearch.services import collect_index_garbage
from batchsearch.storage.s3 import S3ObjectStore

from s3_server import S3Server
from search_fixtures import FakeEmbedder, random_documents

DIM = 8
QUERIES = [Query.model_validate({"text": "alpha beta gamma", "max_chunks": 20}),
           Query.model_validate({"filters": {"timestamp": {"start": "2024-01-01"}}, "max_chunks": 50})]


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The S3 server, with boto3 pointed at it through the AWS_* environment."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return s3_server


class Deployment:
    """One shared deployment: an S3 prefix of its own and one database; each host has its own data folder."""

    def __init__(self, s3: S3Server, database_url: str, tmp_path: Path) -> None:
        self.url = f"s3://{s3.bucket}/{uuid.uuid4().hex}"
        self.endpoint = s3.endpoint_url
        self.database_url = database_url
        self.db: Engine = create_db_engine(database_url)
        self.tmp_path = tmp_path
        self.objects = S3ObjectStore.from_url(self.url, endpoint_url=self.endpoint)

    def settings(self, host: str, **overrides: Any) -> Settings:
        """The settings of a process on `host`."""
        return Settings(data_dir=self.tmp_path / host, object_store_url=self.url, s3_endpoint_url=self.endpoint,
                        database_url=self.database_url, **overrides)

    def host(self, name: str) -> SharedIndexStore:
        """A process on host `name` that looks at the pointer on every snapshot."""
        return SharedIndexStore(self.tmp_path / name / "index-cache", self.objects, GenerationPointer(self.db),
                                check_seconds=0)

    def keys(self, prefix: str = "index/") -> list[str]:
        return self.objects.list_keys(prefix)


@pytest.fixture
def deployment(s3: S3Server, tmp_path: Path) -> Iterator[Deployment]:
    """A deployment on S3 and a SQLite file every host shares."""
    shared = Deployment(s3, f"sqlite:///{tmp_path / 'shared.db'}", tmp_path)
    yield shared
    shared.db.dispose()


def docs(seed: int, n: int, prefix: str) -> list[DocumentRecord]:
    return random_documents(np.random.default_rng(seed), n, DIM, prefix=prefix)


def publish(store: IndexStore, batch: list[DocumentRecord], removed: set[str] | None = None, *,
            dim: int = DIM) -> Snapshot:
    with store.writer_lock():
        return store.publish(batch, dim, removed_ids=removed or set())


def results(store: IndexStore, snapshot: Snapshot | None = None, *, dim: int = DIM) -> list[Any]:
    """The engine's answers to QUERIES without the volatile request id and timestamp."""
    out = SearchEngine(store, FakeEmbedder(dim)).search_many(QUERIES, snapshot=snapshot)
    for answer in out:
        assert isinstance(answer, dict)
        answer["metadata"].pop("request_id")
        answer["metadata"].pop("timestamp")
    return out


def live_docs(snapshot: Snapshot) -> list[dict[str, Any]]:
    """The metadata of every live document of a snapshot (twice, if a document were live twice)."""
    found = []
    for view in snapshot.views:
        ordinals = np.unique(view.segment.chunk_doc[view.live_mask()])
        found += [view.segment.docs[int(o)] for o in ordinals]
    return found


def live_ids(snapshot: Snapshot) -> list[str]:
    """Every live document id of a snapshot."""
    return [doc["id"] for doc in live_docs(snapshot)]


def job(status: JobStatus, generation: int) -> Job:
    now = datetime.now(UTC)
    return Job(id=str(uuid.uuid4()), owner="alice", status=status, created_at=now, upload_expires_at=now,
               input_key=f"batches/{uuid.uuid4().hex}/input.jsonl", snapshot_generation=generation)


# ---- publish on one host, search on another -------------------------------------------------------------

@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_generation_published_on_one_host_is_searched_on_another(
        s3: S3Server, tmp_path: Path, database: str, request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}" if database == "sqlite" else request.getfixturevalue("pg_url")
    shared = Deployment(s3, url, tmp_path)
    a, b = shared.host("a"), shared.host("b")
    first = docs(1, 12, "a")
    publish(a, first)
    publish(a, docs(2, 6, "b"), removed={first[0].id, first[5].id})
    assert b.snapshot().generation == 2 == GenerationPointer(shared.db).current()
    assert results(b) == results(a)
    assert sorted(live_ids(b.snapshot())) == sorted(live_ids(a.snapshot()))
    assert not (tmp_path / "b" / "index").exists() and (tmp_path / "b" / "index-cache" / "segments").is_dir()
    # B publishes, A follows the pointer
    publish(b, docs(3, 4, "c"), removed={first[1].id})
    assert a.snapshot().generation == 3 and results(a) == results(b)
    ids = live_ids(a.snapshot())
    assert len(ids) == len(set(ids)) == 12 - 3 + 6 + 4
    shared.db.dispose()


def test_the_pointer_is_read_at_most_once_a_second(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    publish(deployment.host("a"), docs(1, 5, "a"))
    clock = [1000.0]
    reader = SharedIndexStore(deployment.tmp_path / "r", deployment.objects, GenerationPointer(deployment.db),
                              clock=lambda: clock[0])
    reads = []
    head = reader.pointer.head
    monkeypatch.setattr(reader.pointer, "head", lambda: reads.append(1) or head())
    assert {reader.snapshot().generation for _ in range(50)} == {1} and len(reads) == 1
    publish(deployment.host("a"), docs(2, 5, "b"))
    clock[0] += 0.5
    assert reader.snapshot().generation == 1 and len(reads) == 1, "a pointer move shows within about a second"
    clock[0] += 0.6
    assert reader.snapshot().generation == 2 and len(reads) == 2


def test_a_segments_compact_vectors_travel_with_it(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large segment's int8 codes are published with its other files; another host searches with them."""
    monkeypatch.setattr(projection, "PROJECTION_MIN_ROWS", 20)
    a, b = deployment.host("a"), deployment.host("b")
    publish(a, [replace(d, chunks=[replace(c, vector=np.resize(c.vector, 160) / np.linalg.norm(np.resize(c.vector, 160)))
                                   for c in d.chunks]) for d in docs(4, 40, "a")], dim=160)
    seg = b.snapshot().views[0].segment
    assert seg.n_chunks >= 20 and seg.compact is not None
    for name in projection.FILES:
        assert any(key.endswith(f"/{name}.npy") for key in deployment.keys())
    assert results(b, dim=160) == results(a, dim=160)


# ---- the local cache ----------------------------------------------------------------------------------

def test_deleting_a_hosts_cache_loses_nothing(deployment: Deployment) -> None:
    a = deployment.host("a")
    publish(a, docs(1, 10, "a"))
    first = docs(2, 5, "b")
    publish(a, first, removed={first[0].id})
    expected = results(deployment.host("b"))
    shutil.rmtree(deployment.tmp_path / "a")
    shutil.rmtree(deployment.tmp_path / "b")
    assert results(deployment.host("b")) == expected
    again = deployment.host("a")  # the writer's host too: it publishes on top of what it no longer has locally
    publish(again, [replace(first[0], headline="v2")])
    assert deployment.host("c").snapshot().generation == 3


def test_a_damaged_cached_file_is_found_by_its_hash_and_downloaded_again(deployment: Deployment) -> None:
    a = deployment.host("a")
    batch = docs(1, 10, "a")
    publish(a, batch)
    publish(a, [], removed={batch[2].id})
    expected = results(deployment.host("b"))
    view = deployment.host("b").snapshot().views[0]
    vectors, deletes = view.segment.path / "vectors.npy", view.segment.path / str(view.deletes_file)
    good = vectors.read_bytes()
    vectors.write_bytes(good[:-8] + bytes(8))  # same size, other bytes
    deletes.write_bytes(b"not a mask")
    assert results(deployment.host("b")) == expected, "a new process verifies, finds the damage, downloads again"
    assert vectors.read_bytes() == good


def test_a_damaged_published_file_is_a_clear_error(deployment: Deployment) -> None:
    a = deployment.host("a")
    segment_id = publish(a, docs(1, 4, "a")).views[0].segment.id
    deployment.objects.put_stream(layout.segment_key(segment_id, "docs.jsonl"), [b"{}\n"])
    with pytest.raises(IndexIntegrityError, match=f"segment {segment_id} .*docs.jsonl has 3 bytes"):
        deployment.host("b").snapshot()
    assert not (deployment.tmp_path / "b" / "index-cache" / "segments" / segment_id).exists()


# ---- writers on several hosts ---------------------------------------------------------------------------

def test_a_writer_that_loses_the_race_rebases(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = deployment.host("a"), deployment.host("b")
    base = docs(1, 8, "base")
    publish(a, base)
    advance = a.pointer.advance
    calls: list[int] = []

    def b_publishes_first(expected: int, new: int, manifest: str) -> bool:
        calls.append(new)
        if len(calls) == 1:  # between A's upload and A's pointer move, B publishes a new version of base[0]
            publish(b, [replace(base[0], headline="from B")], removed={base[1].id})
        return advance(expected, new, manifest)

    monkeypatch.setattr(a.pointer, "advance", b_publishes_first)
    mine = docs(2, 4, "a")
    done = publish(a, [*mine, replace(base[0], headline="from A")], removed={base[2].id})
    assert calls == [2, 3] and done.generation == 3, "A lost generation 2 to B, rebased, and won generation 3"
    ids = live_ids(deployment.host("c").snapshot())
    assert len(ids) == len(set(ids)), "every document is live once"
    assert set(ids) == ({d.id for d in base} - {base[1].id, base[2].id}) | {d.id for d in mine}
    assert [d["headline"] for d in live_docs(done) if d["id"] == base[0].id] == ["from A"], \
        "the last writer to move the pointer wins"
    assert len(deployment.keys("index/manifests/")) == 4, "B's generation 2 and A's losing candidate 2 both stay"


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_two_writers_racing_lose_no_document(s3: S3Server, tmp_path: Path, database: str,
                                             request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}" if database == "sqlite" else request.getfixturevalue("pg_url")
    shared = Deployment(s3, url, tmp_path)
    batches = {name: [docs(10 * i + n, 3, f"{name}{i}") for i in range(3)] for n, name in enumerate("ab")}
    batches["b"][2] = [replace(doc, headline="new version from b") for doc in batches["a"][0]]  # same ids as a's
    errors: list[BaseException] = []
    advances: list[bool] = []
    together = threading.Barrier(2, timeout=30)

    def write(name: str) -> None:
        store = shared.host(name)
        advance = store.pointer.advance

        def counted(expected: int, new: int, manifest: str) -> bool:
            if not advances:
                together.wait()  # both writers' first candidates are ready on the same base: one of them loses
            advances.append(moved := advance(expected, new, manifest))
            return moved

        store.pointer.advance = counted  # type: ignore[method-assign]
        try:
            for batch in batches[name]:
                publish(store, batch)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(name,)) for name in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and advances.count(False) >= 1, "at least one writer lost a round and rebased"
    newest = shared.host("c").snapshot()
    assert newest.generation == 6 and [p.generation for p in GenerationPointer(shared.db).published()] == [1, 2, 3, 4,
                                                                                                           5, 6]
    ids = live_ids(newest)
    assert sorted(ids) == sorted({d.id for group in batches.values() for batch in group for d in batch})
    shared.db.dispose()


def test_a_crash_between_upload_and_pointer_move_publishes_nothing(deployment: Deployment,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    a = deployment.host("a")
    batch = docs(1, 6, "a")
    publish(a, batch)
    expected = results(deployment.host("b"))

    def crash(*_args: object) -> bool:
        raise RuntimeError("the writer died here")

    monkeypatch.setattr(GenerationPointer, "advance", crash)
    with pytest.raises(RuntimeError, match="died"):
        publish(deployment.host("w"), docs(2, 6, "w"), removed={batch[0].id})
    monkeypatch.undo()
    assert len(deployment.keys("index/manifests/")) == 2, "its manifest was uploaded ..."
    assert GenerationPointer(deployment.db).current() == 1, "... but the pointer never moved"
    assert results(deployment.host("c")) == expected and results(a) == expected
    # the next publish takes generation 2; GC then removes the dead writer's leftovers once they are old enough
    publish(a, docs(3, 2, "n"))
    report = collect_garbage(a, keep=3, pinned=(), now=datetime.now(UTC) + timedelta(days=1))
    assert report.collected == [] and report.deleted_objects > 2
    assert len(deployment.keys("index/manifests/")) == 2
    assert {key.split("/")[2] for key in deployment.keys("index/segments/")} == {
        v.segment.id for v in deployment.host("d").snapshot().views}


# ---- pinned generations and garbage collection ---------------------------------------------------------

def test_a_pinned_generation_stays_searchable_after_newer_publishes_and_gc(deployment: Deployment) -> None:
    a = deployment.host("a")
    batch = docs(1, 10, "a")
    publish(a, batch)
    jobs = SqlJobStore(deployment.db)
    running = job(JobStatus.PROCESSING, 1)
    jobs.create(running)
    jobs.create(job(JobStatus.COMPLETED, 2))
    worker = deployment.host("worker")
    pinned = worker.open_generation(1)
    expected = results(worker, pinned)
    for i in range(4):
        publish(a, docs(10 + i, 3, f"n{i}"), removed={batch[i].id})
    settings = deployment.settings("worker", index_keep_generations=2)
    report = collect_index_garbage(settings)
    assert report is not None and report.collected == [2, 3] and report.kept == [1, 4, 5]
    assert results(worker, pinned) == expected, "the worker's open snapshot keeps working"
    assert results(deployment.host("late"), deployment.host("late").open_generation(1)) == expected
    with pytest.raises(NotFoundError, match="generation 2 is not published"):
        deployment.host("late").open_generation(2)
    jobs.transition(running.id, JobStatus.PROCESSING, JobStatus.COMPLETED)
    report = collect_index_garbage(settings)
    assert report is not None and report.collected == [1] and report.kept == [4, 5]
    cached = {p.name for p in (deployment.tmp_path / "worker" / "index-cache" / "segments").iterdir()}
    assert cached <= {v.segment.id for v in a.snapshot().views}, "the worker's cache keeps what kept generations use"


def test_gc_deletes_only_unreferenced_objects(deployment: Deployment) -> None:
    a = deployment.host("a")
    batch = docs(1, 8, "a")
    for i in range(4):  # generation 1 adds the batch, 2-4 each delete one document of it
        publish(a, batch if i == 0 else [], removed={batch[i].id} if i else None)
    keys_before = set(deployment.keys())
    put = deployment.objects.put_stream
    loser = layout.manifest_key(3, "f" * 64)  # a writer that lost generation 3
    in_flight = layout.manifest_key(5, "e" * 64)  # a writer still at work on generation 5
    old_orphan = layout.segment_key("20200101000000-deadbeef", "meta.json")  # a writer that crashed long ago
    new_orphan = layout.segment_key(datetime.now(UTC).strftime("%Y%m%d%H%M%S") + "-0badf00d", "meta.json")
    segment_id = a.snapshot().views[0].segment.id
    lost_mask = layout.segment_key(segment_id, layout.deletes_name(4, "d" * 64))
    future_mask = layout.segment_key(segment_id, layout.deletes_name(5, "c" * 64))
    for key in (loser, in_flight, old_orphan, new_orphan, lost_mask, future_mask):
        put(key, [b"x"])
    manifests = {p.generation: p.manifest for p in GenerationPointer(deployment.db).published()}
    referenced_masks = {layout.segment_key(segment_id, str(e["deletes"]))
                        for g in (3, 4) for e in a.cache.manifest(manifests[g])["segments"] if e["deletes"]}

    report = collect_garbage(a, keep=2, pinned=(), now=datetime.now(UTC))

    gone = keys_before | {loser, in_flight, old_orphan, new_orphan, lost_mask, future_mask}
    gone -= set(deployment.keys())
    assert report.collected == [1, 2]
    masks_of_1_2 = {k for k in keys_before if "/deletes-" in k} - referenced_masks
    assert gone == {manifests[1], manifests[2], loser, old_orphan, lost_mask} | masks_of_1_2
    assert report.deleted_objects == len(gone)
    for generation in (3, 4):  # everything a kept generation needs is still there, verified by a fresh host
        assert deployment.host(f"fresh{generation}").open_generation(generation).n_chunks > 0


# ---- wiring: the factory, an index from the embedded mode, the engine, the worker and the CLI -----------------

def test_the_embedded_default_is_the_index_folder(tmp_path: Path) -> None:
    store = open_index_store(Settings(data_dir=tmp_path))
    assert type(store) is IndexStore and store.root == tmp_path / "index"
    assert not (tmp_path / "batchsearch.db").exists(), "the embedded index needs no database"


def test_an_embedded_index_is_published_when_the_deployment_goes_shared(deployment: Deployment) -> None:
    local = IndexStore(deployment.tmp_path / "a" / "index")
    batch = docs(1, 8, "a")
    local.publish(batch, DIM)
    local.publish(docs(2, 3, "b"), DIM, removed_ids={batch[0].id})
    before = sorted(p.relative_to(local.root).as_posix() for p in local.root.rglob("*"))
    expected = results(local)

    store = open_index_store(deployment.settings("a"))
    assert isinstance(store, SharedIndexStore) and store.current_generation() == 2
    assert results(deployment.host("b")) == expected
    assert sorted(p.relative_to(local.root).as_posix() for p in local.root.rglob("*")) == before, "only read"
    assert open_index_store(deployment.settings("c")).current_generation() == 2, "adopted once"


def test_engine_worker_and_cli_use_the_shared_index(deployment: Deployment, monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from batchsearch.cli import app
    from batchsearch.jobs.worker import open_engine_searcher

    lines = [{"id": f"DOC{i}", "headline": f"Oil supply news {i}", "text": f"Oil producers cut supply again, report {i} said.",
              "timestamp": "2024-03-01"} for i in range(3)]
    source = tmp_path / "docs.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    env = {"BATCHSEARCH_OBJECT_STORE_URL": deployment.url, "BATCHSEARCH_S3_ENDPOINT_URL": deployment.endpoint,
           "BATCHSEARCH_DATABASE_URL": deployment.database_url}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    ingested = CliRunner().invoke(app, ["ingest", str(source), "--data-dir", str(tmp_path / "writer")])
    assert ingested.exit_code == 0, ingested.output
    assert "index generation 1" in ingested.output

    engine = SearchEngine.open(tmp_path / "api")
    assert isinstance(engine.store, SharedIndexStore) and engine.snapshot().n_docs == 3
    searcher = open_engine_searcher(deployment.settings("worker"))
    assert searcher.current_generation() == 1
    [answer] = searcher.search_many([Query.model_validate({"text": "oil supply"})], owner=None, generation=1)
    assert isinstance(answer, dict) and {r["id"] for r in answer["results"]} == {"DOC0", "DOC1", "DOC2"}

    collected = CliRunner().invoke(app, ["index", "gc", "--json", "--data-dir", str(tmp_path / "worker")])
    assert collected.exit_code == 0, collected.output
    assert json.loads(collected.stdout) == {"shared": True, "kept": [1], "collected": [], "deleted_objects": 0,
                                            "pruned_segments": 0}


def test_worker_sweeps_collect_garbage_at_most_once_a_minute_per_host(deployment: Deployment) -> None:
    from batch_fakes import FakeSearcher
    from batchsearch.jobs.worker import build_worker

    a = deployment.host("a")
    for i in range(4):
        publish(a, docs(i, 2, f"g{i}"))
    settings = deployment.settings("worker", index_keep_generations=1)
    assert build_worker(settings, FakeSearcher()).run_once(threading.Event()) is False
    pointer = GenerationPointer(deployment.db)
    assert [p.generation for p in pointer.published()] == [4] and len(deployment.keys("index/manifests/")) == 1
    publish(a, docs(9, 2, "late"))
    build_worker(settings, FakeSearcher()).run_once(threading.Event())
    assert [p.generation for p in pointer.published()] == [4, 5], "this host collected less than a minute ago"
    build_worker(deployment.settings("other-host", index_keep_generations=1),
                 FakeSearcher()).run_once(threading.Event())
    assert [p.generation for p in pointer.published()] == [5]
