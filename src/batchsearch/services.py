"""Builds the long-lived services (engine, ingestor, annotator) from Settings, for entrypoints."""

from __future__ import annotations

import logging
import time

from sqlalchemy import Engine, select

from batchsearch.clock import utcnow
from batchsearch.config import Settings
from batchsearch.index.deployment import (
    EMBEDDED_FOLDER,
    cache_folder,
    is_shared,
    open_index_store,
    open_shared_index,
)
from batchsearch.index.gc import GarbageReport, collect_garbage, collect_local_garbage
from batchsearch.index.store import IndexStore
from batchsearch.ingest.pipeline import Annotator, Ingestor
from batchsearch.storage.protocol import ObjectStore

log = logging.getLogger(__name__)
INDEX_GC_SECONDS = 60.0
_GC_STAMP = "gc.stamp"


def index_store(settings: Settings) -> IndexStore:
    """The index of these settings: the embedded folder, or the index shared through the object store
    (batchsearch.index.deployment decides)."""
    return open_index_store(settings)


def collect_index_garbage(settings: Settings, *, objects: ObjectStore | None = None) -> GarbageReport | None:
    """Collect the index's generations beyond the newest index_keep_generations that no unfinished batch job pins:
    a shared index's (pruning this host's cache too), or the embedded folder's under its writer lock; None when an
    ingest or compaction held that lock (nothing was collected)."""
    from batchsearch.db import create_db_engine

    db = create_db_engine(settings.resolved_database_url())
    try:
        keep, pinned = settings.index_keep_generations, pinned_generations(db)
        if not is_shared(settings):
            return collect_local_garbage(open_index_store(settings), keep=keep, pinned=pinned, now=utcnow())
        store = open_shared_index(settings, objects=objects, db=db)
        return collect_garbage(store, keep=keep, pinned=pinned, now=utcnow())
    finally:
        db.dispose()


def sweep_index_garbage(settings: Settings, objects: ObjectStore) -> None:
    """collect_index_garbage at most once per INDEX_GC_SECONDS per index folder or host cache, for worker sweeps;
    never raises."""
    stamp = (cache_folder(settings) if is_shared(settings) else settings.data_dir / EMBEDDED_FOLDER) / _GC_STAMP
    try:
        if stamp.exists() and time.time() - stamp.stat().st_mtime < INDEX_GC_SECONDS:
            return
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.touch()
        report = collect_index_garbage(settings, objects=objects)
    except Exception:  # an unreachable store or database: the next sweep tries again
        log.exception("index garbage collection failed")
        return
    if report is not None and (report.collected or report.deleted_objects):
        log.info("index garbage collection: generations %s collected, %d objects deleted, %d cached segments "
                 "dropped", report.collected, report.deleted_objects, report.pruned_segments)


def pinned_generations(db: Engine) -> set[int]:
    """The index generations that unfinished batch jobs search."""
    from batchsearch.jobs.states import TERMINAL
    from batchsearch.jobs.tables import batch_jobs

    stmt = select(batch_jobs.c.snapshot_generation).distinct().where(
        batch_jobs.c.snapshot_generation.is_not(None),
        batch_jobs.c.status.not_in([status.value for status in TERMINAL]),
    )
    with db.connect() as conn:
        values: list[int] = list(conn.execute(stmt).scalars())
    return {int(value) for value in values}


def build_annotator(settings: Settings) -> Annotator:
    """The default annotator over this data dir's knowledge graph (built on first use)."""
    from batchsearch.ingest.annotators import DefaultAnnotator
    from batchsearch.kg import KnowledgeGraph

    return DefaultAnnotator(KnowledgeGraph.open_or_build(settings.data_dir / "kg").detector())


def build_ingestor(settings: Settings, owner: str | None = None) -> Ingestor:
    """An ingestor writing into this data dir with the configured embedder and the default annotator."""
    from batchsearch.embeddings import build_embedder
    from batchsearch.index.compact import DEFAULT_POLICY

    return Ingestor(index_store(settings), build_embedder(settings), build_annotator(settings), owner=owner,
                    merge_policy=DEFAULT_POLICY if settings.index_auto_compact else None)
