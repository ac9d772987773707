"""Content processing that one tenant cannot stall (issue 12), with real child processes, a real SQLite file,
real files and the real encoder: the time and memory limits fail the document and spare the others, DELETE
kills the document's process, close() returns while a document is stuck, interrupted documents resume (and
are given up after MAX_ATTEMPTS starts), and the queue serves owners in turn.

Faults are injected through the token counter (it runs in the child process): it sleeps on a text that
holds STALL_MARK, raises on RAISE_MARK, kills its own process on DIE_MARK, and counts words otherwise.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from batchsearch.config import Settings
from batchsearch.contents.model import ContentRecord, ContentStatus
from batchsearch.contents.scheduler import FairQueue
from batchsearch.contents.service import MAX_ATTEMPTS, ContentService, UploadUrls
from batchsearch.contents.store import ContentStore
from batchsearch.db import create_db_engine
from batchsearch.embeddings import MiniLMEmbedder
from batchsearch.index.store import IndexStore
from batchsearch.ingest.annotators import DefaultAnnotator
from batchsearch.storage import open_object_store
from batch_servers import DEPLOYMENTS, deployment_settings

STALL_MARK, RAISE_MARK, DIE_MARK = "STALLFOREVER", "RAISEINCHILD", "DIEINCHILD"
WAIT_SECONDS = 120.0  # a bound on waits for the machine being slow, never an assertion about speed


class StallingCounter:
    """Words per text; a text holding STALL_MARK never finishes counting (a document that hangs its process),
    RAISE_MARK raises (a bug), DIE_MARK kills the process (a crash)."""

    def __call__(self, texts: Sequence[str]) -> list[int]:
        joined = " ".join(texts)
        if STALL_MARK in joined:
            time.sleep(3600)
        if RAISE_MARK in joined:
            raise RuntimeError("counter exploded")
        if DIE_MARK in joined:
            os.kill(os.getpid(), signal.SIGKILL)
        return count_words(texts)


def count_words(texts: Sequence[str]) -> list[int]:
    """Words per text (picklable: it runs in the child processes)."""
    return [len(text.split()) for text in texts]


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


class Contents:
    """ContentServices on one data folder (a new one stands for a restart), and helpers to upload and wait."""

    def __init__(self, data_dir: Path, embedder: MiniLMEmbedder, settings: dict[str, object]) -> None:
        self.settings = Settings(data_dir=data_dir, public_url="http://test", **settings)
        self.store = ContentStore(create_db_engine(self.settings.resolved_database_url()))
        self.objects = open_object_store(self.settings)
        self.index = IndexStore(data_dir / "index")
        self.embedder = embedder
        self.services: list[ContentService] = []

    def service(self, *, workers: int = 2, max_seconds: float = WAIT_SECONDS, max_memory_mb: int | None = None,
                make_annotator: Callable[[], Any] = lambda: DefaultAnnotator(None),
                count_tokens: Callable[[Sequence[str]], list[int]] | None = None) -> ContentService:
        service = ContentService(self.store, self.objects, UploadUrls("http://test", b"k" * 32), self.index,
                                 self.embedder, make_annotator, upload_ttl_seconds=600, workers=workers,
                                 max_seconds=max_seconds, max_memory_mb=max_memory_mb,
                                 count_tokens=count_tokens or StallingCounter())
        self.services.append(service)
        return service

    @staticmethod
    def upload(service: ContentService, owner: str, data: bytes, name: str = "doc.txt") -> str:
        record = service.create(owner, name).record
        service.receive_upload(record.id, [data[i : i + (1 << 20)] for i in range(0, len(data), 1 << 20)],
                               "text/plain")
        return record.id

    def wait(self, content_id: str) -> ContentRecord:
        """The record once it left processing."""
        return wait_for(lambda: self._finished(content_id), f"{content_id} to finish")

    def _finished(self, content_id: str) -> ContentRecord | None:
        record = self.store.get(content_id)
        assert record is not None, f"{content_id} was deleted"
        return None if record.status is ContentStatus.PROCESSING else record

    def live_ids(self) -> set[str]:
        """Ids of the documents with live chunks in the index."""
        ids: set[str] = set()
        for view in self.index.snapshot().views:
            docs = view.segment.docs
            ids.update(docs[int(i)]["id"] for i in set(view.segment.chunk_doc[view.live_mask()].tolist()))
        return ids


def wait_for(probe: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while (value := probe()) is None or value is False:
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def wait_running(service: ContentService, content_id: str) -> None:
    wait_for(lambda: content_id in service.sandbox.running(), f"{content_id} to run in a child process")


@pytest.fixture
def contents(tmp_path: Path, embedder: MiniLMEmbedder, request: pytest.FixtureRequest,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Contents]:
    """Services on SQLite and local files; a test parametrized indirectly with DEPLOYMENTS also runs on real
    PostgreSQL and S3 servers."""
    settings, env = deployment_settings(getattr(request, "param", "sqlite+file"), request)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    made = Contents(tmp_path, embedder, settings)
    yield made
    for service in made.services:
        service.close(timeout=30)


STUCK = f"Quarterly notes. {STALL_MARK} the rest never gets counted.".encode()


def test_time_and_memory_limits_fail_the_document_and_spare_other_tenants(contents: Contents) -> None:
    """Regression (issue 12): one content thread served every tenant and nothing bounded a document, so one
    upload stalled everybody's processing and grew the API process without limit."""
    service = contents.service(workers=2, max_seconds=20, max_memory_mb=64)
    stuck = contents.upload(service, "alice", STUCK)
    wait_running(service, stuck)
    bob = contents.upload(service, "bob", b"Bob's bank raised its dividend. Shares rose.")
    huge = contents.upload(service, "alice", b"word " * (16 << 20), "huge.txt")  # 80 MB: over 64 MiB in the child

    assert contents.wait(bob).status is ContentStatus.COMPLETED
    assert contents.store.get(stuck).status is ContentStatus.PROCESSING, "bob's document did not wait for alice's"
    over_memory = contents.wait(huge)
    assert (over_memory.status, over_memory.error_code) == (ContentStatus.FAILED, "PROCESSING_MEMORY_LIMIT")
    assert "64 MiB" in (over_memory.error or "")
    timed_out = contents.wait(stuck)
    assert (timed_out.status, timed_out.error_code) == (ContentStatus.FAILED, "PROCESSING_TIMEOUT")
    assert "20 seconds" in (timed_out.error or "")

    after = contents.upload(service, "alice", b"Alice's fund bought bonds.")  # the workers recovered
    assert contents.wait(after).status is ContentStatus.COMPLETED
    assert contents.live_ids() == {bob, after}
    assert service.sandbox.running() == set()


