"""Batch files line by line (pure): splitting, whole-file checks, parsing a line, rendering a result."""

from __future__ import annotations

import codecs
import json
import logging
import re
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from batchsearch import safejson
from batchsearch.errors import (
    BatchSearchError,
    FieldProblem,
    InternalError,
    PayloadTooLargeError,
    SearchTimeoutError,
    ValidationError,
)
from batchsearch.models.search import SEARCH_REQUEST_TITLE, Query, parse_search_request

log = logging.getLogger(__name__)
Json = Mapping[str, "Json"] | Sequence["Json"] | str | int | float | bool | None  # read-only views: covariant
JsonObject = dict[str, Json]
Outcome = JsonObject | BatchSearchError  # a search response, or why that query failed

BOM = b"\xef\xbb\xbf"
MAX_LINE_BYTES = 1024 * 1024  # one search request is a few KB; a longer line becomes an error line, never buffered
TIMEOUT_MESSAGE = "Search request timed out"
RETRYABLE_STATUSES = frozenset({"timeout", "exception"})
EXCEPTION_MESSAGE = "Internal error while executing search"
CUSTOM_ID_FIELD = "custom_id"
CUSTOM_ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$"
_CUSTOM_ID_RE = re.compile(CUSTOM_ID_PATTERN)


@dataclass(frozen=True)
class RawLine:
    """One input line: its 1-based number, bytes without the newline, and the file offset just past it."""

    number: int
    data: bytes
    end_offset: int
    is_overlong: bool = False  # longer than the per-line limit: `data` is empty, the bytes were never kept


@dataclass(frozen=True)
class ParsedLine:
    """A line whose query validated: the echo for the output and the parsed query for the engine."""

    number: int
    echo: Json
    query: Query
    custom_id: str | None = None


@dataclass(frozen=True)
class LineResult:
    """One output line: line_number, status, query, response, code and error (`problems`: the error's fields)."""

    number: int
    status: str
    query: Json
    code: int
    response: JsonObject | None = None
    error: str | None = None
    custom_id: str | None = None
    attempts: int = 1
    problems: tuple[FieldProblem, ...] = ()

    def to_json_line(self) -> bytes:
        """The result as one JSON line (error only when the line failed, custom_id only when the line had one)."""
        body: JsonObject = {
            "line_number": self.number,
            "status": self.status,
            "query": self.query,
            "response": self.response,
            "code": self.code,
        }
        if self.error is not None:
            body["error"] = self.error
        if self.custom_id is not None:
            body[CUSTOM_ID_FIELD] = self.custom_id
        body["attempts"] = self.attempts  # additive: Bigdata clients ignore it
        try:
            return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode() + b"\n"
        except (ValueError, TypeError, RecursionError):  # never write a line that is not JSON: it fails alone
            log.exception("output line %d is not serialisable as JSON", self.number)
            return LineResult(self.number, "exception", None, InternalError.status_code, error=EXCEPTION_MESSAGE,
                              custom_id=self.custom_id, attempts=self.attempts).to_json_line()


def iter_lines(
    chunks: Iterable[bytes], *, first_number: int = 1, start_offset: int = 0, max_line_bytes: int = MAX_LINE_BYTES
) -> Generator[RawLine, None, None]:
    """Split a byte stream into lines in one pass; a trailing final newline does not start another line.

    A line longer than `max_line_bytes` is not kept: it comes out `is_overlong`, without its bytes."""
    number, offset = first_number, start_offset
    pending = _PendingLine(max_line_bytes)
    for chunk in chunks:
        start = 0
        while (newline := chunk.find(b"\n", start)) >= 0:
            pending.add(chunk[start:newline])
            offset += pending.size + 1
            yield pending.take(number, offset)
            number, start = number + 1, newline + 1
        pending.add(chunk[start:] if start else chunk)
    if pending.size:
        yield pending.take(number, offset + pending.size)


