"""Garbage collection of an index: generations neither among the newest few nor pinned by a batch job go.

A shared index (collect_garbage): collecting forgets the generations in the database first (so nobody resolves
them any more), then deletes from the object store what no kept manifest references: their manifests, delete
masks only they used, and leftovers of writers that lost a race or crashed. Objects of writers still at work are
spared: manifests and delete masks of generations newer than the pointer, and segments younger than ORPHAN_GRACE
(a segment id starts with its build time). Last, this host's cache drops what no kept generation uses.

The embedded index (collect_local_garbage) is collected under its writer lock, so no ingest or compaction
publishes meanwhile: the manifests of collected generations go first, then delete files only they used, then the
segment folders no kept manifest lists, and build folders (`.<id>.tmp`) of writers that crashed. Segment and build
folders younger than ORPHAN_GRACE are spared, as in a shared index. The current generation and everything it lists
always stay.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from filelock import Timeout

from batchsearch.errors import InternalError
from batchsearch.index.objects import (
    FILE_LIST,
    MANIFESTS,
    SEGMENTS,
    generation_of,
    is_segment_file,
    segment_created_at,
)
from batchsearch.index.pointer import Published
from batchsearch.index.shared import SharedIndexStore
from batchsearch.index.store import IndexStore, deletes_file_generation

log = logging.getLogger(__name__)

ORPHAN_GRACE = timedelta(hours=6)
LOCK_WAIT_SECONDS = 1.0
_BUILD_SUFFIX = ".tmp"


@dataclass
class GarbageReport:
    """What one collection removed."""

    kept: list[int] = field(default_factory=list)
    collected: list[int] = field(default_factory=list)
    deleted_objects: int = 0
    pruned_segments: int = 0


@dataclass
class _References:
    """Everything the kept generations use."""

    manifests: set[str] = field(default_factory=set)
    segments: set[str] = field(default_factory=set)
    deletes: set[tuple[str, str]] = field(default_factory=set)


def generations_to_keep(published: Collection[int], head: int, keep: int, pinned: Collection[int]) -> set[int]:
    """The newest `keep` published generations, the pinned ones still published, and the current one."""
    newest = sorted(published)[-keep:] if keep > 0 else []
    return ({head} | set(newest) | set(pinned)) & set(published)


def collect_garbage(store: SharedIndexStore, *, keep: int, pinned: Collection[int], now: datetime,
                    grace: timedelta = ORPHAN_GRACE) -> GarbageReport:
    """Collect the generations of `store` beyond the newest `keep` that no batch job pins (`pinned`)."""
    head = store.pointer.current()  # read before listing: anything newer belongs to a writer at work
    published = store.pointer.published()
    kept_generations = generations_to_keep([p.generation for p in published], head, keep, pinned)
    kept = [p for p in published if p.generation in kept_generations]
    doomed = [p.generation for p in published if p.generation not in kept_generations]
    references = _references(store, kept)
    store.pointer.forget(doomed)
    garbage = _unreferenced_manifests(store, references, head)
    garbage += _unreferenced_segment_objects(store, references, head, now - grace)
    store.remote.delete(garbage)
    report = GarbageReport(kept=sorted(kept_generations), collected=doomed, deleted_objects=len(garbage))
    report.pruned_segments = prune_cache(store, references)
    return report


def _references(store: SharedIndexStore, kept: list[Published]) -> _References:
    """The manifests, segments and delete masks of the kept generations."""
    found = _References()
    for generation in kept:
        found.manifests.add(generation.manifest)
        for entry in store.cache.manifest(generation.manifest)["segments"]:
            found.segments.add(entry["id"])
            if entry.get("deletes"):
                found.deletes.add((entry["id"], entry["deletes"]))
    return found


def _unreferenced_manifests(store: SharedIndexStore, references: _References, head: int) -> list[str]:
    """Manifests of collected generations and of writers that lost (never those newer than `head`)."""
    garbage = []
    for key in store.remote.list_keys(f"{MANIFESTS}/"):
        generation = generation_of(key)
        if key not in references.manifests and generation is not None and generation <= head:
            garbage.append(key)
    return garbage


def _unreferenced_segment_objects(store: SharedIndexStore, references: _References, head: int,
                                  built_before: datetime) -> list[str]:
    """Files of segments no kept generation uses (once older than the grace period), and delete masks of
    kept segments that no kept generation uses (never those of generations newer than `head`)."""
    garbage = []
    for key in store.remote.list_keys(f"{SEGMENTS}/"):
        segment_id, _, name = key.removeprefix(f"{SEGMENTS}/").partition("/")
        if segment_id not in references.segments:
            built = segment_created_at(segment_id)
            if built is not None and built < built_before:
                garbage.append(key)
        elif name != FILE_LIST and not is_segment_file(name):
            generation = generation_of(name)
            if (segment_id, name) not in references.deletes and generation is not None and generation <= head:
                garbage.append(key)
    return garbage


def prune_cache(store: SharedIndexStore, references: _References) -> int:
    """Drop cached segments, masks and manifests no kept generation uses; skipped (0) while a writer on this
    host holds the writer lock, since its new segment is in no manifest yet."""
    lock = store.writer_lock()
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return 0
    try:
        return store.cache.prune(references.segments, references.deletes, references.manifests)
    finally:
        lock.release()


# ---- the embedded index --------------------------------------------------------------------------------------

def collect_local_garbage(store: IndexStore, *, keep: int, pinned: Collection[int], now: datetime,
                          grace: timedelta = ORPHAN_GRACE,
                          lock_wait: float = LOCK_WAIT_SECONDS) -> GarbageReport | None:
    """Collect the generations of the embedded `store` beyond the newest `keep` that no batch job pins (`pinned`),
    under its writer lock; None (nothing collected) when a writer held the lock for `lock_wait` seconds."""
    if not store.root.is_dir():
        return GarbageReport()
    lock = store.writer_lock()
    try:
        lock.acquire(timeout=lock_wait)
    except Timeout:
        log.info("index garbage collection skipped: an ingest or compaction holds the writer lock of %s", store.root)
        return None
    try:
        return _collect_local(store, keep, pinned, now - grace)
    finally:
        lock.release()


def _collect_local(store: IndexStore, keep: int, pinned: Collection[int], built_before: datetime) -> GarbageReport:
    """collect_local_garbage, under the writer lock."""
    head = store.current_generation()
    published = [generation for generation in store.manifest_generations() if generation <= head]
    if head and head not in published:
        raise InternalError(f"the index's current generation {head} has no manifest in {store.manifests_dir}; "
                            "nothing was collected")
    kept_generations = generations_to_keep(published, head, keep, pinned)
    doomed = [generation for generation in published if generation not in kept_generations]
    references = _local_references(store, kept_generations)
    deleted = _delete_paths([store.manifest_path(generation) for generation in doomed])
    deleted += _delete_paths(_unreferenced_local_deletes(store, references, head))
    deleted += _delete_paths(_unreferenced_segment_folders(store, references, built_before))
    return GarbageReport(kept=sorted(kept_generations), collected=doomed, deleted_objects=deleted)


def _local_references(store: IndexStore, generations: Collection[int]) -> _References:
    """The segments and delete files of the kept generations."""
    found = _References()
    for generation in generations:
        for entry in store.segment_entries(generation):
            found.segments.add(entry["id"])
            if entry.get("deletes"):
                found.deletes.add((entry["id"], entry["deletes"]))
    return found


def _unreferenced_local_deletes(store: IndexStore, references: _References, head: int) -> list[Path]:
    """Delete files in kept segments that no kept generation uses (never those of generations newer than `head`,
    which the next publish writes again)."""
    garbage = []
    for segment_id in sorted(references.segments):
        for path in (store.segments_dir / segment_id).iterdir():
            generation = deletes_file_generation(path.name)
            if generation is not None and generation <= head and (segment_id, path.name) not in references.deletes:
                garbage.append(path)
    return garbage


def _unreferenced_segment_folders(store: IndexStore, references: _References, built_before: datetime) -> list[Path]:
    """Segment folders no kept generation lists, and build folders, built before `built_before` (a folder whose
    name carries no build time is left alone)."""
    if not store.segments_dir.is_dir():
        return []
    garbage = []
    for path in sorted(store.segments_dir.iterdir()):
        is_build = path.name.startswith(".") and path.name.endswith(_BUILD_SUFFIX)
        segment_id = path.name[1:-len(_BUILD_SUFFIX)] if is_build else path.name
        if not path.is_dir() or (not is_build and segment_id in references.segments):
            continue
        built = segment_created_at(segment_id)
        if built is not None and built < built_before:
            garbage.append(path)
    return garbage


def _delete_paths(paths: list[Path]) -> int:
    """Delete files and folders; how many were there."""
    deleted = 0
    for path in paths:
        try:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            continue
        deleted += 1
    return deleted