@pytest.mark.parametrize("contents", DEPLOYMENTS, indirect=True)
def test_delete_kills_the_running_document_and_indexes_nothing(contents: Contents) -> None:
    service = contents.service(workers=1)
    stuck = contents.upload(service, "alice", STUCK)
    queued = contents.upload(service, "bob", b"Bob's insurer settled the claim.")
    wait_running(service, stuck)

    service.delete(service.fetch_owned(stuck, "alice"))
    assert contents.wait(queued).status is ContentStatus.COMPLETED, "the only worker was freed by the delete"
    assert contents.store.get(stuck) is None
    assert contents.objects.list_keys(f"contents/{stuck}/") == []
    assert contents.live_ids() == {queued}


def test_close_with_a_stuck_document_returns_and_it_resumes_at_the_next_start(contents: Contents) -> None:
    """Regression (issue 12): shutdown waited for the running document, so SIGTERM hung."""
    service = contents.service(workers=1)
    stuck = contents.upload(service, "alice", STUCK)
    process = wait_for(lambda: service.sandbox._running.get(stuck), "the stuck document to run")

    closing = threading.Thread(target=service.close, daemon=True)
    closing.start()
    closing.join(WAIT_SECONDS)
    assert not closing.is_alive(), "close() hung on the stuck document"
    assert not process.is_alive(), "its child process was killed"
    assert contents.store.get(stuck).status is ContentStatus.PROCESSING  # left for the next start

    restarted = contents.service(workers=1, count_tokens=count_words)  # the stall was this server's fault
    assert restarted.resume() == 1
    assert contents.wait(stuck).status is ContentStatus.COMPLETED
    assert contents.live_ids() == {stuck}


@pytest.mark.parametrize("contents", DEPLOYMENTS, indirect=True)
def test_a_document_interrupted_at_every_start_is_given_up(contents: Contents) -> None:
    service = contents.service(workers=1)
    stuck = contents.upload(service, "alice", STUCK)
    for start in range(MAX_ATTEMPTS):
        if start:
            service = contents.service(workers=1)
            assert service.resume() == 1
        wait_running(service, stuck)
        service.close()

    last = contents.service(workers=1)
    assert last.resume() == 1
    given_up = contents.wait(stuck)
    assert (given_up.status, given_up.error_code) == (ContentStatus.FAILED, "PROCESSING_ABANDONED")
    assert f"interrupted {MAX_ATTEMPTS} times" in (given_up.error or "")


