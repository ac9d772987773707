"""The records a segment is built from: one document with its chunks, fully annotated."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

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


class RecordStream(Protocol):
    """Documents a builder reads in passes (one document at a time, each pass from the start), their chunk count
    known up front: a merge builds a million chunks without holding their records (index/compact.py)."""

    n_chunks: int

    def __iter__(self) -> Iterator[DocumentRecord]: ...
