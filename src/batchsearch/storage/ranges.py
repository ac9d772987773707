"""HTTP byte ranges (RFC 9110 single `bytes=` ranges) for resumable downloads of stored objects (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

_RANGE_RE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")


@dataclass(frozen=True)
class ByteRange:
    """Bytes first..last (inclusive) of an object of `size` bytes."""

    first: int
    last: int
    size: int

    @property
    def length(self) -> int:
        """How many bytes the range holds."""
        return self.last - self.first + 1

    def content_range(self) -> str:
        """The Content-Range header value of a 206 answer."""
        return f"bytes {self.first}-{self.last}/{self.size}"


class UnsatisfiableRangeError(ValueError):
    """The Range header asks for bytes past the end of the object (answer 416)."""


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one range `header` asks for; None to send the whole object (no header, several ranges, malformed)."""
    if not header:
        return None
    match = _RANGE_RE.match(header)
    if match is None:
        return None
    start, end = match.groups()
    if not start and not end:
        return None
    if not start:  # the last `end` bytes
        suffix = int(end)
        if suffix == 0 or size == 0:
            raise UnsatisfiableRangeError(header)
        return ByteRange(max(size - suffix, 0), size - 1, size)
    first = int(start)
    last = min(int(end), size - 1) if end else size - 1
    if first >= size or (end and int(end) < first):
        raise UnsatisfiableRangeError(header)
    return ByteRange(first, last, size)


def take(chunks: Iterable[bytes], n: int) -> Iterator[bytes]:
    """The first `n` bytes of a chunk stream."""
    left = n
    for chunk in chunks:
        if left <= 0:
            break
        yield chunk[:left]
        left -= len(chunk)
