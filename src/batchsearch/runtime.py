"""Process-wide runtime knobs that entrypoints apply once (never library code)."""

from __future__ import annotations

import os

from batchsearch.config import Settings


def apply_blas_threads(settings: Settings) -> None:
    """Limit BLAS threads in this process and in the processes it starts, if configured."""
    if settings.blas_threads is None:
        return
    value = str(settings.blas_threads)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = value  # inherited by spawned worker processes before they import numpy
    from threadpoolctl import threadpool_limits

    threadpool_limits(settings.blas_threads)
