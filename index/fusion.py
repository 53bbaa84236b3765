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
