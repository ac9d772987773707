"""One immutable index segment: numpy arrays, a tantivy index and a JSON meta file.

Layout of a segment folder:
  meta.json                  format version, counts, vocabularies (codes -> strings)
  docs.jsonl                 per-document metadata returned in responses
  <name>.npy                 dense columns (memory-mapped on load)
  <name>.indptr.npy/.values.npy   CSR postings (row -> codes)
  text.bin                   UTF-8 chunk texts, sliced by text_off.npy
  tantivy/                   lexical index (fields: row, headline, body)
"""

from __future__ import annotations

import json
import operator
import os
import zlib
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, overload

import numpy as np
import tantivy

from batchsearch.index.projection import BASIS, HEAD, HEAD_DIM, SCALE, TAIL, Codes

SEGMENT_FORMAT_VERSION = 1
DOC_CSR = ("doc_hent", "doc_htop", "doc_tag", "doc_rent", "doc_rper")
CHUNK_CSR = ("chunk_ent", "chunk_top")
VOCABS = ("entities", "topics", "tags", "sources", "categories", "types", "subtypes", "owners")


# Filter values per chunk as untokenised terms, so a filter on them can be a tantivy clause instead of a
# post-filter (segments built with them record "filter_fields" in meta): entity and topic ids (headline: the
# document's, body: the chunk's) and the document's source id and category.
ANNOTATION_FIELDS = {"entity": ("ent_head", "ent_body"), "topic": ("top_head", "top_body")}
DOC_VALUE_FIELDS = {"source": "source", "category": "category"}


def build_schema() -> tantivy.Schema:
    """The lexical schema: a fast row number, stemmed headline and body, and the untokenised filter fields."""
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("row", stored=False, indexed=True, fast=True)
    builder.add_text_field("headline", stored=False, tokenizer_name="en_stem", index_option="position")
    builder.add_text_field("body", stored=False, tokenizer_name="en_stem", index_option="position")
    for field in [*(f for pair in ANNOTATION_FIELDS.values() for f in pair), *DOC_VALUE_FIELDS.values()]:
        builder.add_text_field(field, stored=False, tokenizer_name="raw", index_option="basic")
    return builder.build()


def save_csr(folder: Path, name: str, rows: list[list[int]], dtype: type = np.int32) -> None:
    """Write a list of code lists as indptr/values arrays."""
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    values: np.ndarray = np.fromiter((c for r in rows for c in r), dtype=dtype, count=int(indptr[-1]))
    np.save(folder / f"{name}.indptr.npy", indptr)
    np.save(folder / f"{name}.values.npy", values)


_DECODER = json.JSONDecoder()


class DocTable(Sequence[dict[str, Any]]):
    """Each document's response metadata, parsed from its line of docs.jsonl when asked for (a fresh dict each
    time). The lines stay one memory-mapped buffer: held as dicts, a million chunks' 156,000 documents were about
    170,000 objects the garbage collector walked on every full collection (about 170 ms each, one every thousand
    or so searches) and 200 MB of memory; parsing one costs a few microseconds."""

    def __init__(self, path: Path) -> None:
        self._blob = np.asarray(np.memmap(path, dtype=np.uint8, mode="r")) if path.stat().st_size else np.zeros(0, np.uint8)
        ends = np.flatnonzero(self._blob == ord("\n"))
        if len(self._blob) and self._blob[-1] != ord("\n"):
            ends = np.append(ends, len(self._blob))
        self._starts = np.concatenate([[0], ends[:-1] + 1]).astype(np.int64) if len(ends) else np.zeros(0, np.int64)
        self._ends = ends.astype(np.int64)
        self._lines = memoryview(self._blob.data)

    def __len__(self) -> int:
        return len(self._ends)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        i = range(len(self))[operator.index(index)]  # negative ordinals count from the end; IndexError past it
        doc: dict[str, Any] = _DECODER.decode(str(self._lines[self._starts[i] : self._ends[i]], "utf-8"))
        return doc


