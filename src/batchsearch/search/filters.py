"""Filters -> boolean chunk masks over one segment view. Every filter is AND-ed.

Doc-level columns are evaluated per document and spread to chunks through `chunk_doc`.
Visibility is always applied: public documents plus the caller's own uploads.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

import numpy as np

from batchsearch.annotate.sentiment import LABEL_THRESHOLD
from batchsearch.index.segment import Segment
from batchsearch.index.store import SegmentView
from batchsearch.models.search import EntityFilter, Filters, KeywordFilter, ModeValues, SentimentFilter, TagFilter, TopicFilter

# Deprecated sentiment labels map to the annotator's label thresholds (documented in the README).
NEUTRAL_BAND = LABEL_THRESHOLD
SENTIMENT_LABEL_RANGES = {
    "positive": (NEUTRAL_BAND, 1.0, False),
    "negative": (-1.0, -NEUTRAL_BAND, False),
    "neutral": (-NEUTRAL_BAND, NEUTRAL_BAND, True),
}

KeywordMask = Callable[[Segment, str, str], np.ndarray]
# Every field of Filters is one or the other (a test checks): a query without any of a kind skips that pass.
DOC_LEVEL_FILTERS = ("timestamp", "source", "category", "document_type", "reporting_entities", "reporting_periods",
                     "document", "tag")
CHUNK_LEVEL_FILTERS = ("chunk", "sentiment", "entity", "topic", "keyword")


def epoch(value: datetime) -> int:
    """Whole seconds since the epoch, rounded down (also before 1970, where int() would round up)."""
    return math.floor(value.timestamp())


def _doc_has(seg: Segment, csr: str, vocab: str, value: str) -> np.ndarray:
    mask = np.zeros(seg.n_docs, dtype=bool)
    code = seg.codes[vocab].get(value)
    if code is not None:
        mask[seg.postings(csr).rows_with(code)] = True
    return mask


def _annotation_has(seg: Segment, kind: str, value: str, search_in: str) -> np.ndarray:
    """Chunks whose headline (doc-level) and/or body (chunk-level) carry an entity/topic."""
    vocab, head_csr, body_csr = ("entities", "doc_hent", "chunk_ent") if kind == "entity" else ("topics", "doc_htop", "chunk_top")
    out = np.zeros(seg.n_chunks, dtype=bool)
    code = seg.codes[vocab].get(value)
    if code is not None and search_in in ("HEADLINE", "ALL"):
        out[seg.chunks_of(seg.postings(head_csr).rows_with(code))] = True
    if code is not None and search_in in ("BODY", "ALL"):
        out[seg.postings(body_csr).rows_with(code)] = True
    return out


def _any_all_none(n: int, has: Callable[[str], np.ndarray],
                  f: EntityFilter | TopicFilter | TagFilter | KeywordFilter, *, shared: bool = False) -> np.ndarray:
    """Rows with any of `any_of`, all of `all_of` and none of `none_of`; `shared`: `has` returns masks it keeps (a
    cache), so the first one is copied before it is combined in place (else it is used as it is)."""
    mask: np.ndarray | None = None
    if f.any_of:
        mask = _and(None, has(f.any_of[0]), owned=not shared)
        for value in f.any_of[1:]:
            mask |= has(value)
    for value in f.all_of:
        mask = _and(mask, has(value), owned=not shared)
    for value in f.none_of:
        mask = _and(mask, ~has(value))
    return np.ones(n, dtype=bool) if mask is None else mask


def _and(mask: np.ndarray | None, other: np.ndarray, *, owned: bool = True) -> np.ndarray:
    """mask & other, in place in `mask`; None stands for every row (`other` is then taken as it is when this
    code owns it, else copied), saving a pass and an allocation per filter over a million chunks."""
    if mask is None:
        return other if owned else other.copy()
    mask &= other
    return mask


def _mode_values(column: np.ndarray, codes: dict[str, int], f: ModeValues) -> np.ndarray:
    wanted = np.asarray([codes[v] for v in f.values if v in codes], dtype=column.dtype)
    hit = np.isin(column, wanted)
    return hit if f.mode == "INCLUDE" else ~hit


def _sentiment(values: np.ndarray, f: SentimentFilter) -> np.ndarray:
    mask = np.zeros(len(values), dtype=bool)
    for r in f.ranges or ():
        mask |= (values >= r.min) & (values <= r.max)
    for label in f.values or ():
        lo, hi, inclusive = SENTIMENT_LABEL_RANGES[label]
        mask |= ((values >= lo) & (values <= hi)) if inclusive else ((values > lo) if label == "positive" else (values < hi))
    return mask


class FilterEvaluator:
    """Evaluates `Filters` on segment views; keyword matching is delegated to the lexical index."""

    def __init__(self, keyword_mask: KeywordMask) -> None:
        self._keyword_mask = keyword_mask

    def mask(self, view: SegmentView, filters: Filters, owner: str | None) -> np.ndarray:
        """Chunks of `view` that are live, visible to `owner`, and pass every filter."""
        seg = view.segment
        doc_mask = self._visible(seg, owner)
        if (doc_level := self._doc_filters(seg, filters, owner)) is not None:
            doc_mask &= doc_level
        mask = None if view.deleted is None else view.live_mask()  # None: every chunk so far
        if not doc_mask.all():  # spreading to a million chunks is the costly step: skip it when it changes nothing
            mask = _and(mask, seg.spread(doc_mask))
        if (mask is None or mask.any()) and (chunk_level := self._chunk_filters(seg, filters)) is not None:
            mask = _and(mask, chunk_level)
        return np.ones(seg.n_chunks, dtype=bool) if mask is None else mask

    @staticmethod
    def _visible(seg: Segment, owner: str | None) -> np.ndarray:
        owners = np.asarray(seg.array("doc_owner"))
        mask = owners == -1
        code = seg.codes["owners"].get(owner) if owner else None
        if code is not None:
            mask |= owners == code
        return mask

    def _doc_filters(self, seg: Segment, f: Filters, owner: str | None) -> np.ndarray | None:
        """Documents passing the document-level filters; None without any (nothing to AND)."""
        if all(getattr(f, name) is None for name in DOC_LEVEL_FILTERS):
            return None
        mask = np.ones(seg.n_docs, dtype=bool)
        if f.timestamp is not None:
            ts = np.asarray(seg.array("doc_ts"))
            if f.timestamp.start is not None:
                # whole-second timestamps: a start of 10:00:00.5 excludes 10:00:00, so round it up
                mask &= ts >= math.ceil(f.timestamp.start.timestamp())
            if f.timestamp.end is not None:
                mask &= ts <= epoch(f.timestamp.end)
        if f.source is not None:
            mask &= _mode_values(np.asarray(seg.array("doc_source")), seg.codes["sources"], f.source)
        if f.category is not None:
            mask &= _mode_values(np.asarray(seg.array("doc_category")), seg.codes["categories"], f.category)
        if f.document_type is not None:
            mask &= self._document_type(seg, f)
        if f.reporting_entities is not None:
            any_rep = np.zeros(seg.n_docs, dtype=bool)
            for ent in f.reporting_entities:
                any_rep |= _doc_has(seg, "doc_rent", "entities", ent)
            mask &= any_rep
        if f.reporting_periods is not None:
            mask &= self._periods(seg, f)
        if f.document is not None:
            ids = np.zeros(seg.n_docs, dtype=bool)
            ids[[seg.doc_index[d] for d in f.document.values if d in seg.doc_index]] = True
            mask &= ids if f.document.mode == "INCLUDE" else ~ids
        if f.tag is not None:
            mask &= _any_all_none(seg.n_docs, lambda t: _doc_has(seg, "doc_tag", "tags", t), f.tag)
        return mask

    @staticmethod
    def _document_type(seg: Segment, f: Filters) -> np.ndarray:
        assert f.document_type is not None
        types = np.asarray(seg.array("doc_type"))
        subtypes = np.asarray(seg.array("doc_subtype"))
        hit = np.zeros(seg.n_docs, dtype=bool)
        for value in f.document_type.values:
            code = seg.codes["types"].get(value.type)
            if code is None:
                continue
            this = types == code
            if value.subtypes:
                sub_codes = [seg.codes["subtypes"][s] for s in value.subtypes if s in seg.codes["subtypes"]]
                this &= np.isin(subtypes, np.asarray(sub_codes, dtype=subtypes.dtype))
            hit |= this
        return hit if f.document_type.mode == "INCLUDE" else ~hit

    @staticmethod
    def _periods(seg: Segment, f: Filters) -> np.ndarray:
        assert f.reporting_periods is not None
        post = seg.postings("doc_rper")
        values = np.asarray(post.values)
        rows = np.repeat(np.arange(seg.n_docs), np.diff(post.indptr))
        hit = np.zeros(len(values), dtype=bool)
        for p in f.reporting_periods:
            if p.fiscal_quarter is None:
                hit |= values // 10 == p.fiscal_year
            else:
                hit |= values == p.fiscal_year * 10 + p.fiscal_quarter
        mask = np.zeros(seg.n_docs, dtype=bool)
        mask[rows[hit]] = True
        return mask

    def _chunk_filters(self, seg: Segment, f: Filters) -> np.ndarray | None:
        """Chunks passing the chunk-level filters; None without any (nothing to AND)."""
        if all(getattr(f, name) is None for name in CHUNK_LEVEL_FILTERS):
            return None
        mask: np.ndarray | None = None
        if f.chunk is not None:
            cnum = np.asarray(seg.array("cnum"))
            mask = cnum >= f.chunk.from_
            if f.chunk.to is not None:
                mask &= cnum <= f.chunk.to
        if f.sentiment is not None:
            mask = _and(mask, _sentiment(np.asarray(seg.array("sentiment")), f.sentiment))
        if f.entity is not None:
            ent = f.entity
            mask = _and(mask, _any_all_none(seg.n_chunks, lambda e: _annotation_has(seg, "entity", e, ent.search_in), ent))
        if f.topic is not None:
            top = f.topic
            mask = _and(mask, _any_all_none(seg.n_chunks, lambda t: _annotation_has(seg, "topic", t, top.search_in), top))
        if f.keyword is not None:
            kw = f.keyword
            mask = _and(mask, _any_all_none(seg.n_chunks, lambda w: self._keyword_mask(seg, w, kw.search_in), kw,
                                            shared=True))
        return np.ones(seg.n_chunks, dtype=bool) if mask is None else mask
