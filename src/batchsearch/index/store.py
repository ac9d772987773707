"""The index folder: segments, numbered manifests, and the CURRENT pointer that publishes them.

A writer builds new segments, then writes manifest N+1 (segments + per-segment delete files) and
atomically replaces CURRENT. Readers open the generation CURRENT names; a search holds one
`Snapshot` for its whole run, so a concurrent ingest never changes what it sees.

This is the embedded index of one machine; shared.py publishes the same manifests and segments through an
object store for many machines (deployment.py picks one from the settings).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from batchsearch.errors import ConflictError
from batchsearch.index.builder import build_segment
from batchsearch.index.records import DocumentRecord, RecordStream
from batchsearch.index.segment import Segment, fsync_dir
from batchsearch.storage.local import make_private_dir

MANIFEST_FORMAT_VERSION = 1
_DELETES_FILE = re.compile(r"deletes-(\d{8})\.npy")
_MANIFEST_FILE = re.compile(r"(\d{8})\.json")


@dataclass
class SegmentView:
    """A segment as one snapshot sees it: the segment plus its deleted-chunk mask."""

    segment: Segment
    deleted: np.ndarray | None
    deletes_file: str | None = None

    def live_mask(self) -> np.ndarray:
        """True for chunks that are not deleted in this snapshot."""
        if self.deleted is None:
            return np.ones(self.segment.n_chunks, dtype=bool)
        return ~self.deleted


@dataclass(frozen=True)
class SegmentMerge:
    """Segments of one generation rewritten as one (index/compact.py): the ids it replaces and the staged entry of
    the merged segment (None: none of their documents was live, so they are dropped)."""

    replaces: list[str]
    staged: dict[str, Any] | None


@dataclass
class Snapshot:
    """A consistent, immutable view of the index at one generation."""

    generation: int
    views: list[SegmentView]
    max_timestamp: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """The snapshot id reported on responses."""
        return f"gen-{self.generation}"

    @property
    def n_chunks(self) -> int:
        """Live chunks in this snapshot."""
        return sum(int(v.live_mask().sum()) for v in self.views)

    @property
    def n_docs(self) -> int:
        """Documents (live or not) in this snapshot's segments."""
        return sum(v.segment.n_docs for v in self.views)


