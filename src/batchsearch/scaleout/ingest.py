"""Ingestion on Ray: actors chunk, annotate and embed shards of documents; this process writes the segments and
publishes them all as one generation.

Documents are read and checked here, grouped into shards of about `shard_chars` characters and built by a pool
of IngestActors (each loads the encoder and annotator once). Built documents come back in input order and are
written as staged segments, listed by no generation until the last one is written: an actor that dies has its
shard built again by Ray, and a driver that dies leaves the published index as it was.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from batchsearch.config import Settings
from batchsearch.index.records import DocumentRecord
from batchsearch.index.store import IndexStore
from batchsearch.ingest.documents import DocumentIn, DocumentLineError, read_documents
from batchsearch.ingest.pipeline import SEGMENT_MAX_CHUNKS, IngestReport, Progress
from batchsearch.scaleout.cluster import actor_settings, cluster_cpus, connect
from batchsearch.scaleout.pool import ActorPool

SHARD_CHARS = 32 * 1200  # about 32 chunks: enough to batch the encoder well, small enough to spread evenly


class IngestActor:
    """One encoder and annotator for the life of the actor; each call builds one shard of documents."""

    def __init__(self, settings: Settings) -> None:
        from batchsearch.runtime import apply_blas_threads
        from batchsearch.services import build_ingestor

        apply_blas_threads(settings)
        self._ingestor = build_ingestor(settings)

    def dim(self) -> int:
        """Length of the encoder's vectors (it answers once the encoder is loaded)."""
        return int(self._ingestor.embedder.dim)

    def build(self, docs: list[DocumentIn]) -> list[DocumentRecord]:
        """The shard's documents chunked, annotated and embedded."""
        return self._ingestor.build(list(docs))


def shards(items: Iterable[DocumentIn | DocumentLineError], errors: list[DocumentLineError],
           shard_chars: int) -> Iterator[list[DocumentIn]]:
    """Consecutive groups of documents of about shard_chars characters; bad lines go to `errors`."""
    shard: list[DocumentIn] = []
    size = 0
    for item in items:
        if isinstance(item, DocumentLineError):
            errors.append(item)
            continue
        shard.append(item)
        size += len(item.text) + len(item.headline)
        if size >= shard_chars:
            yield shard
            shard, size = [], 0
    if shard:
        yield shard


def ingest_on_ray(settings: Settings, path: Path, fmt: str = "jsonl", *, actors: int | None = None,
                  shard_chars: int = SHARD_CHARS, progress: Progress | None = None) -> IngestReport:
    """Ingest a file on `actors` IngestActors (default settings.ray_actors, else one per CPU of the cluster)."""
    from batchsearch.services import index_store

    ray = connect()
    store = index_store(settings)
    pool = ActorPool(ray, IngestActor, actors or settings.ray_actors or cluster_cpus(ray), actor_settings(settings))
    try:
        dim = pool.call_all("dim")[0]
        report = IngestReport()
        started = time.perf_counter()
        with store.writer_lock():
            staged = _stage_all(store, dim, pool.map("build", shards(read_documents(str(path), fmt), report.errors,
                                                                       shard_chars)), report, started, progress)
            report.generation = (store.publish_staged(staged).generation if staged
                                 else store.current_generation())
    finally:
        pool.close()
    report.seconds = time.perf_counter() - started
    if progress:
        progress(report)
    return report


def _stage_all(store: IndexStore, dim: int, built: Iterable[list[DocumentRecord]], report: IngestReport, started: float,
               progress: Progress | None) -> list[dict[str, Any]]:
    """Write built documents as staged segments of at most about SEGMENT_MAX_CHUNKS chunks; their entries."""
    staged: list[dict[str, Any]] = []
    segment: list[DocumentRecord] = []
    chunks = 0
    for records in built:
        segment.extend(records)
        added = sum(len(record.chunks) for record in records)
        chunks += added
        report.documents += len(records)
        report.chunks += added
        report.seconds = time.perf_counter() - started
        if progress:
            progress(report)
        if chunks >= SEGMENT_MAX_CHUNKS:
            staged.append(store.stage(segment, dim))
            segment, chunks = [], 0
    if segment:
        staged.append(store.stage(segment, dim))
    return staged
