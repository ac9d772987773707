"""Find one document of an index snapshot by id, as one caller may see it (read-only, no other IO).

A document is visible when it is live in the snapshot (not deleted or replaced) and public (no owner) or owned by
the caller: the same rule as search's filters. The newest segment holding the id wins, as a re-ingested document
replaces the older one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from batchsearch.index.segment import Segment
from batchsearch.index.store import SegmentView, Snapshot

@dataclass(frozen=True)
class IndexedChunk:
    """One chunk as the index holds it."""

    cnum: int
    text: str
    sentiment: float
    detections: list[dict[str, Any]]


@dataclass(frozen=True)
class IndexedDocument:
    """One document as the index holds it: the response metadata of search results and its live chunks."""

    meta: dict[str, Any]
    chunks: list[IndexedChunk]

    @property
    def id(self) -> str:
        """The document id."""
        return str(self.meta["id"])


def find_document(snapshot: Snapshot, document_id: str, owner: str | None, *,
                  any_owner: bool = False) -> IndexedDocument | None:
    """The document with this id that `owner` may see (None: public documents only), or None when there is none;
    `any_owner` skips the owner check (a signed download: the signature already proved access)."""
    for view in reversed(snapshot.views):
        ordinal = view.segment.doc_index.get(document_id)
        if ordinal is None:
            continue
        rows = _live_rows(view, ordinal)
        if len(rows) == 0:
            continue  # deleted in this snapshot (a live version, if any, is in another segment)
        if not (any_owner or _is_visible(view.segment, ordinal, owner)):
            return None
        return _document(view.segment, ordinal, rows)
    return None


def _live_rows(view: SegmentView, ordinal: int) -> np.ndarray:
    """The document's chunk rows that are live in the view (a document's chunks are consecutive rows)."""
    lo, hi = np.searchsorted(view.segment.chunk_doc, [ordinal, ordinal + 1])
    rows = np.arange(int(lo), int(hi))
    return rows if view.deleted is None else rows[~view.deleted[rows]]


def _is_visible(segment: Segment, ordinal: int, owner: str | None) -> bool:
    code = int(segment.array("doc_owner")[ordinal])
    return code == -1 or (owner is not None and segment.codes["owners"].get(owner) == code)


def _document(segment: Segment, ordinal: int, rows: np.ndarray) -> IndexedDocument:
    cnums = segment.array("cnum")
    sentiments = segment.array("sentiment")
    chunks = [IndexedChunk(cnum=int(cnums[row]), text=segment.chunk_text(int(row)),
                           sentiment=round(float(sentiments[row]), 2), detections=segment.detections(int(row)))
              for row in rows]
    chunks.sort(key=lambda chunk: chunk.cnum)
    return IndexedDocument(meta=dict(segment.docs[ordinal]), chunks=chunks)
