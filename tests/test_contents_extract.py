"""Text extraction of uploaded files: every format, titles, and a clear error for each kind of bad file."""

from __future__ import annotations

import io

import pytest

from batchsearch.contents.errors import (
    ContentFileError,
    CorruptFileError,
    EmptyTextError,
    EncryptedFileError,
    FileEncodingError,
    UnsupportedFileTypeError,
)
from batchsearch.contents.extract import content_type_for, extract, file_kind


def make_pdf(lines: list[str], title: str | None = None) -> bytes:
    """A small real PDF (one page, Helvetica text, correct xref table) written by hand."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td", *(f"({escape(line)}) Tj T*" for line in lines), "ET"]
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    if title:
        objects.append(b"<< /Title (%s) >>" % escape(title).encode("latin-1"))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    info = b" /Info %d 0 R" % len(objects) if title else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, info, xref)
    return bytes(out)


def test_plain_text_keeps_paragraphs_and_drops_control_characters() -> None:
    data = "Line one.\r\nLine two.\r\n\r\n\r\n\r\nNew paragraph\x07 here.   \n".encode()
    extracted = extract("notes.txt", data)
    assert extracted.text == "Line one.\nLine two.\n\nNew paragraph here."
    assert extracted.title is None


def test_text_with_byte_order_marks() -> None:
    assert extract("a.txt", "\ufeffcafé".encode()).text == "café"
    assert extract("a.txt", "café crème".encode("utf-16")).text == "café crème"


def test_markdown_markup_is_removed_and_first_heading_is_the_title() -> None:
    data = b"""Intro line with a [link](https://example.com) and ![chart](c.png).

# Boeing *corporate* actions

Dividends of **$2.05** per share; see `table_1` and snake_case_name.

Stock splits
------------

> Quoted guidance.

```
code *stays*
```

| year | split |
|------|-------|
| 2024 | 2:1   |
"""
    extracted = extract("report.md", data)
    assert extracted.title == "Boeing corporate actions"
    assert "Intro line with a link and chart." in extracted.text
    assert "Dividends of $2.05 per share; see table_1 and snake_case_name." in extracted.text
    assert "\n\nStock splits\n\n" in extracted.text and "----" not in extracted.text
    assert "Quoted guidance." in extracted.text and ">" not in extracted.text
    assert "code *stays*" in extracted.text and "```" not in extracted.text
    assert "| 2024 | 2:1 |" in extracted.text.replace("   ", " ") and "|------|" not in extracted.text


def test_markdown_front_matter_title_wins() -> None:
    extracted = extract("a.markdown", b"---\ntitle: 'Q3 memo'\nauthor: x\n---\n# Heading\n\nBody.")
    assert extracted.title == "Q3 memo"
    assert "author" not in extracted.text and extracted.text.startswith("Heading")


def test_html_visible_text_only() -> None:
    data = b"""<!doctype html><html><head><title>Site | Page</title>
<style>p { color: red }</style><script>var secret = "hidden";</script></head>
<body><nav>Menu</nav><h1>Acme &amp; Co results</h1><p>Revenue rose.<br>Margins held.</p>
<ul><li>First</li><li>Second</li></ul><table><tr><td>Q1</td><td>10</td></tr></table>
<noscript>Enable JS</noscript><pre>  keep   spacing</pre></body></html>"""
    extracted = extract("page.html", data)
    assert extracted.title == "Acme & Co results"
    assert "secret" not in extracted.text and "color" not in extracted.text and "Enable JS" not in extracted.text
    assert "Site | Page" not in extracted.text
    assert "Revenue rose.\nMargins held." in extracted.text
    assert "First\nSecond" in extracted.text and "Q1 10" in extracted.text
    assert "keep   spacing" in extracted.text  # <pre> keeps inner spacing


def test_html_title_tag_when_there_is_no_heading_and_declared_charset() -> None:
    data = '<html><head><meta charset="iso-8859-1"><title>Café report</title></head><body><p>Crème</p></body></html>'
    extracted = extract("page.htm", data.encode("latin-1"))
    assert extracted.title == "Café report"
    assert extracted.text == "Crème"


def test_pdf_text_and_metadata_title() -> None:
    data = make_pdf(["Quarterly report of Apple Inc.", "Revenue grew 12 percent."], title="Apple results")
    extracted = extract("q3.pdf", data)
    assert extracted.text == "Quarterly report of Apple Inc.\nRevenue grew 12 percent."
    assert extracted.title == "Apple results"


def test_pdf_written_by_pypdf_without_text_has_no_text() -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(EmptyTextError, match="no text layer"):
        extract("scan.pdf", buffer.getvalue())


def test_pdf_file_like_metadata_title_is_ignored() -> None:
    assert extract("a.pdf", make_pdf(["Body text."], title="Microsoft Word - draft.docx")).title is None


def test_encrypted_pdf() -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(["Secret text."]))))
    writer.encrypt(user_password="pw", owner_password="owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(EncryptedFileError, match="password"):
        extract("locked.pdf", buffer.getvalue())


def test_native_json_documents() -> None:
    data = (b'{"headline": "Deal closes", "text": "Acme bought Widget Co.", '
            b'"document_type": {"type": "FILING", "subtype": "SEC_8_K"}}\n'
            b'\n{"headline": "Follow-up", "text": "Integration starts."}\n')
    extracted = extract("docs.jsonl", data)
    assert extracted.title == "Deal closes"
    assert extracted.text == "Acme bought Widget Co.\n\nFollow-up\n\nIntegration starts."
    assert (extracted.document_type, extracted.document_subtype) == ("FILING", "SEC_8_K")


def test_any_json_is_rendered_as_labelled_lines() -> None:
    data = b'{"company": {"name": "Acme", "tickers": ["ACM", "ACM.L"]}, "listed": true, "note": null}'
    extracted = extract("data.json", data)
    assert extracted.text == "company.name: Acme\ncompany.tickers: ACM\ncompany.tickers: ACM.L\nlisted: true"
    assert extracted.title is None and extracted.document_type is None


@pytest.mark.parametrize(
    ("name", "data", "error", "phrase"),
    [
        ("deck.pptx", b"PK\x03\x04", UnsupportedFileTypeError, "'.pptx' files are not supported"),
        ("README", b"text", UnsupportedFileTypeError, "without an extension"),
        ("broken.pdf", b"%PDF-1.4\n1 0 obj garbage", CorruptFileError, "The PDF could not be read"),
        ("fake.pdf", b"just some text", CorruptFileError, "not a PDF"),
        ("cut.pdf", make_pdf(["Some text."])[:150], CorruptFileError, "damaged or truncated"),
        ("latin.txt", "café".encode("latin-1"), FileEncodingError, "not valid UTF-8"),
        ("binary.txt", b"abc\x00def", FileEncodingError, "looks binary"),
        ("empty.txt", b"", EmptyTextError, "empty"),
        ("blank.md", b"  \n\n ", EmptyTextError, "empty"),
        ("only-markup.html", b"<script>x()</script><style></style>", EmptyTextError, "no text"),
        ("bad.json", b'{"a": 1,,}', CorruptFileError, "line 1, column 9"),
        ("bad.jsonl", b'{"text": "ok"}\n{oops}\n', CorruptFileError, "line 2"),
    ],
)
def test_bad_files_raise_a_clear_error(name: str, data: bytes, error: type[ContentFileError], phrase: str) -> None:
    with pytest.raises(error) as caught:
        extract(name, data)
    assert phrase in caught.value.message
    assert caught.value.error_code == error.error_code


def test_kinds_and_content_types() -> None:
    assert file_kind("Report.PDF") == "pdf" and file_kind("a/b/notes.Markdown") == "markdown"
    assert file_kind("x.docx") is None
    assert content_type_for("a.jsonl") == "application/jsonl"
    assert content_type_for("a.bin") == "application/octet-stream"
