"""One index snapshot per job: pinned at start, kept across ingests and resumes; identical queries run once."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from batchsearch.config import Settings
from batchsearch.db import create_db_engine
from batchsearch.jobs import parts
from batchsearch.jobs.service import BatchService
from batchsearch.index.snapshot_ids import snapshot_id
from batchsearch.jobs.worker import EngineLineSearcher, Worker

from batchsearch.models.search import parse_search_request

from batch_fakes import FakeSearcher
from batch_servers import WORDS, build_index, query_lines
from test_jobs_runner import Clock, Crash, CrashingStore, output_of, run_until_idle, submit


def service_for(settings: Settings, clock: Any = None) -> BatchService:
    service = BatchService.from_settings(settings, create_db_engine(settings.resolved_database_url()))
    if clock is not None:
        service.clock = clock
    return service


def volatile_free(response: dict[str, Any], *, approx: bool = False) -> dict[str, Any]:
    """The response without request id and timestamp; relevance compared approximately (embedding a query
    in a batch of another size moves the 6th decimal)."""
    response = json.loads(json.dumps(response))
    response["metadata"].pop("request_id", None)
    response["metadata"].pop("timestamp", None)
    for doc in response["results"]:
        for chunk in doc["chunks"]:
            if approx:
                chunk["relevance"] = pytest.approx(chunk["relevance"], abs=1e-4)
    return response


class IngestingSearcher(EngineLineSearcher):
    """The real engine; before its second micro-batch, new documents matching every query are published."""

    def __init__(self, engine: Any, ingest: Any) -> None:
        super().__init__(engine)
        self.ingest, self.calls = ingest, 0

    def search_many(self, queries: Any, *, owner: str | None, generation: int | None) -> Any:
        self.calls += 1
        if self.calls == 2:
            self.ingest()
        return super().search_many(queries, owner=owner, generation=generation)


def test_ingesting_while_a_batch_runs_changes_none_of_its_results(tmp_path: Path) -> None:
    from batchsearch.ingest.pipeline import Ingestor
    from batchsearch.search.engine import SearchEngine
    from batchsearch.services import build_annotator

    build_index(tmp_path, n_docs=60)
    settings = Settings(data_dir=tmp_path, micro_batch_size=8, query_timeout_seconds=300)
    engine = SearchEngine.open(tmp_path)
    pinned = engine.store.current_generation()
    new_docs = tmp_path / "new.jsonl"
    new_docs.write_text("".join(json.dumps({"id": f"N{i}", "headline": "all the words", "timestamp": 1_800_000_000 + i,
                                            "text": " ".join(WORDS * 3)}) + "\n" for i in range(10)))
    ingestor = Ingestor(engine.store, engine.embedder, build_annotator(settings))
    service = service_for(settings)
    data = query_lines(24)
    job = submit(service, data)
    searcher = IngestingSearcher(engine, lambda: ingestor.ingest_file(str(new_docs), "jsonl"))
    run_until_idle(Worker(settings, service.backend, service.objects, searcher))

    assert engine.store.current_generation() > pinned  # the ingest happened mid-batch
    done = service.backend.get(job.id)
    assert done is not None and done.snapshot_generation == pinned
    assert service.status(done)["snapshot_id"] == snapshot_id(pinned, service.snapshot_key)
    rows = [json.loads(line) for line in output_of(service, job.id).splitlines()]
    queries = [parse_search_request(json.loads(line)).query for line in data.splitlines()]
    expected = engine.search_many(queries, owner="alice", snapshot=engine.store.open_generation(pinned))
    latest = engine.search_many(queries, owner="alice")
    assert all(r["response"]["metadata"]["snapshot_id"] == snapshot_id(pinned, service.snapshot_key) for r in rows)
    assert [volatile_free(r["response"]) for r in rows] == [volatile_free(e, approx=True) for e in expected]  # type: ignore[arg-type]
    assert [volatile_free(r["response"]) for r in rows] != [volatile_free(e, approx=True) for e in latest]  # type: ignore[arg-type]


def test_a_resumed_job_searches_the_generation_it_pinned(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, micro_batch_size=8, query_timeout_seconds=5)
    clock = Clock()
    service = service_for(settings, clock)
    job = submit(service, b"".join(json.dumps({"query": {"text": f"q{i}"}}).encode() + b"\n" for i in range(40)))
    crashing = CrashingStore(create_db_engine(settings.resolved_database_url()), crash_at=3)
    before = FakeSearcher(generation=7)
    with pytest.raises(Crash):
        Worker(settings, crashing, service.objects, before, clock=clock).run_once(threading.Event())
    clock.offset = timedelta(seconds=settings.lease_seconds + 1)
    after = FakeSearcher(generation=8)  # the index moved on while the job was down
    run_until_idle(Worker(settings, service.backend, service.objects, after, clock=clock))
    assert set(before.generations) == {7} and set(after.generations) == {7}
    assert service.status(service.backend.get(job.id))["snapshot_id"] == snapshot_id(7, service.snapshot_key)  # type: ignore[arg-type]


def test_snapshot_ids_are_opaque_and_do_not_count_generations(tmp_path: Path) -> None:
    service = service_for(Settings(data_dir=tmp_path))
    ids = [snapshot_id(generation, service.snapshot_key) for generation in (7, 8, 7)]
    assert ids[0] == ids[2] != ids[1]  # equal ids still mean the same snapshot
    assert all(i is not None and i.startswith("snap-") and "7" not in i[:5] and i != "gen-7" for i in ids)
    assert snapshot_id(7, b"another deployment's key") != ids[0]  # a keyed hash: no table of ids reverses it


def test_identical_queries_in_a_micro_batch_run_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, micro_batch_size=10, query_timeout_seconds=5)
    service = service_for(settings)
    lines = [{"query": {"text": "same", "max_chunks": 3}}, {"query": {"max_chunks": 3, "text": "same"}},
             {"query": {"text": "other"}}] * 4
    job = submit(service, b"\n".join(json.dumps(line).encode() for line in lines))
    searcher = FakeSearcher()
    run_until_idle(Worker(settings, service.backend, service.objects, searcher))
    assert searcher.calls == [2, 2]  # lines 1-10 and 11-12: two distinct queries each
    rows = [json.loads(line) for line in output_of(service, job.id).splitlines()]
    assert [r["line_number"] for r in rows] == list(range(1, 13))
    assert [r["response"]["results"][0]["text"] for r in rows] == [q["query"]["text"] for q in lines]
    assert parts.job_part_ranges(service.objects, job.id) == []
