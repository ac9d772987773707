"""A large segment's compact vectors: its chunk vectors rotated onto their principal directions, as int8 codes.

Dense search over a large segment (search/dense.py) reads these instead of the float32 vectors: it scores every
allowed chunk on the HEAD_DIM leading directions only (a third of the work), rescores a shortlist on all the
directions (inner products survive the rotation, so that is the full product up to the int8 rounding), and
reads the float32 rows of the few best from vectors.npy for the exact scores it returns. The codes are a
quarter of the float32 bytes (384 MB per million 384-d chunks), and they are all a search keeps resident.

The directions are the right-singular vectors of a seeded sample of the segment's own vectors, uncentred and
leading first, so the head keeps as much of each inner product as any HEAD_DIM directions can (MiniLM
vectors share a strong common direction, which centring would drop). Each direction has its own int8 step
(its largest magnitude in the sample over 127; rows beyond it are clipped), and the query side folds the
step in, so scoring is a float32 product of the query with the codes as they are. Publishing writes them
for segments of PROJECTION_MIN_ROWS chunks or more:
  rot_basis.npy   (dim, dim) float32, orthonormal directions as columns, leading first
  rot_scale.npy   (dim,) float32, the int8 step of each direction
  rot_head.npy    (n_chunks, HEAD_DIM) uint8, round(vectors @ basis / scale) of the leading directions + 128
                  (unsigned for the integer product that scans it, search/head_scan.py; segments written before
                  hold it as int8, without the shift, and are scanned in float32)
  rot_tail.npy    (n_chunks, dim - HEAD_DIM) int8, the same of the others, unshifted
The head is a file of its own so that the scan reads it contiguously (converting strided rows to float32
measured twice as slow); both are memory-mapped at search.

Measured on 100,000 vectors mixed from real MiniLM paragraph embeddings and 300 company/theme queries
(bench/search_throughput.py builds the same kind): 128 directions keep 85% of the energy, and a 500-row
shortlist holds 0.997 of the exact top 10 (64 directions: 0.86; 96: 0.967).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

PROJECTION_MIN_ROWS = 50_000  # smaller segments are scored exactly in full: it costs little there
HEAD_DIM = 128
HEAD_SHIFT = 128  # the head is stored unsigned: code + HEAD_SHIFT
SAMPLE_ROWS = 50_000
BLOCK_ROWS = 65_536
BASIS = "rot_basis"
SCALE = "rot_scale"
HEAD = "rot_head"
TAIL = "rot_tail"
FILES = (BASIS, SCALE, HEAD, TAIL)


@dataclass(frozen=True)
class Codes:
    """A segment's rotated int8 vectors (see the module docstring)."""

    basis: np.ndarray  # (dim, dim) float32
    scale: np.ndarray  # (dim,) float32
    head: np.ndarray  # (n, HEAD_DIM) uint8 (codes + HEAD_SHIFT; int8 unshifted in older segments), memory-mapped
    tail: np.ndarray  # (n, dim - HEAD_DIM) int8, memory-mapped

    @property
    def head_shift(self) -> int:
        """What the stored head adds to each code: HEAD_SHIFT for a uint8 head, 0 for an older int8 one."""
        return HEAD_SHIFT if self.head.dtype == np.uint8 else 0

    def scores(self, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Inner products of one query in code space (`queries`) with the full codes of `rows`."""
        width = self.head.shape[1]
        head = np.asarray(self.head[rows], dtype=np.float32)
        if self.head_shift:
            head -= self.head_shift
        return head @ query[:width] + np.asarray(self.tail[rows], dtype=np.float32) @ query[width:]

    def queries(self, vectors: np.ndarray) -> np.ndarray:
        """Query vectors in code space: rotated, with each direction's step folded in, so that
        queries(q) @ codes[row] approximates q @ vector[row]."""
        return np.ascontiguousarray((vectors @ self.basis) * self.scale, dtype=np.float32)


def build_projection(vectors: np.ndarray, folder: Path, *, seed: int = 0) -> None:
    """Write folder/rot_basis.npy, rot_scale.npy, rot_head.npy and rot_tail.npy for `vectors` (n x dim float32
    unit rows)."""
    if vectors.ndim != 2 or vectors.dtype != np.float32 or vectors.shape[1] <= HEAD_DIM:
        raise ValueError(f"compact vectors need a 2-d float32 array wider than {HEAD_DIM}, "
                         f"got {vectors.dtype}{vectors.shape}")
    basis, sample = principal_directions(vectors, seed)
    scale = (np.abs(sample @ basis).max(axis=0) / 127.0).astype(np.float32)
    scale[scale == 0] = 1.0
    n, dim = vectors.shape
    head = np.lib.format.open_memmap(folder / f"{HEAD}.npy", mode="w+", dtype=np.uint8, shape=(n, HEAD_DIM))
    tail = np.lib.format.open_memmap(folder / f"{TAIL}.npy", mode="w+", dtype=np.int8, shape=(n, dim - HEAD_DIM))
    for start in range(0, n, BLOCK_ROWS):
        codes = np.clip(np.rint(np.asarray(vectors[start : start + BLOCK_ROWS]) @ basis / scale), -127, 127)
        head[start : start + BLOCK_ROWS] = codes[:, :HEAD_DIM] + HEAD_SHIFT
        tail[start : start + BLOCK_ROWS] = codes[:, HEAD_DIM:]
    head.flush()
    tail.flush()
    del head, tail
    np.save(folder / f"{BASIS}.npy", basis)
    np.save(folder / f"{SCALE}.npy", scale)


def principal_directions(vectors: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The right-singular vectors of a seeded sample of rows, leading first, as (dim, dim) float32 columns; and
    the sample (float32)."""
    n = len(vectors)
    if n > SAMPLE_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(n, SAMPLE_ROWS, replace=False))
        sample = np.asarray(vectors[rows], dtype=np.float32)
    else:
        sample = np.asarray(vectors, dtype=np.float32)
    _, _, vt = np.linalg.svd(sample.astype(np.float64), full_matrices=False)
    if vt.shape[0] < vectors.shape[1]:  # fewer sample rows than dimensions: complete the basis
        q, _ = np.linalg.qr(np.concatenate([vt.T, np.eye(vectors.shape[1])], axis=1))
        vt = q[:, : vectors.shape[1]].T
    return np.ascontiguousarray(vt.T, dtype=np.float32), sample
