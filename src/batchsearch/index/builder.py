"""Builds one segment folder from document records, then publishes it with an atomic rename."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import tantivy

from batchsearch.index import projection
from batchsearch.index.records import ChunkRecord, DocumentRecord, RecordStream
from batchsearch.index.segment import (
    ANNOTATION_FIELDS,
    DOC_VALUE_FIELDS,
    SEGMENT_FORMAT_VERSION,
    VOCABS,
    build_schema,
    fsync_dir,
    save_csr,
)
from batchsearch.storage.local import make_private_dir

_SPACE = re.compile(r"\s+")
RANK_NUMBER = {"RANK_1": 1, "RANK_2": 2, "RANK_3": 3, "RANK_4": 4, "RANK_5": 5}


def text_hash(text: str) -> int:
    """A 63-bit hash of a chunk's normalised text, for dropping duplicates at query time."""
    norm = _SPACE.sub(" ", text.strip().lower())
    return int.from_bytes(hashlib.blake2b(norm.encode(), digest_size=8).digest(), "little") >> 1


class _Vocab:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.codes: dict[str, int] = {}

    def code(self, value: str) -> int:
        found = self.codes.get(value)
        if found is None:
            found = self.codes[value] = len(self.items)
            self.items.append(value)
        return found


def document_type_label(doc_type: str, subtype: str | None) -> str:
    """Human label of a document type, as in responses ("News", "Earnings Call", "Sec 8 K")."""
    if subtype:
        return subtype.replace("SEC_", "SEC ").replace("_", " ").title().replace("Sec ", "SEC ")
    return doc_type.replace("-", " ").title()


def build_segment(segments_dir: Path, docs: list[DocumentRecord] | RecordStream, dim: int) -> str:
    """Write `docs` as a new segment under `segments_dir`; returns the segment id. A RecordStream is read in
    two passes, one document at a time (columns, then the lexical index)."""
    seg_id = datetime.now(UTC).strftime("%Y%m%d%H%M%S") + "-" + uuid.uuid4().hex[:8]
    tmp = segments_dir / f".{seg_id}.tmp"
    make_private_dir(tmp)
    try:
        n_chunks = sum(len(d.chunks) for d in docs) if isinstance(docs, list) else docs.n_chunks
        meta = _write_columns(tmp, docs, dim, n_chunks)
        _write_lexical(tmp, docs)
        _write_projection(tmp, n_chunks)
        meta.update(id=seg_id, format_version=SEGMENT_FORMAT_VERSION, created_at=datetime.now(UTC).isoformat(),
                    filter_fields=True)
        (tmp / "meta.json").write_text(json.dumps(meta))
        for path in tmp.iterdir():
            if path.is_file():
                with open(path, "rb") as fh:
                    os.fsync(fh.fileno())
        final = segments_dir / seg_id
        tmp.rename(final)
        fsync_dir(segments_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return seg_id


def _write_columns(folder: Path, docs: list[DocumentRecord] | RecordStream, dim: int,
                   n_chunks: int) -> dict[str, object]:
    vocab = {name: _Vocab() for name in VOCABS}
    chunk_doc = np.zeros(n_chunks, dtype=np.int32)
    cnum = np.zeros(n_chunks, dtype=np.int32)
    sentiment = np.zeros(n_chunks, dtype=np.float32)
    hashes = np.zeros(n_chunks, dtype=np.int64)
    text_off = np.zeros(n_chunks + 1, dtype=np.int64)
    det_off = np.zeros(n_chunks + 1, dtype=np.int64)
    det_code: list[int] = []
    det_start: list[int] = []
    det_end: list[int] = []
    det_kind: list[int] = []
    chunk_ent: list[list[int]] = []
    chunk_top: list[list[int]] = []
    doc_cols: dict[str, list[int]] = {k: [] for k in ("ts", "source", "category", "type", "subtype", "owner", "rank")}
    doc_csr: dict[str, list[list[int]]] = {k: [] for k in ("doc_hent", "doc_htop", "doc_tag", "doc_rent", "doc_rper")}
    row, n_docs = 0, 0
    # vectors are written as they come (a million chunks' are 1.5 GB), without mapping the file into memory
    with (open(folder / "text.bin", "wb") as text_fh, open(folder / "docs.jsonl", "w", encoding="utf-8") as docs_fh,
          open(folder / "vectors.npy", "wb") as vectors_fh):
        np.lib.format.write_array_header_1_0(
            vectors_fh, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                         "shape": (n_chunks, dim)})
        for ordinal, doc in enumerate(docs):
            n_docs += 1
            docs_fh.write(json.dumps(_doc_meta(doc), ensure_ascii=False) + "\n")
            doc_cols["ts"].append(doc.timestamp)
            doc_cols["source"].append(vocab["sources"].code(doc.source_id))
            doc_cols["category"].append(vocab["categories"].code(doc.category))
            doc_cols["type"].append(vocab["types"].code(doc.doc_type))
            doc_cols["subtype"].append(vocab["subtypes"].code(doc.doc_subtype) if doc.doc_subtype else -1)
            doc_cols["owner"].append(vocab["owners"].code(doc.owner) if doc.owner else -1)
            doc_cols["rank"].append(RANK_NUMBER.get(doc.source_rank, 5))
            doc_csr["doc_hent"].append(sorted({vocab["entities"].code(e) for e in doc.headline_entities}))
            doc_csr["doc_htop"].append(sorted({vocab["topics"].code(t) for t in doc.headline_topics}))
            doc_csr["doc_tag"].append(sorted({vocab["tags"].code(t) for t in doc.tags}))
            doc_csr["doc_rent"].append(sorted({vocab["entities"].code(e) for e in doc.reporting_entities}))
            doc_csr["doc_rper"].append(sorted({y * 10 + q for y, q in doc.reporting_periods}))
            for chunk in doc.chunks:
                data = chunk.text.encode("utf-8")
                text_fh.write(data)
                text_off[row + 1] = text_off[row] + len(data)
                vector = np.asarray(chunk.vector, dtype=np.float32)
                if vector.shape != (dim,):
                    raise ValueError(f"chunk {chunk.cnum} of document {doc.id} has a vector of shape {vector.shape}, "
                                     f"expected ({dim},)")
                vectors_fh.write(vector.tobytes())
                chunk_doc[row] = ordinal
                cnum[row] = chunk.cnum
                sentiment[row] = chunk.sentiment
                hashes[row] = text_hash(chunk.text)
                for det in chunk.detections:
                    kind = 0 if det.type == "entity" else 1
                    det_code.append(vocab["entities" if kind == 0 else "topics"].code(det.id))
                    det_start.append(det.start)
                    det_end.append(det.end)
                    det_kind.append(kind)
                det_off[row + 1] = len(det_code)
                chunk_ent.append(sorted({vocab["entities"].code(e) for e in chunk.entities}))
                chunk_top.append(sorted({vocab["topics"].code(t) for t in chunk.topics}))
                row += 1
    if row != n_chunks:
        raise ValueError(f"the documents have {row} chunks, {n_chunks} were announced")
    arrays: dict[str, np.ndarray] = {
        "chunk_doc": chunk_doc, "cnum": cnum, "sentiment": sentiment, "text_hash": hashes,
        "text_off": text_off, "det_off": det_off, "det_code": np.asarray(det_code, np.int32),
        "det_start": np.asarray(det_start, np.int32), "det_end": np.asarray(det_end, np.int32),
        "det_kind": np.asarray(det_kind, np.int8), "doc_ts": np.asarray(doc_cols["ts"], np.int64),
        "doc_source": np.asarray(doc_cols["source"], np.int32),
        "doc_category": np.asarray(doc_cols["category"], np.int32),
        "doc_type": np.asarray(doc_cols["type"], np.int32), "doc_subtype": np.asarray(doc_cols["subtype"], np.int32),
        "doc_owner": np.asarray(doc_cols["owner"], np.int32), "doc_rank": np.asarray(doc_cols["rank"], np.int8),
    }
    for name, arr in arrays.items():
        np.save(folder / f"{name}.npy", arr)
    for name, rows in doc_csr.items():
        save_csr(folder, name, rows)
    save_csr(folder, "chunk_ent", chunk_ent)
    save_csr(folder, "chunk_top", chunk_top)
    return {
        "n_docs": n_docs, "n_chunks": n_chunks, "dim": dim, "text_bytes": int(text_off[-1]),
        "vocab": {name: v.items for name, v in vocab.items()},
    }


