"""Chunking: every chunk within the token budget, nothing lost, sentence-aligned, greedy, offsets into the text."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

import pytest

from batchsearch.embeddings import MiniLMEmbedder
from batchsearch.ingest.chunking import MAX_COUNT_CHARS, MAX_WORD_CHARS, Span, TokenCounter, chunk_text, sentence_spans
from search_fixtures import WORDS


def words(texts: Sequence[str]) -> list[int]:
    """A token counter: whitespace-separated words."""
    return [len(t.split()) for t in texts]


def _non_space(text: str) -> str:
    return re.sub(r"\s+", "", text)


def check_chunks(text: str, spans: list[Span], budget: int, count: TokenCounter) -> None:
    """The invariants every chunking must keep."""
    assert [s.cnum for s in spans] == list(range(1, len(spans) + 1)), "cnum is 1-based and dense"
    prev_end = 0
    for span in spans:
        piece = text[span.start : span.end]
        assert span.start >= prev_end and span.end > span.start, "in order, not overlapping, not empty"
        assert piece == piece.strip(), "trimmed"
        assert count([piece])[0] <= budget or len(piece.split()) == 1, f"over budget: {piece!r}"
        prev_end = span.end
    assert "".join(_non_space(text[s.start : s.end]) for s in spans) == _non_space(text), "no character is lost"
    gaps = [text[a.end : b.start] for a, b in zip(spans, spans[1:], strict=False)]
    assert all(g.strip() == "" for g in gaps), "only whitespace between chunks"


SAMPLE = (
    "Revenue rose 5% in the quarter. Margins fell, e.g. in Europe, as costs climbed. \"We are pleased,\" said the "
    "chief executive. (The company declined to comment.) Next year looks better!\n\n- bullet one\n- bullet two\n"
    "3. numbered item\nlowercase continues here; 2024 was a good year. Q3 results: strong."
)


def test_sentences() -> None:
    got = [SAMPLE[s:e] for s, e in sentence_spans(SAMPLE)]
    assert got[0] == "Revenue rose 5% in the quarter."
    assert got[1] == "Margins fell, e.g. in Europe, as costs climbed.", "no split after an abbreviation before lowercase"
    assert "- bullet one" in got and "- bullet two" in got
    assert got[-1] == "Q3 results: strong."
    assert sentence_spans("") == [] and sentence_spans("  \n\n ") == []


def test_closing_quotes_and_brackets_stay_with_their_sentence() -> None:
    got = [SAMPLE[s:e] for s, e in sentence_spans(SAMPLE)]
    assert "(The company declined to comment.)" in got
    text = 'He said "we resign." The board agreed. (See note 5.) Shares fell.'
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        'He said "we resign."', "The board agreed.", "(See note 5.)", "Shares fell."]


@pytest.mark.parametrize("budget", [1, 3, 5, 8, 13, 40, 1000])
def test_sample_within_budget_and_lossless(budget: int) -> None:
    spans = chunk_text(SAMPLE, budget, words)
    check_chunks(SAMPLE, spans, budget, words)
    if budget >= 1000:
        assert len(spans) == 1 and SAMPLE[spans[0].start : spans[0].end] == SAMPLE.strip()


def test_packing_is_greedy_and_sentence_aligned() -> None:
    budget = 12
    spans = chunk_text(SAMPLE, budget, words)
    sentences = sentence_spans(SAMPLE)
    starts = {s for s, _ in sentences}
    ends = {e for _, e in sentences}
    for a, b in zip(spans, spans[1:], strict=False):
        if a.end in ends and b.start in starts:
            next_sentence = next(SAMPLE[s:e] for s, e in sentences if s == b.start)
            assert words([SAMPLE[a.start : a.end]])[0] + words([next_sentence])[0] > budget, "could have packed more"
    for span in spans:  # every chunk starts at a sentence start unless it continues an over-long sentence
        piece = SAMPLE[span.start : span.end]
        assert span.start in starts or words([piece])[0] <= budget


def test_long_sentence_is_split_at_word_boundaries() -> None:
    text = " ".join(f"w{i}" for i in range(23))  # one sentence, no punctuation
    spans = chunk_text(text, 5, words)
    assert [text[s.start : s.end].split() for s in spans] == [
        [f"w{i}" for i in range(j, min(j + 5, 23))] for j in range(0, 23, 5)]
    check_chunks(text, spans, 5, words)


def test_a_single_word_over_budget_is_kept_whole() -> None:
    def chars(texts: Sequence[str]) -> list[int]:
        return [len(t) for t in texts]

    text = "Tiny. Supercalifragilistic. End."
    spans = chunk_text(text, 6, chars)
    assert [text[s.start : s.end] for s in spans] == ["Tiny.", "Supercalifragilistic.", "End."]


def test_offsets_point_into_unicode_text() -> None:
    text = "Café sales rose — strongly. Über-growth in 東京 continued. ¡Olé! Done."
    spans = chunk_text(text, 5, words)
    check_chunks(text, spans, 5, words)
    assert text[spans[0].start : spans[0].end] == "Café sales rose — strongly."


def test_empty_text_has_no_chunks() -> None:
    assert chunk_text("", 10, words) == []
    assert chunk_text(" \n\t ", 10, words) == []


def test_random_texts_keep_the_invariants() -> None:
    rnd = random.Random(3)
    enders = [". ", "! ", "? ", "; ", ".\n\n", ".\" ", ".) ", " ", " ", " ", "\n- "]
    for _ in range(200):
        parts = []
        for _ in range(rnd.randint(1, 40)):
            word = rnd.choice(WORDS)
            parts.append(word.capitalize() if rnd.random() < 0.3 else word)
            parts.append(rnd.choice(enders))
        text = "".join(parts)
        budget = rnd.randint(1, 30)
        check_chunks(text, chunk_text(text, budget, words), budget, words)


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def test_real_tokenizer_budget(minilm: MiniLMEmbedder) -> None:
    """With the real wordpiece counter every chunk fits the model's window (minus [CLS]/[SEP])."""
    rnd = random.Random(5)
    sentences = [" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(3, 40))).capitalize() + "." for _ in range(80)]
    sentences.append("Unbroken " + " ".join(rnd.choice(WORDS) for _ in range(400)) + ".")  # longer than the window
    text = " ".join(sentences)
    budget = minilm.max_tokens - 2
    spans = chunk_text(text, budget, minilm.count_tokens)
    check_chunks(text, spans, budget, minilm.count_tokens)
    counts = minilm.count_tokens([text[s.start : s.end] for s in spans])
    assert max(counts) <= budget
    assert sum(counts) >= 0.9 * minilm.count_tokens([text])[0]
    assert len(spans) < 2 * sum(counts) / budget + 2, "chunks are reasonably full"


class CountingCounter:
    """The word counter, recording how many characters it was given in all and at most in one text."""

    def __init__(self) -> None:
        self.chars = 0
        self.longest = 0

    def __call__(self, texts: Sequence[str]) -> list[int]:
        self.chars += sum(len(t) for t in texts)
        self.longest = max([self.longest, *(len(t) for t in texts)])
        return words(texts)


def _work(text: str, budget: int) -> CountingCounter:
    counter = CountingCounter()
    spans = chunk_text(text, budget, counter)
    check_chunks(text, spans, budget, words)
    return counter


@pytest.mark.parametrize("sentence", [False, True])
def test_chunking_work_is_linear_in_the_text(sentence: bool) -> None:
    """Regression (issue 12): a long text without punctuation was split by binary searches over the whole
    remaining text (quadratic: 60k words took 14 s). The counter must see each character a bounded number
    of times, so 4x the words costs about 4x the work (it was about 16x)."""
    rnd = random.Random(7)
    n = 20_000
    small = " ".join(rnd.choice(WORDS) for _ in range(n)) + ("." if sentence else "")
    large = " ".join(rnd.choice(WORDS) for _ in range(4 * n)) + ("." if sentence else "")
    ratio = _work(large, 50).chars / _work(small, 50).chars
    assert 3.5 < ratio < 4.5, f"work grew {ratio:.1f}x for 4x the text"


@pytest.mark.parametrize("text", [
    "x" * 1_000_000,  # no whitespace, no punctuation
    ("word " * 200_000),  # no punctuation
    "a.b," * 250_000,  # punctuation without whitespace
    "\n " * 500_000 + "end",  # whitespace runs
    (". " + " " * 1000 + "\n") * 1000 + "Z",  # long whitespace after every stop
])
def test_pathological_texts_are_chunked_with_bounded_counter_input(text: str) -> None:
    """No text given to the token counter is longer than MAX_COUNT_CHARS, every chunk is within the budget
    (a cut word counts as one word), and nothing is lost."""
    counter = _work(text, 64)
    assert counter.longest <= MAX_COUNT_CHARS
    assert counter.chars < 4 * len(text)
    spans = chunk_text(text, 64, words)
    assert all(s.end - s.start <= MAX_COUNT_CHARS for s in spans)


def test_words_longer_than_the_cap_are_cut_into_pieces() -> None:
    text = "Start. " + "y" * (3 * MAX_WORD_CHARS + 7) + " end"

    def chars(texts: Sequence[str]) -> list[int]:
        return [len(t) for t in texts]

    spans = chunk_text(text, MAX_WORD_CHARS, chars)
    pieces = [text[s.start : s.end] for s in spans]
    assert pieces[0] == "Start."
    assert pieces[1:4] == ["y" * MAX_WORD_CHARS] * 3 and pieces[4].startswith("y" * 7)
    check_chunks(text, spans, MAX_WORD_CHARS, chars)