class Postings:
    """CSR postings row -> codes, with a lazily built inverted view code -> rows."""

    def __init__(self, indptr: np.ndarray, values: np.ndarray) -> None:
        self.indptr = indptr
        self.values = values

    def codes_of(self, row: int) -> np.ndarray:
        """The codes on one row."""
        return np.asarray(self.values[self.indptr[row] : self.indptr[row + 1]])

    @cached_property
    def _inverted(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        values = np.asarray(self.values)
        rows = np.repeat(np.arange(len(self.indptr) - 1, dtype=np.int64), np.diff(self.indptr))
        order = np.argsort(values, kind="stable")
        return values[order], rows[order], order

    def rows_with(self, code: int) -> np.ndarray:
        """Rows that carry this code (ascending, may repeat if a row repeats the code)."""
        sorted_codes, sorted_rows, _ = self._inverted
        # bounds of the codes' own dtype: mixed dtypes would make numpy convert the whole column on every call
        lo, hi = np.searchsorted(sorted_codes, np.array([code, code + 1], dtype=sorted_codes.dtype))
        return sorted_rows[lo:hi]


class Segment:
    """A loaded, read-only segment."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.meta: dict[str, Any] = json.loads((path / "meta.json").read_text())
        if self.meta.get("format_version") != SEGMENT_FORMAT_VERSION:
            raise ValueError(f"segment {path.name} has format {self.meta.get('format_version')}, "
                             f"expected {SEGMENT_FORMAT_VERSION}: re-ingest the data")
        self.id: str = self.meta["id"]
        self.n_chunks: int = self.meta["n_chunks"]
        self.n_docs: int = self.meta["n_docs"]
        self.vocab: dict[str, list[str]] = self.meta["vocab"]
        self.codes: dict[str, dict[str, int]] = {k: {v: i for i, v in enumerate(vs)} for k, vs in self.vocab.items()}
        self._arrays: dict[str, np.ndarray] = {}
        self._postings: dict[str, Postings] = {}

    def array(self, name: str) -> np.ndarray:
        """A column, memory-mapped on first use, handed out as a plain ndarray over the map (`mapped_file` tells
        the file): indexing an np.memmap runs Python code on every call, and building responses indexes columns
        per chunk (1M chunks: the answer step about 2% faster)."""
        arr = self._arrays.get(name)
        if arr is None:
            arr = np.asarray(np.load(self.path / f"{name}.npy", mmap_mode="r"))
            self._arrays[name] = arr
        return arr

    def postings(self, name: str) -> Postings:
        """CSR postings by name (doc_* or chunk_*)."""
        post = self._postings.get(name)
        if post is None:
            post = Postings(self.array(f"{name}.indptr"), self.array(f"{name}.values"))
            self._postings[name] = post
        return post

    @property
    def has_filter_fields(self) -> bool:
        """Whether the lexical index holds the filter value fields (segments built before them do not)."""
        return bool(self.meta.get("filter_fields"))

    @cached_property
    def vectors(self) -> np.ndarray:
        """Chunk embeddings (n_chunks, dim): the read-only float32 memory map of vectors.npy, never copied."""
        # Every worker process maps the same file, so the OS page cache holds one copy for all of them.
        # The builder has always written C-ordered float32; anything else is refused rather than
        # converted, because a conversion would quietly give each process a private copy again.
        vectors = self.array("vectors")
        shape = (self.n_chunks, int(self.meta["dim"]))
        if vectors.dtype != np.float32 or vectors.shape != shape or not vectors.flags.c_contiguous:
            raise ValueError(f"segment {self.path.name} has vectors {vectors.dtype}{vectors.shape}, expected "
                             f"C-ordered float32{shape}: re-ingest the data")
        return vectors

    @cached_property
    def compact(self) -> Codes | None:
        """The rotated int8 vectors when publishing wrote them (index/projection.py), memory-mapped; else None."""
        if not (self.path / f"{HEAD}.npy").exists():
            return None
        dim = int(self.meta["dim"])
        codes = Codes(np.asarray(self.array(BASIS)), np.asarray(self.array(SCALE)), self.array(HEAD), self.array(TAIL))
        if (codes.head.shape != (self.n_chunks, HEAD_DIM) or codes.tail.shape != (self.n_chunks, dim - HEAD_DIM)
                or codes.head.dtype not in (np.uint8, np.int8) or codes.tail.dtype != np.int8
                or codes.basis.shape != (dim, dim) or codes.scale.shape != (dim,)):
            raise ValueError(f"segment {self.path.name} has compact vectors {codes.head.dtype}{codes.head.shape} + "
                             f"{codes.tail.dtype}{codes.tail.shape} that do not fit its {self.n_chunks} x {dim} "
                             "vectors: re-ingest the data")
        return codes

    @cached_property
    def _vectors_offset(self) -> int:
        """Where the rows of vectors.npy start, after its header."""
        mapped = np.load(self.path / "vectors.npy", mmap_mode="r")  # maps without reading a row
        return int(mapped.offset)

    def read_vectors(self, rows: np.ndarray) -> np.ndarray:
        """The float32 vectors of `rows` (ascending), read from vectors.npy with positioned reads instead of
        through the memory map: the kernel maps cached pages around every faulting address, so a few hundred
        scattered reads through the map would make most of the file resident in this process; these only
        pass through the shared page cache. Consecutive rows are read together."""
        vectors = self.vectors  # checks the file's shape and dtype; its mapping is not touched here
        offset = self._vectors_offset
        width = vectors.shape[1] * vectors.itemsize
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), vectors.shape[1]), dtype=np.float32)
        if not len(rows):
            return out
        view = memoryview(out.data).cast("B")
        # runs of consecutive rows: [first, last] index pairs into `rows`
        breaks = np.flatnonzero(np.diff(rows) != 1)
        firsts = np.concatenate([[0], breaks + 1]).tolist()
        lasts = np.concatenate([breaks, [len(rows) - 1]]).tolist()
        fd = os.open(self.path / "vectors.npy", os.O_RDONLY)
        try:
            for first, last in zip(firsts, lasts, strict=True):
                want = (last - first + 1) * width
                got = os.preadv(fd, [view[first * width : (last + 1) * width]], offset + int(rows[first]) * width)
                if got != want:
                    raise OSError(f"segment {self.path.name}: short read of vectors.npy ({got} of {want} bytes)")
        finally:
            os.close(fd)
        return out

    @cached_property
    def source_keys(self) -> np.ndarray:
        """A stable integer per source id (comparable across segments), indexed by source code."""
        return np.asarray([zlib.crc32(s.encode()) for s in self.vocab["sources"]] or [0], dtype=np.int64)

    @cached_property
    def chunk_doc(self) -> np.ndarray:
        """Document ordinal of each chunk."""
        return np.asarray(self.array("chunk_doc"))

    @cached_property
    def chunk_ts(self) -> np.ndarray:
        """Document timestamp (epoch seconds) of each chunk."""
        return self.spread(np.asarray(self.array("doc_ts")))

    @cached_property
    def _doc_chunk_counts(self) -> np.ndarray | None:
        """Chunks per document when every document's chunks are contiguous and in document order (the
        builder's layout), else None."""
        chunk_doc = self.chunk_doc
        if len(chunk_doc) > 1 and bool((np.diff(chunk_doc) < 0).any()):
            return None
        return np.bincount(chunk_doc, minlength=self.n_docs)

    @cached_property
    def _chunk_doc_index(self) -> np.ndarray:
        """chunk_doc as numpy's index type, kept in memory (8 bytes a chunk): gathering with it skips converting
        the int32 column first, the larger part of a gather by it."""
        return self.chunk_doc.astype(np.intp)

    def spread(self, per_doc: np.ndarray) -> np.ndarray:
        """Per-chunk values from per-document ones: every chunk gets its document's. A million chunks of filter
        mask: 0.5 ms, against 1.5 for a repeat over the contiguous layout and 2.0 for indexing by chunk_doc
        (chunk_doc is in range by construction, so the gather skips its bounds check)."""
        return np.take(per_doc, self._chunk_doc_index, mode="clip")

    @cached_property
    def _doc_starts(self) -> np.ndarray | None:
        """First chunk row of each document in the contiguous layout (None for any other layout)."""
        counts = self._doc_chunk_counts
        if counts is None:
            return None
        return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)

    def chunks_of(self, doc_rows: np.ndarray) -> np.ndarray:
        """Chunk rows of the given documents: their ranges in the contiguous layout (work proportional to the
        chunks found, not to the segment), else every chunk whose document is among them."""
        starts, counts = self._doc_starts, self._doc_chunk_counts
        if starts is None or counts is None:
            return np.flatnonzero(np.isin(self.chunk_doc, doc_rows))
        doc_rows = np.asarray(doc_rows, dtype=np.int64)
        lengths = counts[doc_rows]
        offsets = np.repeat(starts[doc_rows] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        return offsets + np.arange(int(lengths.sum()), dtype=np.int64)

    @cached_property
    def docs(self) -> DocTable:
        """Response metadata of each document (each read from its line when asked for)."""
        return DocTable(self.path / "docs.jsonl")

    @cached_property
    def doc_index(self) -> dict[str, int]:
        """Document id -> ordinal."""
        return {doc["id"]: i for i, doc in enumerate(self.docs)}

    @cached_property
    def _text(self) -> tuple[np.ndarray, np.ndarray]:
        blob = np.asarray(np.memmap(self.path / "text.bin", dtype=np.uint8, mode="r")) if self.meta["text_bytes"] else np.zeros(0, np.uint8)
        return blob, np.asarray(self.array("text_off"))

    def chunk_text(self, row: int) -> str:
        """The text of one chunk."""
        blob, off = self._text
        return bytes(blob[off[row] : off[row + 1]]).decode("utf-8")

    @cached_property
    def tantivy_index(self) -> tantivy.Index:
        """The lexical index (opened once)."""
        return tantivy.Index.open(str(self.path / "tantivy"))

    @cached_property
    def searcher(self) -> tantivy.Searcher:
        """A searcher over the (immutable) lexical index."""
        return self.tantivy_index.searcher()

    def detections(self, row: int) -> list[dict[str, Any]]:
        """Entity and topic spans of one chunk, as response objects."""
        off = self.array("det_off")
        lo, hi = int(off[row]), int(off[row + 1])
        if lo == hi:
            return []
        codes, starts, ends, kinds = (self.array(n)[lo:hi] for n in ("det_code", "det_start", "det_end", "det_kind"))
        out = []
        for code, start, end, kind in zip(codes, starts, ends, kinds, strict=True):
            vocab = self.vocab["entities"] if kind == 0 else self.vocab["topics"]
            out.append({"id": vocab[int(code)], "start": int(start), "end": int(end),
                        "type": "entity" if kind == 0 else "topic"})
        return out


def mapped_file(array: np.ndarray) -> Path | None:
    """The file `array` is a memory map of (through any views of the map: `Segment.array` hands out plain ndarrays
    over it), else None for memory of its own."""
    base: object = array
    while isinstance(base, np.ndarray):
        if isinstance(base, np.memmap):
            return Path(base.filename) if base.filename else None
        base = base.base
    return None


def fsync_dir(path: Path) -> None:
    """Make a rename or new file in `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