def _doc_meta(doc: DocumentRecord) -> dict[str, object]:
    meta: dict[str, object] = {
        "id": doc.id,
        "headline": doc.headline,
        "timestamp": datetime.fromtimestamp(doc.timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": {"id": doc.source_id, "name": doc.source_name, "rank": doc.source_rank},
        "url": doc.url,
        "document_type": document_type_label(doc.doc_type, doc.doc_subtype),
        "language": doc.language,
    }
    if doc.reporting_entities:
        meta["reporting_entities"] = doc.reporting_entities
    if doc.sentiment is not None:
        meta["sentiment"] = round(doc.sentiment, 2)
    if doc.owner:
        meta["tags"] = doc.tags
    return meta


def _write_lexical(folder: Path, docs: list[DocumentRecord] | RecordStream) -> None:
    index = tantivy.Index(build_schema(), path=str(_mkdir(folder / "tantivy")))
    writer = index.writer(heap_size=256_000_000, num_threads=1)
    row = 0
    for doc in docs:
        for chunk in doc.chunks:
            entry = tantivy.Document()
            entry.add_unsigned("row", row)
            entry.add_text("headline", doc.headline)
            entry.add_text("body", chunk.text)
            for field, values in _filter_values(doc, chunk):
                for value in sorted(set(values)):
                    entry.add_text(field, value)
            writer.add_document(entry)
            row += 1
    writer.commit()
    writer.wait_merging_threads()


def _filter_values(doc: DocumentRecord, chunk: ChunkRecord) -> list[tuple[str, list[str]]]:
    """The values of one chunk's filter fields (index/segment.py), field by field."""
    (ent_head, ent_body), (top_head, top_body) = ANNOTATION_FIELDS["entity"], ANNOTATION_FIELDS["topic"]
    return [(ent_head, doc.headline_entities), (ent_body, chunk.entities), (top_head, doc.headline_topics),
            (top_body, chunk.topics), (DOC_VALUE_FIELDS["source"], [doc.source_id]),
            (DOC_VALUE_FIELDS["category"], [doc.category])]


def _write_projection(folder: Path, n_chunks: int) -> None:
    """Projected vectors for a segment of PROJECTION_MIN_ROWS chunks or more (their dense search shortlists on them)."""
    if n_chunks >= projection.PROJECTION_MIN_ROWS:
        projection.build_projection(folder / "vectors.npy", folder)


def _mkdir(path: Path) -> Path:
    return make_private_dir(path)
