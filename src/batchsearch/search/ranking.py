"""Ranking after fusion: calibrated relevance, freshness and source boosts, diversification, dedup."""

from __future__ import annotations

import numpy as np

# Relevance = sigmoid(A * cosine + B * normalised BM25 + G * (cosine - the query's best candidate cosine) + C),
# fitted by logistic regression on labelled query/chunk pairs of two domains weighted equally: BEIR SciFact train
# (138,274 hybrid candidates of 809 scientific claims) and "<company> <event>" queries over the sample financial
# corpus (half of them; the other half is held apart for checking). The gap term carries what the raw cosine
# cannot: how a chunk compares with the best the index has for the query, which differs less across domains.
# bench/calibrate_relevance.py prints the fit and its reliability tables.
REL_A = 8.852
REL_B = 2.86
REL_G = 12.282
REL_C = -7.279
FRESHNESS_SCALE_DAYS = 30.0
DOC_REPEAT_DECAY = 0.8
SOURCE_REPEAT_DECAY = 0.95


def relevance(dense_score: np.ndarray, lexical_norm: np.ndarray, best_dense: float) -> np.ndarray:
    """Calibrated 0-1 relevance of each candidate of one query (`best_dense`: its candidates' highest cosine)."""
    z = REL_A * dense_score + REL_B * lexical_norm + REL_G * (dense_score - best_dense) + REL_C
    return 1.0 / (1.0 + np.exp(-z))


def freshness_factor(timestamps: np.ndarray, reference: int, boost: float) -> np.ndarray:
    """1 + 0.1 * boost * exp(-age_days / 30): up to 2x for brand-new documents at boost 10."""
    if boost == 0:
        return np.ones(len(timestamps))
    age_days = np.maximum(reference - timestamps, 0) / 86400.0
    return 1.0 + 0.1 * boost * np.exp(-age_days / FRESHNESS_SCALE_DAYS)


def source_factor(ranks: np.ndarray, boost: float) -> np.ndarray:
    """1 + 0.05 * boost * (5 - rank): RANK_1 gets +20% per unit of boost, RANK_5 nothing."""
    if boost == 0:
        return np.ones(len(ranks))
    return 1.0 + 0.05 * boost * (5 - ranks.astype(np.float64))


def diversify(order: np.ndarray, docs: np.ndarray, sources: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Demote repeated documents and sources: the j-th chunk of a doc scores x 0.8^j, of a source x 0.95^j
    (j counted along `order`, from 0)."""
    adjusted = scores.astype(np.float64, copy=True)
    if len(order):
        factor = DOC_REPEAT_DECAY ** _occurrence(docs[order]) * SOURCE_REPEAT_DECAY ** _occurrence(sources[order])
        adjusted[order] = scores[order] * factor
    return adjusted


def _occurrence(groups: np.ndarray) -> np.ndarray:
    """For each position, how many earlier positions hold the same group."""
    by_group = np.argsort(groups, kind="stable")  # stable: positions of one group stay ascending
    ordered = groups[by_group]
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    run_start = np.repeat(starts, np.diff(np.concatenate([starts, [len(groups)]])))
    out = np.empty(len(groups), dtype=np.int64)
    out[by_group] = np.arange(len(groups)) - run_start
    return out


def rank_order(scores: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Indices by score descending, ties by key ascending (deterministic)."""
    return np.lexsort((keys, -scores))


def drop_duplicates(order: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Keep the first (best) chunk of each distinct normalised text."""
    _, first = np.unique(hashes[order], return_index=True)
    return np.asarray(order, dtype=np.int64)[np.sort(first)]


def query_units(n_chunks: int) -> float:
    """Billing: one query unit per 10 returned chunks, fractional."""
    return round(n_chunks / 10.0, 4)
