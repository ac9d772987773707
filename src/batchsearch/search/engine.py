"""The search engine: one query or many, over one consistent index snapshot.

`search_many` is the batched path: it embeds every query text in one pass, evaluates each distinct
filter once, and runs dense retrieval for many queries with shared matrix multiplications. It
returns exactly what calling `search` on each query would.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from batchsearch.embeddings import Embedder
from batchsearch.errors import BatchSearchError, InternalError
from batchsearch.index.segment import Segment
from batchsearch.index.snapshot_ids import snapshot_id
from batchsearch.index.snapshot_ids import snapshot_key as key_of_secret
from batchsearch.index.store import IndexStore, Snapshot
from batchsearch.models.search import Query
from batchsearch.search import ranking
from batchsearch.search.dense import DenseRequest, search_segment
from batchsearch.search.filters import FilterEvaluator, epoch
from batchsearch.search.fusion import fuse
from batchsearch.search.lexical import Lexical

log = logging.getLogger(__name__)

MIN_DEPTH = 100
PLAN_SLICE = 16  # queries planned before their lexical searches start on the helper thread
ROW_BITS = 40


@dataclass
class _Plan:
    """Everything retrieval needs for one query."""

    query: Query
    vector: np.ndarray | None
    terms: list[str]
    masks: list[tuple[np.ndarray | None, int]]
    depth: int
    audit: bool = False


# one segment's lexical candidates: rows and BM25 scores best first, and (on the helper thread, see `_prefetch`)
# the float32 vectors of those rows, by ascending row
_Hits = tuple[np.ndarray, np.ndarray, "tuple[np.ndarray, np.ndarray] | None"]


@dataclass
class _Candidates:
    """Merged candidates of one query across segments (keys = view << 40 | row)."""

    keys: np.ndarray
    dense_score: np.ndarray
    dense_rank: np.ndarray
    lexical_norm: np.ndarray
    lexical_rank: np.ndarray


class SearchEngine:
    """Hybrid search over an index folder, with an embedder for query texts."""

    def __init__(self, store: IndexStore, embedder: Embedder, *, fusion: str = "weighted",
                 snapshot_key: bytes | None = None, lexical_thread: bool = True,
                 dense: Literal["auto", "exact"] = "auto") -> None:
        """`snapshot_key` makes metadata.snapshot_id opaque (index.snapshot_ids); without it the id names the
        generation, as an embedded single-user index may. `lexical_thread` runs the lexical searches on a helper
        thread beside the encoder and the dense products (more than one CPU per call); without it a call uses one
        CPU, as a Ray actor that reserved one should. `dense="exact"` scores every chunk's float32 vector even where
        a segment has int8 codes (the reference the shortlisted path is measured against)."""
        if dense not in ("auto", "exact"):
            raise ValueError(f"dense must be 'auto' or 'exact', got {dense!r}")
        self.store = store
        self.dense = dense
        self.snapshot_key = snapshot_key
        self.embedder = embedder
        self.fusion = fusion
        self.lexical = Lexical()
        self.filters = FilterEvaluator(self.lexical.keyword_mask)
        self._lexical_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lexical") if lexical_thread else None

    @classmethod
    def open(cls, data_dir: Path, *, embedder: Embedder | None = None, fusion: str = "weighted",
             snapshot_key: bytes | None = None) -> SearchEngine:
        """An engine over the index of `data_dir` (shared through the object store when BATCHSEARCH_OBJECT_STORE_URL
        is set); without an embedder, the one BATCHSEARCH_EMBED_* ask for."""
        from batchsearch.config import Settings
        from batchsearch.index.deployment import open_index_store

        settings = Settings.model_validate({"data_dir": Path(data_dir)})
        if embedder is None:
            from batchsearch.embeddings import build_embedder

            embedder = build_embedder(settings)
        key = snapshot_key if snapshot_key is not None else key_of_secret(settings.resolved_signing_secret())
        return cls(open_index_store(settings), embedder, fusion=fusion, snapshot_key=key, dense=settings.dense)

    def snapshot(self) -> Snapshot:
        """The newest published snapshot."""
        return self.store.snapshot()

    def shown_snapshot_id(self, snap: Snapshot) -> str:
        """The snapshot id responses carry: opaque with a snapshot key, else the generation's own id."""
        return snapshot_id(snap.generation, self.snapshot_key) or snap.id

    # ---- public API ------------------------------------------------------------------------
    def search(self, query: Query, *, owner: str | None = None, snapshot: Snapshot | None = None,
               request_id: str | None = None, fusion: str | None = None, audit: bool = False) -> dict[str, Any]:
        """Run one query; raises BatchSearchError subclasses on failure."""
        result = self.search_many([query], owner=owner, snapshot=snapshot, request_ids=[request_id], fusion=fusion,
                                  audit=audit)[0]
        if isinstance(result, BatchSearchError):
            raise result
        return result

    def search_many(self, queries: Sequence[Query], *, owner: str | None = None, snapshot: Snapshot | None = None,
                    request_ids: Sequence[str | None] | None = None,
                    fusion: str | None = None, audit: bool = False) -> list[dict[str, Any] | BatchSearchError]:
        """Run many queries together; one response dict or error per query, in order."""
        snap = snapshot or self.snapshot()
        method = fusion or self.fusion
        lexical_found: Iterable[list[_Hits] | Exception]
        if self._lexical_pool is None:
            plans = self._plan(queries, snap, owner)
            lexical_found = self._lexical_all(plans, snap)
            self._embed(plans)
            dense = self._dense(plans, snap)
        else:
            # tantivy and BLAS both release the GIL: the helper thread runs each slice of plans' lexical
            # searches as soon as that slice is planned, while this thread plans the next slice, then
            # embeds the texts and runs the dense products (sharing them out between the two threads measured
            # slower: the int8 scan of 256 queries at a time costs less per query than of 64, and a filter shared
            # by many queries gathers its rows once).
            plans, pending = [], []
            masks: dict[str, list[tuple[np.ndarray | None, int]]] = {}
            for start in range(0, len(queries), PLAN_SLICE):
                part = self._plan(queries[start : start + PLAN_SLICE], snap, owner, masks)
                pending.append(self._lexical_pool.submit(self._lexical_all, part, snap))
                plans += part
            self._embed(plans)
            dense = self._dense(plans, snap)
            # each slice is answered as soon as its lexical searches are done, while the helper runs the next ones
            lexical_found = (found for future in pending for found in future.result())
        for plan in plans:
            plan.audit = audit
        out: list[dict[str, Any] | BatchSearchError] = []
        for i, (plan, found) in enumerate(zip(plans, lexical_found, strict=True)):
            rid = (request_ids[i] if request_ids else None) or str(uuid.uuid4())
            try:
                if isinstance(found, Exception):
                    raise found
                out.append(self._answer(plan, dense[i], found, snap, method, rid))
            except BatchSearchError as exc:
                out.append(exc)
            except Exception as exc:  # one bad query must not fail its neighbours
                log.exception("search failed")
                out.append(InternalError(f"Internal error while executing search: {type(exc).__name__}"))
        return out

    # ---- planning --------------------------------------------------------------------------
    def _plan(self, queries: Sequence[Query], snap: Snapshot, owner: str | None,
              mask_cache: dict[str, list[tuple[np.ndarray | None, int]]] | None = None) -> list[_Plan]:
        """Filter masks (each distinct filter once, across calls sharing `mask_cache`) and query terms; vectors
        come from `_embed`."""
        mask_cache = {} if mask_cache is None else mask_cache
        plans = []
        for q in queries:
            text = q.text.strip() if q.text else ""
            key = json.dumps([owner, q.filters.model_dump(mode="json", exclude_none=True)], sort_keys=True)
            if key not in mask_cache:
                mask_cache[key] = [self._mask(view, q, owner) for view in snap.views]
            plans.append(_Plan(q, None, self.lexical.terms(text) if text else [], mask_cache[key],
                               max(MIN_DEPTH, 2 * q.max_chunks)))
        return plans

    def _embed(self, plans: list[_Plan]) -> None:
        """Embed every distinct query text in one pass."""
        texts = sorted({p.query.text.strip() for p in plans if p.query.text and p.query.text.strip()})
        vectors = self.embedder.embed(texts) if texts else np.zeros((0, 0), np.float32)
        by_text = {t: vectors[i] for i, t in enumerate(texts)}
        for plan in plans:
            plan.vector = by_text.get(plan.query.text.strip()) if plan.query.text else None

    def _lexical_all(self, plans: list[_Plan], snap: Snapshot) -> list[list[_Hits] | Exception]:
        """Lexical candidates of every plan; a failure stays with its own query."""
        found: list[list[_Hits] | Exception] = []
        for plan in plans:
            try:
                found.append(self._lexical(plan, snap) if plan.terms else [])
            except Exception as exc:  # reported on that query only
                found.append(exc)
        return found

    def _mask(self, view: Any, query: Query, owner: str | None) -> tuple[np.ndarray | None, int]:
        mask = self.filters.mask(view, query.filters, owner)
        count = int(np.count_nonzero(mask))
        return (None if count == view.segment.n_chunks else mask), count

    # ---- retrieval -------------------------------------------------------------------------
    def _dense(self, plans: list[_Plan], snap: Snapshot) -> list[list[tuple[np.ndarray, np.ndarray]]]:
        per_query: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in plans]
        active = [i for i, p in enumerate(plans) if p.vector is not None]
        for v, view in enumerate(snap.views):
            requests = [DenseRequest(_vector(plans[i]), plans[i].masks[v][0], plans[i].masks[v][1], plans[i].depth)
                        for i in active]
            found_all = search_segment(view.segment, requests, projected=self.dense == "auto")
            for i, found in zip(active, found_all, strict=True):
                per_query[i].append(found)
        return per_query

    def _lexical(self, plan: _Plan, snap: Snapshot) -> list[_Hits]:
        found: list[_Hits] = []
        for v, view in enumerate(snap.views):
            mask, count = plan.masks[v]
            query = self.lexical.text_query(view.segment, plan.terms) if plan.terms and count else None
            if query is None:
                found.append((np.zeros(0, np.int64), np.zeros(0, np.float32), None))
                continue
            # Keyword, entity, topic, source and category filters are tantivy clauses too: tantivy skips the
            # rows they rule out instead of scoring them first (a common keyword's best-scoring rows may all
            # lack it), and a company's few chunks need no row-number term set.
            required = self.lexical.filter_query(view.segment, plan.query.filters)
            share = 1.0 if required is not None and self.lexical.expresses_all(view.segment, plan.query.filters) else None
            rows, scores = self.lexical.top(view.segment, query, plan.depth, mask, count, required, share)
            found.append((rows, scores, self._prefetch(view.segment, rows)))
        return found

    def _prefetch(self, segment: Segment, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """With the helper thread, the float32 vectors of a compact segment's lexical candidates (ascending rows,
        vectors), read there with positioned reads: the answer step needs the cosine of those the dense search
        did not score (about 80 of 100 per query at a million chunks), and this thread is the less busy one.
        None otherwise: the answer step reads what it needs itself."""
        if self._lexical_pool is None or self.dense != "auto" or segment.compact is None or not len(rows):
            return None
        ordered = np.sort(rows)
        return ordered, segment.read_vectors(ordered)

    # ---- answering -------------------------------------------------------------------------
    def _answer(self, plan: _Plan, dense: list[tuple[np.ndarray, np.ndarray]],
                lexical: list[_Hits], snap: Snapshot, method: str,
                request_id: str) -> dict[str, Any]:
        if plan.vector is None:
            keys, scores, rel = self._filter_only(plan, snap)
        else:
            cand = self._candidates(plan, dense, lexical, snap)
            scores = fuse(method, cand.dense_rank, cand.lexical_rank, cand.dense_score, cand.lexical_norm)
            keep = np.isfinite(scores)
            keys, scores = cand.keys[keep], scores[keep]
            best = float(cand.dense_score.max()) if len(cand.keys) else 0.0
            rel = ranking.relevance(cand.dense_score[keep], cand.lexical_norm[keep], best)
        chosen = self._rank(plan, snap, keys, scores, rel)
        return self._response(plan, snap, keys[chosen], rel[chosen], request_id)

    def _candidates(self, plan: _Plan, dense: list[tuple[np.ndarray, np.ndarray]],
                    lexical: list[_Hits], snap: Snapshot) -> _Candidates:
        d_keys, d_scores = _merge(dense, plan.depth)
        l_keys, l_scores = _merge([(rows, scores) for rows, scores, _ in lexical], plan.depth)
        keys = np.union1d(d_keys, l_keys)
        dense_rank = _rank_of(keys, d_keys)
        lexical_rank = _rank_of(keys, l_keys)
        best = float(l_scores[0]) if len(l_scores) else 1.0
        lexical_norm = np.zeros(len(keys))
        if len(l_keys):
            pos = np.searchsorted(keys, l_keys)
            lexical_norm[pos] = l_scores / best
        dense_score = _cosines(snap, keys, plan.vector, (d_keys, d_scores) if self.dense == "auto" else None,
                               [read for _, _, read in lexical])
        return _Candidates(keys, dense_score, dense_rank, lexical_norm, lexical_rank)

    def _filter_only(self, plan: _Plan, snap: Snapshot) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Without text: newest first among the matching chunks; relevance 1."""
        keys_all, ts_all = [], []
        for v, view in enumerate(snap.views):
            mask, count = plan.masks[v]
            if count == 0:
                continue
            rows = np.arange(view.segment.n_chunks) if mask is None else np.flatnonzero(mask)
            ts = view.segment.chunk_ts[rows]
            if len(rows) > plan.depth:
                part = np.argpartition(-ts, plan.depth - 1)[: plan.depth]
                rows, ts = rows[part], ts[part]
            keys_all.append((np.int64(v) << ROW_BITS) | rows.astype(np.int64))
            ts_all.append(ts)
        if not keys_all:
            return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
        keys, ts = np.concatenate(keys_all), np.concatenate(ts_all).astype(np.float64)
        order = np.lexsort((keys, -ts))[: plan.depth]
        keys = keys[order]
        return keys, np.linspace(1.0, 0.5, len(keys)) if len(keys) else np.zeros(0), np.ones(len(keys))

    def _rank(self, plan: _Plan, snap: Snapshot, keys: np.ndarray, scores: np.ndarray, rel: np.ndarray) -> np.ndarray:
        """Indices of the chunks to return, best first."""
        if len(keys) == 0:
            return np.zeros(0, np.int64)
        params = plan.query.ranking_params
        docs, sources, ranks, ts, hashes = _columns(snap, keys)
        reference = epoch(plan.query.filters.timestamp.end) if plan.query.filters.timestamp and plan.query.filters.timestamp.end else snap.max_timestamp
        final = scores * ranking.freshness_factor(ts, reference, params.freshness_boost)
        final = final * ranking.source_factor(ranks, params.source_boost)
        order = ranking.rank_order(final, keys)
        if params.content_diversification.enabled:
            final = ranking.diversify(order, docs, sources, final)
            order = ranking.rank_order(final, keys)
        order = ranking.drop_duplicates(order, hashes)
        if params.reranker is not None and params.reranker.enabled:
            order = order[rel[order] >= params.reranker.threshold]
        return order[: plan.query.max_chunks]

    def _response(self, plan: _Plan, snap: Snapshot, keys: np.ndarray, rel: np.ndarray, request_id: str) -> dict[str, Any]:
        results: list[dict[str, Any]] = []
        by_doc: dict[tuple[int, int], dict[str, Any]] = {}
        for key, relevance in zip(keys, rel, strict=True):
            v, row = int(key) >> ROW_BITS, int(key) & ((1 << ROW_BITS) - 1)
            seg = snap.views[v].segment
            doc_ord = int(seg.chunk_doc[row])
            doc = by_doc.get((v, doc_ord))
            if doc is None:
                doc = seg.docs[doc_ord]  # a fresh dict, ours to fill
                doc["chunks"] = []
                by_doc[(v, doc_ord)] = doc
                results.append(doc)
            doc["chunks"].append({
                "cnum": int(seg.array("cnum")[row]),
                "text": seg.chunk_text(row),
                "relevance": round(float(relevance), 6),
                "sentiment": round(float(seg.array("sentiment")[row]), 2),
                "detections": seg.detections(row),
            })
        metadata: dict[str, Any] = {"request_id": request_id, "timestamp": datetime.now(UTC).isoformat(),
                                    "snapshot_id": self.shown_snapshot_id(snap)}
        if plan.audit:
            metadata["audit"] = {"queries": [plan.query.model_dump(mode="json", by_alias=True, exclude_none=True)]}
        return {"results": results, "metadata": metadata, "usage": {"api_query_units": ranking.query_units(len(keys))}}


def _vector(plan: _Plan) -> np.ndarray:
    assert plan.vector is not None, "only plans with a query vector run dense retrieval"
    return plan.vector


def _merge(lists: list[tuple[np.ndarray, np.ndarray]], depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge per-segment (rows, scores) into global keys by score; best `depth`, ties by key."""
    if len(lists) == 1:  # one segment: its list is already best first, ties by row (= by key)
        rows, scores = lists[0]
        return rows[:depth].astype(np.int64, copy=False), scores[:depth]
    keys = [(np.int64(v) << ROW_BITS) | rows for v, (rows, _) in enumerate(lists) if len(rows)]
    if not keys:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    all_keys = np.concatenate(keys)
    all_scores = np.concatenate([s for rows, s in lists if len(rows)])
    order = np.lexsort((all_keys, -all_scores))[:depth]
    return all_keys[order], all_scores[order]


def _rank_of(keys: np.ndarray, ranked: np.ndarray) -> np.ndarray:
    """1-based rank of each key in `ranked` (0 when absent)."""
    rank = np.zeros(len(keys), dtype=np.float64)
    if len(ranked):
        rank[np.searchsorted(keys, ranked)] = np.arange(1, len(ranked) + 1)
    return rank


def _split(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return keys >> ROW_BITS, keys & ((1 << ROW_BITS) - 1)


def _cosines(snap: Snapshot, keys: np.ndarray, vector: np.ndarray | None,
             dense: tuple[np.ndarray, np.ndarray] | None,
             prefetched: Sequence[tuple[np.ndarray, np.ndarray] | None] = ()) -> np.ndarray:
    """Cosine of every candidate (`keys` ascending). With the dense candidates' exact (keys, scores) of the auto path,
    a segment with compact vectors keeps its float32 vectors out of memory: those scores are reused and only the
    other candidates' rows are read from the file, or taken from `prefetched` (per view: ascending rows and their
    vectors, read on the helper thread); otherwise every row is read through the memory map."""
    out = np.zeros(len(keys), dtype=np.float64)
    if vector is None or not len(keys):
        return out
    known = np.full(len(keys), np.nan)
    if dense is not None:
        known[np.searchsorted(keys, dense[0])] = dense[1]
    views, rows = _split(keys)
    for v in _views_of(snap, views):
        segment = snap.views[v].segment
        sel = np.arange(len(keys)) if len(snap.views) == 1 else np.flatnonzero(views == v)
        if dense is None or segment.compact is None:
            out[sel] = segment.vectors[rows[sel]] @ vector
            continue
        scored = ~np.isnan(known[sel])
        out[sel[scored]] = known[sel[scored]]
        unscored = sel[~scored]
        read = prefetched[v] if v < len(prefetched) else None
        if read is not None:
            at = np.minimum(np.searchsorted(read[0], rows[unscored]), len(read[0]) - 1)
            found = read[0][at] == rows[unscored]
            out[unscored[found]] = read[1][at[found]] @ vector
            unscored = unscored[~found]
        out[unscored] = segment.read_vectors(rows[unscored]) @ vector
    return out


def _columns(snap: Snapshot, keys: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-candidate doc key, source key, rank, timestamp and text hash."""
    views, rows = _split(keys)
    if len(snap.views) == 1:  # one segment: every key is its row
        return _segment_columns(snap.views[0].segment, 0, rows)
    docs = np.zeros(len(keys), np.int64)
    sources = np.zeros(len(keys), np.int64)
    ranks = np.zeros(len(keys), np.int64)
    ts = np.zeros(len(keys), np.int64)
    hashes = np.zeros(len(keys), np.int64)
    for v in _views_of(snap, views):
        sel = views == v
        docs[sel], sources[sel], ranks[sel], ts[sel], hashes[sel] = _segment_columns(snap.views[v].segment, v, rows[sel])
    return docs, sources, ranks, ts, hashes


def _segment_columns(seg: Segment, v: int, rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """`_columns` of rows of one segment (view `v`)."""
    doc_ord = seg.chunk_doc[rows]
    docs = (np.int64(v) << ROW_BITS) | doc_ord.astype(np.int64)  # chunk_doc is int32
    return (docs, seg.source_keys[seg.array("doc_source")[doc_ord]], seg.array("doc_rank")[doc_ord].astype(np.int64),
            seg.array("doc_ts")[doc_ord].astype(np.int64), seg.array("text_hash")[rows].astype(np.int64))


def _views_of(snap: Snapshot, views: np.ndarray) -> list[int]:
    """The distinct views among candidate keys' views (one segment: no search)."""
    return [0] if len(snap.views) == 1 else [int(v) for v in np.unique(views)]
