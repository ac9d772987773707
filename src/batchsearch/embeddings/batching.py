"""Sequence bucketing: group texts of similar token length so little compute goes to padding."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

PAD_ID = 0


def micro_batches(lengths: np.ndarray, batch_tokens: int, same_length_from: int | None = None) -> Iterator[np.ndarray]:
    """Yield row indices sorted by length, grouped so rows * longest <= batch_tokens (at least one row).
    Rows of `same_length_from` tokens or more are only grouped with rows of their very length (no padding)."""
    order = np.argsort(lengths, kind="stable")
    start = 0
    for end in range(1, len(order) + 1):
        if end == len(order):
            yield order[start:end]
            break
        length = lengths[order[end]]
        full = (end - start + 1) * length > batch_tokens
        if full or (same_length_from is not None and length >= same_length_from and length != lengths[order[start]]):
            yield order[start:end]
            start = end


def pad(ids: list[list[int]], seq: int) -> np.ndarray:
    """Right-pad token id lists with [PAD] into an (n, seq) int64 array."""
    out = np.full((len(ids), seq), PAD_ID, dtype=np.int64)
    for row, token_ids in zip(out, ids):
        row[: len(token_ids)] = token_ids
    return out


def embed_bucketed(tokenizer: Any, texts: Sequence[str], dim: int, batch_tokens: int,
                   encode: Callable[[np.ndarray, np.ndarray], np.ndarray],
                   same_length_from: int | None = None) -> np.ndarray:
    """Tokenize `texts`, run `encode(padded_ids, lengths)` over length buckets, and return a float32
    (len(texts), dim) array in input order (`same_length_from`: see micro_batches)."""
    if isinstance(texts, str):
        raise TypeError("embed() takes a sequence of texts, not a single str")
    out = np.empty((len(texts), dim), dtype=np.float32)
    if not texts:
        return out
    ids = [encoding.ids for encoding in tokenizer.encode_batch(list(texts))]
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    for rows in micro_batches(lengths, batch_tokens, same_length_from):  # rows of similar length; they go back in place
        batch_ids = pad([ids[i] for i in rows], int(lengths[rows].max()))
        out[rows] = encode(batch_ids, lengths[rows])
    return out
