"""Shared builders for search tests: random annotated documents, a fake embedder, a brute-force filter oracle.

Everything here is a real component or a deterministic fake (no mocks): records go through the real
`IndexStore.publish`, and the oracle below re-implements each filter as a plain Python predicate over
the records, so the segment/mask machinery is checked against an independent reading of the spec.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from batchsearch.index.records import ChunkRecord, Detection, DocumentRecord
from batchsearch.index.store import IndexStore, Snapshot
from batchsearch.models.search import Filters, normalise_topic
from batchsearch.search.lexical import build_analyzer
from batchsearch.search.filters import NEUTRAL_BAND

T0 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
DAY = 86_400

ENTITIES = ("228D42", "D8442A", "3ORTET", "716DCV", "ACE54B", "BA9E0C", "A1B2C3", "Z9Y8X7")
TOPICS = (
    "business,partnerships,partnership",
    "business,stock-prices,stock-price-volatility,down",
    "business,labor-issues,executive-appointment",
    "economy,inflation,consumer-prices",
    "business,earnings,earnings-above-expectations",
)
SOURCES = (
    ("D4B903", "Factset Transcripts", "RANK_1"),
    ("5A5702", "Newswire One", "RANK_2"),
    ("751371", "Market Blog", "RANK_5"),
    ("A1B2C3", "Daily Ledger", "RANK_3"),
    ("9F9F9F", "Regulator Feed", "RANK_4"),
)
CATEGORIES = ("news", "transcripts", "filings", "research", "my_files", "news_premium")
DOC_TYPES = (
    ("NEWS", None),
    ("TRANSCRIPT", "EARNINGS_CALL"),
    ("TRANSCRIPT", "CONFERENCE_CALL"),
    ("TRANSCRIPT-PRESENTATION", "GENERAL_PRESENTATION"),
    ("FILING", "SEC_10_K"),
    ("FILING", "SEC_8_K"),
    ("FILING", None),
    ("INVESTMENT-RESEARCH", "RESEARCH_NOTE"),
)
TAGS = ("research-report", "Corporate Actions", "alpha", "beta")
OWNERS = ("alice", "bob")
PERIOD_YEARS = (2023, 2024, 2025)
# Sentiments include the exact edges of the deprecated labels' bands.
SENTIMENTS = (-1.0, -0.6, -0.3, -NEUTRAL_BAND, -0.01, 0.0, 0.02, NEUTRAL_BAND, 0.3, 0.33, 0.7, 1.0)
WORDS = (
    "revenue revenues guidance lawsuit lawsuits growth cloud computing outlook margin margins profit "
    "loss losses dividend dividends split merger acquisition resignation resignations resigned chief "
    "executive officer board shares stock price volatility inflation rates bank banks loan loans "
    "factory output energy oil gas supply demand market markets quarter annual report earnings call "
    "analyst forecast strong weak record decline rise"
).split()


class FakeEmbedder:
    """A deterministic stand-in encoder: each distinct text maps to a seeded random unit vector."""

    def __init__(self, dim: int = 32, max_tokens: int = 64) -> None:
        self.dim = dim
        self.max_tokens = max_tokens

    def vector(self, text: str) -> np.ndarray:
        """The unit vector of one text (the same text always gives the same vector)."""
        seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
        v = np.random.default_rng(seed).standard_normal(self.dim)
        return (v / np.linalg.norm(v)).astype(np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of `texts`, float32 (n, dim)."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self.vector(t) for t in texts])

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Whitespace words stand in for wordpieces."""
        return [len(t.split()) for t in texts]


