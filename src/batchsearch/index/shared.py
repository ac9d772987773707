"""An index shared by many hosts: published through an object store, its generation pointer in the database.

A writer builds a segment in this host's cache folder, uploads its files and file list, uploads the delete
masks it adds, writes an immutable manifest object, and only then moves the pointer with compare-and-set.
When another host published meanwhile, the writer rebases: it recomputes the delete masks on the new newest
generation (the uploaded segment stays valid) and tries again, a bounded number of times. A crash before the
pointer moves leaves nothing readers follow. Readers look the pointer up at most once per `check_seconds`,
download the segments they lack into the cache (verified by sha256) and keep any generation they pinned.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from batchsearch.errors import ConflictError, NotFoundError, ServiceUnavailableError
from batchsearch.index.builder import build_segment
from batchsearch.index.cache import SegmentCache
from batchsearch.index.objects import (
    IndexObjects,
    deletes_name,
    encode_manifest,
    manifest_key,
    segment_key,
    sha256_bytes,
)
from batchsearch.index.pointer import GenerationPointer
from batchsearch.index.records import DocumentRecord, RecordStream
from batchsearch.index.store import (
    MANIFEST_FORMAT_VERSION,
    IndexStore,
    SegmentMerge,
    SegmentView,
    Snapshot,
    deletes_after,
    ids_replaced_later,
    last_version_only,
)
from batchsearch.storage.local import make_private_dir
from batchsearch.storage.protocol import ObjectStore

log = logging.getLogger(__name__)
POINTER_CHECK_SECONDS = 1.0
PUBLISH_ATTEMPTS = 8


class SharedIndexStore(IndexStore):
    """Reads and publishes the generations of an index shared through `objects` and `pointer`; `root` is only
    this host's cache (deleting it loses nothing)."""

    def __init__(self, root: Path, objects: ObjectStore, pointer: GenerationPointer, *,
                 check_seconds: float = POINTER_CHECK_SECONDS, publish_attempts: int = PUBLISH_ATTEMPTS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(root)
        self.remote = IndexObjects(objects)
        self.pointer = pointer
        self.cache = SegmentCache(root, self.remote)
        self._check_seconds = check_seconds
        self._publish_attempts = publish_attempts
        self._clock = clock
        self._manifest_keys: dict[int, str] = {}
        self._current = 0
        self._checked_at: float | None = None
        self._pointer_lock = threading.Lock()

    # ---- reading -------------------------------------------------------------------------
    def current_generation(self) -> int:
        """The published generation, looked up in the database at most once per check_seconds; while the
        database is unreachable the last generation seen stays current."""
        with self._pointer_lock:
            now = self._clock()
            if self._checked_at is None or now - self._checked_at >= self._check_seconds:
                self._refresh(now)
            return self._current

    def _refresh(self, now: float) -> None:
        """Read the pointer (a failure keeps the last value, when there is one)."""
        try:
            head = self.pointer.head()
        except Exception as exc:
            if self._checked_at is None:
                raise ServiceUnavailableError(f"cannot read the index generation from the database: {exc}") from exc
            log.warning("index: reading the generation pointer failed (%s); staying on generation %d", exc,
                        self._current)
            self._checked_at = now
            return
        if head is not None:
            self._manifest_keys[head.generation] = head.manifest
        self._current = 0 if head is None else head.generation
        self._checked_at = now

    def _remember(self, generation: int, key: str) -> None:
        """Remember a generation this process just published."""
        with self._pointer_lock:
            self._manifest_keys[generation] = key
            self._current = generation
            self._checked_at = self._clock()

    def manifest_key(self, generation: int) -> str:
        """The manifest object of a published generation (NotFoundError when collected or never published)."""
        key = self._manifest_keys.get(generation)
        if key is None:
            key = self.pointer.manifest(generation)
            if key is None:
                raise NotFoundError(f"Index generation {generation} is not published (or was garbage-collected)")
            self._manifest_keys[generation] = key
        return key

    def _read_manifest(self, generation: int) -> dict[str, Any]:
        return self.cache.manifest(self.manifest_key(generation))

    def _segment_path(self, entry: dict[str, Any]) -> Path:
        return self.cache.segment(entry["id"], entry["files"])

    def _load_deletes(self, entry: dict[str, Any]) -> np.ndarray | None:
        if not entry.get("deletes"):
            return None
        return self.cache.deletes(entry["id"], entry["deletes"], entry["deletes_sha256"])

    # ---- writing -------------------------------------------------------------------------
    def stage(self, docs: list[DocumentRecord] | RecordStream, dim: int) -> dict[str, Any]:
        """Build `docs` as a segment in the cache and upload it, listed by no generation yet; its manifest entry,
        for publish_staged."""
        make_private_dir(self.segments_dir)
        return self._upload_new_segment(last_version_only(docs) if isinstance(docs, list) else docs, dim)  # as store

    def publish_staged(self, staged: list[dict[str, Any]], removed_ids: Iterable[str] = ()) -> Snapshot:
        """Publish staged segments as one generation for every host: their documents replace older versions of the
        same ids (a later staged segment's those of an earlier one), `removed_ids` are deleted; call under
        writer_lock. Raises ConflictError when other hosts kept winning for publish_attempts tries."""
        views = [SegmentView(self._loaded(entry), None) for entry in staged]
        replaced = set(removed_ids).union(*(view.segment.doc_index for view in views))

        def entries_on(base: Snapshot, generation: int) -> list[dict[str, Any]]:
            entries = self._entries_after(base, replaced, generation)
            return entries + [self._entry_after(entry, view, ids, generation)
                              for entry, view, ids in zip(staged, views, ids_replaced_later(views), strict=True)]

        return self._advance(entries_on, "the new segments")

    def publish_merged(self, base: Snapshot, merges: list[SegmentMerge]) -> Snapshot:
        """Publish a generation for every host that lists each merge's segment in place of the segments it
        replaces, read from generation `base`; when other hosts published meanwhile the merge rebases on the newest
        generation, deleting from the merged segments what they deleted. Call under writer_lock; ConflictError
        when a replaced segment is gone or other hosts kept winning for publish_attempts tries."""

        def entries_on(current: Snapshot, generation: int) -> list[dict[str, Any]]:
            entries = self._read_manifest(current.generation)["segments"] if current.generation else []
            return self._merged_entries(base, current, entries, merges, generation)

        return self._advance(entries_on, "the merged segments")

    def _advance(self, entries_on: Callable[[Snapshot, int], list[dict[str, Any]]], what: str) -> Snapshot:
        """Write the manifest `entries_on(newest snapshot, next generation)` and move the pointer to it; when another
        host published in between, rebase on its generation. ConflictError after publish_attempts lost races."""
        for attempt in range(1, self._publish_attempts + 1):
            base = self._newest()
            generation = base.generation + 1
            key = self._put_manifest(generation, entries_on(base, generation))
            if self.pointer.advance(base.generation, generation, key):
                self._remember(generation, key)
                return self.snapshot()
            log.info("index: another host published generation %d first; rebasing %s (attempt %d of %d)",
                     generation, what, attempt, self._publish_attempts)
        raise ConflictError(f"Publishing {what} lost to other writers {self._publish_attempts} times; try again")

    def discard_staged(self, staged: list[dict[str, Any]]) -> None:
        """Nothing to do here: garbage collection removes uploaded segments no generation lists (once older than
        its grace period) and drops them from the cache."""

    def _newest(self) -> Snapshot:
        """The newest generation, read from the database now (not the once-a-second value)."""
        head = self.pointer.head()
        if head is None:
            return Snapshot(generation=0, views=[])
        self._remember(head.generation, head.manifest)
        return self.snapshot()

    def _upload_new_segment(self, docs: list[DocumentRecord] | RecordStream, dim: int) -> dict[str, Any]:
        """Build the segment in the cache, upload it; its manifest entry."""
        segment_id = build_segment(self.segments_dir, docs, dim)
        listing = self.remote.upload_segment(self.segments_dir / segment_id)
        (self.segments_dir / segment_id / "files.json").write_bytes(listing)
        self.cache.adopt(segment_id)
        return {"id": segment_id, "files": sha256_bytes(listing), "deletes": None, "deletes_sha256": None}

    def _entries_after(self, base: Snapshot, replaced: set[str], generation: int) -> list[dict[str, Any]]:
        """The base generation's manifest entries with `replaced` documents deleted (new masks uploaded)."""
        if base.generation == 0:
            return []
        entries = self._read_manifest(base.generation)["segments"]
        return [self._entry_after(entry, view, replaced, generation)
                for entry, view in zip(entries, base.views, strict=True)]

    def _entry_after(self, entry: dict[str, Any], view: SegmentView, replaced: set[str],
                     generation: int) -> dict[str, Any]:
        """One segment's entry in the new generation: as before, or with a new delete mask."""
        deleted = deletes_after(view, replaced)
        if deleted is None:
            return dict(entry)
        buffer = io.BytesIO()
        np.save(buffer, deleted)
        data = buffer.getvalue()
        sha = sha256_bytes(data)
        name = deletes_name(generation, sha)
        self.remote.put_bytes(segment_key(entry["id"], name), data)
        self.cache.keep_deletes(entry["id"], name, data)
        return {**entry, "deletes": name, "deletes_sha256": sha}

    def _put_manifest(self, generation: int, entries: list[dict[str, Any]]) -> str:
        """Upload the manifest of a candidate generation; its (content-addressed) key."""
        manifest = {"format_version": MANIFEST_FORMAT_VERSION, "generation": generation,
                    "created_at": datetime.now(UTC).isoformat(), "segments": entries}
        data = encode_manifest(manifest)
        key = manifest_key(generation, sha256_bytes(data))
        self.remote.put_bytes(key, data)
        self.cache.keep_manifest(key, data)
        return key

    # ---- an index left by the embedded mode ---------------------------------------------------
    def adopt_local_index(self, folder: Path) -> int | None:
        """Publish the index an embedded deployment left in `folder` (its CURRENT generation, same number)
        when this shared index has none yet; the generation published, else None. `folder` is only read."""
        local = IndexStore(folder)
        generation = local.current_generation()
        if generation == 0 or self.pointer.current() != 0:
            return None
        with self.writer_lock():
            if self.pointer.current() != 0:
                return None
            entries = [self._adopt_entry(local, entry) for entry in local._read_manifest(generation)["segments"]]
            key = self._put_manifest(generation, entries)
            if not self.pointer.advance(0, generation, key):
                return None
        log.info("index: published the local index in %s as generation %d", folder, generation)
        self._remember(generation, key)
        return generation

    def _adopt_entry(self, local: IndexStore, entry: dict[str, Any]) -> dict[str, Any]:
        """Upload one segment of a local index (and its delete mask); its shared manifest entry."""
        folder = local.segments_dir / entry["id"]
        files = sha256_bytes(self.remote.upload_segment(folder))
        if not entry.get("deletes"):
            return {"id": entry["id"], "files": files, "deletes": None, "deletes_sha256": None}
        data = (folder / entry["deletes"]).read_bytes()
        sha = sha256_bytes(data)
        name = deletes_name(int(entry["deletes"].split("-")[1].split(".")[0]), sha)
        self.remote.put_bytes(segment_key(entry["id"], name), data)
        return {"id": entry["id"], "files": files, "deletes": name, "deletes_sha256": sha}
