"""Entity detection: find mentions of knowledge-graph entities in text, with character offsets.

Names and aliases are matched with one Aho-Corasick automaton over a case-folded copy of the text in
which every non-word character is a space, so every hit starts and ends on a word boundary. Each hit
is then checked against rules that keep precision high:

* Proper names must look like names: "microsoft" (all lower case) is not Microsoft.
* Forms of three characters or fewer ("BP", "3i") and everyday words or given names ("Apple",
  "Target", "Dana") must be written exactly as in the graph. Such a word is rejected when the next word
  is capitalised ("Apple Hospitality", "Target Field") and, unless the company is well known, when it
  starts a sentence ("Target prices rose").
* All-caps forms that are acronyms or words ("NOW", "IT") are never matched as names.
* Tickers match case-sensitively: "$AAPL" and "NASDAQ: AAPL" always; a bare "AAPL" only for US lines,
  with at least three characters, when it is not a word or acronym ("CAT", "ALL", "CEO") and the
  text around it is not shouting in capitals.
* Right after a company's name, "(MRO)" is that company's ticker, whatever its length or market.
* Places named by a common word ("Reading", "Enterprise") only after "in", "at", "near", ...; places
  named like a person ("Warren") never.
* Overlapping matches keep the longest ("Bank of America" over "America"); on the same span companies
  beat people beat places, then the better-known entity wins.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import ahocorasick

from batchsearch.index.records import Detection
from batchsearch.kg.lookup import EXCHANGE_MICS
from batchsearch.kg.model import Entity, EntityCategory
from batchsearch.kg.wordlists import COMMON_WORDS, FIRST_NAMES, SURNAMES, TICKER_STOPLIST

__all__ = ["Detection", "EntityDetector", "company_surface_forms"]

DEFAULT_CATEGORIES: frozenset[EntityCategory] = frozenset(
    {EntityCategory.COMPANIES, EntityCategory.PEOPLE, EntityCategory.PLACES, EntityCategory.ORGANIZATIONS,
     EntityCategory.PRODUCTS}
)
# Companies at least this well known may be named by a common word at the start of a sentence.
WELL_KNOWN_POPULARITY = 8.0
# On a shared span: "$UCB" is surely the ticker, a bare "UCB" more likely the company named UCB.
_PREFIXED_TICKER_EVIDENCE, _NAME_EVIDENCE, _BARE_TICKER_EVIDENCE = 2, 1, 0
_CATEGORY_RANK = {EntityCategory.COMPANIES: 4, EntityCategory.ORGANIZATIONS: 3, EntityCategory.PEOPLE: 3,
                  EntityCategory.PRODUCTS: 2, EntityCategory.PLACES: 1, EntityCategory.CONCEPTS: 0}
# Capitalised words that may follow a company's common-word name without making it another name.
_CORPORATE_WORDS = frozenset(
    "Inc Inc. Corp Corp. Corporation Co Co. Company Ltd Ltd. Limited plc PLC AG SE SA NV N.V. Group Holdings "
    "Holding LLC LP Oyj AB ASA KGaA CEO CFO COO".split()
)
_NON_WORD = re.compile(r"[\W_]")
_PERIOD_LABEL = re.compile(r"^(?:Q[1-4]|H[12]|FY\d{0,4}|\d{4})$")  # "Q2" is a quarter, not Q2 Holdings
_NON_WORD_OR_SPACE = re.compile(r"[^\w ]|_")  # like _NON_WORD, but leaves spaces alone: fewer replacements
_SENTENCE_END = frozenset(".!?:;\n\r")
_LOCATIVES = frozenset("in at near from to outside around via".split())
_HONORIFICS = frozenset("Mr. Mrs. Ms. Dr. Prof. Sen. Gov. Rep. Sir Dame Lord Lady".split())
_OPENERS = frozenset("\"'“‘([«")
_EXCHANGES = sorted({"NASDAQ", "Nasdaq", "NYSE", "NYSE American", "NYSE Arca", "AMEX", "LSE", "LON", "TSE", "TYO",
                     "FWB", "Xetra", "XETRA", "ETR", "FRA", "EPA", "Euronext Paris", "Euronext Amsterdam",
                     "Euronext Brussels", "BME", "SIX", "SWX", "OTC", "OTCMKTS", "STO", "HEL", "AMS", "EBR", "BIT"},
                    key=len, reverse=True)
_TICKER_MARK = re.compile(r"\$(?=[A-Z])|:[ \t]*(?=[A-Z0-9])")
_TICKER_AT = re.compile(r"[A-Z0-9]{1,6}(?:\.[A-Z])?(?![\w])")
_EXCHANGE_BEFORE = re.compile(r"\b(" + "|".join(re.escape(e) for e in _EXCHANGES) + r")[ \t]*$")
_TICKER_IN_PARENS = re.compile(r"[ \t]*\(([A-Z0-9]{1,6}(?:\.[A-Z])?)\)")
_BARE_TICKER = re.compile(r"\b([A-Z][A-Z0-9]{2,5}(?:\.[A-Z])?)\b(?!-)")
_NOT_BEFORE_TICKER = frozenset("$.:/@#&-")
_WORD_BEFORE = re.compile(r"([\w.&-]+)\W*$")
_WORD_AFTER = re.compile(r"^\W*?([\w.&-]+)")


@dataclass(frozen=True)
class _Candidate:
    """One surface form of one entity, with the rules its matches must pass."""

    entity_id: str
    form: str
    loose: str  # the form with every non-word character as a space
    has_final_period: bool  # "Nike, Inc.": the period belongs to the name when the text has it
    is_exact_case: bool
    is_common_word: bool
    allows_sentence_start: bool
    needs_locative: bool  # a place named by a common word: only after "in", "at", ... ("in Reading")
    rank: tuple[int, int, float]  # (kind of evidence, category, popularity): higher wins a shared span


def _fold_table(limit: int = 0x3100) -> dict[int, int]:
    """Code point -> lower-case code point, or space for non-word characters (Latin to CJK punctuation)."""
    table: dict[int, int] = {}
    for code in range(limit):
        ch = chr(code)
        if _NON_WORD.match(ch):
            table[code] = 0x20
        elif len(ch.lower()) == 1 and ch.lower() != ch:
            table[code] = ord(ch.lower())
    return table


_FOLD_TABLE = _fold_table()
_ASCII_FOLD = bytes(_FOLD_TABLE.get(code, code) for code in range(128)) + bytes(range(128, 256))


def _fold(text: str) -> str:
    """Lower case with non-word characters as spaces, same length as `text` (offsets carry over)."""
    if text.isascii():  # the common case, about 20x faster through bytes
        return text.encode("ascii").translate(_ASCII_FOLD).decode("ascii")
    lowered = text.lower()
    if len(lowered) != len(text):  # rare letters whose lower case is longer ("İ")
        return text.translate(_FOLD_TABLE)
    return _NON_WORD_OR_SPACE.sub(" ", lowered)


def _form_candidate(form: str, entity: Entity) -> _Candidate | None:
    """The rules for one form of an entity, or None when the form must never be matched."""
    form = form.strip()
    has_final_period = form.endswith(".") and len(form.rstrip(".")) >= 2
    form = form.rstrip(".") if has_final_period else form  # matched without it, so "Nike, Inc" counts too
    core = _NON_WORD.sub("", form)
    if len(core) < 2 or not any(ch.isalpha() for ch in core) or _PERIOD_LABEL.match(form):
        return None
    lower = form.lower()
    is_single_word = " " not in form
    is_place = entity.category is EntityCategory.PLACES
    if not is_place and form.isupper() and (form in TICKER_STOPLIST or lower in COMMON_WORDS):
        return None  # "NOW", "IT": acronyms and words, not names
    if entity.category is EntityCategory.PEOPLE and is_single_word:
        return None
    if is_place and is_single_word and lower in FIRST_NAMES:
        return None  # "Warren", "Tyler": far more often a person than the town
    is_common = is_single_word and not form.isupper() and (
        lower in COMMON_WORDS or lower in FIRST_NAMES or lower in SURNAMES)
    well_known = entity.category is EntityCategory.COMPANIES and entity.popularity >= WELL_KNOWN_POPULARITY
    return _Candidate(
        entity_id=entity.id, form=form, loose=_NON_WORD.sub(" ", form), has_final_period=has_final_period,
        is_exact_case=is_common or len(core) <= 3 or form.isupper(),
        is_common_word=is_common, allows_sentence_start=well_known or not is_common,
        needs_locative=is_common and is_place,
        rank=(_NAME_EVIDENCE, _CATEGORY_RANK.get(entity.category, 0), entity.popularity),
    )


def _entity_forms(entity: Entity) -> list[str]:
    return list(dict.fromkeys((entity.name, *entity.aliases)))


def company_surface_forms(entity: Entity) -> list[str]:
    """Names a writer would use for the company in prose, shortest (the usual short name) first.

    Every form returned is detected by EntityDetector when written as given in the middle of a
    sentence, unless another, better-known entity shares it (EntityDetector.surface_forms filters those).
    """
    candidates = [c for c in (_form_candidate(form, entity) for form in _entity_forms(entity)) if c is not None]
    forms = list(dict.fromkeys(c.form for c in candidates))
    return sorted(forms, key=lambda form: (len(form), form))


class EntityDetector:
    """Finds entity mentions in text; build once per graph version, then call detect() from any thread."""

    def __init__(self, entities: Iterable[Entity], categories: Collection[EntityCategory] = DEFAULT_CATEGORIES) -> None:
        self._by_key: dict[str, list[_Candidate]] = {}
        self._tickers: dict[str, list[tuple[bool, float, str]]] = {}
        self._listings: dict[str, str] = {}
        self._own_tickers: dict[str, frozenset[str]] = {}
        for entity in entities:
            if entity.category not in categories:
                continue
            for form in _entity_forms(entity):
                candidate = _form_candidate(form, entity)
                if candidate is not None:
                    self._by_key.setdefault(" " + _fold(candidate.form) + " ", []).append(candidate)
            self._add_tickers(entity)
        for candidates in self._by_key.values():
            candidates.sort(key=lambda c: c.rank, reverse=True)
        self._best_ticker = {t: max(options)[2] for t, options in self._tickers.items()}
        # bare, only US lines: European home tickers ("SIE", "WAF") are written with an exchange or "$"
        self._bare_tickers = {t: max(options)[2] for t, options in self._tickers.items()
                              if _is_bare_ticker(t) and max(options)[0]}
        self._automaton = ahocorasick.Automaton()
        for key, candidates in self._by_key.items():
            self._automaton.add_word(key, (len(key), tuple(candidates)))
        if len(self._automaton):
            self._automaton.make_automaton()

    def _add_tickers(self, entity: Entity) -> None:
        us_tickers = {listing.split(":", 1)[1] for listing in entity.listings
                      if listing.startswith(("XNAS:", "XNYS:"))}
        for ticker in entity.tickers:
            # a bare ticker in English prose more likely means the US line ("DTE": DTE Energy)
            is_us = ticker in us_tickers or entity.country == "US"
            self._tickers.setdefault(ticker, []).append((is_us, entity.popularity, entity.id))
        for listing in entity.listings:
            self._listings.setdefault(listing.upper(), entity.id)
        own = {*entity.tickers, *(listing.split(":", 1)[1] for listing in entity.listings if ":" in listing)}
        if own:
            self._own_tickers[entity.id] = frozenset(own)

    @property
    def form_count(self) -> int:
        """How many distinct surface forms (names and aliases) the detector knows."""
        return len(self._by_key)

    def surface_forms(self, entity: Entity) -> list[str]:
        """company_surface_forms(entity), keeping only forms that this detector resolves to the entity."""
        forms = []
        for form in company_surface_forms(entity):
            best = self._by_key.get(" " + _fold(form) + " ", [])
            if best and best[0].entity_id == entity.id:
                forms.append(form)
        return forms

    def detect(self, text: str) -> list[Detection]:
        """Entity mentions in text, in order; text[d.start:d.end] is the mention as written."""
        if not text:
            return []
        tickers, exchanges = self._ticker_matches(text)
        # "NASDAQ" in "(NASDAQ: AAPL)" names the exchange, not the company Nasdaq, Inc.
        names = [m for m in self._name_matches(text) if not any(m[0] < e and s < m[1] for s, e in exchanges)]
        found = names + tickers + self._tickers_after_names(text, names)
        return [Detection(entity_id, start, end, "entity") for start, end, entity_id in _longest_first(found)]

    def detect_many(self, texts: Iterable[str]) -> list[list[Detection]]:
        """detect() for each text."""
        return [self.detect(text) for text in texts]

    def _name_matches(self, text: str) -> list[tuple[int, int, tuple[int, int, float], str]]:
        padded = " " + _fold(text) + " "
        matches = []
        for end_index, (key_length, candidates) in self._automaton.iter(padded):
            start = end_index - key_length + 1  # index in padded of the leading space = index in text
            for candidate in candidates:
                end = start + len(candidate.form)
                if _accepts(text, start, end, candidate):
                    if candidate.has_final_period and text[end : end + 1] == ".":
                        end += 1
                    matches.append((start, end, candidate.rank, candidate.entity_id))
                    break
        return matches

    def _tickers_after_names(
        self, text: str, names: list[tuple[int, int, tuple[int, int, float], str]]
    ) -> list[tuple[int, int, tuple[int, int, float], str]]:
        """"Melrose Industries (MRO)": any ticker of the company just named, even short or non-US."""
        matches = []
        for _start, end, _rank, entity_id in names:
            found = _TICKER_IN_PARENS.match(text, end)
            if found and found.group(1) in self._own_tickers.get(entity_id, ()):
                matches.append((found.start(1), found.end(1), (_PREFIXED_TICKER_EVIDENCE, 0, 0.0), entity_id))
        return matches

    def _ticker_matches(
        self, text: str
    ) -> tuple[list[tuple[int, int, tuple[int, int, float], str]], list[tuple[int, int]]]:
        """Ticker mentions, and the spans of exchange names written before a ticker ("NASDAQ: ")."""
        matches = []
        exchanges: list[tuple[int, int]] = []
        prefixed: set[int] = set()
        for mark in _TICKER_MARK.finditer(text):  # "$AAPL", "NASDAQ: AAPL"; colons and dollars are rare
            found = _TICKER_AT.match(text, mark.end())
            if found is None:
                continue
            ticker, entity_id = found.group(0), None
            if mark.group(0) != "$":
                exchange = _EXCHANGE_BEFORE.search(text, max(0, mark.start() - 24), mark.start())
                if exchange is None:
                    continue
                exchanges.append(exchange.span(1))
                mic = EXCHANGE_MICS.get(re.sub(r"[^A-Z]", "", exchange.group(1).upper()), "")
                entity_id = self._listings.get(f"{mic}:{ticker}")
            entity_id = entity_id or self._best_ticker.get(ticker)
            if entity_id:
                matches.append((found.start(), found.end(), (_PREFIXED_TICKER_EVIDENCE, 0, 0.0), entity_id))
                prefixed.add(found.start())
        for match in _BARE_TICKER.finditer(text):
            entity_id = self._bare_tickers.get(match.group(1))
            if entity_id is None or match.start() in prefixed:
                continue
            if match.start() > 0 and text[match.start() - 1] in _NOT_BEFORE_TICKER:
                continue
            if not self._is_shouting(text, match.start(), match.end()):
                matches.append((match.start(), match.end(), (_BARE_TICKER_EVIDENCE, 0, 0.0), entity_id))
        return matches, exchanges

    def _is_shouting(self, text: str, start: int, end: int) -> bool:
        """True when a neighbouring word is in capitals too but is no ticker: an all-caps headline."""
        before = _WORD_BEFORE.search(text, max(0, start - 40), start)
        after = _WORD_AFTER.search(text[end : end + 40])
        neighbours = [m.group(1) for m in (before, after) if m]
        return any(_is_caps_word(word) and word not in self._best_ticker for word in neighbours)


def _is_bare_ticker(ticker: str) -> bool:
    letters = sum(ch.isalpha() for ch in ticker)
    return (len(ticker) >= 3 and letters >= 2 and ticker not in TICKER_STOPLIST
            and ticker.lower() not in COMMON_WORDS and ticker.lower() not in FIRST_NAMES)


def _is_caps_word(word: str) -> bool:
    letters = [ch for ch in word if ch.isalpha()]
    return len(letters) >= 2 and all(ch.isupper() for ch in letters)


def _accepts(text: str, start: int, end: int, candidate: _Candidate) -> bool:
    """Whether text[start:end] is a mention of the candidate under the rules in the module doc."""
    surface = _NON_WORD.sub(" ", text[start:end])
    if surface != candidate.loose and (candidate.is_exact_case or _looks_lowercase(surface, candidate.loose)):
        return False
    if not candidate.is_common_word:
        return True
    if _next_word_is_capitalised(text, end) or _follows_capitalised_word(text, start):
        return False
    if candidate.needs_locative:
        return _after_locative(text, start)
    return candidate.allows_sentence_start or not _starts_sentence(text, start)


def _looks_lowercase(surface: str, form: str) -> bool:
    """"microsoft" for "Microsoft": the surface drops the form's capitals, as ordinary words do."""
    letters = [ch for ch in surface if ch.isalpha()]
    if letters and all(ch.islower() for ch in letters):
        return any(ch.isupper() for ch in form)
    return surface[:1].islower() and form[:1].isupper()