def test_one_tenants_queue_does_not_delay_another_tenants_document(contents: Contents) -> None:
    """Regression (issue 12): documents ran first come, first served, so bob waited behind all of alice's."""
    gate = threading.Event()
    calls = iter(range(1_000))

    def annotator_after_the_first() -> DefaultAnnotator:
        if next(calls) == 0:
            gate.wait(WAIT_SECONDS)  # the first document holds the only worker while the others queue
        return DefaultAnnotator(None)

    service = contents.service(workers=1, make_annotator=annotator_after_the_first)
    alice = [contents.upload(service, "alice", f"Alice's note number {i}.".encode()) for i in range(6)]
    bob = contents.upload(service, "bob", b"Bob's only note.")
    gate.set()
    finished = sorted((contents.wait(i) for i in [*alice, bob]), key=lambda r: r.updated_at)
    assert [r.id for r in finished] == [alice[0], bob, *alice[1:]]


def test_fair_queue_serves_owners_in_turn_and_a_document_one_task_at_a_time() -> None:
    queue: FairQueue[str] = FairQueue()
    for i in range(50):
        queue.put("alice", f"a{i}", "process")
    queue.put("bob", "b0", "process")
    queue.put("carol", "c0", "process")
    queue.put("carol", "c0", "reindex")  # the same document again: only after its first task is done
    order = [queue.get() for _ in range(5)]
    assert order == [("a0", "process"), ("b0", "process"), ("c0", "process"), ("a1", "process"),
                     ("a2", "process")]
    queue.done("c0")
    assert queue.get() == ("c0", "reindex")
    assert queue.discard("a10") == 1 and queue.waiting() == 46
    queue.close()
    assert queue.get() is None and not queue.put("bob", "b1", "process")


def test_a_long_index_stage_of_one_tenant_leaves_a_worker_for_the_others(contents: Contents) -> None:
    """Regression (issue 12): annotation and embedding ran under the index's writer lock, so one long document
    held up every other tenant's; and one tenant's documents could take every worker."""
    gate, entered = threading.Event(), threading.Event()

    class SlowForAlice(DefaultAnnotator):
        def entities(self, text: str) -> list[Any]:
            if "Alice" in text:
                entered.set()
                gate.wait(WAIT_SECONDS)  # a document that takes long to annotate or embed
            return super().entities(text)

    service = contents.service(workers=2, make_annotator=lambda: SlowForAlice(None))
    alice = [contents.upload(service, "alice", f"Alice's long report, part {i}.".encode()) for i in range(2)]
    wait_for(entered.is_set, "alice's first document to be annotated")
    bob = contents.upload(service, "bob", b"Bob's short note on rates.")
    assert contents.wait(bob).status is ContentStatus.COMPLETED
    assert [contents.store.get(i).status for i in alice] == [ContentStatus.PROCESSING] * 2
    gate.set()
    assert [contents.wait(i).status for i in alice] == [ContentStatus.COMPLETED] * 2
    assert contents.live_ids() == {bob, *alice}


def test_fair_queue_limits_the_tasks_of_one_owner_at_once() -> None:
    queue: FairQueue[str] = FairQueue(max_per_owner=1)
    for key in ("a0", "a1"):
        queue.put("alice", key, "process")
    queue.put("bob", "b0", "process")
    assert [queue.get(), queue.get()] == [("a0", "process"), ("b0", "process")]
    assert queue.waiting() == 1  # a1 waits until alice's running task is done
    queue.done("a0")
    assert queue.get() == ("a1", "process")


def test_a_crash_in_the_child_fails_the_document_and_the_next_one_completes(contents: Contents) -> None:
    service = contents.service(workers=1)
    raised = contents.upload(service, "alice", f"Notes. {RAISE_MARK} here.".encode())
    died = contents.upload(service, "alice", f"Notes. {DIE_MARK} here.".encode())
    fine = contents.upload(service, "alice", b"Notes that index fine.")
    first, second = contents.wait(raised), contents.wait(died)
    assert (first.status, first.error_code) == (ContentStatus.FAILED, "PROCESSING_ERROR")
    assert "RuntimeError" in (first.error or "")
    assert (second.status, second.error_code) == (ContentStatus.FAILED, "PROCESSING_ERROR")
    assert f"exit status -{int(signal.SIGKILL)}" in (second.error or "")
    assert contents.wait(fine).status is ContentStatus.COMPLETED
    assert contents.live_ids() == {fine}
