"""Input documents: the native JSONL format and BEIR rows, validated line by line; bad lines never stop a file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from batchsearch.ingest.documents import (
    BEIR_TIMESTAMP,
    DocumentIn,
    DocumentLineError,
    parse_beir,
    parse_native,
    read_documents,
)

GOOD = {"id": "57BB2AD9194D71076A125A6EA3356D63", "headline": "Acme raises guidance", "text": "Acme raised guidance.",
        "timestamp": "2024-03-01T10:00:00Z"}


def test_minimal_document_and_defaults() -> None:
    doc = parse_native({"text": "Hello.", "timestamp": 0}, 1)
    assert (doc.headline, doc.url, doc.category, doc.language) == ("", "", "news", "en")
    assert (doc.source.id, doc.source.name, doc.source.rank) == ("000000", "Unknown", "RANK_5")
    assert (doc.document_type.type, doc.document_type.subtype) == ("NEWS", None)
    assert doc.entities is None and doc.topics is None and doc.sentiment is None
    assert doc.tags == [] and doc.reporting_entities == [] and doc.reporting_periods == []


@pytest.mark.parametrize(("value", "expected"), [
    ("2024-03-01T10:00:00Z", datetime(2024, 3, 1, 10, tzinfo=UTC)),
    ("2024-03-01", datetime(2024, 3, 1, tzinfo=UTC)),
    ("2024-03-01T12:00:00+02:00", datetime(2024, 3, 1, 10, tzinfo=UTC)),
    (1709287200, datetime(2024, 3, 1, 10, tzinfo=UTC)),
    (1709287200.9, datetime(2024, 3, 1, 10, tzinfo=UTC)),
])
def test_timestamps(value: Any, expected: datetime) -> None:
    assert parse_native({**GOOD, "timestamp": value}, 1).timestamp == int(expected.timestamp())


def test_full_document() -> None:
    raw = {**GOOD, "url": "https://x", "source": {"id": "D4B903", "name": "Factset", "rank": "RANK_1"},
           "document_type": {"type": "TRANSCRIPT", "subtype": "EARNINGS_CALL"}, "category": "transcripts",
           "tags": ["a"], "entities": ["228D42", {"id": "D8442A", "start": 0, "end": 4},
                                       {"id": "3ORTET", "start": 0, "end": 4, "field": "headline"}],
           "sentiment": 0.4, "topics": ["Business,Earnings"], "reporting_entities": ["228D42"],
           "reporting_periods": [{"fiscal_year": 2024, "fiscal_quarter": 1}, {"fiscal_year": 2023}], "unknown": 1}
    doc = parse_native(raw, 1)
    assert [(e.id, e.start, e.end, e.field) for e in doc.entities or []] == [
        ("228D42", None, None, "text"), ("D8442A", 0, 4, "text"), ("3ORTET", 0, 4, "headline")]
    assert [(p.fiscal_year, p.fiscal_quarter) for p in doc.reporting_periods] == [(2024, 1), (2023, None)]


# (document, words the error must contain)
BAD: list[tuple[Any, str]] = [
    ({**GOOD, "text": ""}, "text:"),
    ({k: v for k, v in GOOD.items() if k != "text"}, "text: Field required"),
    ({k: v for k, v in GOOD.items() if k != "timestamp"}, "timestamp: Field required"),
    ({**GOOD, "timestamp": "last tuesday"}, "timestamp"),
    ({**GOOD, "timestamp": True}, "timestamp"),
    ({**GOOD, "timestamp": [2024]}, "timestamp"),
    ({**GOOD, "category": "Tabloids"}, "category: unknown category 'Tabloids'"),
    ({**GOOD, "source": {"rank": "RANK_9"}}, "source.rank"),
    ({**GOOD, "document_type": {"type": "PODCAST"}}, "unknown type 'PODCAST'"),
    ({**GOOD, "document_type": {"type": "NEWS", "subtype": "EARNINGS_CALL"}}, "unknown subtype 'EARNINGS_CALL' for type NEWS"),
    ({**GOOD, "sentiment": 1.5}, "sentiment"),
    ({**GOOD, "entities": [{"id": "X", "start": 3}]}, "entities[0]: give both start and end"),
    ({**GOOD, "entities": [{"id": "X", "start": 3, "end": 999}]}, "entities[0]: span 3..999 is outside the text"),
    ({**GOOD, "entities": [{"id": "X", "start": 5, "end": 5}]}, "entities[0]"),
    ({**GOOD, "entities": ["ok", {"id": "Y", "start": 0, "end": 50, "field": "headline"}]},
     "entities[1]: span 0..50 is outside the headline"),
    ({**GOOD, "reporting_periods": [{"fiscal_year": 2024, "fiscal_quarter": 5}]}, "reporting_periods.0.fiscal_quarter"),
    ({**GOOD, "id": ""}, "id"),
    ("a string", "expected a JSON object"),
    ([GOOD], "expected a JSON object"),
]


@pytest.mark.parametrize(("raw", "words"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_documents_name_the_field(raw: Any, words: str) -> None:
    with pytest.raises(DocumentLineError) as info:
        parse_native(raw, 17)
    assert info.value.line == 17
    assert words in info.value.message
    assert str(info.value) == f"line 17: {info.value.message}"
    assert "Value error," not in info.value.message


def test_resolved_id_is_given_or_stable_content_hash() -> None:
    assert parse_native(GOOD, 1).resolved_id() == GOOD["id"]
    a = parse_native({"headline": "H", "text": "T", "timestamp": 0, "url": "u"}, 1).resolved_id()
    b = parse_native({"headline": "H", "text": "T", "timestamp": 99, "url": "u"}, 2).resolved_id()
    c = parse_native({"headline": "H", "text": "T2", "timestamp": 0, "url": "u"}, 1).resolved_id()
    assert a == b != c
    assert len(a) == 32 and a == a.upper() and int(a, 16) >= 0
    # the separator keeps ("ab", "c") and ("a", "bc") apart
    ab_c = DocumentIn(headline="ab", text="c", timestamp=0).resolved_id()
    assert ab_c != DocumentIn(headline="a", text="bc", timestamp=0).resolved_id()


def test_beir_rows() -> None:
    doc = parse_beir({"_id": 4983, "title": "Microstructural development", "text": "Alterations of the...",
                      "metadata": {}}, 3)
    assert (doc.id, doc.headline, doc.timestamp) == ("4983", "Microstructural development", BEIR_TIMESTAMP)
    assert parse_beir({"_id": "x", "title": None, "text": "t"}, 1).headline == ""
    with pytest.raises(DocumentLineError, match="line 5: _id: field required"):
        parse_beir({"title": "t", "text": "t"}, 5)
    with pytest.raises(DocumentLineError, match="line 6: text"):
        parse_beir({"_id": "y", "title": "t", "text": ""}, 6)


def test_read_documents_reports_bad_lines_with_numbers(tmp_path: Path) -> None:
    lines = [json.dumps(GOOD), "{broken", "", json.dumps({**GOOD, "id": "B" * 32}), "   ",
             json.dumps({"text": "no timestamp"}), json.dumps({**GOOD, "id": "C" * 32}), "42"]
    path = tmp_path / "docs.jsonl"
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    items = list(read_documents(str(path), "jsonl"))
    assert [type(i).__name__ for i in items] == ["DocumentIn", "DocumentLineError", "DocumentIn", "DocumentLineError",
                                                "DocumentIn", "DocumentLineError"]
    errors = [i for i in items if isinstance(i, DocumentLineError)]
    assert [e.line for e in errors] == [2, 6, 8]
    assert errors[0].message.startswith("invalid JSON: ") and "column" in errors[0].message
    assert "timestamp: Field required" in errors[1].message
    assert [i.resolved_id() for i in items if isinstance(i, DocumentIn)] == [GOOD["id"], "B" * 32, "C" * 32]


def test_read_beir_corpus(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text('{"_id": "1", "title": "A", "text": "x"}\n{"_id": "2", "text": ""}\n{"title": "no id"}\n')
    items = list(read_documents(str(path), "beir"))
    assert isinstance(items[0], DocumentIn) and items[0].id == "1"
    assert [(e.line, e.message.split(":")[0]) for e in items[1:] if isinstance(e, DocumentLineError)] == [
        (2, "text"), (3, "_id")]


def test_a_line_with_invalid_utf8_is_one_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b"\n" + b'{"text": "caf\xe9", "timestamp": 0}\n'
                     + json.dumps({**GOOD, "id": "B" * 32}).encode() + b"\n")
    items = list(read_documents(str(path), "jsonl"))
    assert [type(i).__name__ for i in items] == ["DocumentIn", "DocumentLineError", "DocumentIn"]
    assert items[1].line == 2 and "UTF-8" in items[1].message  # type: ignore[union-attr]


def test_a_byte_order_mark_does_not_cost_the_first_line(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\r\n")
    assert [type(i).__name__ for i in read_documents(str(path), "jsonl")] == ["DocumentIn"]
