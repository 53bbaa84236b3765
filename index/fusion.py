"""Pure functions that turn raw dense and keyword scores into one ranking score."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Scores = npt.NDArray[np.float32]


def minmax(scores: Scores) -> Scores:
    """Scale to [0, 1]; a flat list (no evidence either way) maps to zeros."""
    if scores.size == 0:
        return scores
    low, high = float(scores.min()), float(scores.max())
    if high - low < 1e-9:
        return np.zeros_like(scores)
    return ((scores - low) / (high - low)).astype(np.float32)


def convex(dense: Scores, lexical: Scores, dense_weight: float) -> Scores:
    """Convex combination of min-max-normalised scores (txtai's hybrid, with a tuned weight)."""
    return (dense_weight * minmax(dense) + (1.0 - dense_weight) * minmax(lexical)).astype(
        np.float32
    )


def with_neighbours(scores: Scores, groups: npt.NDArray[np.int64], weight: float) -> Scores:
    """Add a share of the best neighbouring score in the same block.

    A sentence often lacks the question's words that its neighbours carry ("He said ..."), so
    evidence next door is partial evidence for it.
    """
    if weight == 0 or scores.size < 2:
        return scores
    left = np.concatenate([[-np.inf], scores[:-1]])
    right = np.concatenate([scores[1:], [-np.inf]])
    same_left = np.concatenate([[False], groups[1:] == groups[:-1]])
    same_right = np.concatenate([groups[:-1] == groups[1:], [False]])
    best = np.maximum(np.where(same_left, left, 0.0), np.where(same_right, right, 0.0))
    return (scores + weight * np.maximum(best, 0.0)).astype(np.float32)
