"""ObjectStore on local files under one folder, with HMAC-signed URLs served by our own /files route."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from batchsearch.errors import NotFoundError, PayloadTooLargeError, ValidationError
from batchsearch.storage import signing

CHUNK_BYTES = 1024 * 1024
_KEY_RE = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")
_TMP_DIR = ".tmp"
PRIVATE_DIR_MODE = 0o700  # the folders we create: only the service's user may list or enter them
PRIVATE_FILE_MODE = 0o600  # the files we create: only the service's user may read them (jobs' queries and results)


def check_key(key: str) -> str:
    """Return `key` if it is a safe relative object key, else raise ValidationError."""
    if not _KEY_RE.match(key) or any(part in (".", "..", _TMP_DIR) for part in key.split("/")):
        raise ValidationError(f"Invalid object key: {key!r}")
    return key


def make_private_dir(path: Path) -> Path:
    """Create `path` and its missing parents as PRIVATE_DIR_MODE folders whatever the umask; a folder that exists
    already keeps its mode (it may be shared on purpose)."""
    missing = []
    folder = path
    while not folder.is_dir():
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            if not folder.is_dir():
                raise
            continue  # another process made it first
        os.chmod(folder, PRIVATE_DIR_MODE)  # mkdir's mode goes through the umask
    return path


def open_private(path: Path, *, exclusive: bool = True) -> BinaryIO:
    """Open a new file for writing with PRIVATE_FILE_MODE whatever the umask (created so, never readable by others
    in between); with exclusive=False an existing file is truncated and its mode set too."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


def _fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable (best effort where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_chunks(handle: BinaryIO) -> Iterator[bytes]:
    """Yield the rest of an open file in chunks, closing it at the end."""
    with handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


class LocalObjectStore:
    """Objects as files under `root`; writes go to a temp file, fsync, then an atomic rename."""

    def __init__(self, root: Path, *, base_url: str, secret: bytes) -> None:
        self.root = root
        self._base_url = base_url
        self._secret = secret
        make_private_dir(root / _TMP_DIR)

    def path(self, key: str) -> Path:
        """The file that holds `key`."""
        return self.root / check_key(key)

    def put_stream(self, key: str, chunks: Iterable[bytes], *, max_bytes: int | None = None) -> int:
        """Store the chunks under `key` atomically and durably; return the size (413 past max_bytes)."""
        target = self.path(key)
        tmp = self.root / _TMP_DIR / f"{uuid.uuid4().hex}.part"
        try:
            size = self._write(tmp, chunks, max_bytes)
            make_private_dir(target.parent)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(target.parent)
        return size

    def _write(self, tmp: Path, chunks: Iterable[bytes], max_bytes: int | None) -> int:
        """Write chunks to `tmp` and fsync it, enforcing `max_bytes` as the bytes arrive."""
        size = 0
        with open_private(tmp) as out:
            for chunk in chunks:
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise PayloadTooLargeError(f"File is larger than the limit of {max_bytes} bytes")
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        return size

    def iter_bytes(self, key: str, *, start: int = 0) -> Iterator[bytes]:
        """The object's bytes from offset `start`, in chunks (NotFoundError when missing)."""
        try:
            handle = open(self.path(key), "rb")
        except FileNotFoundError as exc:
            raise NotFoundError(f"Object not found: {key}") from exc
        handle.seek(start)
        return _read_chunks(handle)

    def size(self, key: str) -> int | None:
        """The object's size in bytes, or None when missing."""
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError:
            return None

    def list_keys(self, prefix: str) -> list[str]:
        """Keys that start with `prefix`, sorted."""
        folder = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not folder.is_dir():
            return []
        keys = (p.relative_to(self.root).as_posix() for p in folder.rglob("*") if p.is_file())
        return sorted(k for k in keys if k.startswith(prefix) and not k.startswith(_TMP_DIR + "/"))

    def delete(self, key: str) -> None:
        """Remove `key` if present."""
        self.path(key).unlink(missing_ok=True)

    def presign(self, method: str, key: str, expires_at: int) -> str:
        """A URL that lets anyone run `method` (GET or PUT) on `key` until the unix time `expires_at`."""
        return signing.signed_url(self._base_url, self._secret, method, check_key(key), expires_at)

    def verify(self, method: str, key: str, expires: str | None, signature: str | None, now: float) -> None:
        """Raise PermissionDeniedError unless the signed URL parameters authorise `method` on `key` now."""
        signing.verify(self._secret, method, key, expires, signature, now)
