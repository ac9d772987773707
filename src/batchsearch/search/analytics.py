"""Search analytics: daily volume and co-mentions of the chunks a query matches, counted over segment columns.

"Matching" chunks are the chunks `POST /v1/search` could return for the same filters and caller (live,
visible to the owner, passing every filter) and, when the query has a text, whose chunk text or document
headline contains every word of it (stemmed, as the `keyword` filter matches). Nothing is ranked, so the
counts cover every match, not only the chunks a search would return.

Counting is vectorised numpy over the per-chunk columns (document ordinal, timestamp, sentiment) and the
CSR postings of entities and topics, summed over the snapshot's segments (a document lives in one segment).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

import numpy as np
import tantivy

from batchsearch.index.segment import Segment
from batchsearch.index.store import Snapshot
from batchsearch.models.analytics import AnalyticsQuery
from batchsearch.search.engine import SearchEngine

DAY_SECONDS = 86_400
MentionKind = Literal["entity", "topic"]
_POSTINGS: dict[MentionKind, tuple[str, str, str]] = {
    "entity": ("entities", "chunk_ent", "doc_hent"),
    "topic": ("topics", "chunk_top", "doc_htop"),
}


@dataclass(frozen=True)
class Part:
    """The matching chunks of one segment: a boolean mask over its rows."""

    segment: Segment
    mask: np.ndarray


@dataclass(frozen=True)
class VolumeDay:
    """One UTC day: documents and chunks matching, and the mean sentiment of those chunks."""

    date: date
    documents: int
    chunks: int
    sentiment: float


@dataclass(frozen=True)
class Volume:
    """The daily series (oldest first, at most `max_days` newest days) and the total over every match."""

    days: list[VolumeDay]
    documents: int
    chunks: int
    sentiment: float


@dataclass(frozen=True)
class Mentions:
    """How often an entity or topic occurs among the matches: in chunk texts, and in distinct headlines."""

    chunks: int
    headlines: int


def matching_parts(engine: SearchEngine, snap: Snapshot, query: AnalyticsQuery, owner: str | None) -> list[Part]:
    """The matching chunks of every segment of `snap` for `query`, as `owner` sees them."""
    terms = engine.lexical.terms(query.text) if query.text and query.text.strip() else []
    parts = []
    for view in snap.views:
        mask = engine.filters.mask(view, query.filters, owner)
        if terms and mask.any():
            mask = mask & text_mask(view.segment, terms)
        parts.append(Part(view.segment, mask))
    return parts


def text_mask(segment: Segment, terms: Sequence[str]) -> np.ndarray:
    """Rows whose headline or body holds every analysed term."""
    mask = np.zeros(segment.n_chunks, dtype=bool)
    if not terms or segment.n_chunks == 0:
        return mask
    schema = segment.tantivy_index.schema
    clauses = []
    for term in terms:
        either = tantivy.Query.boolean_query([
            (tantivy.Occur.Should, tantivy.Query.term_query(schema, field, term)) for field in ("headline", "body")])
        clauses.append((tantivy.Occur.Must, either))
    searcher = segment.searcher
    hits = searcher.search(tantivy.Query.boolean_query(clauses), segment.n_chunks, count=False).hits
    if hits:
        mask[np.asarray(searcher.fast_field_values("row", [h[1] for h in hits]), dtype=np.int64)] = True
    return mask


def _matching_docs(part: Part, rows: np.ndarray) -> np.ndarray:
    """Documents of the segment with at least one matching chunk (a boolean mask over documents)."""
    docs = np.zeros(part.segment.n_docs, dtype=bool)
    docs[part.segment.chunk_doc[rows]] = True
    return docs


def volume(parts: Sequence[Part], max_days: int) -> Volume:
    """Daily documents, chunks and mean chunk sentiment by UTC publication day of the document.

    The series runs from the first to the last day with a match, days without one included (zeros), and
    keeps the newest `max_days` days; the total counts every match.
    """
    chunk_days, sentiments, doc_days = [], [], []
    for part in parts:
        rows = np.flatnonzero(part.mask)
        if not len(rows):
            continue
        seg = part.segment
        chunk_days.append(seg.chunk_ts[rows] // DAY_SECONDS)
        sentiments.append(np.asarray(seg.array("sentiment"))[rows].astype(np.float64))
        doc_days.append(np.asarray(seg.array("doc_ts"))[_matching_docs(part, rows)] // DAY_SECONDS)
    if not chunk_days:
        return Volume([], 0, 0, 0.0)
    days, sent, docs = np.concatenate(chunk_days), np.concatenate(sentiments), np.concatenate(doc_days)
    first = max(int(days.min()), int(days.max()) - max_days + 1)
    keep, doc_keep = days >= first, docs >= first
    n = int(days.max()) - first + 1
    chunks = np.bincount(days[keep] - first, minlength=n)
    sums = np.bincount(days[keep] - first, weights=sent[keep], minlength=n)
    documents = np.bincount(docs[doc_keep] - first, minlength=n)
    series = [VolumeDay(_utc_date(first + i), int(documents[i]), int(chunks[i]),
                        float(sums[i] / chunks[i]) if chunks[i] else 0.0) for i in range(n)]
    return Volume(series, len(docs), len(days), float(sent.mean()))


def _utc_date(day: int) -> date:
    return datetime.fromtimestamp(day * DAY_SECONDS, UTC).date()


def co_mentions(parts: Sequence[Part], kind: MentionKind) -> dict[str, Mentions]:
    """Every entity (or topic) carried by a matching chunk's text or a matching document's headline, with counts."""
    chunk_counts: dict[str, int] = {}
    headline_counts: dict[str, int] = {}
    vocab_name, chunk_csr, doc_csr = _POSTINGS[kind]
    for part in parts:
        rows = np.flatnonzero(part.mask)
        if not len(rows):
            continue
        seg = part.segment
        vocab = seg.vocab[vocab_name]
        _add(chunk_counts, vocab, _code_counts(seg, chunk_csr, part.mask, len(vocab)))
        _add(headline_counts, vocab, _code_counts(seg, doc_csr, _matching_docs(part, rows), len(vocab)))
    return {key: Mentions(chunk_counts.get(key, 0), headline_counts.get(key, 0))
            for key in chunk_counts.keys() | headline_counts.keys()}


def _code_counts(seg: Segment, csr: str, row_mask: np.ndarray, n_codes: int) -> np.ndarray:
    """How many rows under `row_mask` carry each code of the CSR postings (codes are unique within a row)."""
    post = seg.postings(csr)
    indptr = np.asarray(post.indptr)
    row_of_value = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    codes = np.asarray(post.values)[row_mask[row_of_value]]
    return np.bincount(codes, minlength=n_codes)


def _add(into: dict[str, int], vocab: list[str], counts: np.ndarray) -> None:
    for code in np.flatnonzero(counts):
        into[vocab[code]] = into.get(vocab[code], 0) + int(counts[code])


def ranked(counts: dict[str, Mentions]) -> list[tuple[str, Mentions]]:
    """Most chunks first, then most headlines, then by id (a stable order for equal counts)."""
    return sorted(counts.items(), key=lambda item: (-item[1].chunks, -item[1].headlines, item[0]))
