"""Splitting, checking and parsing batch files, and rendering output lines."""

from __future__ import annotations

import json

import pytest

from batchsearch.errors import InternalError, PayloadTooLargeError, SearchTimeoutError, ValidationError
from batchsearch.jobs.lines import (
    InputInspector,
    LineResult,
    ParsedLine,
    RawLine,
    error_result,
    iter_lines,
    parse_line,
)

BLANK_LINE_MESSAGE = "1 validation error for PublicSearchRequest\nbody\n  Field required"


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1000])
def test_lines_split_the_same_whatever_the_chunking(chunk: int) -> None:
    data = b'{"a":1}\r\n\n{"b":2}\nlast'
    lines = list(iter_lines(split(data, chunk)))
    assert [(l.number, l.data) for l in lines] == [(1, b'{"a":1}'), (2, b""), (3, b'{"b":2}'), (4, b"last")]
    assert lines[-1].end_offset == len(data)
    assert lines[0].end_offset == 9


def test_trailing_newline_is_not_a_line_and_resuming_from_an_offset_continues_numbering() -> None:
    data = b"a\nb\nc\n"
    assert [l.data for l in iter_lines([data])] == [b"a", b"b", b"c"]
    rest = list(iter_lines([data[2:]], first_number=2, start_offset=2))
    assert [(l.number, l.data, l.end_offset) for l in rest] == [(2, b"b", 4), (3, b"c", 6)]


def test_byte_order_mark_is_dropped_from_the_first_line() -> None:
    assert next(iter_lines([b"\xef\xbb\xbf{}\n"])).data == b"{}"


def inspect(data: bytes, chunk: int = 4, **limits: int) -> tuple[int, int]:
    inspector = InputInspector(max_bytes=limits.get("max_bytes", 10**6), max_lines=limits.get("max_lines", 10**6))
    for part in split(data, chunk):
        inspector.feed(part)
    stats = inspector.finish()
    return stats.size, stats.lines


def test_inspector_counts_lines_like_the_splitter() -> None:
    assert inspect(b"a\nb\n") == (4, 2)
    assert inspect(b"a\nb") == (3, 2)
    assert inspect(b"a\n\nb\n") == (5, 3)


def test_inspector_rejects_unusable_files() -> None:
    with pytest.raises(ValidationError, match="empty"):
        inspect(b"")
    with pytest.raises(ValidationError, match="empty"):
        inspect(b"\n \n")
    with pytest.raises(ValidationError, match=r"not valid UTF-8 \(line 2\)"):
        inspect(b"ok\n\xff\xfe\n")
    with pytest.raises(ValidationError, match="UTF-8"):
        inspect("é".encode()[:1])
    with pytest.raises(PayloadTooLargeError, match="3 lines"):
        inspect(b"a\nb\nc\nd\n", max_lines=3)
    with pytest.raises(PayloadTooLargeError, match="10 bytes"):
        inspect(b"0123456789A", max_bytes=10)


def test_multibyte_character_split_across_chunks_is_valid() -> None:
    assert inspect("ééé\n".encode(), chunk=1) == (7, 1)


def parse(data: bytes) -> ParsedLine | LineResult:
    return parse_line(RawLine(7, data, 0))


def test_valid_line_parses_and_echoes_the_inner_query() -> None:
    parsed = parse(b'{"query": {"text": "x"}}')
    assert isinstance(parsed, ParsedLine)
    assert parsed.echo == {"text": "x"} and parsed.number == 7
    assert parsed.query.text == "x" and parsed.query.max_chunks == 10  # the search model itself


def test_error_lines_carry_the_problems_their_text_renders() -> None:
    result = parse(b'{"query": {"text": 3, "max_chunks": 0}}')
    assert isinstance(result, LineResult)
    assert [(p.field, p.message) for p in result.problems] == [
        ("query.text", "Input should be a valid string"),
        ("query.max_chunks", "Input should be greater than or equal to 1"),
    ]
    assert result.error == ("2 validation errors for PublicSearchRequest\nquery.text\n  Input should be a valid string"
                            "\nquery.max_chunks\n  Input should be greater than or equal to 1")
    broken = parse(b'{"query": ')
    assert isinstance(broken, LineResult) and broken.problems[0].position == 10


@pytest.mark.parametrize(
    ("data", "message", "echo"),
    [
        (b"", BLANK_LINE_MESSAGE, None),
        (b"   ", BLANK_LINE_MESSAGE, None),
        (b"{nope", "1 validation error for PublicSearchRequest\n1\n  JSON decode error", None),
        (b'{"text": "x"}', "query\n  Field required", None),
        (b'{"query": {"text": 3}}', "query.text", {"text": 3}),
    ],
)
def test_bad_lines_become_error_lines(data: bytes, message: str, echo: object) -> None:
    result = parse(data)
    assert isinstance(result, LineResult)
    assert (result.status, result.code, result.query, result.number) == ("error", 400, echo, 7)
    assert message in (result.error or "")


def test_error_results_map_timeouts_and_crashes() -> None:
    assert error_result(1, None, SearchTimeoutError("slow")).status == "timeout"
    assert error_result(1, None, SearchTimeoutError("slow")).code == 504
    crash = error_result(1, {"text": "x"}, InternalError("boom"))
    assert (crash.status, crash.code) == ("exception", 500)


def test_output_line_has_error_only_when_failed() -> None:
    ok = json.loads(LineResult(1, "success", {"text": "x"}, 200, response={"results": []}).to_json_line())
    assert ok == {"line_number": 1, "status": "success", "query": {"text": "x"}, "response": {"results": []}, "code": 200,
                  "attempts": 1}
    bad = json.loads(LineResult(2, "error", None, 400, error="why").to_json_line())
    assert bad["error"] == "why" and bad["response"] is None
