"""Compaction: small segments merged into one, so a search runs fewer tantivy searches and dense shortlists.

Every ingest call publishes at least one new segment, and a segment is never changed, so an index that grows
by many ingests (or by one own-content upload at a time) ends up as many small segments; a delete only masks
chunks, so a segment that lost most of its documents still costs a full search.

The policy (MergePolicy), over the live chunks of each segment of the current generation:
  - A segment is small when it holds fewer than `max_chunks` live chunks. Small segments are grouped in size
    tiers: a tier spans a factor of `min_segments` (tier k: min_segments**k up to min_segments**(k+1) live
    chunks). A tier holding `min_segments` segments or more is merged, smallest segments first, into one
    segment of at most `max_chunks` live chunks. Merging min_segments segments of a tier lands the result about
    one tier up, so a chunk is rewritten about log(index size) times however small the ingests are. A tier with
    more than max_chunks live chunks is packed into several merged segments (a group of one is left alone).
  - A segment whose live share (live / all chunks) is below `min_live_share` is rewritten on its own, even when
    it is not small; one without live chunks is dropped without writing anything.

A merge reads the live documents back from the segments' columns as the records they were built from (vectors,
detections, entities, topics and sentiments as stored: nothing is embedded or annotated again), builds the merged
segment with the usual builder and publishes a generation whose manifest lists it in place of the segments it
replaces (IndexStore.publish_merged). It runs under the writer lock, so no ingest of this host races it; a
document another host deleted or replaced meanwhile is deleted from the merged segment too. Older generations
still list the old segments, so a search holding an older snapshot is unaffected; the old segments stay on disk
until garbage collection (index/gc.py, embedded or shared index) finds no kept generation listing them.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from batchsearch.index.records import ChunkRecord, Detection, DocumentRecord
from batchsearch.index.segment import Segment
from batchsearch.index.store import IndexStore, SegmentMerge, SegmentView, Snapshot

log = logging.getLogger(__name__)

MERGE_MAX_CHUNKS = 1_000_000
MERGE_MIN_SEGMENTS = 4
MERGE_MIN_LIVE_SHARE = 0.5


@dataclass(frozen=True)
class MergePolicy:
    """Which segments are worth merging (see the module docstring); `tiered=False` puts every small segment in one
    tier (merge nearly everything, as `batchsearch index compact --all` does)."""

    max_chunks: int = MERGE_MAX_CHUNKS
    min_segments: int = MERGE_MIN_SEGMENTS
    min_live_share: float = MERGE_MIN_LIVE_SHARE
    tiered: bool = True

    def __post_init__(self) -> None:
        if self.max_chunks < 1 or self.min_segments < 2 or not 0.0 <= self.min_live_share <= 1.0:
            raise ValueError(f"a merge policy needs max_chunks >= 1, min_segments >= 2 and a live share in [0, 1]; "
                             f"got {self}")

    def tier(self, live: int) -> int:
        """The size tier of a segment with `live` chunks."""
        if not self.tiered:
            return 0
        return int(math.log(max(live, 1)) / math.log(self.min_segments) + 1e-9)

    def plan(self, sizes: list[tuple[int, int]]) -> list[list[int]]:
        """Groups of segment positions to rewrite, each as one segment (positions ascending), from each segment's
        (live chunks, all chunks) in manifest order."""
        tiers: dict[int, list[int]] = {}
        for position, (live, _) in enumerate(sizes):
            if live < self.max_chunks:
                tiers.setdefault(self.tier(live), []).append(position)
        groups = [group for members in tiers.values() if len(members) >= self.min_segments
                  for group in self._pack(members, sizes)]
        chosen = {p for group in groups for p in group}
        for position, (live, total) in enumerate(sizes):
            if position not in chosen and total and live / total < self.min_live_share:
                groups.append([position])
        return sorted(groups)

    def _pack(self, members: list[int], sizes: list[tuple[int, int]]) -> list[list[int]]:
        """A tier's segments, smallest first, packed into groups of at most max_chunks live chunks (a group of one
        is left alone)."""
        groups: list[list[int]] = [[]]
        total = 0
        for position in sorted(members, key=lambda p: sizes[p][0]):
            if total + sizes[position][0] > self.max_chunks:
                groups.append([])
                total = 0
            groups[-1].append(position)
            total += sizes[position][0]
        return [sorted(group) for group in groups if len(group) >= 2]


DEFAULT_POLICY = MergePolicy()


@dataclass
class CompactionReport:
    """What one compaction did (or, for a dry run, would do)."""

    generation: int
    segments_before: int
    segments_after: int
    merged: list[list[str]] = field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0
    dry_run: bool = False


def compact(store: IndexStore, policy: MergePolicy = DEFAULT_POLICY, *, dry_run: bool = False) -> CompactionReport:
    """Merge the segments the policy picks into a new generation, under the writer lock (waits for a running
    ingest); `dry_run` only reports the plan."""
    with store.writer_lock():
        return compact_under_lock(store, policy, dry_run=dry_run)


def compact_under_lock(store: IndexStore, policy: MergePolicy = DEFAULT_POLICY, *,
                       dry_run: bool = False) -> CompactionReport:
    """`compact` for a caller that already holds the store's writer lock (an ingest that just published)."""
    started = time.perf_counter()
    base = store.snapshot()
    groups = policy.plan([live_and_total(view) for view in base.views])
    report = CompactionReport(generation=base.generation, segments_before=len(base.views),
                              segments_after=len(base.views), dry_run=dry_run,
                              merged=[[base.views[p].segment.id for p in group] for group in groups])
    report.chunks = sum(live_and_total(base.views[p])[0] for group in groups for p in group)
    report.segments_after -= sum(len(group) for group in groups)
    report.segments_after += sum(1 for group in groups if any(live_and_total(base.views[p])[0] for p in group))
    if groups and not dry_run:
        report.generation = _merge(store, base, groups).generation
    report.seconds = time.perf_counter() - started
    return report