class IndexStore:
    """Reads and publishes index generations under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.segments_dir = root / "segments"
        self.manifests_dir = root / "manifests"
        self._segments: dict[str, Segment] = {}
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()

    # ---- reading -------------------------------------------------------------------------
    def current_generation(self) -> int:
        """The published generation (0 = empty index)."""
        try:
            return int((self.root / "CURRENT").read_text().strip())
        except FileNotFoundError:
            return 0

    def snapshot(self) -> Snapshot:
        """The newest published snapshot, reusing loaded segments."""
        generation = self.current_generation()
        with self._lock:
            if self._snapshot is None or self._snapshot.generation != generation:
                self._snapshot = self._open(generation)
                # Segments the newest generation no longer lists (merged away, or wholly deleted) are forgotten, so
                # a long-running process unmaps them once no snapshot it still holds uses them (a batch pinned to
                # an older generation keeps its own snapshot, and reopening one loads them again).
                listed = {view.segment.id for view in self._snapshot.views}
                self._segments = {sid: seg for sid, seg in self._segments.items() if sid in listed}
            return self._snapshot

    def open_generation(self, generation: int) -> Snapshot:
        """A specific published generation (for pinning a batch to one snapshot)."""
        with self._lock:
            return self._open(generation)

    def _open(self, generation: int) -> Snapshot:
        if generation == 0:
            return Snapshot(generation=0, views=[])
        manifest = self._read_manifest(generation)
        views = []
        for entry in manifest["segments"]:
            views.append(SegmentView(self._segment(entry), self._load_deletes(entry), entry.get("deletes")))
        return Snapshot(generation=generation, views=views, max_timestamp=max((newest_timestamp(v) for v in views),
                                                                              default=0))

    def _read_manifest(self, generation: int) -> dict[str, Any]:
        return check_manifest(json.loads(self.manifest_path(generation).read_text()))

    def manifest_path(self, generation: int) -> Path:
        """The manifest file of a generation."""
        return self.manifests_dir / f"{generation:08d}.json"

    def manifest_generations(self) -> list[int]:
        """The generations that have a manifest file, oldest first (any newer than CURRENT were never published)."""
        if not self.manifests_dir.is_dir():
            return []
        found = (_MANIFEST_FILE.fullmatch(path.name) for path in self.manifests_dir.iterdir())
        return sorted(int(match.group(1)) for match in found if match)

    def segment_entries(self, generation: int) -> list[dict[str, Any]]:
        """The manifest entries of a generation: each segment's id and delete file (None: nothing deleted)."""
        return list(self._read_manifest(generation)["segments"])

    def _segment_path(self, entry: dict[str, Any]) -> Path:
        """The folder of a manifest entry's segment, ready to load."""
        return self.segments_dir / entry["id"]

    def _load_deletes(self, entry: dict[str, Any]) -> np.ndarray | None:
        """The deleted-chunk mask of a manifest entry (None: nothing deleted)."""
        return np.load(self.segments_dir / entry["id"] / entry["deletes"]) if entry.get("deletes") else None

    # ---- writing -------------------------------------------------------------------------
    def writer_lock(self) -> FileLock:
        """The lock that serialises writers (ingest processes)."""
        make_private_dir(self.root)
        return FileLock(str(self.root / "write.lock"))

    def publish(self, docs: list[DocumentRecord], dim: int, removed_ids: Iterable[str] = ()) -> Snapshot:
        """Add `docs` as a new segment, replacing older versions of the same ids; call under writer_lock."""
        return self.publish_staged([self.stage(docs, dim)] if docs else [], removed_ids)

    def stage(self, docs: list[DocumentRecord] | RecordStream, dim: int) -> dict[str, Any]:
        """Write `docs` as a segment that no generation lists yet; its manifest entry, for publish_staged (a
        staged segment that is never published is left unused). A list keeps the last version of each id; a
        RecordStream (a merge's live documents) has each id once already."""
        make_private_dir(self.segments_dir)
        unique = last_version_only(docs) if isinstance(docs, list) else docs
        return {"id": build_segment(self.segments_dir, unique, dim), "deletes": None}

    def publish_staged(self, staged: list[dict[str, Any]], removed_ids: Iterable[str] = ()) -> Snapshot:
        """Publish staged segments as one generation: their documents replace older versions of the same ids (a
        later staged segment's those of an earlier one), and `removed_ids` are deleted; call under writer_lock."""
        make_private_dir(self.manifests_dir)
        base = self.snapshot()
        generation = base.generation + 1
        views = [SegmentView(self._loaded(entry), None) for entry in staged]
        replaced = set(removed_ids).union(*(view.segment.doc_index for view in views))
        entries = [self._entry_with_deletes(view, replaced, generation) for view in base.views]
        entries += [self._entry_with_deletes(view, ids, generation) for view, ids in zip(views, ids_replaced_later(views))]
        manifest = {"format_version": MANIFEST_FORMAT_VERSION, "generation": generation,
                    "created_at": datetime.now(UTC).isoformat(), "segments": entries}
        _atomic_write(self.manifest_path(generation), json.dumps(manifest, indent=1))
        _atomic_write(self.root / "CURRENT", str(generation))
        return self.snapshot()

    def publish_merged(self, base: Snapshot, merges: list[SegmentMerge]) -> Snapshot:
        """Publish a generation that lists each merge's segment in place of the segments it replaces, read from
        generation `base`; documents deleted since `base` are deleted from the merged segments too. Call under
        writer_lock; ConflictError when a replaced segment is no longer listed."""
        make_private_dir(self.manifests_dir)
        current = self.snapshot()
        generation = current.generation + 1
        entries = [{"id": view.segment.id, "deletes": view.deletes_file} for view in current.views]
        manifest = {"format_version": MANIFEST_FORMAT_VERSION, "generation": generation,
                    "created_at": datetime.now(UTC).isoformat(),
                    "segments": self._merged_entries(base, current, entries, merges, generation)}
        _atomic_write(self.manifest_path(generation), json.dumps(manifest, indent=1))
        _atomic_write(self.root / "CURRENT", str(generation))
        return self.snapshot()

    def discard_staged(self, staged: list[dict[str, Any]]) -> None:
        """Remove staged segments that will not be published (a merge that failed half way)."""
        for entry in staged:
            shutil.rmtree(self.segments_dir / entry["id"], ignore_errors=True)

    def _merged_entries(self, base: Snapshot, current: Snapshot, entries: list[dict[str, Any]],
                        merges: list[SegmentMerge], generation: int) -> list[dict[str, Any]]:
        """The manifest entries of `current` with each merge's segments replaced by its merged segment, at the
        place of the first of them (so rows keep their order across the index, and ties their order)."""
        listed = {view.segment.id: view for view in current.views}
        before = {view.segment.id: view for view in base.views}
        in_place: dict[str, dict[str, Any] | None] = {}
        for merge in merges:
            missing = [sid for sid in merge.replaces if sid not in listed or sid not in before]
            if missing:
                raise ConflictError(f"Segments {missing} are no longer in the index (merged or dropped by another "
                                    "writer); nothing was merged")
            first = min(merge.replaces, key=[view.segment.id for view in current.views].index)
            in_place[first] = None
            if merge.staged is not None:
                gone = set().union(*(deleted_since(before[sid], listed[sid]) for sid in merge.replaces))
                view = SegmentView(self._loaded(merge.staged), None)
                in_place[first] = self._entry_after(merge.staged, view, gone, generation)
        replaced = {sid for merge in merges for sid in merge.replaces}
        out = []
        for entry, view in zip(entries, current.views, strict=True):
            sid = view.segment.id
            if sid in in_place:
                merged = in_place[sid]
                out += [merged] if merged is not None else []
            elif sid not in replaced:
                out.append(entry)
        return out

    def _entry_after(self, entry: dict[str, Any], view: SegmentView, ids: set[str], generation: int) -> dict[str, Any]:
        """A staged segment's entry in a new generation, with the documents `ids` deleted."""
        return self._entry_with_deletes(view, ids, generation)

    def _loaded(self, entry: dict[str, Any]) -> Segment:
        """The segment of a manifest entry, loaded once per process."""
        with self._lock:
            return self._segment(entry)

    def _segment(self, entry: dict[str, Any]) -> Segment:
        """The segment of a manifest entry, loaded once per process; call under _lock."""
        segment = self._segments.get(entry["id"])
        if segment is None:
            segment = self._segments[entry["id"]] = Segment(self._segment_path(entry))
        return segment

    def _entry_with_deletes(self, view: SegmentView, ids: set[str], generation: int) -> dict[str, Any]:
        deleted = deletes_after(view, ids)
        if deleted is None:
            return {"id": view.segment.id, "deletes": view.deletes_file}
        name = deletes_file(generation)
        with open(view.segment.path / name, "wb") as fh:
            np.save(fh, deleted)
            fh.flush()
            os.fsync(fh.fileno())
        return {"id": view.segment.id, "deletes": name}


