"""The ANN index file of a segment (ann.faiss): its build at publish time, and the faiss import.

`build_ann` clusters a seeded sample of the segment's unit vectors into about 4 * sqrt(n) lists
(faiss k-means) and stores every row as 8-bit scalar-quantised codes (a quarter of the float32
size) in `ann.faiss` next to the segment's arrays. Only segments of ANN_MIN_ROWS rows or more get
one, and only when the ann extra (faiss) is installed; search/ann.py queries it.
"""

from __future__ import annotations

import math
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from batchsearch.index.segment import fsync_dir

ANN_FILE = "ann.faiss"
ANN_MIN_ROWS = 50_000  # smaller segments are scored exactly: a BLAS product over them is as fast
NLIST_PER_SQRT_ROWS = 4
MIN_TRAIN_ROWS_PER_LIST = 39  # fewer, and faiss warns that k-means is under-trained
MAX_TRAIN_ROWS = 100_000
TRAIN_ITERATIONS = 10
ADD_BATCH_ROWS = 65_536


def load_faiss() -> Any:
    """The faiss module, or an ImportError that names the extra installing it."""
    try:
        import faiss
    except ImportError as exc:
        raise ImportError("approximate dense search needs faiss: pip install 'batchsearch[ann]'") from exc
    return faiss


def faiss_installed() -> bool:
    """Whether the ann extra (faiss) is importable, so publishing can build ANN indexes."""
    try:
        load_faiss()
    except ImportError:
        return False
    return True


def choose_nlist(n_rows: int, n_train: int) -> int:
    """About 4 * sqrt(n) lists, but never more than the training sample can fit (39 rows a list)."""
    wanted = round(NLIST_PER_SQRT_ROWS * math.sqrt(n_rows))
    return max(1, min(wanted, n_train // MIN_TRAIN_ROWS_PER_LIST))


def build_ann(vectors: np.ndarray, folder: Path, *, seed: int = 0) -> None:
    """Build the IVF-SQ8 index of `vectors` (n x dim float32 unit rows) as folder/ann.faiss, atomically."""
    faiss = load_faiss()
    _check_vectors(vectors)
    sample = _training_sample(vectors, seed)
    index = _trained_index(faiss, sample, choose_nlist(len(vectors), len(sample)), seed)
    for start in range(0, len(vectors), ADD_BATCH_ROWS):
        index.add(np.ascontiguousarray(vectors[start : start + ADD_BATCH_ROWS]))
    _write_atomically(faiss, index, folder / ANN_FILE)


def _check_vectors(vectors: np.ndarray) -> None:
    """Refuse anything but a non-empty 2-d float32 array."""
    if vectors.ndim != 2 or vectors.dtype != np.float32 or len(vectors) == 0:
        raise ValueError(f"an ANN index needs a non-empty 2-d float32 array, got {vectors.dtype}{vectors.shape}")


def _training_sample(vectors: np.ndarray, seed: int) -> np.ndarray:
    """At most MAX_TRAIN_ROWS rows drawn without replacement by `seed`, in row order (sequential reads)."""
    n = len(vectors)
    if n <= MAX_TRAIN_ROWS:
        return np.ascontiguousarray(vectors)
    rows = np.sort(np.random.default_rng(seed).choice(n, MAX_TRAIN_ROWS, replace=False))
    return np.ascontiguousarray(vectors[rows])


def _trained_index(faiss: Any, sample: np.ndarray, nlist: int, seed: int) -> Any:
    """An empty inner-product IVF index with 8-bit codes, its centroids and code ranges trained on `sample`."""
    dim = sample.shape[1]
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit,
                                          faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = TRAIN_ITERATIONS
    index.cp.seed = seed
    index.train(sample)
    return index


def _write_atomically(faiss: Any, index: Any, path: Path) -> None:
    """Write the index under a temporary name, make it durable, then rename it into place."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        faiss.write_index(index, str(tmp))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