def _merge(store: IndexStore, base: Snapshot, groups: list[list[int]]) -> Snapshot:
    """Build one segment per group and publish them in place of the groups' segments."""
    merges: list[SegmentMerge] = []
    try:
        for group in groups:
            records = LiveDocuments([base.views[p] for p in group])
            staged = store.stage(records, _dim(base.views[group[0]].segment)) if records.n_docs else None
            merges.append(SegmentMerge([base.views[p].segment.id for p in group], staged))
        snapshot = store.publish_merged(base, merges)
    except BaseException:
        if store.current_generation() == base.generation:  # not published: no generation lists them
            store.discard_staged([merge.staged for merge in merges if merge.staged is not None])
        raise
    log.info("index: merged %d segments into %d (generation %d)", sum(len(m.replaces) for m in merges),
             sum(1 for m in merges if m.staged is not None), snapshot.generation)
    return snapshot


def live_and_total(view: SegmentView) -> tuple[int, int]:
    """(live chunks, all chunks) of a segment in a snapshot."""
    total = view.segment.n_chunks
    return (total if view.deleted is None else total - int(np.count_nonzero(view.deleted))), total


def _dim(segment: Segment) -> int:
    return int(segment.meta["dim"])


# ---- reading records back -----------------------------------------------------------------

def read_documents(view: SegmentView) -> list[DocumentRecord]:
    """The documents of a segment live in `view`, in segment order, as the records the builder wrote them from:
    building them again gives the same columns."""
    return list(LiveDocuments([view]))


class LiveDocuments:
    """The live documents of some segment views as records (a RecordStream), read again on every pass, so that a
    merge holds one document at a time rather than all of them (a million chunks' records took 5.8 GB). Documents
    without chunks are left out: no delete mask can hide them, so carrying them over could bring back a version a
    later segment replaced."""

    def __init__(self, views: list[SegmentView]) -> None:
        self._parts = [(view, _live_rows(view)) for view in views]
        self.n_docs = sum(len(docs) for _, docs in self._parts)
        self.n_chunks = sum(len(rows) for _, docs in self._parts for _, rows in docs)

    def __iter__(self) -> Iterator[DocumentRecord]:
        for view, docs in self._parts:
            reader = _SegmentReader(view.segment)
            for ordinal, rows in docs:
                yield reader.document(ordinal, rows)


