"""Approximate dense retrieval for large segments: an IVF index of 8-bit codes, rescored exactly.

Publishing builds the index of a large segment (index/ann_file.py: about 4 * sqrt(n) k-means
lists, every row as 8-bit scalar-quantised codes, a quarter of the float32 size, in `ann.faiss`).
`AnnIndex` memory-maps that file, so worker processes share one copy in the OS page cache, as they
do for vectors.npy.

A query probes the nprobe (NPROBE) lists whose centroids score best, takes a shortlist of
SHORTLIST_FACTOR * k candidates by approximate score, and rescores them with exact float32 inner
products read from the segment's vectors: returned scores are exact, only recall is approximate.

Filters: a mask allowing few rows (up to dense.GATHER_MAX_ROWS, or GATHER_FRACTION of the segment)
gathers those rows and scores them exactly. A broader mask goes to faiss as an ID selector and
probes more lists (nprobe * n / n_allowed), because a query's best allowed rows lie further out
when fewer rows are allowed. Whenever a search returns fewer than min(k, n_allowed) rows, nprobe
doubles until it covers every list, so a result is never silently short.

Parameters, measured with bench/ann_recall.py (200,000 clustered rows, 500 queries, one thread;
nlist 1789, build 14 s, 81 MB against 307 MB of float32 vectors):
  NPROBE = 16            recall@10 vs exact 0.9998 unfiltered, about 10x the exact queries/s
                         (3,200-4,200 against 340-430 over two runs on a shared machine);
                         nprobe 8 gives 0.968 and 12 gives 0.998, so 16 keeps a margin for data
                         less clustered than the benchmark's.
  SHORTLIST_FACTOR = 4   rescoring 1k candidates loses 1.5% recall to the 8-bit codes' ranking
                         errors; 2k recovers it; 4k is the margin, and costs little (4k row reads).
  TRAIN_ITERATIONS = 10  (ann_file) k-means iterations: faiss's default 25 builds 1.4x slower for the same recall.
  GATHER_FRACTION = 0.03 a gather costs per allowed row, a selector search per probed row, and
                         nprobe grows as the mask narrows: they cross between 2% and 5% of rows.

Real MiniLM vectors are far less clustered than that benchmark's: over SciFact's 9,857 chunk vectors
(252 lists) and 800 of its claims, unfiltered recall@10 is 0.84 at nprobe 8, 0.91 at 16, 0.96 at 32,
0.989 at 64 and 0.999 at 128. NPROBE must be chosen on real vectors before this index serves queries.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from batchsearch.index.ann_file import ANN_FILE, load_faiss
from batchsearch.search.dense import GATHER_MAX_ROWS, top_k

NPROBE = 16
SHORTLIST_FACTOR = 4
MIN_SHORTLIST = 32
GATHER_FRACTION = 0.03

Result = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class _Probe:
    """One query still waiting for ANN candidates, and how deep to look."""

    query: int
    k: int
    wanted: int  # fewer valid candidates than this, and the search goes deeper
    shortlist: int
    nprobe: int
    bitmap: np.ndarray | None  # the mask as little-endian bits (faiss IDSelectorBitmap)


class AnnIndex:
    """The memory-mapped, read-only ANN index of one segment (folder/ann.faiss)."""

    def __init__(self, folder: Path, *, nprobe: int = NPROBE) -> None:
        self._faiss = load_faiss()
        self.path = folder / ANN_FILE
        self.nprobe = nprobe
        # IO_FLAG_MMAP maps the inverted lists (the codes and ids) instead of reading them into memory.
        self._index = self._faiss.read_index(str(self.path), self._faiss.IO_FLAG_MMAP | self._faiss.IO_FLAG_READ_ONLY)
        self.n_rows: int = int(self._index.ntotal)
        self.dim: int = int(self._index.d)
        self.nlist: int = int(self._index.nlist)

    def search_many(self, queries: np.ndarray, masks: list[np.ndarray | None], n_allowed: list[int],
                    ks: list[int], exact_vectors: np.ndarray) -> list[Result]:
        """Per query, the top-k allowed rows (best first, ties by row) with exact scores from `exact_vectors`."""
        self._check_batch(queries, masks, n_allowed, ks, exact_vectors)
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        results: list[Result] = [(np.zeros(0, np.int64), np.zeros(0, np.float32))] * len(queries)
        probes = []
        for i, (mask, allowed, k) in enumerate(zip(masks, n_allowed, ks, strict=True)):
            if allowed == 0 or k == 0:
                continue
            if mask is not None and self.is_gathered(allowed):
                rows = np.flatnonzero(mask)
                results[i] = top_k(rows, exact_vectors[rows] @ queries[i], k)
            else:
                probes.append(self._first_probe(i, mask, allowed, k))
        for probe, candidates in self._deepening_search(queries, probes):
            results[probe.query] = top_k(candidates, exact_vectors[candidates] @ queries[probe.query], probe.k)
        return results

    def is_gathered(self, n_allowed: int) -> bool:
        """Whether a mask allowing this many rows is scored exactly instead of through the index."""
        return n_allowed <= max(GATHER_MAX_ROWS, GATHER_FRACTION * self.n_rows)

    def _check_batch(self, queries: np.ndarray, masks: list[np.ndarray | None], n_allowed: list[int],
                     ks: list[int], exact_vectors: np.ndarray) -> None:
        """Refuse a batch whose parts disagree in length or whose vectors do not match the index."""
        if not len(queries) == len(masks) == len(n_allowed) == len(ks):
            raise ValueError("queries, masks, n_allowed and ks must have one entry per query")
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ValueError(f"queries must be (m, {self.dim}), got {queries.shape}")
        if exact_vectors.shape != (self.n_rows, self.dim):
            raise ValueError(f"exact vectors {exact_vectors.shape} do not match the ANN index "
                             f"({self.n_rows}, {self.dim}): rebuild {self.path}")

    def _first_probe(self, query: int, mask: np.ndarray | None, n_allowed: int, k: int) -> _Probe:
        """The first search of one query: deeper the fewer rows its mask allows."""
        nprobe = min(self.nlist, math.ceil(self.nprobe * self.n_rows / n_allowed))
        return _Probe(query=query, k=k, wanted=min(k, n_allowed),
                      shortlist=min(self.n_rows, max(SHORTLIST_FACTOR * k, MIN_SHORTLIST)), nprobe=nprobe,
                      bitmap=None if mask is None else np.packbits(mask, bitorder="little"))

    def _deepening_search(self, queries: np.ndarray, probes: list[_Probe]) -> list[tuple[_Probe, np.ndarray]]:
        """Candidate rows per probe, doubling nprobe for any that found too few until every list is probed."""
        done = []
        while probes:
            deeper = []
            for probe, candidates in self._search_groups(queries, probes):
                if len(candidates) < probe.wanted and probe.nprobe < self.nlist:
                    deeper.append(replace(probe, nprobe=min(self.nlist, 2 * probe.nprobe)))
                else:
                    done.append((probe, candidates))
            probes = deeper
        return done

    def _search_groups(self, queries: np.ndarray, probes: list[_Probe]) -> list[tuple[_Probe, np.ndarray]]:
        """One faiss search per group of probes sharing nprobe and mask; each keeps its own shortlist."""
        groups: dict[tuple[int, bytes | None], list[_Probe]] = defaultdict(list)
        for probe in probes:
            groups[(probe.nprobe, None if probe.bitmap is None else probe.bitmap.tobytes())].append(probe)
        found = []
        for group in groups.values():
            labels = self._search(queries[[p.query for p in group]], group[0], max(p.shortlist for p in group))
            for probe, row in zip(group, labels, strict=True):
                # faiss lists candidates best first, so a prefix is this probe's own shortlist.
                shortlist = row[: probe.shortlist]
                found.append((probe, shortlist[shortlist >= 0]))
        return found

    def _search(self, queries: np.ndarray, probe: _Probe, shortlist: int) -> np.ndarray:
        """Candidate labels (m x shortlist, -1 where none) of one faiss search with `probe`'s nprobe and mask."""
        params = self._faiss.SearchParametersIVF(nprobe=probe.nprobe)
        if probe.bitmap is not None:
            params.sel = self._faiss.IDSelectorBitmap(probe.bitmap)
        _, labels = self._index.search(queries, shortlist, params=params)
        return np.asarray(labels, dtype=np.int64)
