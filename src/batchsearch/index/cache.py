"""One host's read cache of a published index: segments, delete masks and manifests, each checked by sha256.

  <root>/segments/<id>/            a downloaded segment (moved into place whole, with its files.json)
  <root>/segments/<id>/deletes-*   delete masks of that segment
  <root>/manifests/<name>.json     manifests, named as in the object store

A process verifies every file of a segment against the segment's file list the first time it uses it; a
mismatch deletes the copy and downloads it again, and a second mismatch raises IndexIntegrityError. Deleting
the whole folder loses nothing: the next use downloads again.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np

from batchsearch.errors import NotFoundError
from batchsearch.index.objects import (
    DELETES_PREFIX,
    FILE_LIST,
    IndexIntegrityError,
    IndexObjects,
    decode_file_list,
    file_entry,
    mismatch,
    segment_key,
    sha256_bytes,
)
from batchsearch.index.segment import fsync_dir
from batchsearch.index.store import check_manifest
from batchsearch.storage.local import PRIVATE_DIR_MODE, make_private_dir

log = logging.getLogger(__name__)
_DOWNLOADING = ".download-"


class SegmentCache:
    """Verified local copies of published segments, delete masks and manifests under `root`."""

    def __init__(self, root: Path, remote: IndexObjects) -> None:
        self.root = root
        self.segments_dir = root / "segments"
        self.manifests_dir = root / "manifests"
        self.remote = remote
        self._verified: set[str] = set()
        self._lock = threading.Lock()

    # ---- segments --------------------------------------------------------------------------
    def segment(self, segment_id: str, files_sha256: str) -> Path:
        """The folder of a verified copy of the segment, downloading it when missing or damaged."""
        path = self.segments_dir / segment_id
        with self._lock:
            if segment_id in self._verified:
                return path
            problems: list[str] = []
            for _ in range(2):
                problem = self._check(path, files_sha256) if path.exists() else self._fetch(segment_id, files_sha256)
                if problem is None:
                    self._verified.add(segment_id)
                    return path
                log.warning("index cache: segment %s: %s; downloading it again", segment_id, problem)
                problems.append(problem)
                shutil.rmtree(path, ignore_errors=True)
            raise IndexIntegrityError(f"index segment {segment_id} does not match its file list after a fresh "
                                      f"download: {problems[-1]}")

    def adopt(self, segment_id: str) -> None:
        """Mark a segment this process built (and hashed while uploading) as verified."""
        with self._lock:
            self._verified.add(segment_id)

    def _check(self, path: Path, files_sha256: str) -> str | None:
        """What is wrong with a cached segment folder (None: every listed file matches)."""
        try:
            listing = (path / FILE_LIST).read_bytes()
        except FileNotFoundError:
            return f"{FILE_LIST} is missing"
        if sha256_bytes(listing) != files_sha256:
            return f"{FILE_LIST} has another sha256 than the manifest records"
        for expected in decode_file_list(listing):
            target = path / expected.path
            if not target.is_file():
                return f"{expected.path} is missing"
            found = file_entry(path, target)
            problem = mismatch(expected, found.size, found.sha256)
            if problem is not None:
                return problem
        return None

    def _fetch(self, segment_id: str, files_sha256: str) -> str | None:
        """Download a segment into a temporary folder and move it into place; the problem if a file is damaged."""
        make_private_dir(self.segments_dir)
        tmp = self.segments_dir / f"{_DOWNLOADING}{segment_id}-{uuid.uuid4().hex[:8]}"
        try:
            listing = self._get(segment_key(segment_id, FILE_LIST))
            if sha256_bytes(listing) != files_sha256:
                return f"the published {FILE_LIST} has another sha256 than the manifest records"
            tmp.mkdir(mode=PRIVATE_DIR_MODE)
            os.chmod(tmp, PRIVATE_DIR_MODE)
            (tmp / FILE_LIST).write_bytes(listing)
            files = decode_file_list(listing)
            problems = self.remote.download_all([(segment_key(segment_id, f.path), tmp / f.path, f) for f in files])
            if problems:
                return problems[0]
            fsync_dir(tmp)
            return self._place(tmp, self.segments_dir / segment_id, files_sha256)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _place(self, tmp: Path, path: Path, files_sha256: str) -> str | None:
        """Move a downloaded folder into place; when another process placed it first, check theirs."""
        try:
            tmp.rename(path)
        except OSError:
            if not path.exists():
                raise
            return self._check(path, files_sha256)
        fsync_dir(path.parent)
        return None

    # ---- delete masks and manifests ----------------------------------------------------------
    def deletes(self, segment_id: str, name: str, sha256: str) -> np.ndarray:
        """A segment's delete mask, verified (downloaded when missing or damaged)."""
        path = self.segments_dir / segment_id / name
        data = self._verified_bytes(path, segment_key(segment_id, name), sha256, f"delete mask {segment_id}/{name}")
        return np.load(io.BytesIO(data))

    def keep_deletes(self, segment_id: str, name: str, data: bytes) -> None:
        """Store a delete mask this process wrote (and uploads) beside its segment."""
        write_atomic(self.segments_dir / segment_id / name, data)

    def manifest(self, key: str) -> dict[str, Any]:
        """A published manifest, verified against the sha256 prefix in its name (downloaded once, then local)."""
        name = key.rsplit("/", 1)[-1]
        sha_prefix = name.removesuffix(".json").rsplit("-", 1)[-1]
        path = self.manifests_dir / name
        data = self._verified_bytes(path, key, sha_prefix, f"manifest {key}", prefix_only=True)
        return check_manifest(json.loads(data))

    def keep_manifest(self, key: str, data: bytes) -> None:
        """Store a manifest this process wrote (and uploads)."""
        write_atomic(self.manifests_dir / key.rsplit("/", 1)[-1], data)

    def _verified_bytes(self, path: Path, key: str, sha256: str, what: str, *, prefix_only: bool = False) -> bytes:
        """A small cached file's bytes, re-downloaded once when missing or not matching `sha256`."""
        def matches(data: bytes) -> bool:
            digest = sha256_bytes(data)
            return digest.startswith(sha256) if prefix_only else digest == sha256

        try:
            data = path.read_bytes()
            if matches(data):
                return data
            log.warning("index cache: %s does not match its sha256; downloading it again", what)
        except FileNotFoundError:
            pass
        data = self._get(key)
        if not matches(data):
            raise IndexIntegrityError(f"index {what} does not match its sha256 after a fresh download")
        write_atomic(path, data)
        return data

    def _get(self, key: str) -> bytes:
        """A published object's bytes; a missing one is an integrity problem of the index, named as such."""
        try:
            return self.remote.get_bytes(key)
        except NotFoundError as exc:
            raise IndexIntegrityError(f"index object {key} is missing from the object store") from exc

    # ---- pruning ---------------------------------------------------------------------------
    def prune(self, segments: Collection[str], deletes: Collection[tuple[str, str]],
              manifests: Collection[str]) -> int:
        """Remove cached segments, delete masks and manifests the given kept ones do not include; returns how
        many segments went. Call under the host's writer lock (a writer's new segment is in no manifest yet)."""
        removed = 0
        for path in _children(self.segments_dir):
            if path.name.startswith(_DOWNLOADING) or path.name.startswith("."):
                continue  # another process's download or build in progress
            if path.name not in segments:
                shutil.rmtree(path, ignore_errors=True)
                with self._lock:
                    self._verified.discard(path.name)
                removed += 1
                continue
            for mask in path.glob(f"{DELETES_PREFIX}*"):
                if (path.name, mask.name) not in deletes:
                    mask.unlink(missing_ok=True)
        kept_names = {key.rsplit("/", 1)[-1] for key in manifests}
        for path in _children(self.manifests_dir):
            if path.name not in kept_names:
                path.unlink(missing_ok=True)
        return removed


def _children(folder: Path) -> list[Path]:
    """The entries of a folder (none when it does not exist)."""
    return sorted(folder.iterdir()) if folder.is_dir() else []


def write_atomic(path: Path, data: bytes) -> None:
    """Write a small file through a temporary name and a rename."""
    make_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)