def _live_rows(view: SegmentView) -> list[tuple[int, list[int]]]:
    """(document ordinal, its chunk rows) of every document of the view whose chunks are all live."""
    chunk_doc = np.asarray(view.segment.chunk_doc)
    counts = np.bincount(chunk_doc, minlength=view.segment.n_docs)
    dead = np.bincount(chunk_doc[~view.live_mask()], minlength=view.segment.n_docs)
    rows = np.argsort(chunk_doc, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    return [(d, rows[starts[d] : starts[d + 1]].tolist()) for d in np.flatnonzero((counts > 0) & (dead == 0)).tolist()]


class _Postings:
    """One CSR column as Python lists, decoded through a vocabulary."""

    def __init__(self, segment: Segment, name: str, vocab: list[str]) -> None:
        postings = segment.postings(name)
        self.indptr: list[int] = np.asarray(postings.indptr).tolist()
        self.values: list[int] = np.asarray(postings.values).tolist()
        self.vocab = vocab

    def codes(self, row: int) -> list[int]:
        return self.values[self.indptr[row] : self.indptr[row + 1]]

    def strings(self, row: int) -> list[str]:
        return [self.vocab[code] for code in self.codes(row)]


class _SegmentReader:
    """Turns a segment's rows back into records; columns are read once, as Python lists."""

    def __init__(self, segment: Segment) -> None:
        self.segment = segment
        vocab = segment.vocab
        self.vocab = vocab
        self.doc_cols = {name: np.asarray(segment.array(f"doc_{name}")).tolist()
                         for name in ("ts", "source", "category", "type", "subtype", "owner")}
        self.chunk_cols = {name: np.asarray(segment.array(name)).tolist()
                           for name in ("cnum", "sentiment", "det_off", "det_code", "det_start", "det_end", "det_kind")}
        self.doc_csr = {name: _Postings(segment, f"doc_{name}", vocab[kind])
                        for name, kind in (("hent", "entities"), ("htop", "topics"), ("tag", "tags"))}
        self.periods = _Postings(segment, "doc_rper", [])  # codes year * 10 + quarter, no vocabulary
        self.chunk_csr = {name: _Postings(segment, f"chunk_{name}", vocab[kind])
                          for name, kind in (("ent", "entities"), ("top", "topics"))}

    def document(self, ordinal: int, rows: list[int]) -> DocumentRecord:
        """One document with the chunks at `rows`."""
        meta = self.segment.docs[ordinal]
        cols, vocab = self.doc_cols, self.vocab
        subtype, owner = cols["subtype"][ordinal], cols["owner"][ordinal]
        sentiment = meta.get("sentiment")
        return DocumentRecord(
            id=meta["id"], headline=meta["headline"], timestamp=int(cols["ts"][ordinal]), url=meta["url"],
            source_id=vocab["sources"][cols["source"][ordinal]], source_name=meta["source"]["name"],
            source_rank=meta["source"]["rank"], doc_type=vocab["types"][cols["type"][ordinal]],
            doc_subtype=vocab["subtypes"][subtype] if subtype >= 0 else None,
            category=vocab["categories"][cols["category"][ordinal]], language=meta["language"],
            owner=vocab["owners"][owner] if owner >= 0 else None,
            # an owner's document keeps its tags as given in docs.jsonl; the column holds them deduplicated
            tags=list(meta["tags"]) if "tags" in meta else self.doc_csr["tag"].strings(ordinal),
            headline_entities=self.doc_csr["hent"].strings(ordinal),
            headline_topics=self.doc_csr["htop"].strings(ordinal),
            reporting_entities=list(meta.get("reporting_entities", [])),
            reporting_periods=[(code // 10, code % 10) for code in self.periods.codes(ordinal)],
            sentiment=None if sentiment is None else float(sentiment),
            chunks=[self.chunk(row, vector) for row, vector in zip(rows, self.segment.read_vectors(np.asarray(rows)),
                                                                    strict=True)],
        )

    def chunk(self, row: int, vector: np.ndarray) -> ChunkRecord:
        """One chunk with its stored vector (read from the file with its document's, not through the memory map,
        which would make the whole file resident in a merge) and annotations."""
        cols = self.chunk_cols
        return ChunkRecord(
            cnum=cols["cnum"][row], text=self.segment.chunk_text(row), vector=vector,
            sentiment=cols["sentiment"][row], detections=self.detections(row),
            entities=self.chunk_csr["ent"].strings(row), topics=self.chunk_csr["top"].strings(row),
        )

    def detections(self, row: int) -> list[Detection]:
        """The entity and topic spans of one chunk."""
        cols = self.chunk_cols
        out = []
        for i in range(cols["det_off"][row], cols["det_off"][row + 1]):
            kind = "entity" if cols["det_kind"][i] == 0 else "topic"
            vocab = self.vocab["entities" if kind == "entity" else "topics"]
            out.append(Detection(vocab[cols["det_code"][i]], cols["det_start"][i], cols["det_end"][i], kind))
        return out
