"""Text extraction from uploaded files: plain text, Markdown, HTML, PDF, JSON and JSON lines (pure, no IO).

The file name's extension picks the reader; the Content-Type an uploader sent is not trusted for that.
Text files must be UTF-8 (a UTF-8 or UTF-16 byte order mark is honoured; HTML may also declare its
charset in a <meta> tag). JSON that holds documents in our native ingest format (objects with a "text"
field) contributes their headlines and texts; any other JSON is rendered as "path.to.key: value" lines.

Every failure raises a ContentFileError subclass whose message says what is wrong with the file.
"""

from __future__ import annotations

import codecs
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import PurePosixPath
from typing import Any

from batchsearch.contents.errors import (
    CorruptFileError,
    EmptyTextError,
    EncryptedFileError,
    FileEncodingError,
    UnsupportedFileTypeError,
)
from batchsearch.models.search import DOCUMENT_TYPES

KINDS = {
    ".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html",
    ".pdf": "pdf", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl",
}
CONTENT_TYPES = {
    "text": "text/plain", "markdown": "text/markdown", "html": "text/html", "pdf": "application/pdf",
    "json": "application/json", "jsonl": "application/jsonl",
}
MAX_TITLE_CHARS = 300
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_BLANK_RUNS = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class Extracted:
    """The text of a file, its title when the file has one, and its document type when the file says."""

    text: str
    title: str | None = None
    document_type: str | None = None
    document_subtype: str | None = None


def file_kind(file_name: str) -> str | None:
    """The reader for this file name ("text", "markdown", "html", "pdf", "json", "jsonl"), or None."""
    return KINDS.get(PurePosixPath(file_name.replace("\\", "/")).suffix.lower())


def content_type_for(file_name: str) -> str:
    """The media type a file of this name has, for records whose upload sent none."""
    kind = file_kind(file_name)
    return CONTENT_TYPES[kind] if kind else "application/octet-stream"


def extract(file_name: str, data: bytes) -> Extracted:
    """The text and title of an uploaded file; ContentFileError subclasses say why there is none."""
    kind = file_kind(file_name)
    if kind is None:
        suffix = PurePosixPath(file_name).suffix
        found = f"'{suffix}' files are" if suffix else "Files without an extension are"
        raise UnsupportedFileTypeError(
            f"{found} not supported; upload a .txt, .md, .html, .pdf, .json or .jsonl file")
    if not data.strip():
        raise EmptyTextError("The file is empty")
    extracted = _READERS[kind](data)
    text = normalise_text(extracted.text)
    if not text:
        raise EmptyTextError("The file contains no text to index")
    return replace(extracted, text=text, title=_clean_title(extracted.title))


def normalise_text(text: str) -> str:
    """Unix newlines, no control characters or trailing spaces, at most one blank line in a row."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x0c", "\n\n")
    text = _CONTROL.sub("", text)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n\n", text).strip()


def _clean_title(title: str | None) -> str | None:
    cleaned = " ".join((title or "").split())[:MAX_TITLE_CHARS]
    return cleaned or None


# ---- decoding ------------------------------------------------------------------------------
def decode_text(data: bytes, declared: str | None = None) -> str:
    """Text from bytes: a byte order mark wins, then a declared charset, else strict UTF-8."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decode(data, "utf-16")
    if data.startswith(codecs.BOM_UTF8) or declared is None:
        return _decode(data, "utf-8-sig")
    return _decode(data, declared)


def _decode(data: bytes, encoding: str) -> str:
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        name = "UTF-8" if encoding == "utf-8-sig" else encoding
        raise FileEncodingError(
            f"The file is not valid {name} text: byte 0x{data[exc.start]:02X} at offset {exc.start} cannot be "
            f"decoded; save it as UTF-8 and upload it again") from exc
    if "\x00" in text:
        raise FileEncodingError("The file looks binary (it contains NUL characters), not UTF-8 text")
    return text


# ---- plain text and Markdown ---------------------------------------------------------------
def _read_text(data: bytes) -> Extracted:
    return Extracted(decode_text(data))


