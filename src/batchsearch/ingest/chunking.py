"""Sentence-aware chunking that keeps every chunk within the embedding model's token limit.

Chunks are spans of the original text (so annotation offsets map onto them), built by packing
whole sentences greedily; a sentence longer than the budget is split at word boundaries.
`cnum` is 1-based in document order, the same base as the `chunk` filter.

The work is linear in the length of the text and the memory bounded whatever the input (an upload
of 100 MB without punctuation or whitespace): the token counter only ever sees texts of at most
MAX_COUNT_CHARS characters, sentences are counted in batches, an over-long sentence is counted word
by word while it is streamed, and a word longer than MAX_WORD_CHARS is cut into pieces of that size.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

TokenCounter = Callable[[Sequence[str]], list[int]]

# group 1: closing quotes/brackets after the stop belong to the sentence they close
_SENTENCE_END = re.compile(r"(?<=[.!?;])([\"')\]]*)\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n|\n(?=\s*[-*•\d])")
_WORD = re.compile(r"\S+")

MAX_COUNT_CHARS = 65_536  # the most characters given to the token counter at once, and the longest chunk
MAX_WORD_CHARS = 100  # longer runs without whitespace are cut (the wordpiece model reads no longer words)
WORD_BATCH = 2_048  # words of an over-long sentence counted per call

Unit = tuple[int, int, int]  # (start, end, tokens): a sentence or a piece of one


@dataclass(frozen=True)
class Span:
    """A chunk: character offsets into the document text, 1-based chunk number."""

    cnum: int
    start: int
    end: int


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, whitespace trimmed."""
    return list(_iter_sentences(text))


def _iter_sentences(text: str) -> Iterator[tuple[int, int]]:
    pos = 0
    for match in _SENTENCE_END.finditer(text):
        yield from _trimmed(text, pos, match.end(1) if match.group(1) is not None else match.start())
        pos = match.end()
    yield from _trimmed(text, pos, len(text))


def _trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """The span without surrounding whitespace, unless nothing else is left."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        yield start, end


def chunk_text(text: str, budget: int, count: TokenCounter) -> list[Span]:
    """Pack sentences into chunks of at most `budget` tokens (and MAX_COUNT_CHARS characters) each."""
    spans: list[Span] = []
    cur: Unit | None = None
    for s, e, n in _units(text, budget, count):
        if cur is not None and cur[2] + n <= budget and e - cur[0] <= MAX_COUNT_CHARS:
            cur = (cur[0], e, cur[2] + n)
            continue
        if cur is not None:
            spans.append(Span(len(spans) + 1, cur[0], cur[1]))
        cur = (s, e, n)
    if cur is not None:
        spans.append(Span(len(spans) + 1, cur[0], cur[1]))
    return spans


def _units(text: str, budget: int, count: TokenCounter) -> Iterator[Unit]:
    """Sentences within the budget with their token counts, over-long ones split into pieces."""
    for batch in _sentence_batches(text):
        if len(batch) == 1 and batch[0][1] - batch[0][0] > MAX_COUNT_CHARS:
            yield from _split_long(text, batch[0][0], batch[0][1], budget, count)
            continue
        for (s, e), n in zip(batch, count([text[s:e] for s, e in batch]), strict=True):
            if n <= budget:
                yield s, e, n
            else:
                yield from _split_long(text, s, e, budget, count)


def _sentence_batches(text: str) -> Iterator[list[tuple[int, int]]]:
    """Consecutive sentences of at most MAX_COUNT_CHARS characters together (a longer one alone)."""
    batch: list[tuple[int, int]] = []
    chars = 0
    for s, e in _iter_sentences(text):
        if batch and chars + (e - s) > MAX_COUNT_CHARS:
            yield batch
            batch, chars = [], 0
        batch.append((s, e))
        chars += e - s
    if batch:
        yield batch


def _words(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Whitespace-separated words of text[start:end], each cut into pieces of at most MAX_WORD_CHARS."""
    for match in _WORD.finditer(text, start, end):
        ws, we = match.span()
        for piece in range(ws, we, MAX_WORD_CHARS):
            yield piece, min(piece + MAX_WORD_CHARS, we)


def _split_long(text: str, start: int, end: int, budget: int, count: TokenCounter) -> Iterator[Unit]:
    """Split one over-long sentence at word boundaries into pieces within the budget, streaming its words."""
    words = _words(text, start, end)
    piece: list[tuple[int, int]] = []
    tokens = 0
    while window := list(islice(words, WORD_BATCH)):
        for (s, e), n in zip(window, count([text[s:e] for s, e in window]), strict=True):
            if piece and (tokens + n > budget or e - piece[0][0] > MAX_COUNT_CHARS):
                yield from _fitted(text, piece, budget, count)
                piece, tokens = [], 0
            piece.append((s, e))
            tokens += n
    if piece:
        yield from _fitted(text, piece, budget, count)


def _fitted(text: str, words: list[tuple[int, int]], budget: int, count: TokenCounter) -> Iterator[Unit]:
    """The words as one piece, checked with a real count: a counter whose counts do not add up over words
    gets the piece split again, each time at the most words that still fit (a single word always fits)."""
    i = 0
    while i < len(words):
        n = count([text[words[i][0] : words[-1][1]]])[0]
        if n <= budget or i == len(words) - 1:
            yield words[i][0], words[-1][1], n
            return
        lo, hi = i + 1, len(words) - 1  # binary search for the most words that still fit
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count([text[words[i][0] : words[mid - 1][1]]])[0] <= budget:
                lo = mid
            else:
                hi = mid - 1
        yield words[i][0], words[lo - 1][1], count([text[words[i][0] : words[lo - 1][1]]])[0]
        i = lo