def unit_vectors(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """`n` random unit rows, float32."""
    v = rng.standard_normal((n, dim))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def doc_id(rng: np.random.Generator) -> str:
    """A 32-hex uppercase document id."""
    return rng.bytes(16).hex().upper()


def _subset(rng: np.random.Generator, items: Sequence[Any], p: float) -> list[Any]:
    return [x for x in items if rng.random() < p]


def _text(rng: np.random.Generator, n_words: int, tag: str) -> str:
    words = [str(w) for w in rng.choice(WORDS, size=n_words)]
    if rng.random() < 0.2:  # a phrase for phrase keywords (and its reverse, which must not match it)
        i = int(rng.integers(len(words) + 1))
        words[i:i] = ["cloud", "computing"] if rng.random() < 0.7 else ["computing", "cloud"]
    return " ".join(words) + f" {tag}."


def random_documents(rng: np.random.Generator, n_docs: int, dim: int, *, prefix: str = "s",
                     owners: Sequence[str | None] = (None, None, None, "alice", "bob"),
                     max_chunks: int = 5) -> list[DocumentRecord]:
    """Fully annotated random documents; every chunk text is unique (a serial word ends it)."""
    docs = []
    for d in range(n_docs):
        source_id, source_name, rank = SOURCES[rng.integers(len(SOURCES))]
        doc_type, subtype = DOC_TYPES[rng.integers(len(DOC_TYPES))]
        chunks = []
        for c in range(int(rng.integers(1, max_chunks + 1))):
            text = _text(rng, int(rng.integers(4, 14)), f"{prefix}d{d}c{c}")
            entities = _subset(rng, ENTITIES, 0.2)
            detections = _detections(rng, text, entities)
            chunks.append(ChunkRecord(
                cnum=c + 1, text=text, vector=unit_vectors(rng, 1, dim)[0],
                sentiment=float(SENTIMENTS[rng.integers(len(SENTIMENTS))]), detections=detections,
                entities=entities, topics=_subset(rng, TOPICS, 0.2),
            ))
        periods = [(int(y), int(rng.integers(0, 5))) for y in _subset(rng, PERIOD_YEARS, 0.3)]
        docs.append(DocumentRecord(
            id=doc_id(rng), headline=_text(rng, int(rng.integers(2, 7)), f"{prefix}h{d}"),
            # whole days half of the time, so date-only bounds hit documents exactly on the edge
            timestamp=T0 + int(rng.integers(0, 400)) * DAY + (int(rng.integers(0, DAY)) if rng.random() < 0.5 else 0),
            url=f"https://example.com/{prefix}/{d}", source_id=source_id, source_name=source_name, source_rank=rank,
            doc_type=doc_type, doc_subtype=subtype, category=CATEGORIES[rng.integers(len(CATEGORIES))],
            language="en", owner=owners[rng.integers(len(owners))], tags=_subset(rng, TAGS, 0.3),
            headline_entities=_subset(rng, ENTITIES, 0.15), headline_topics=_subset(rng, TOPICS, 0.15),
            reporting_entities=_subset(rng, ENTITIES, 0.15), reporting_periods=periods,
            sentiment=float(rng.uniform(-1, 1)) if rng.random() < 0.5 else None, chunks=chunks,
        ))
    return docs


def _detections(rng: np.random.Generator, text: str, entities: list[str]) -> list[Detection]:
    words = text.split(" ")
    out = []
    for ent in entities:
        i = int(rng.integers(len(words)))
        start = sum(len(w) + 1 for w in words[:i])
        out.append(Detection(ent, start, start + len(words[i])))
    return sorted(out, key=lambda d: (d.start, d.end))


def build_store(root: Path, batches: Sequence[list[DocumentRecord]], dim: int) -> IndexStore:
    """An index with one segment per batch (published in order, later ids replace earlier ones)."""
    store = IndexStore(root)
    for batch in batches:
        store.publish(batch, dim)
    return store


# ---- the brute-force oracle --------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    """One live chunk of a snapshot, with its document: what the oracle predicates look at."""

    view: int
    row: int
    doc: DocumentRecord
    chunk: ChunkRecord


def snapshot_rows(snap: Snapshot, batches: Sequence[list[DocumentRecord]]) -> list[Row]:
    """Every chunk of every view of `snap`, in segment row order, dead ones left out.

    `batches[i]` must be the records segment i was built from (last version per id, as published).
    """
    out = []
    for v, (view, docs) in enumerate(zip(snap.views, batches, strict=True)):
        live = view.live_mask()
        row = 0
        for doc in _last_version_only(docs):
            for chunk in doc.chunks:
                if live[row]:
                    out.append(Row(v, row, doc, chunk))
                row += 1
        assert row == view.segment.n_chunks
    return out


def _last_version_only(docs: list[DocumentRecord]) -> list[DocumentRecord]:
    latest: dict[str, DocumentRecord] = {}
    for doc in docs:
        latest.pop(doc.id, None)
        latest[doc.id] = doc
    return list(latest.values())


_ANALYZER = build_analyzer()


def analyse(text: str) -> list[str]:
    """Tokens of a text as the index sees them (the `en_stem` analysis), positions kept."""
    return list(_ANALYZER.analyze(text))


def _contains_phrase(tokens: list[str], phrase: list[str]) -> bool:
    n = len(phrase)
    return bool(phrase) and any(tokens[i : i + n] == phrase for i in range(len(tokens) - n + 1))


def _any_all_none(f: Any, has: Any) -> bool:
    if f.any_of and not any(has(x) for x in f.any_of):
        return False
    return all(has(x) for x in f.all_of) and not any(has(x) for x in f.none_of)


def _in_mode(f: Any, present: bool) -> bool:
    return present if f.mode == "INCLUDE" else not present


def _f32(x: float) -> float:
    return float(np.float32(x))


def _sentiment_ok(value: float, f: Any) -> bool:
    s = _f32(value)
    for r in f.ranges or ():
        if _f32(r.min) <= s <= _f32(r.max):
            return True
    band = _f32(NEUTRAL_BAND)
    for label in f.values or ():
        if (label == "positive" and s > band) or (label == "negative" and s < -band) or (
                label == "neutral" and -band <= s <= band):
            return True
    return False


def oracle(row: Row, f: Filters, owner: str | None) -> bool:
    """Does this chunk pass every filter, by a direct reading of spec section 4.3?"""
    doc, chunk = row.doc, row.chunk
    if doc.owner is not None and doc.owner != owner:
        return False
    when = datetime.fromtimestamp(doc.timestamp, UTC)
    if f.timestamp is not None:
        if f.timestamp.start is not None and when < f.timestamp.start:
            return False
        if f.timestamp.end is not None and when > f.timestamp.end:
            return False
    if f.entity is not None:
        place = f.entity.search_in
        head, body = set(doc.headline_entities), set(chunk.entities)
        if not _any_all_none(f.entity, lambda e: (place != "BODY" and e in head) or (place != "HEADLINE" and e in body)):
            return False
    if f.topic is not None:
        place = f.topic.search_in
        head = {normalise_topic(t) for t in doc.headline_topics}
        body = {normalise_topic(t) for t in chunk.topics}
        if not _any_all_none(f.topic, lambda t: (place != "BODY" and t in head) or (place != "HEADLINE" and t in body)):
            return False
    if f.keyword is not None:
        place = f.keyword.search_in
        head, body = analyse(doc.headline), analyse(chunk.text)

        def has_word(word: str) -> bool:
            phrase = analyse(word)
            return (place != "BODY" and _contains_phrase(head, phrase)) or (
                place != "HEADLINE" and _contains_phrase(body, phrase))

        if not _any_all_none(f.keyword, has_word):
            return False
    if f.source is not None and not _in_mode(f.source, doc.source_id in f.source.values):
        return False
    if f.category is not None and not _in_mode(f.category, doc.category in f.category.values):
        return False
    if f.document_type is not None:
        hit = any(doc.doc_type == v.type and (not v.subtypes or doc.doc_subtype in v.subtypes)
                  for v in f.document_type.values)
        if not _in_mode(f.document_type, hit):
            return False
    if f.sentiment is not None and not _sentiment_ok(chunk.sentiment, f.sentiment):
        return False
    if f.reporting_entities is not None and not set(f.reporting_entities) & set(doc.reporting_entities):
        return False
    if f.reporting_periods is not None and not any(
            y == p.fiscal_year and (p.fiscal_quarter is None or q == p.fiscal_quarter)
            for p in f.reporting_periods for y, q in doc.reporting_periods):
        return False
    if f.document is not None and not _in_mode(f.document, doc.id in f.document.values):
        return False
    if f.chunk is not None and not (f.chunk.from_ <= chunk.cnum and (f.chunk.to is None or chunk.cnum <= f.chunk.to)):
        return False
    if f.tag is not None and not _any_all_none(f.tag, lambda t: t in doc.tags):
        return False
    return True


BM25_K1, BM25_B = 1.2, 0.75


def brute_bm25(fields: dict[str, list[list[str]]], terms: Sequence[str]) -> np.ndarray:
    """BM25 of every row: per field, idf = ln(1 + (N - n + 0.5) / (n + 0.5)), summed over fields and terms, the
    headline's weighted by the lexical side's HEADLINE_BOOST."""
    from batchsearch.search.lexical import HEADLINE_BOOST

    n_rows = len(next(iter(fields.values())))
    out = np.zeros(n_rows)
    for name, tokens in fields.items():
        weight = HEADLINE_BOOST if name == "headline" else 1.0
        avg = sum(map(len, tokens)) / n_rows
        for term in terms:
            n = sum(term in row for row in tokens)
            if n == 0:
                continue
            idf = math.log(1 + (n_rows - n + 0.5) / (n + 0.5))
            for i, row in enumerate(tokens):
                tf = row.count(term)
                if tf:
                    out[i] += weight * idf * tf * (BM25_K1 + 1) / (tf + BM25_K1 * (1 - BM25_B + BM25_B * len(row) / avg))
    return out
