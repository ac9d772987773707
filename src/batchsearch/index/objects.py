"""The layout of a published index in an object store, and the transfers in and out of it.

  index/segments/<id>/<file>          a segment's immutable files (tantivy/ files included)
  index/segments/<id>/files.json      the segment's file list: path, size and sha256 of every file
  index/segments/<id>/deletes-<generation>-<sha>.npy   a deleted-chunk mask one generation introduced
  index/manifests/<generation>-<sha>.json              a manifest (segments, delete files, their sha256)

Every name that a second writer could also produce carries (a prefix of) the sha256 of its content, so no
object is ever overwritten with different bytes: of two writers racing for generation N, each uploads its
own manifest and delete files, and the database pointer decides which manifest generation N is.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from batchsearch.errors import InternalError
from batchsearch.storage.local import make_private_dir
from batchsearch.storage.protocol import ObjectStore

ROOT = "index"
SEGMENTS = f"{ROOT}/segments"
MANIFESTS = f"{ROOT}/manifests"
FILE_LIST = "files.json"
DELETES_PREFIX = "deletes-"
NAME_SHA_CHARS = 16
TRANSFER_THREADS = 8
READ_BYTES = 1024 * 1024
_SEGMENT_TIME_FORMAT = "%Y%m%d%H%M%S"


class IndexIntegrityError(InternalError):
    """A published index file does not match the sha256 recorded for it, even after downloading it again."""


@dataclass(frozen=True)
class FileEntry:
    """One file of a segment as its file list records it."""

    path: str
    size: int
    sha256: str


def segment_key(segment_id: str, path: str) -> str:
    """The object key of a segment file."""
    return f"{SEGMENTS}/{segment_id}/{path}"


def manifest_key(generation: int, sha256: str) -> str:
    """The object key of a manifest with this content hash."""
    return f"{MANIFESTS}/{generation:08d}-{sha256[:NAME_SHA_CHARS]}.json"


def deletes_name(generation: int, sha256: str) -> str:
    """The file name of a delete mask with this content hash."""
    return f"{DELETES_PREFIX}{generation:08d}-{sha256[:NAME_SHA_CHARS]}.npy"


def generation_of(name: str) -> int | None:
    """The generation in a manifest or delete file name (None for other names)."""
    stem = name.rsplit("/", 1)[-1].removeprefix(DELETES_PREFIX)
    head = stem.split("-", 1)[0]
    return int(head) if head.isdigit() and len(head) == 8 else None


def segment_created_at(segment_id: str) -> datetime | None:
    """When a segment was built, from the timestamp its id starts with (None when the id has none)."""
    try:
        return datetime.strptime(segment_id.split("-", 1)[0], _SEGMENT_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def sha256_bytes(data: bytes) -> str:
    """The hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def file_entry(folder: Path, path: Path) -> FileEntry:
    """The size and sha256 of a file, named relative to `folder`."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(READ_BYTES):
            digest.update(block)
            size += len(block)
    return FileEntry(path.relative_to(folder).as_posix(), size, digest.hexdigest())


def is_segment_file(relative: str) -> bool:
    """True for the files a segment is built with (not its file list, nor delete masks added later)."""
    return relative != FILE_LIST and not (relative.startswith(DELETES_PREFIX) and "/" not in relative)


def list_segment_files(folder: Path) -> list[FileEntry]:
    """The file list of a built segment folder, sorted by path."""
    paths = sorted(p for p in folder.rglob("*") if p.is_file())
    return [file_entry(folder, p) for p in paths if is_segment_file(p.relative_to(folder).as_posix())]


def encode_file_list(segment_id: str, files: list[FileEntry]) -> bytes:
    """The bytes of a segment's files.json."""
    body = {"segment": segment_id, "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in files]}
    return json.dumps(body, indent=1, sort_keys=True).encode()


def decode_file_list(data: bytes) -> list[FileEntry]:
    """The entries of a files.json."""
    return [FileEntry(str(f["path"]), int(f["size"]), str(f["sha256"])) for f in json.loads(data)["files"]]


def encode_manifest(manifest: dict[str, Any]) -> bytes:
    """The bytes of a manifest object."""
    return json.dumps(manifest, indent=1, sort_keys=True).encode()


class IndexObjects:
    """The published index inside an object store: uploads, verified downloads, listing and deletes."""

    def __init__(self, objects: ObjectStore, *, threads: int = TRANSFER_THREADS) -> None:
        self.objects = objects
        self._threads = threads

    # ---- writing ---------------------------------------------------------------------------
    def upload_segment(self, folder: Path) -> bytes:
        """Upload a built segment's files, then its file list (so a listed segment is complete); returns the
        bytes of that files.json."""
        files = list_segment_files(folder)
        with ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix="index-upload") as pool:
            for _ in pool.map(lambda f: self.upload_file(segment_key(folder.name, f.path), folder / f.path), files):
                pass
        listing = encode_file_list(folder.name, files)
        self.put_bytes(segment_key(folder.name, FILE_LIST), listing)
        return listing

    def upload_file(self, key: str, path: Path) -> None:
        """Store a local file under `key`."""
        with open(path, "rb") as fh:
            self.objects.put_stream(key, _blocks(fh))

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store `data` under `key`."""
        self.objects.put_stream(key, [data])

    # ---- reading ---------------------------------------------------------------------------
    def get_bytes(self, key: str) -> bytes:
        """The whole object (NotFoundError when missing)."""
        return b"".join(self.objects.iter_bytes(key))

    def download(self, key: str, target: Path, expected: FileEntry) -> str | None:
        """Write the object to `target` (fsynced), hashing as it arrives; the problem when its size or sha256
        differs from `expected`, else None."""
        digest = hashlib.sha256()
        size = 0
        make_private_dir(target.parent)
        with open(target, "wb") as out:
            for chunk in self.objects.iter_bytes(key):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        return mismatch(expected, size, digest.hexdigest())

    def download_all(self, downloads: list[tuple[str, Path, FileEntry]]) -> list[str]:
        """Run downloads (key, target, expected) in parallel; the problems found, if any."""
        with ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix="index-download") as pool:
            found = list(pool.map(lambda item: self.download(*item), downloads))
        return [problem for problem in found if problem is not None]

    def list_keys(self, prefix: str) -> list[str]:
        """Keys under `prefix`, sorted."""
        return self.objects.list_keys(prefix)

    def delete(self, keys: list[str]) -> None:
        """Remove objects (in parallel; missing ones are fine)."""
        with ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix="index-delete") as pool:
            for _ in pool.map(self.objects.delete, keys):
                pass


def mismatch(expected: FileEntry, size: int, sha256: str) -> str | None:
    """What differs between a file and its recorded entry (None: it matches)."""
    if size != expected.size:
        return f"{expected.path} has {size} bytes, expected {expected.size}"
    if sha256 != expected.sha256:
        return f"{expected.path} has sha256 {sha256}, expected {expected.sha256}"
    return None


def _blocks(handle: BinaryIO) -> Iterator[bytes]:
    """The file's bytes in blocks."""
    while block := handle.read(READ_BYTES):
        yield block
