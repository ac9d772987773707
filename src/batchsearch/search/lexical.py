"""Lexical retrieval with tantivy: BM25 over stemmed headline + chunk text, and keyword masks."""

from __future__ import annotations

from collections import OrderedDict
from threading import Lock

import numpy as np
import tantivy

from batchsearch.index.segment import Segment

TERM_SET_MAX = 4096
MAX_QUERY_TERMS = 64


def build_analyzer() -> tantivy.TextAnalyzer:
    """The same analysis as tantivy's `en_stem` tokenizer, for building queries."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


class Lexical:
    """Builds tantivy queries and runs them against segments."""

    def __init__(self, cache_size: int = 512) -> None:
        self._analyzer = build_analyzer()
        self._masks: OrderedDict[tuple[str, str, str], np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = Lock()

    def terms(self, text: str) -> list[str]:
        """Distinct analysed terms of a query text, in first-seen order."""
        seen: dict[str, None] = {}
        for token in self._analyzer.analyze(text):
            seen.setdefault(token, None)
        return list(seen)[:MAX_QUERY_TERMS]

    def text_query(self, segment: Segment, terms: list[str]) -> tantivy.Query | None:
        """OR of every term in headline and body (BM25 summed over fields)."""
        schema = segment.tantivy_index.schema
        clauses = [
            (tantivy.Occur.Should, tantivy.Query.term_query(schema, field, term))
            for term in terms
            for field in ("headline", "body")
        ]
        return tantivy.Query.boolean_query(clauses) if clauses else None

    def top(self, segment: Segment, query: tantivy.Query, k: int, mask: np.ndarray | None,
            n_allowed: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (rows, scores) among rows allowed by `mask`, exactly, best first."""
        searcher = segment.searcher
        if mask is not None and n_allowed <= TERM_SET_MAX:
            rows = np.flatnonzero(mask)
            allowed = tantivy.Query.boost_query(
                tantivy.Query.term_set_query(segment.tantivy_index.schema, "row", rows.tolist()), 0.0)
            query = tantivy.Query.boolean_query([(tantivy.Occur.Must, query), (tantivy.Occur.Must, allowed)])
            return self._run(searcher, query, k)
        fraction = 1.0 if mask is None else max(n_allowed / max(segment.n_chunks, 1), 1e-6)
        limit = int(k / fraction * 1.5) + 16
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
        result = searcher.search(query, limit, count=False)
        if not result.hits:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        scores = np.fromiter((h[0] for h in result.hits), dtype=np.float32, count=len(result.hits))
        rows = np.asarray(searcher.fast_field_values("row", [h[1] for h in result.hits]), dtype=np.int64)
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

    def _keyword_mask(self, segment: Segment, keyword: str, search_in: str) -> np.ndarray:
        mask = np.zeros(segment.n_chunks, dtype=bool)
        terms = list(self._analyzer.analyze(keyword))
        if not terms or segment.n_chunks == 0:
            return mask
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
        searcher = segment.searcher
        hits = searcher.search(tantivy.Query.boolean_query(clauses), segment.n_chunks, count=False).hits
        if hits:
            mask[np.asarray(searcher.fast_field_values("row", [h[1] for h in hits]), dtype=np.int64)] = True
        return mask