_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_FRONT_TITLE = re.compile(r"^title:[ \t]*(.+?)[ \t]*$", re.M)
_ATX = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(?:=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(?:```|~~~)")
_RULE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_TABLE_RULE = re.compile(r"^[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(?:\|[ \t]*:?-{3,}:?[ \t]*)*\|?[ \t]*$")
_REF_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]+\S+")
_QUOTE = re.compile(r"^ {0,3}(?:>[ \t]?)+")
_INLINE = (
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # images: alt text
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links: link text
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),  # reference links
    (re.compile(r"<((?:https?|mailto):[^>\s]+)>"), r"\1"),  # autolinks
    (re.compile(r"`+([^`]+)`+"), r"\1"),  # code spans
    (re.compile(r"(?<![\w*])(\*{1,3})(?=\S)(.+?)(?<=\S)\1(?![\w*])"), r"\2"),  # *emphasis*, **strong**
    (re.compile(r"(?<![\w_])(_{1,3})(?=\S)(.+?)(?<=\S)\1(?![\w_])"), r"\2"),  # _emphasis_ (not snake_case)
    (re.compile(r"</?[A-Za-z][^>\n]*>"), ""),  # inline HTML tags
)


def _inline(line: str) -> str:
    for pattern, replacement in _INLINE:
        line = pattern.sub(replacement, line)
    return line


def _read_markdown(data: bytes) -> Extracted:
    """Markdown without its markup; the title is the front matter's, else the first heading."""
    text = decode_text(data).replace("\r\n", "\n")
    title = None
    front = _FRONT_MATTER.match(text)
    if front:
        found = _FRONT_TITLE.search(front.group(1))
        title = found.group(1).strip("'\"") if found else None
        text = text[front.end() :]
    out: list[str] = []
    in_fence = False
    for line in text.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            out.append(line)
            continue
        heading = _heading(line, out)
        if heading is not None:
            title = title or heading
            out.extend(["", heading, ""])
        elif not (_RULE.match(line) or _TABLE_RULE.match(line) or _REF_DEF.match(line)):
            out.append(_inline(_QUOTE.sub("", line)))
    return Extracted("\n".join(out), title)


def _heading(line: str, out: list[str]) -> str | None:
    """The heading text when `line` is an ATX heading, or a setext underline (which takes the line before)."""
    atx = _ATX.match(line)
    if atx:
        return _inline(atx.group(1))
    if _SETEXT.match(line) and out and out[-1].strip():
        return out.pop().strip()
    return None


# ---- HTML ------------------------------------------------------------------------------------
_SKIPPED = frozenset({"script", "style", "noscript", "template", "svg", "iframe", "object", "canvas", "select"})
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_PARAGRAPHS = frozenset({"p", "div", "section", "article", "header", "footer", "main", "aside", "nav", "table",
                         "ul", "ol", "dl", "blockquote", "pre", "figure", "figcaption", "form", "fieldset",
                         "address", "hr", "body"}) | _HEADINGS
_LINES = frozenset({"br", "li", "tr", "dt", "dd", "caption"})
_CELLS = frozenset({"td", "th"})
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)


class _HtmlText(HTMLParser):
    """Collects visible text with block boundaries as newlines, the <title>, and the first heading."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self.heading: str | None = None
        self._heading_parts: list[str] | None = None
        self._skipping = 0
        self._in_title = False
        self._in_pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in _SKIPPED:
            self._skipping += 1
        elif not self._skipping:
            self._boundary(tag)
            self._in_pre += tag == "pre"
            if tag in _HEADINGS and self.heading is None:
                self._heading_parts = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in _SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif not self._skipping:
            if tag in _PARAGRAPHS:  # line breaks (<li>, <br>) only where a line starts
                self.parts.append("\n\n")
            self._in_pre -= tag == "pre" and self._in_pre > 0
            if tag in _HEADINGS and self._heading_parts is not None:
                self.heading = " ".join("".join(self._heading_parts).split()) or None
                self._heading_parts = None

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._skipping:
            text = data if self._in_pre else re.sub(r"\s+", " ", data)
            self.parts.append(text)
            if self._heading_parts is not None:
                self._heading_parts.append(text)

    def _boundary(self, tag: str) -> None:
        if tag in _PARAGRAPHS:
            self.parts.append("\n\n")
        elif tag in _LINES:
            self.parts.append("\n")
        elif tag in _CELLS:
            self.parts.append(" ")


def _declared_charset(data: bytes) -> str | None:
    """The charset a <meta> tag declares near the top, when Python knows it."""
    found = _META_CHARSET.search(data[:4096])
    if not found:
        return None
    try:
        return codecs.lookup(found.group(1).decode("ascii")).name
    except (LookupError, UnicodeDecodeError):
        return None


def _read_html(data: bytes) -> Extracted:
    """Visible text (scripts, styles and the like left out); the title is the first heading, else <title>."""
    parser = _HtmlText()
    try:
        parser.feed(decode_text(data, _declared_charset(data)))
        parser.close()
    except (AssertionError, ValueError) as exc:  # html.parser is lenient; these mean truly broken markup
        raise CorruptFileError(f"The HTML could not be parsed: {exc}") from exc
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", "".join(parser.parts))
    return Extracted(text, parser.heading or "".join(parser.title))


# ---- PDF -----------------------------------------------------------------------------------
_FILE_LIKE_TITLE = re.compile(r"\.(?:docx?|pdf|pptx?|xlsx?|txt|rtf|odt)$|^(?:untitled|microsoft word)\b", re.I)


def _read_pdf(data: bytes) -> Extracted:
    """The text layer of every page, pages separated by blank lines; the title from the PDF's metadata."""
    if b"%PDF-" not in data[:1024]:
        raise CorruptFileError("The file is not a PDF: it does not start with a %PDF- header")
    from pypdf import PdfReader  # imported here: only PDF uploads pay for it

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not _decrypt(reader):
            raise EncryptedFileError("The PDF is password protected; remove the password and upload it again")
        pages = list(reader.pages)
        title = reader.metadata.title if reader.metadata else None
    except EncryptedFileError:
        raise
    except Exception as exc:  # pypdf raises many kinds of errors on damaged files
        raise CorruptFileError(f"The PDF could not be read ({_reason(exc)}); it may be damaged or truncated") from exc
    texts, failed = [], 0
    for page in pages:
        try:
            texts.append(page.extract_text() or "")
        except Exception:  # one damaged page should not lose the others
            failed += 1
    if pages and failed == len(pages):
        raise CorruptFileError("No page of the PDF could be read; it may be damaged")
    if not any(t.strip() for t in texts):
        raise EmptyTextError("The PDF has no text layer (is it scanned?); text recognition (OCR) is not supported")
    usable_title = title if isinstance(title, str) and not _FILE_LIKE_TITLE.search(title.strip()) else None
    return Extracted("\n\n".join(texts), usable_title)


def _decrypt(reader: Any) -> bool:
    """Open a PDF encrypted with an empty user password (common for "no copy" PDFs)."""
    try:
        return bool(reader.decrypt(""))
    except Exception:  # unsupported cipher or missing crypto dependency: treat as locked
        return False


def _reason(exc: Exception) -> str:
    message = str(exc).strip()
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


# ---- JSON and JSON lines ----------------------------------------------------------------------
def _read_json(data: bytes) -> Extracted:
    text = decode_text(data)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorruptFileError(f"Invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    except RecursionError as exc:
        raise CorruptFileError("The JSON is nested too deeply to read") from exc
    return _from_values(value if isinstance(value, list) else [value])


def _read_jsonl(data: bytes) -> Extracted:
    values = []
    for number, line in enumerate(decode_text(data).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            values.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise CorruptFileError(f"Invalid JSON on line {number}, column {exc.colno}: {exc.msg}") from exc
        except RecursionError as exc:
            raise CorruptFileError(f"The JSON on line {number} is nested too deeply to read") from exc
    return _from_values(values)


def _is_native(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("text"), str)


def _from_values(values: list[Any]) -> Extracted:
    """Native documents give headline and text (the first one's headline is the title); others labelled lines."""
    first: dict[str, Any] | None = next((v for v in values if _is_native(v)), None)
    blocks: list[str] = []
    for value in values:
        if first is not None and value is first:
            blocks.append(first["text"])
        elif _is_native(value):
            blocks.append("\n\n".join(p for p in (str(value.get("headline") or ""), value["text"]) if p.strip()))
        else:
            blocks.append("\n".join(_render(value, "")))
    if first is None:
        return Extracted("\n\n".join(blocks))
    doc_type, subtype = _document_type(first.get("document_type"))
    return Extracted("\n\n".join(blocks), str(first.get("headline") or "") or None, doc_type, subtype)


def _document_type(value: Any) -> tuple[str | None, str | None]:
    """A native document's type and subtype, when they are valid ones."""
    doc_type, subtype = (value.get("type"), value.get("subtype")) if isinstance(value, dict) else (value, None)
    if not isinstance(doc_type, str) or doc_type not in DOCUMENT_TYPES:
        return None, None
    return doc_type, subtype if isinstance(subtype, str) and subtype in DOCUMENT_TYPES[doc_type] else None


def _render(value: Any, path: str) -> Iterator[str]:
    """Scalar leaves as "path.to.key: value" lines (list items share their list's path)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _render(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for item in value:
            yield from _render(item, path)
    elif value is not None and value != "":
        text = value if isinstance(value, str) else json.dumps(value)
        yield f"{path}: {text}" if path else text


_READERS: dict[str, Callable[[bytes], Extracted]] = {
    "text": _read_text, "markdown": _read_markdown, "html": _read_html, "pdf": _read_pdf,
    "json": _read_json, "jsonl": _read_jsonl,
}
