"""Chunk sentiment: a finance-aware lexicon scorer returning a float in [-1, 1].

Method (a VADER-style rule scorer with a finance lexicon, see `sentiment_lexicon`):

1. Tokenize: lowercase words (hyphens split, apostrophes kept: "didn't"), numbers,
   and the punctuation that ends clauses (, ; : . ! ?).
2. Match lexicon terms left to right, longest phrase first ("cut its guidance" before "cut").
   Neutraliser phrases ("declined to comment") consume their words and score nothing.
3. Directional terms (rise, fell, narrowed, cut...) flip sign when they move an adverse quantity
   in the same clause: up to 3 tokens before them ("net loss narrowed", "debt fell") or up to
   2 after ("higher input costs", "cut costs"). The adverse term then stops scoring on its own.
4. A negator ("not", "no", "never", "didn't", "without", "avoided", "failed to") multiplies
   each sentiment term among the next 3 content words of its clause by -0.74 (flip and
   dampen, as in VADER); "failed to" / "unable to" also score -1.5 themselves.
5. An intensifier multiplies the nearest sentiment term (the next within 2 tokens, else the
   previous within 2): x1.6 "sharply", x1.3 "further", x0.5 "slightly".
6. Contrast: in a sentence with "but" / "however", terms before it count x0.5 and after it
   x1.5; in a clause opened by "although" / "though" / "despite", terms count x0.5.
7. Normalise the sum s to s / sqrt(s^2 + 5), round to 2 decimals. One moderate term
   (2.0) gives about +-0.67; several agreeing terms approach +-1.

`label` maps a score to the deprecated `sentiment: {"values": [...]}` buckets: positive when
score > 0.05, negative when score < -0.05, neutral otherwise (VADER's compound thresholds).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from batchsearch.annotate.sentiment_lexicon import Role, Term, build_lexicon

NORMALISATION_ALPHA = 5.0
NEGATION_FACTOR = -0.74
NEGATION_WINDOW = 3
LABEL_THRESHOLD = 0.05
ADVERSE_BEFORE = 3
ADVERSE_AFTER = 2
INTENSIFIER_REACH = 2

_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)*|\d+(?:[.,]\d+)*%?|[,;:.!?]")
_SENTENCE_END = frozenset({".", "!", "?", ";"})
_CLAUSE_END = frozenset({",", ":"}) | _SENTENCE_END
_CONTRAST = frozenset({"but", "however"})
_CONCESSIVE = frozenset({"although", "though", "despite"})
# Words that open a new clause for the directional/adverse pairing ("revenue fell as costs rose").
_CLAUSE_OPENERS = frozenset({"as", "while", "whereas", "because", "amid", "after", "since", "and", "but"})
# Words that do not use up the negation window ("not expect any layoffs").
_FUNCTION_WORDS = frozenset(
    "a an the its their our his her any as to be been being have has had of in for with that this"
    " these those it they we so such all".split()
)

_LEXICON = build_lexicon()


@dataclass(slots=True)
class _Item:
    """A matched sentiment term during scoring."""

    start: int
    end: int
    clause: int
    score: float
    is_directional: bool
    is_adverse: bool


def tokenize(text: str) -> list[str]:
    """Lowercase word, number and clause-punctuation tokens (hyphens split words)."""
    return _TOKEN.findall(text.lower().replace("\u2019", "'"))


def _match(tokens: list[str], i: int) -> Term | None:
    """The longest lexicon term starting at token i, if any."""
    for term in _LEXICON.get(tokens[i], ()):
        size = len(term.words)
        if size == 1 or tuple(tokens[i : i + size]) == term.words:
            return term
    return None


def _collect(tokens: list[str]) -> tuple[list[_Item], list[tuple[int, int, float]]]:
    """Match terms and apply negation and contrast weights; returns items and intensifiers."""
    items: list[_Item] = []
    intensifiers: list[tuple[int, int, float]] = []
    clause = negation_left = sentence_start = 0
    after_contrast = concessive = False
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in _CLAUSE_END or token in _CONTRAST or token in _CLAUSE_OPENERS:
            clause += 1
            negation_left = 0
            concessive = concessive and token not in _CLAUSE_END
            if token in _SENTENCE_END:
                sentence_start, after_contrast, concessive = len(items), False, False
            elif token in _CONTRAST:
                for item in items[sentence_start:]:
                    item.score *= 0.5
                after_contrast = True
            i += 1
            continue
        if token in _CONCESSIVE:
            concessive = True
        term = _match(tokens, i)
        size = len(term.words) if term else 1
        if term is None or term.role is Role.NEUTRAL:
            if token not in _FUNCTION_WORDS:
                negation_left = max(negation_left - 1, 0)
        elif term.role is Role.NEGATOR:
            negation_left = NEGATION_WINDOW
            if term.value:
                items.append(_Item(i, i + size, clause, term.value, False, False))
        elif term.role is Role.INTENSIFIER:
            intensifiers.append((i, i + size, term.value))
            negation_left = max(negation_left - 1, 0)
        else:
            weight = (NEGATION_FACTOR if negation_left else 1.0) * (1.5 if after_contrast else 1.0)
            weight *= 0.5 if concessive else 1.0
            items.append(_Item(i, i + size, clause, term.value * weight, term.is_directional, term.is_adverse))
            negation_left = max(negation_left - 1, 0)
        i += size
    return items, intensifiers


def _pair_adverse(items: list[_Item]) -> None:
    """Flip directional terms that move an adverse quantity, and silence that quantity."""
    for index, item in enumerate(items):
        if not item.is_directional:
            continue
        for other in items[max(index - 2, 0) : index + 3]:
            if not other.is_adverse or other.clause != item.clause or other is item:
                continue
            gap_before = item.start - other.end
            gap_after = other.start - item.end
            if 0 <= gap_before <= ADVERSE_BEFORE or 0 <= gap_after <= ADVERSE_AFTER:
                item.score = -item.score
                other.score = 0.0
                break


def _apply_intensifiers(items: list[_Item], intensifiers: list[tuple[int, int, float]]) -> None:
    """Multiply the nearest term: the next one within reach, else the previous one."""
    for start, end, factor in intensifiers:
        following = [it for it in items if 0 <= it.start - end <= INTENSIFIER_REACH - 1]
        preceding = [it for it in items if 0 <= start - it.end <= INTENSIFIER_REACH - 1]
        if following:
            following[0].score *= factor
        elif preceding:
            preceding[-1].score *= factor


def score_sentiment(text: str) -> float:
    """Sentiment of `text` in [-1, 1], rounded to 2 decimals (method in the module docstring)."""
    items, intensifiers = _collect(tokenize(text))
    if not items:
        return 0.0
    _pair_adverse(items)
    _apply_intensifiers(items, intensifiers)
    total = sum(item.score for item in items)
    return round(total / math.sqrt(total * total + NORMALISATION_ALPHA), 2)


def label(score: float) -> str:
    """The deprecated-filter bucket of a score: "positive" (> 0.05), "negative" (< -0.05) or "neutral"."""
    if score > LABEL_THRESHOLD:
        return "positive"
    if score < -LABEL_THRESHOLD:
        return "negative"
    return "neutral"