class _PendingLine:
    """The bytes of the line being split so far, dropped (only counted) once they pass the limit."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._parts: list[bytes] = []
        self.size = 0

    def add(self, piece: bytes) -> None:
        """Append a piece of the line (kept only while the line is within the limit)."""
        self.size += len(piece)
        if self.size <= self._limit:
            self._parts.append(piece)
        else:
            self._parts.clear()

    def take(self, number: int, end_offset: int) -> RawLine:
        """The finished line, and start the next one."""
        if self.size > self._limit:
            line = RawLine(number, b"", end_offset, is_overlong=True)
        else:
            line = RawLine(number, _clean(b"".join(self._parts), number), end_offset)
        self._parts.clear()
        self.size = 0
        return line


def _clean(data: bytes, number: int) -> bytes:
    """Drop a Windows line ending, and the UTF-8 byte order mark of the first line."""
    if number == 1 and data.startswith(BOM):
        data = data[len(BOM) :]
    return data[:-1] if data.endswith(b"\r") else data


@dataclass(frozen=True)
class InputStats:
    """What a whole-file check found: size in bytes and number of lines."""

    size: int
    lines: int


class InputInspector:
    """Checks a batch file as it streams past: UTF-8, not empty, under the byte and line limits."""

    def __init__(self, *, max_bytes: int, max_lines: int) -> None:
        self._max_bytes = max_bytes
        self._max_lines = max_lines
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._size = 0
        self._newlines = 0
        self._has_content = False
        self._ends_with_newline = True

    def feed(self, chunk: bytes) -> None:
        """Check the next chunk; raises ValidationError or PayloadTooLargeError as soon as the file is unusable."""
        if not chunk:
            return
        self._size += len(chunk)
        if self._size > self._max_bytes:
            raise PayloadTooLargeError(f"File is larger than the limit of {self._max_bytes} bytes")
        self._decode(chunk, final=False)
        self._has_content = self._has_content or bool(chunk.strip())
        self._newlines += chunk.count(b"\n")
        self._ends_with_newline = chunk.endswith(b"\n")
        if self._line_count() > self._max_lines:
            raise PayloadTooLargeError(f"File has more than the limit of {self._max_lines} lines")

    def _decode(self, chunk: bytes, *, final: bool) -> None:
        """Feed the UTF-8 decoder; name the line of the first invalid byte."""
        try:
            self._decoder.decode(chunk, final)
        except UnicodeDecodeError as exc:
            line = self._newlines + chunk[: max(exc.start, 0)].count(b"\n") + 1
            raise ValidationError(f"File is not valid UTF-8 (line {line}): {exc.reason}") from exc

    def _line_count(self) -> int:
        """Lines so far: one per newline plus an unterminated last line."""
        return self._newlines + (0 if self._ends_with_newline else 1)

    def wrap(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Pass the chunks through, checking each one, and the whole file at the end."""
        for chunk in chunks:
            self.feed(chunk)
            yield chunk
        self.finish()

    def finish(self) -> InputStats:
        """Final checks once the whole file went by; returns its size and line count."""
        self._decode(b"", final=True)
        if not self._has_content:
            raise ValidationError("File is empty: expected one JSON object per line")
        return InputStats(size=self._size, lines=self._line_count())


def parse_line(line: RawLine) -> ParsedLine | LineResult:
    """Parse one input line (a search request body) into its query, or into the error line the output gets."""
    if line.is_overlong:
        return error_result(line.number, None, overlong_error())
    if not line.data.strip():
        return error_result(line.number, None, ValidationError.of(SEARCH_REQUEST_TITLE, "body", "Field required"))
    try:
        payload: Json = safejson.loads(line.data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return error_result(line.number, None, json_error(exc))
    except safejson.JsonInputError as exc:
        return error_result(line.number, None, ValidationError.of(SEARCH_REQUEST_TITLE, exc.field, exc.message))
    echo = payload.get("query") if isinstance(payload, dict) else None
    custom_id = None
    if isinstance(payload, dict) and CUSTOM_ID_FIELD in payload:
        payload = dict(payload)
        value = payload.pop(CUSTOM_ID_FIELD)
        if not isinstance(value, str) or not _CUSTOM_ID_RE.match(value):
            return error_result(line.number, echo, custom_id_error(value))
        custom_id = value
    try:
        return ParsedLine(line.number, echo, parse_search_request(payload).query, custom_id)
    except BatchSearchError as exc:
        return error_result(line.number, echo, exc, custom_id=custom_id)


def custom_id_error(value: Json) -> ValidationError:
    """The validation error for a custom_id that is not 1-64 characters of [A-Za-z0-9_-]."""
    if not isinstance(value, str):
        problem = "Input should be a valid string"
    else:
        problem = f"String should match pattern '{CUSTOM_ID_PATTERN}'"
    return ValidationError.of(SEARCH_REQUEST_TITLE, CUSTOM_ID_FIELD, problem)


def overlong_error(limit: int = MAX_LINE_BYTES) -> ValidationError:
    """The error line of a line over the per-line limit (its bytes were never read into memory)."""
    return ValidationError.of(SEARCH_REQUEST_TITLE, "body", f"Line is longer than the limit of {limit} bytes")


def json_error(exc: ValueError) -> ValidationError:
    """The sync endpoint's error for a body that is not JSON: the character where parsing stopped."""
    position = exc.pos if isinstance(exc, json.JSONDecodeError) else int(getattr(exc, "start", 0))
    problem = FieldProblem("body", "JSON decode error", position=position)
    return ValidationError(problems=[problem], title=SEARCH_REQUEST_TITLE)


def error_result(number: int, echo: Json, exc: BatchSearchError, *, custom_id: str | None = None) -> LineResult:
    """The output line for a failed line: error (4xx), timeout (504) or exception (5xx)."""
    problems: tuple[FieldProblem, ...] = ()
    if isinstance(exc, SearchTimeoutError):
        status, message = "timeout", exc.message or TIMEOUT_MESSAGE
    elif 400 <= exc.status_code < 500:
        status, message = "error", exc.message
        problems = exc.problems if isinstance(exc, ValidationError) else (FieldProblem("body", exc.message),)
    else:
        status, message = "exception", exc.message or EXCEPTION_MESSAGE
    return LineResult(number, status, echo, exc.status_code, error=message, custom_id=custom_id, problems=problems)


def outcome_result(line: ParsedLine, outcome: Outcome) -> LineResult:
    """The output line for a searched query: success with the response, or the error the engine gave."""
    if isinstance(outcome, BatchSearchError):
        return error_result(line.number, line.echo, outcome, custom_id=line.custom_id)
    return LineResult(line.number, "success", line.echo, 200, response=outcome, custom_id=line.custom_id)
