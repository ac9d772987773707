"""The records a segment is built from: one document with its chunks, fully annotated."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Detection:
    """An annotation span in a chunk's text: entity or topic id with character offsets."""

    id: str
    start: int
    end: int
    type: str = "entity"


@dataclass
class ChunkRecord:
    """One chunk of a document, ready to index."""

    cnum: int
    text: str
    vector: np.ndarray
    sentiment: float = 0.0
    detections: list[Detection] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)


@dataclass
class DocumentRecord:
    """One document with its metadata and annotated chunks, ready to index."""

    id: str
    headline: str
    timestamp: int
    url: str
    source_id: str
    source_name: str
    source_rank: str
    doc_type: str
    doc_subtype: str | None
    category: str
    language: str
    owner: str | None
    tags: list[str]
    headline_entities: list[str]
    headline_topics: list[str]
    reporting_entities: list[str]
    reporting_periods: list[tuple[int, int]]
    sentiment: float | None
    chunks: list[ChunkRecord]
    extra: dict[str, object] = field(default_factory=dict)
