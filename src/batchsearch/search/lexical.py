"""Lexical retrieval with tantivy: BM25 over stemmed headline + chunk text, and keyword masks."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from threading import Lock

import numpy as np
import tantivy

from batchsearch.index.segment import ANNOTATION_FIELDS, DOC_VALUE_FIELDS, Segment
from batchsearch.models.search import (
    EntityFilter,
    Filters,
    KeywordFilter,
    ModeValues,
    TopicFilter,
)

TERM_SET_MAX = 4096
MAX_QUERY_TERMS = 64
# Weight of a term's BM25 score in the headline against the same term in the body. Every chunk repeats its
# document's headline, a short field BM25 scores high: at 1.0 the headline outweighs the text. Fitted on SciFact
# train (lexical nDCG@10 0.662 at 1.0, 0.685 at 0.5, 0.688 at 0.3, 0.682 at 0.2, 0.675 at 0.0).
HEADLINE_BOOST = 0.3
PUSHED_FILTERS = ("keyword", "entity", "topic", "source", "category")  # what `Lexical.filter_query` expresses


def build_analyzer(*, stop_words: bool = False) -> tantivy.TextAnalyzer:
    """The same analysis as tantivy's `en_stem` tokenizer, for building queries; `stop_words` also drops English
    stop words (for ranked queries: the index keeps them, so phrases still match)."""
    builder = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
    )
    if stop_words:
        builder = builder.filter(tantivy.Filter.stopword("english"))
    return builder.filter(tantivy.Filter.stemmer("english")).build()


class Lexical:
    """Builds tantivy queries and runs them against segments."""

    def __init__(self, cache_size: int = 512, *, headline_boost: float = HEADLINE_BOOST,
                 stop_words: bool = True) -> None:
        self._analyzer = build_analyzer()
        self._query_analyzer = build_analyzer(stop_words=stop_words)
        self._headline_boost = headline_boost
        self._masks: OrderedDict[tuple[str, str, str], np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = Lock()

    def terms(self, text: str) -> list[str]:
        """Distinct analysed terms of a query text, in first-seen order (a text of stop words only keeps them)."""
        seen: dict[str, None] = {}
        for token in self._query_analyzer.analyze(text) or self._analyzer.analyze(text):
            seen.setdefault(token, None)
        return list(seen)[:MAX_QUERY_TERMS]

    def text_query(self, segment: Segment, terms: list[str]) -> tantivy.Query | None:
        """OR of every term in headline and body (BM25 summed over fields, the headline's weighted)."""
        schema = segment.tantivy_index.schema
        clauses = []
        for term in terms:
            headline = tantivy.Query.term_query(schema, "headline", term)
            if self._headline_boost != 1.0:
                headline = tantivy.Query.boost_query(headline, self._headline_boost)
            clauses.append((tantivy.Occur.Should, headline))
            clauses.append((tantivy.Occur.Should, tantivy.Query.term_query(schema, "body", term)))
        return tantivy.Query.boolean_query(clauses) if clauses else None

    def top(self, segment: Segment, query: tantivy.Query, k: int, mask: np.ndarray | None,
            n_allowed: int, required: tantivy.Query | None = None,
            share: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (rows, scores) among rows allowed by `mask`, exactly, best first. `required` (a query every allowed
        row matches, as `filter_query` gives) lets tantivy skip the rows it rules out, unscored; the mask then
        only removes what the rest of the filters rule out. `share` is the expected part of tantivy's hits the mask
        keeps (default: of all rows, the part it allows; 1 when `required` expresses every filter): how many hits
        to fetch first, deepening while too few are kept, so exact whatever it is."""
        searcher = segment.searcher
        if required is not None:
            query = tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, query), (tantivy.Occur.Must, tantivy.Query.boost_query(required, 0.0))])
        elif mask is not None and n_allowed <= TERM_SET_MAX:
            rows = np.flatnonzero(mask)
            allowed = tantivy.Query.boost_query(
                tantivy.Query.term_set_query(segment.tantivy_index.schema, "row", rows.tolist()), 0.0)
            query = tantivy.Query.boolean_query([(tantivy.Occur.Must, query), (tantivy.Occur.Must, allowed)])
            return self._run(searcher, query, k)
        if mask is None:  # every hit counts: k of them are the answer
            limit = k
        else:
            fraction = share if share is not None else n_allowed / max(segment.n_chunks, 1)
            limit = int(k / min(max(fraction, 1e-6), 1.0) * 1.5) + 16
        while True:
            rows, scores = self._run(searcher, query, limit)
            exhausted = len(rows) < limit
            if mask is not None:
                keep = mask[rows]
                rows, scores = rows[keep], scores[keep]
            if len(rows) >= k or exhausted or limit >= segment.n_chunks:
                return rows[:k], scores[:k]
            limit *= 4

    @staticmethod
    def _run(searcher: tantivy.Searcher, query: tantivy.Query, limit: int) -> tuple[np.ndarray, np.ndarray]:
        hits = searcher.search(query, limit, count=False).hits  # a new list at every access of .hits
        if not hits:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        scores = np.fromiter((h[0] for h in hits), dtype=np.float32, count=len(hits))
        rows = np.asarray(searcher.fast_field_values("row", [h[1] for h in hits]), dtype=np.int64)
        # tantivy breaks score ties by doc address; make ties deterministic by row.
        order = np.lexsort((rows, -scores))
        return rows[order], scores[order]

    def keyword_mask(self, segment: Segment, keyword: str, search_in: str) -> np.ndarray:
        """Chunks whose headline/body contain the stemmed keyword (a phrase if several words)."""
        key = (segment.id, keyword, search_in)
        with self._lock:
            cached = self._masks.get(key)
            if cached is not None:
                self._masks.move_to_end(key)
                return cached
        mask = self._keyword_mask(segment, keyword, search_in)
        with self._lock:
            self._masks[key] = mask
            while len(self._masks) > self._cache_size:
                self._masks.popitem(last=False)
        return mask

    def filter_query(self, segment: Segment, filters: Filters) -> tantivy.Query | None:
        """A query matching exactly the rows the keyword, entity, topic, source and category filters allow (the
        others left out), for `top`'s `required`; None without such filters (a segment built before the filter
        fields can express keywords only)."""
        parts: list[tantivy.Query] = []
        if filters.keyword is not None:
            kw = filters.keyword
            parts.append(_any_all_none(lambda w: self._keyword_query(segment, w, kw.search_in), kw))
        if segment.has_filter_fields:
            for kind, f in (("entity", filters.entity), ("topic", filters.topic)):
                if f is not None:
                    parts.append(_any_all_none(_annotation_query(segment, kind, f.search_in), f))
            for name, values in (("source", filters.source), ("category", filters.category)):
                if values is not None:
                    parts.append(_mode_values(segment, DOC_VALUE_FIELDS[name], values))
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, part) for part in parts])

    @staticmethod
    def expresses_all(segment: Segment, filters: Filters) -> bool:
        """Whether `filter_query` expresses every filter set in `filters`: a row it matches is then allowed unless
        deleted or another owner's, so `top` need not over-fetch for the mask (a company's source or keyword
        allowing 5% of the rows made it fetch 20x the hits, each converted in Python)."""
        expressed = PUSHED_FILTERS if segment.has_filter_fields else ("keyword",)
        return all(getattr(filters, name) is None for name in type(filters).model_fields if name not in expressed)

    def _keyword_query(self, segment: Segment, keyword: str, search_in: str) -> tantivy.Query | None:
        """The stemmed keyword (a phrase if several words) in the chosen fields; None if it has no terms."""
        terms = list(self._analyzer.analyze(keyword))
        if not terms:
            return None
        fields = {"HEADLINE": ("headline",), "BODY": ("body",), "ALL": ("headline", "body")}[search_in]
        schema = segment.tantivy_index.schema
        clauses = []
        phrase: list[str | tuple[int, str]] = list(terms)
        for field in fields:
            if len(terms) == 1:
                q = tantivy.Query.term_query(schema, field, terms[0])
            else:
                q = tantivy.Query.phrase_query(schema, field, phrase)
            clauses.append((tantivy.Occur.Should, q))
        return tantivy.Query.boolean_query(clauses)

    def _keyword_mask(self, segment: Segment, keyword: str, search_in: str) -> np.ndarray:
        mask = np.zeros(segment.n_chunks, dtype=bool)
        query = self._keyword_query(segment, keyword, search_in)
        if query is None or segment.n_chunks == 0:
            return mask
        searcher = segment.searcher
        hits = searcher.search(query, segment.n_chunks, count=False).hits
        if hits:
            mask[np.asarray(searcher.fast_field_values("row", [h[1] for h in hits]), dtype=np.int64)] = True
        return mask


def _any_all_none(clause: Callable[[str], tantivy.Query | None],
                  f: KeywordFilter | EntityFilter | TopicFilter) -> tantivy.Query:
    """any_of (one at least), all_of (each) and none_of (none) over per-value queries; None matches no row."""
    clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
    if f.any_of:
        any_of = [q for value in f.any_of if (q := clause(value)) is not None]
        if not any_of:
            return tantivy.Query.empty_query()
        clauses.append((tantivy.Occur.Must, tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in any_of])))
    for value in f.all_of:
        q = clause(value)
        if q is None:
            return tantivy.Query.empty_query()
        clauses.append((tantivy.Occur.Must, q))
    for value in f.none_of:
        if (q := clause(value)) is not None:
            clauses.append((tantivy.Occur.MustNot, q))
    if not any(occur == tantivy.Occur.Must for occur, _ in clauses):
        clauses.append((tantivy.Occur.Must, tantivy.Query.all_query()))
    return tantivy.Query.boolean_query(clauses)


def _annotation_query(segment: Segment, kind: str, search_in: str) -> Callable[[str], tantivy.Query]:
    """Per id, the rows whose document headline (HEADLINE), chunk (BODY) or either (ALL) carries it."""
    head, body = ANNOTATION_FIELDS[kind]
    fields = {"HEADLINE": (head,), "BODY": (body,), "ALL": (head, body)}[search_in]
    schema = segment.tantivy_index.schema

    def query(value: str) -> tantivy.Query:
        return tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(schema, field, value)) for field in fields])

    return query


def _mode_values(segment: Segment, field: str, f: ModeValues) -> tantivy.Query:
    """Rows whose document has one of the values (INCLUDE) or none of them (EXCLUDE)."""
    schema = segment.tantivy_index.schema
    terms = [(tantivy.Occur.Should, tantivy.Query.term_query(schema, field, value)) for value in f.values]
    if f.mode == "INCLUDE":
        return tantivy.Query.boolean_query(terms) if terms else tantivy.Query.empty_query()
    return tantivy.Query.boolean_query([(tantivy.Occur.Must, tantivy.Query.all_query()),
                                        *((tantivy.Occur.MustNot, q) for _, q in terms)])
