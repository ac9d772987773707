"""The Embedder seam: anything that turns texts into unit-length float32 vectors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    @property
    def dim(self) -> int:
        """Length of every embedding vector."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return a float32 (len(texts), dim) array of unit rows, in input order."""
        ...
