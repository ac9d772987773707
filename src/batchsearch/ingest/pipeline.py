"""The ingestion pipeline: read, chunk, annotate, embed, and publish segments."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from batchsearch.index.compact import DEFAULT_POLICY, MergePolicy, compact_under_lock
from batchsearch.index.records import ChunkRecord, Detection, DocumentRecord
from batchsearch.index.store import IndexStore, Snapshot
from batchsearch.ingest.chunking import MAX_COUNT_CHARS, Span, TokenCounter, chunk_text
from batchsearch.ingest.documents import DocumentIn, DocumentLineError, read_documents
from batchsearch.models.search import normalise_topic

log = logging.getLogger(__name__)
EMBED_BATCH_CHUNKS = 512
SEGMENT_MAX_CHUNKS = 100_000
HEADLINE_TOKEN_CAP = 64


class Annotator(Protocol):
    """Finds entities and topics and scores sentiment in a piece of text."""

    def entities(self, text: str) -> list[Detection]:
        """Entity mentions with offsets into `text`."""
        ...

    def topics(self, text: str) -> list[Detection]:
        """Topic hits (type "topic") with offsets into `text`."""
        ...

    def sentiment(self, text: str) -> float:
        """Sentiment in [-1, 1]."""
        ...


class TokenizingEmbedder(Protocol):
    """An embedder that can also count tokens (for chunk budgets)."""

    max_tokens: int

    @property
    def dim(self) -> int:
        """Length of every embedding vector."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors for `texts`."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Wordpiece tokens of each text, without special tokens."""
        ...


@dataclass
class IngestReport:
    """What an ingest run did."""

    documents: int = 0
    chunks: int = 0
    errors: list[DocumentLineError] = field(default_factory=list)
    seconds: float = 0.0
    generation: int = 0

    @property
    def chunks_per_second(self) -> float:
        """Ingestion throughput."""
        return self.chunks / self.seconds if self.seconds else 0.0


Progress = Callable[[IngestReport], None]


@dataclass(frozen=True)
class ChunkedDocument:
    """A document whose chunks were already chosen by `chunk_document` (e.g. in a worker process)."""

    document: DocumentIn
    spans: list[Span]


def chunk_document(headline: str, text: str, max_tokens: int, count: TokenCounter) -> list[Span]:
    """The chunks of a document's text, each fitting the model's window together with (part of) the headline."""
    headline_tokens = count([headline[:MAX_COUNT_CHARS]])[0] if headline else 0
    return chunk_text(text, max_tokens - 2 - min(headline_tokens, HEADLINE_TOKEN_CAP), count)


class Ingestor:
    """Turns validated documents into indexed segments."""

    def __init__(self, store: IndexStore, embedder: TokenizingEmbedder, annotator: Annotator | None = None,
                 *, owner: str | None = None, merge_policy: MergePolicy | None = DEFAULT_POLICY) -> None:
        """After publishing, segments are merged when `merge_policy` says so (index/compact.py); None never merges."""
        self.store = store
        self.embedder = embedder
        self.annotator = annotator
        self.owner = owner
        self.merge_policy = merge_policy

    def ingest_file(self, path: str, fmt: str = "jsonl", progress: Progress | None = None) -> IngestReport:
        """Ingest a JSONL file; bad lines are reported and skipped, the rest is indexed."""
        return self.ingest(read_documents(path, fmt), progress)

    def ingest(self, items: Iterable[DocumentIn | ChunkedDocument | DocumentLineError],
               progress: Progress | None = None,
               extra: Callable[[DocumentIn], dict[str, object]] | None = None) -> IngestReport:
        """Ingest documents (and pass through line errors) into as many segments as needed."""
        report = IngestReport()
        started = time.perf_counter()
        pending: list[DocumentIn | ChunkedDocument] = []
        pending_chars = 0
        segment: list[DocumentRecord] = []
        with self.store.writer_lock():
            for item in items:
                if isinstance(item, DocumentLineError):
                    report.errors.append(item)
                    continue
                pending.append(item)
                pending_chars += len(item.document.text if isinstance(item, ChunkedDocument) else item.text)
                if pending_chars > EMBED_BATCH_CHUNKS * 1200:
                    self._add(pending, segment, report)
                    pending, pending_chars = [], 0
                    self._tick(report, started, progress)
                    if sum(len(d.chunks) for d in segment) >= SEGMENT_MAX_CHUNKS:
                        report.generation = self._publish(segment)
                        segment = []
            self._add(pending, segment, report)
            if segment:
                report.generation = self._publish(segment)
            if report.generation:
                report.generation = self._merge_segments() or report.generation
            else:
                report.generation = self.store.current_generation()
        report.seconds = time.perf_counter() - started
        if progress:
            progress(report)
        return report

    def build(self, items: list[DocumentIn | ChunkedDocument]) -> list[DocumentRecord]:
        """Chunk, annotate and embed documents without the writer lock (several callers may build at once)."""
        return self._records(items)

    def publish(self, records: list[DocumentRecord]) -> int:
        """Publish built documents as one segment under the writer lock; returns the new generation (the merge's when
        segments were merged after it)."""
        with self.store.writer_lock():
            generation = self._publish(records)
            return self._merge_segments() or generation

    def delete(self, ids: set[str]) -> Snapshot:
        """Remove documents from search (a new generation without them)."""
        with self.store.writer_lock():
            return self.store.publish([], self.embedder.dim, removed_ids=ids)

    def _publish(self, segment: list[DocumentRecord]) -> int:
        return self.store.publish(segment, self.embedder.dim).generation

    def _merge_segments(self) -> int | None:
        """Merge segments when the policy says so (under the writer lock): the merge's generation, else None. A
        merge that fails is logged and left for the next one: the documents are published already."""
        if self.merge_policy is None:
            return None
        try:
            report = compact_under_lock(self.store, self.merge_policy)
        except Exception:
            log.exception("index: merging segments after an ingest failed")
            return None
        return report.generation if report.merged else None

    def _add(self, docs: list[DocumentIn | ChunkedDocument], segment: list[DocumentRecord],
             report: IngestReport) -> None:
        records = self._records(docs)
        segment.extend(records)
        report.documents += len(records)
        report.chunks += sum(len(r.chunks) for r in records)

    @staticmethod
    def _tick(report: IngestReport, started: float, progress: Progress | None) -> None:
        report.seconds = time.perf_counter() - started
        if progress:
            progress(report)

    # ---- one batch of documents ------------------------------------------------------------
    def _records(self, docs: list[DocumentIn | ChunkedDocument]) -> list[DocumentRecord]:
        if not docs:
            return []
        records = [self._document(doc) for doc in docs]
        texts = [r.headline + "\n" + c.text if r.headline else c.text for r in records for c in r.chunks]
        vectors = self.embedder.embed(texts) if texts else np.zeros((0, self.embedder.dim), np.float32)
        i = 0
        for record in records:
            for chunk in record.chunks:
                chunk.vector = vectors[i]
                i += 1
        return records

    def _document(self, item: DocumentIn | ChunkedDocument) -> DocumentRecord:
        if isinstance(item, ChunkedDocument):
            doc, spans = item.document, item.spans
        else:
            doc = item
            spans = chunk_document(doc.headline, doc.text, self.embedder.max_tokens, self.embedder.count_tokens)
        chunks = [ChunkRecord(cnum=s.cnum, text=doc.text[s.start : s.end], vector=np.zeros(0, np.float32))
                  for s in spans]
        head_entities, head_topics = self._annotate(doc, spans, chunks)
        return DocumentRecord(
            id=doc.resolved_id(), headline=doc.headline, timestamp=doc.timestamp, url=doc.url,
            source_id=doc.source.id, source_name=doc.source.name, source_rank=doc.source.rank,
            doc_type=doc.document_type.type, doc_subtype=doc.document_type.subtype, category=doc.category,
            language=doc.language, owner=self.owner, tags=list(doc.tags), headline_entities=head_entities,
            headline_topics=head_topics, reporting_entities=list(doc.reporting_entities),
            reporting_periods=[(p.fiscal_year, p.fiscal_quarter or 0) for p in doc.reporting_periods],
            sentiment=doc.sentiment, chunks=chunks,
        )

    def _annotate(self, doc: DocumentIn, spans: list[Span], chunks: list[ChunkRecord]) -> tuple[list[str], list[str]]:
        """Fill chunk annotations; returns (headline entities, headline topics)."""
        head_entities: list[str] = []
        head_topics: list[str] = []
        if doc.entities is not None:
            head_entities = _place_entities(doc, spans, chunks)
        elif self.annotator is not None:
            head_entities = [d.id for d in self.annotator.entities(doc.headline)] if doc.headline else []
            for chunk in chunks:
                found = self.annotator.entities(chunk.text)
                chunk.detections.extend(found)
                chunk.entities.extend(d.id for d in found)
        if doc.topics is not None:
            topics = [normalise_topic(t) for t in doc.topics]
            for chunk in chunks:
                chunk.topics.extend(topics)
        elif self.annotator is not None:
            head_topics = [normalise_topic(d.id) for d in self.annotator.topics(doc.headline)] if doc.headline else []
            for chunk in chunks:
                found = self.annotator.topics(chunk.text)
                chunk.detections.extend(Detection(normalise_topic(d.id), d.start, d.end, "topic") for d in found)
                chunk.topics.extend(normalise_topic(d.id) for d in found)
        for chunk in chunks:
            if doc.sentiment is not None:
                chunk.sentiment = doc.sentiment
            elif self.annotator is not None:
                chunk.sentiment = self.annotator.sentiment(chunk.text)
            chunk.detections.sort(key=lambda d: (d.start, d.end))
        return head_entities, head_topics


def _place_entities(doc: DocumentIn, spans: list[Span], chunks: list[ChunkRecord]) -> list[str]:
    """Map pre-annotated entity mentions onto chunks; bare ids apply to every chunk."""
    headline: list[str] = []
    for ent in doc.entities or ():
        if ent.field == "headline":
            headline.append(ent.id)
            continue
        if ent.start is None or ent.end is None:
            for chunk in chunks:
                chunk.entities.append(ent.id)
            continue
        for span, chunk in zip(spans, chunks, strict=True):
            if span.start <= ent.start and ent.end <= span.end:
                chunk.entities.append(ent.id)
                chunk.detections.append(Detection(ent.id, ent.start - span.start, ent.end - span.start))
                break
    return headline