def _next_word_is_capitalised(text: str, end: int) -> bool:
    index = end
    while index < len(text) and text[index] in " \t":
        index += 1
    if index == end or index >= len(text) or not text[index].isupper():
        return False
    match = re.match(r"[\w.&]+", text[index : index + 30])
    word = match.group(0) if match else ""
    return word not in _CORPORATE_WORDS and word.rstrip(".") not in _CORPORATE_WORDS


def _previous_word(text: str, start: int) -> tuple[str, int] | None:
    """The word right before `start` (separated by spaces only) and where it starts."""
    match = re.search(r"([\w.&'’-]+)[ \t]+$", text[max(0, start - 40) : start])
    if not match:
        return None
    return match.group(1), start - len(match.group(0))


def _follows_capitalised_word(text: str, start: int) -> bool:
    """"Big Apple", "Fort Target": a capitalised word that does not start the sentence comes first."""
    previous = _previous_word(text, start)
    if previous is None:
        return False
    word, word_start = previous
    if word in _HONORIFICS:
        return True
    return word[:1].isupper() and not word.endswith(".") and not _starts_sentence(text, word_start)


def _after_locative(text: str, start: int) -> bool:
    previous = _previous_word(text, start)
    return previous is not None and previous[0].lower() in _LOCATIVES


def _starts_sentence(text: str, start: int) -> bool:
    index = start - 1
    while index >= 0 and (text[index] in " \t" or text[index] in _OPENERS):
        index -= 1
    return index < 0 or text[index] in _SENTENCE_END


def _longest_first(matches: Sequence[tuple[int, int, tuple[int, int, float], str]]) -> list[tuple[int, int, str]]:
    """Non-overlapping matches: longer first, then higher rank, then earlier; returned in text order."""
    ordered = sorted(matches, key=lambda m: (m[0] - m[1], -m[2][0], -m[2][1], -m[2][2], m[0]))
    starts: list[int] = []
    ends: list[int] = []
    kept: list[tuple[int, int, str]] = []
    for start, end, _rank, entity_id in ordered:
        position = bisect.bisect_right(starts, start)
        if position > 0 and ends[position - 1] > start:
            continue
        if position < len(starts) and starts[position] < end:
            continue
        starts.insert(position, start)
        ends.insert(position, end)
        kept.append((start, end, entity_id))
    return sorted(kept)
