"""Sentence-aware chunking that keeps every chunk within the embedding model's token limit.

Chunks are spans of the original text (so annotation offsets map onto them), built by packing
whole sentences greedily; a sentence longer than the budget is split at word boundaries.
`cnum` is 1-based in document order, the same base as the `chunk` filter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

TokenCounter = Callable[[Sequence[str]], list[int]]

# group 1: closing quotes/brackets after the stop belong to the sentence they close
_SENTENCE_END = re.compile(r"(?<=[.!?;])([\"')\]]*)\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n|\n(?=\s*[-*•\d])")


@dataclass(frozen=True)
class Span:
    """A chunk: character offsets into the document text, 1-based chunk number."""

    cnum: int
    start: int
    end: int


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, whitespace trimmed."""
    spans = []
    pos = 0
    for match in _SENTENCE_END.finditer(text):
        spans.append((pos, match.end(1) if match.group(1) is not None else match.start()))
        pos = match.end()
    spans.append((pos, len(text)))
    return [_trim(text, s, e) for s, e in spans if text[s:e].strip()]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _split_long(text: str, start: int, end: int, budget: int, count: TokenCounter) -> list[tuple[int, int]]:
    """Split one over-long sentence at word boundaries into pieces within the budget."""
    words = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text[start:end])]
    pieces: list[tuple[int, int]] = []
    i = 0
    while i < len(words):
        lo, hi = i + 1, len(words)
        # binary search for the most words that still fit
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count([text[words[i][0] : words[mid - 1][1]]])[0] <= budget:
                lo = mid
            else:
                hi = mid - 1
        pieces.append((words[i][0], words[lo - 1][1]))
        i = lo
    return pieces


def chunk_text(text: str, budget: int, count: TokenCounter) -> list[Span]:
    """Pack sentences into chunks of at most `budget` tokens each."""
    sentences = sentence_spans(text)
    if not sentences:
        return []
    lengths = count([text[s:e] for s, e in sentences])
    units: list[tuple[int, int, int]] = []
    for (s, e), n in zip(sentences, lengths, strict=True):
        if n <= budget:
            units.append((s, e, n))
        else:
            for ps, pe in _split_long(text, s, e, budget, count):
                units.append((ps, pe, count([text[ps:pe]])[0]))
    spans: list[Span] = []
    cur_start, cur_end, cur_tokens = units[0]
    for s, e, n in units[1:]:
        if cur_tokens + n <= budget:
            cur_end, cur_tokens = e, cur_tokens + n
        else:
            spans.append(Span(len(spans) + 1, cur_start, cur_end))
            cur_start, cur_end, cur_tokens = s, e, n
    spans.append(Span(len(spans) + 1, cur_start, cur_end))
    return spans
