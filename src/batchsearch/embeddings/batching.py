"""Sequence bucketing: group texts of similar token length so little compute goes to padding."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

PAD_ID = 0


def micro_batches(lengths: np.ndarray, batch_tokens: int) -> Iterator[np.ndarray]:
    """Yield row indices sorted by length, grouped so rows * longest <= batch_tokens (at least one row)."""
    order = np.argsort(lengths, kind="stable")
    start = 0
    for end in range(1, len(order) + 1):
        is_last = end == len(order)
        if is_last or (end - start + 1) * lengths[order[end]] > batch_tokens:
            yield order[start:end]
            start = end


def pad(ids: list[list[int]], seq: int) -> np.ndarray:
    """Right-pad token id lists with [PAD] into an (n, seq) int64 array."""
    out = np.full((len(ids), seq), PAD_ID, dtype=np.int64)
    for row, token_ids in zip(out, ids):
        row[: len(token_ids)] = token_ids
    return out
