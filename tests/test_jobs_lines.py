"""Splitting, checking and parsing batch files, and rendering output lines."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from batchsearch.errors import InternalError, PayloadTooLargeError, SearchTimeoutError, ValidationError
from batchsearch.jobs.lines import (
    MAX_LINE_BYTES,
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


DEEP = b'{"query": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
HUGE_INT = b'{"query": {"text": "x", "max_chunks": ' + b"9" * 5000 + b"}}"


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        (DEEP, "body", "JSON nests deeper than 64 levels"),
        (b'{"query": {"text": "x", "filters": ' + b'{"a": ' * 70 + b"1" + b"}" * 71 + b"}", "query.filters.a.a",
         "JSON nests deeper than 64 levels"),
        (HUGE_INT, "query.max_chunks", "Integer has more than 100 digits"),
        (b'{"query": {"text": "x", "ranking_params": {"freshness_boost": NaN}}}', "query.ranking_params.freshness_boost",
         "finite number"),
        (b'{"query": {"text": "x", "filters": {"sentiment": {"ranges": [{"min": -Infinity}]}}}}',
         "query.filters.sentiment.ranges.0.min", "finite number"),
        (b'{"query": {"text": "x", "max_chunks": 1e999}}', "query.max_chunks", "finite number"),
        (b'{"custom_id": NaN, "query": {"text": "x"}}', "custom_id", "finite number"),
    ],
)
def test_deep_huge_or_non_finite_json_becomes_an_error_line_naming_the_field(data: bytes, field: str, reason: str) -> None:
    result = parse(data)  # used to raise RecursionError / ValueError, which became `exception` (500) lines
    assert isinstance(result, LineResult)
    assert (result.status, result.code, result.number, result.query) == ("error", 400, 7, None)
    assert result.problems[0].field.startswith(field) and reason in result.problems[0].message
    row = json.loads(result.to_json_line())  # the output line is plain JSON: no NaN or Infinity echoed
    assert row["status"] == "error" and row["code"] == 400 and field in row["error"]


def test_output_lines_are_always_valid_json() -> None:
    result = LineResult(3, "success", {"text": "x"}, 200, response={"score": float("nan")}, custom_id="c")
    row = json.loads(result.to_json_line(), parse_constant=pytest.fail)  # used to write `NaN` into the file
    assert (row["line_number"], row["status"], row["code"], row["custom_id"]) == (3, "exception", 500, "c")
    assert row["response"] is None and row["query"] is None


def test_a_long_line_is_split_in_one_pass_in_bounded_memory() -> None:
    line_of = 16 * 1024 * 1024
    chunks = (b"x" * 65536 for _ in range(line_of // 65536))  # one 16 MiB line, no newline, in 64 KiB chunks
    tracemalloc.start()
    try:
        lines = list(iter_lines(chunks))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * MAX_LINE_BYTES  # the line is counted, not held (it used to be held, and re-split per chunk)
    assert len(lines) == 1 and lines[0].is_overlong and lines[0].data == b"" and lines[0].end_offset == line_of


@pytest.mark.parametrize("chunk", [1000, 65536, 3 * 1024 * 1024])
def test_a_line_over_the_limit_becomes_an_error_line_and_its_neighbours_are_kept(chunk: int) -> None:
    data = b'{"query": {"text": "a"}}\n' + b'{"query": {"text": "' + b"y" * MAX_LINE_BYTES + b'"}}\r\n' + b"last"
    lines = list(iter_lines(split(data, chunk)))
    assert [(l.number, l.is_overlong) for l in lines] == [(1, False), (2, True), (3, False)]
    assert lines[0].data == b'{"query": {"text": "a"}}' and lines[2].data == b"last"
    assert [l.end_offset for l in lines] == [25, len(data) - 4, len(data)]
    result = parse_line(lines[1])
    assert isinstance(result, LineResult) and (result.status, result.code, result.number) == ("error", 400, 2)
    assert f"Line is longer than the limit of {MAX_LINE_BYTES} bytes" in (result.error or "")


def test_a_line_exactly_at_the_limit_is_kept() -> None:
    data = b"z" * MAX_LINE_BYTES + b"\n"
    (line,) = iter_lines(split(data, 4096))
    assert not line.is_overlong and len(line.data) == MAX_LINE_BYTES
