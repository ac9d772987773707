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

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PROJECTION_MIN_ROWS = 50_000  # smaller segments are scored exactly in full: it costs little there
HEAD_DIM = 128
HEAD_SHIFT = 128  # the head is stored unsigned: code + HEAD_SHIFT
SAMPLE_ROWS = 50_000
BLOCK_ROWS = 16_384  # rows coded at a time: a few tens of MB of temporaries
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


def build_projection(vectors: np.ndarray | Path, folder: Path, *, seed: int = 0) -> None:
    """Write folder/rot_basis.npy, rot_scale.npy, rot_head.npy and rot_tail.npy for `vectors` (n x dim float32
    unit rows), an array or the path of a .npy file. A file is read with positioned reads, a block of rows at a
    time, and the codes are written as they are made, so building them for a million chunks holds a block and
    the sample in memory, not the 1.5 GB file (mapping it made the whole file resident: 2.3 GB peak)."""
    rows = _Rows(vectors)
    if rows.dtype != np.float32 or len(rows.shape) != 2 or rows.shape[1] <= HEAD_DIM:
        raise ValueError(f"compact vectors need a 2-d float32 array wider than {HEAD_DIM}, "
                         f"got {rows.dtype}{rows.shape}")
    basis, sample = principal_directions(rows, seed)
    scale = (np.abs(sample @ basis).max(axis=0) / 127.0).astype(np.float32)
    scale[scale == 0] = 1.0
    n, dim = rows.shape
    with open(folder / f"{HEAD}.npy", "wb") as head, open(folder / f"{TAIL}.npy", "wb") as tail:
        for fh, dtype, width in ((head, np.uint8, HEAD_DIM), (tail, np.int8, dim - HEAD_DIM)):
            np.lib.format.write_array_header_1_0(fh, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                      "fortran_order": False, "shape": (n, width)})
        for start in range(0, n, BLOCK_ROWS):
            codes = np.clip(np.rint(rows.read(start, min(n, start + BLOCK_ROWS)) @ basis / scale), -127, 127)
            head.write((codes[:, :HEAD_DIM] + HEAD_SHIFT).astype(np.uint8).tobytes())
            tail.write(codes[:, HEAD_DIM:].astype(np.int8).tobytes())
    np.save(folder / f"{BASIS}.npy", basis)
    np.save(folder / f"{SCALE}.npy", scale)


class _Rows:
    """Rows of an array, or of a .npy file read with positioned reads (nothing mapped)."""

    def __init__(self, source: np.ndarray | Path) -> None:
        self._array: np.ndarray | None = None
        self._path: Path | None = None
        if isinstance(source, Path):
            self._path = source
            mapped = np.load(source, mmap_mode="r")  # its header only: no row is read through the map
            if not mapped.flags.c_contiguous:
                raise ValueError(f"{source.name} is not C-ordered; compact vectors need contiguous rows")
            self.shape: tuple[int, ...] = mapped.shape
            self.dtype = mapped.dtype
            self._offset = int(mapped.offset)
            del mapped
        else:
            self._array = source
            self.shape, self.dtype = source.shape, source.dtype

    def __len__(self) -> int:
        return self.shape[0]

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows start .. stop as a float32 array of their own."""
        if self._array is not None:
            return np.array(self._array[start:stop], dtype=np.float32)
        return self._read_runs([(start, stop)])

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The given rows (ascending) as a float32 array."""
        if self._array is not None:
            return np.asarray(self._array[rows], dtype=np.float32)
        return self._read_runs([(int(r), int(r) + 1) for r in rows])

    def _read_runs(self, runs: list[tuple[int, int]]) -> np.ndarray:
        """The rows of each (start, stop) run, one after another, read from the file opened once."""
        assert self._path is not None
        width = self.shape[1] * self.dtype.itemsize
        out = np.empty((sum(stop - start for start, stop in runs), self.shape[1]), dtype=self.dtype)
        view, at = memoryview(out.data).cast("B"), 0
        with open(self._path, "rb", buffering=0) as fh:
            for start, stop in runs:
                want = (stop - start) * width
                got = os.preadv(fh.fileno(), [view[at : at + want]], self._offset + start * width)
                if got != want:
                    raise OSError(f"{self._path.name}: short read ({got} of {want} bytes)")
                at += want
        return out


def principal_directions(vectors: np.ndarray | _Rows, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The right-singular vectors of a seeded sample of rows, leading first, as (dim, dim) float32 columns; and
    the sample (float32). They are the eigenvectors of the sample's (dim x dim) Gram matrix, accumulated in
    float64 a block at a time: an SVD of the sample itself needed three sample-sized float64 arrays."""
    rows = vectors if isinstance(vectors, _Rows) else _Rows(vectors)
    n = len(rows)
    if n > SAMPLE_ROWS:
        sample = rows.take(np.sort(np.random.default_rng(seed).choice(n, SAMPLE_ROWS, replace=False)))
    else:
        sample = rows.read(0, n)
    dim = sample.shape[1]
    gram = np.zeros((dim, dim), dtype=np.float64)
    for start in range(0, len(sample), BLOCK_ROWS):
        block = sample[start : start + BLOCK_ROWS].astype(np.float64)
        gram += block.T @ block
    values, directions = np.linalg.eigh(gram)  # ascending, orthonormal columns even where the sample is too small
    return np.ascontiguousarray(directions[:, np.argsort(-values, kind="stable")], dtype=np.float32), sample
