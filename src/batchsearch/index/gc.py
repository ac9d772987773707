"""Garbage collection of a shared index: generations neither among the newest few nor pinned by a batch job go.

Collecting forgets the generations in the database first (so nobody resolves them any more), then deletes
from the object store what no kept manifest references: their manifests, delete masks only they used, and
leftovers of writers that lost a race or crashed. Objects of writers still at work are spared: manifests and
delete masks of generations newer than the pointer, and segments younger than ORPHAN_GRACE (a segment id
starts with its build time). Last, this host's cache drops what no kept generation uses.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from filelock import Timeout

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

ORPHAN_GRACE = timedelta(hours=6)


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