def check_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest, if this version reads its format (ValueError otherwise)."""
    if manifest.get("format_version") != MANIFEST_FORMAT_VERSION:
        raise ValueError(f"index manifest format {manifest.get('format_version')} is not supported")
    return manifest


def deletes_file(generation: int) -> str:
    """The name of the delete file a generation writes into a segment's folder."""
    return f"deletes-{generation:08d}.npy"


def deletes_file_generation(name: str) -> int | None:
    """The generation that wrote a delete file (None for other file names)."""
    match = _DELETES_FILE.fullmatch(name)
    return int(match.group(1)) if match else None


def deletes_after(view: SegmentView, ids: set[str]) -> np.ndarray | None:
    """The view's deleted-chunk mask with the chunks of documents `ids` added; None when none of them is in it."""
    seg = view.segment
    hit = [seg.doc_index[i] for i in ids if i in seg.doc_index]
    if not hit:
        return None
    deleted = view.deleted.copy() if view.deleted is not None else np.zeros(seg.n_chunks, dtype=bool)
    deleted |= np.isin(seg.chunk_doc, np.asarray(hit, dtype=np.int32))
    return deleted


def newest_timestamp(view: SegmentView) -> int:
    """The newest timestamp of the documents live in a view (0: none); deleted ones do not count, so the freshness
    reference does not move when a merge drops them."""
    chunk_ts = view.segment.chunk_ts
    live = chunk_ts if view.deleted is None else chunk_ts[~view.deleted]
    return int(live.max()) if len(live) else 0


def deleted_since(before: SegmentView, after: SegmentView) -> set[str]:
    """Ids of the documents of one segment deleted in `after` but not in `before` (two snapshots' views of it)."""
    if after.deleted is None:
        return set()
    newly = after.deleted if before.deleted is None else after.deleted & ~before.deleted
    seg = after.segment
    return {seg.docs[int(d)]["id"] for d in np.unique(seg.chunk_doc[newly])}


def ids_replaced_later(views: list[SegmentView]) -> list[set[str]]:
    """For each of several new segments in publishing order, the ids of its documents that a later one has."""
    later: set[str] = set()
    replaced = []
    for view in reversed(views):
        replaced.append(later & view.segment.doc_index.keys())
        later |= view.segment.doc_index.keys()
    return replaced[::-1]


def last_version_only(docs: list[DocumentRecord]) -> list[DocumentRecord]:
    """Within one batch of documents the last line with an id wins."""
    latest: dict[str, DocumentRecord] = {}
    for doc in docs:
        latest.pop(doc.id, None)
        latest[doc.id] = doc
    return list(latest.values())


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
