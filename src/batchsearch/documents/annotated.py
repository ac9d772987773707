"""The annotated JSON of a document (pure): `document` (metadata), `content` (title and body blocks),
`profiling` (counts) and `analytics` (entities, topics, sentiment per chunk).

The index keeps a document's chunk texts, not its original layout, so the body blocks are derived from the text of
each chunk, in chunk order, line by line:
  * lines that start with "- ", "* ", "• " (and similar bullets) form a LIST_UNORDERED block, with `items`;
  * lines that start with "1. ", "2) ", "(3) " form a LIST_ORDERED block, with `items`;
  * two or more consecutive lines with "|"-separated or tab-separated cells form a TABLE block, with `rows`
    (Markdown separator lines such as "|---|---|" are dropped);
  * a line that starts with "#", or a short line without closing punctuation (at most 100 characters and 12 words)
    that is a paragraph of its own (lines between blank lines) or leads into a list or table (then it may end with
    ":"), is a HEADING;
  * everything else is TEXT, one block per paragraph.
Every block names its chunk (`cnum`) and its character span in that chunk's text (`start`, `end`: the same
offsets as the chunk's detections). A paragraph cut by a chunk boundary gives one block in each chunk.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from batchsearch.documents.lookup import IndexedChunk, IndexedDocument

HEADING = "HEADING"
TEXT = "TEXT"
TABLE = "TABLE"
LIST_ORDERED = "LIST_ORDERED"
LIST_UNORDERED = "LIST_UNORDERED"
BLOCK_TYPES = (HEADING, TEXT, TABLE, LIST_ORDERED, LIST_UNORDERED)
MAX_HEADING_CHARS = 100
MAX_HEADING_WORDS = 12

_UNORDERED = re.compile(r"^\s*[-*•◦‣▪–]\s+(?=\S)")
_ORDERED = re.compile(r"^\s*(?:\(\d{1,3}\)|\d{1,3}[.)])\s+(?=\S)")
_MARKDOWN_HEADING = re.compile(r"^\s*#{1,6}\s+(?=\S)")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_CLOSING = (".", "!", "?", ",", ";", ":")

Line = tuple[int, int, str]  # start, end (offsets in the chunk text) and the line without its newline


def annotated_document(doc: IndexedDocument) -> dict[str, Any]:
    """The annotated JSON of one indexed document."""
    body = [block for chunk in doc.chunks for block in content_blocks(chunk)]
    headline = str(doc.meta.get("headline") or "")
    return {
        "document": {**doc.meta, "chunk_count": len(doc.chunks)},
        "content": {"title": {"type": HEADING, "text": headline} if headline else None, "body": body},
        "profiling": {
            "chunks": len(doc.chunks),
            "characters": sum(len(chunk.text) for chunk in doc.chunks),
            "words": sum(len(chunk.text.split()) for chunk in doc.chunks),
            "blocks": {kind: count for kind, count in Counter(block["type"] for block in body).items()},
        },
        "analytics": {
            "entities": _mentions(doc.chunks, "entity"),
            "topics": _mentions(doc.chunks, "topic"),
            "sentiment": {
                "document": doc.meta.get("sentiment"),
                "chunks": [{"cnum": chunk.cnum, "sentiment": chunk.sentiment} for chunk in doc.chunks],
            },
        },
    }


def content_blocks(chunk: IndexedChunk) -> list[dict[str, Any]]:
    """The body blocks of one chunk's text, in order."""
    blocks = []
    for paragraph in _paragraphs(chunk.text):
        for kind, lines in _runs(paragraph):
            blocks.append(_block(chunk, kind, lines))
    return blocks


def _paragraphs(text: str) -> Iterator[list[Line]]:
    """Runs of non-blank lines."""
    paragraph: list[Line] = []
    offset = 0
    for raw in text.splitlines(keepends=True):
        line = raw.rstrip("\r\n")
        if line.strip():
            paragraph.append((offset, offset + len(line), line))
        elif paragraph:
            yield paragraph
            paragraph = []
        offset += len(raw)
    if paragraph:
        yield paragraph


def _kind(line: str) -> str:
    if _ORDERED.match(line):
        return LIST_ORDERED
    if _UNORDERED.match(line):
        return LIST_UNORDERED
    if len(_cells(line)) >= 2 or _TABLE_RULE.match(line):
        return TABLE
    if _MARKDOWN_HEADING.match(line):
        return HEADING
    return TEXT


def _runs(paragraph: list[Line]) -> Iterator[tuple[str, list[Line]]]:
    """Consecutive lines of one kind; a lone table line is text, a lone short line is a heading."""
    runs: list[tuple[str, list[Line]]] = []
    for line in paragraph:
        kind = _kind(line[2])
        if runs and runs[-1][0] == kind and kind != HEADING:
            runs[-1][1].append(line)
        else:
            runs.append((kind, [line]))
    for i, (kind, lines) in enumerate(runs):
        if kind == TABLE and len(lines) < 2:
            kind = TEXT
        introduces = i + 1 < len(runs) and runs[i + 1][0] in (TABLE, LIST_ORDERED, LIST_UNORDERED)
        if kind == TEXT and len(lines) == 1 and (len(paragraph) == 1 or introduces) and _is_heading_like(
                lines[0][2].rstrip(":") if introduces else lines[0][2]):
            kind = HEADING
        yield kind, lines


def _is_heading_like(line: str) -> bool:
    text = line.strip()
    return (len(text) <= MAX_HEADING_CHARS and len(text.split()) <= MAX_HEADING_WORDS
            and not text.endswith(_CLOSING) and any(ch.isalpha() for ch in text))


def _cells(line: str) -> list[str]:
    text = line.strip()
    if "\t" in text:
        return [cell.strip() for cell in text.split("\t")]
    if text.count("|") >= 2 or (text.count("|") == 1 and not text.startswith("|") and not text.endswith("|")):
        return [cell.strip() for cell in text.strip("|").split("|")]
    return []


def _block(chunk: IndexedChunk, kind: str, lines: list[Line]) -> dict[str, Any]:
    start, end = lines[0][0], lines[-1][1]
    block: dict[str, Any] = {"type": kind, "cnum": chunk.cnum, "start": start, "end": end}
    if kind == HEADING:
        block["text"] = _MARKDOWN_HEADING.sub("", lines[0][2]).strip().rstrip(":")
    elif kind == TEXT:
        block["text"] = " ".join(line[2].strip() for line in lines)
    elif kind == TABLE:
        block["rows"] = [_cells(line[2]) for line in lines if not _TABLE_RULE.match(line[2])]
    else:
        marker = _ORDERED if kind == LIST_ORDERED else _UNORDERED
        block["items"] = [marker.sub("", line[2]).strip() for line in lines]
    return block


def _mentions(chunks: list[IndexedChunk], kind: str) -> list[dict[str, Any]]:
    """Each detected entity (or topic) with its mentions, most mentioned first (ties by id)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for chunk in chunks:
        for det in chunk.detections:
            if det["type"] == kind:
                found.setdefault(det["id"], []).append({
                    "cnum": chunk.cnum, "start": det["start"], "end": det["end"],
                    "text": chunk.text[det["start"]:det["end"]]})
    ordered = sorted(found.items(), key=lambda item: (-len(item[1]), item[0]))
    return [{"id": ident, "count": len(mentions), "chunks": sorted({m["cnum"] for m in mentions}),
             "mentions": mentions} for ident, mentions in ordered]
