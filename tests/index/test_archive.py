"""The archive index: exact under its limit, IVF-SQ8 above it, and close to exact there."""

from __future__ import annotations

import numpy as np

from index.archive import ArchiveIndex
from index.encoder import Vectors


def clustered(count: int, dim: int = 32, seed: int = 0) -> Vectors:
    rng = np.random.default_rng(seed)
    topics = rng.normal(size=(50, dim))
    vectors = topics[rng.integers(0, 50, count)] + rng.normal(0, 0.3, (count, dim))
    unit: Vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    return unit


def test_small_archives_are_searched_exactly() -> None:
    vectors = clustered(500)
    index = ArchiveIndex(vectors)
    assert index.exact
    assert len(index) == 500
    hits = index.search(vectors[:3], 1)
    assert hits.ids[:, 0].tolist() == [0, 1, 2]
    assert np.allclose(hits.scores[:, 0], 1.0, atol=1e-5)


def test_large_archives_are_approximate_but_close_to_exact() -> None:
    vectors = clustered(6000)
    approximate = ArchiveIndex(vectors, exact_limit=1000)
    exact = ArchiveIndex(vectors)
    assert not approximate.exact
    assert approximate.memory_bytes() < exact.memory_bytes() / 2  # 8-bit codes, not float32
    queries = clustered(100, seed=1)
    found = approximate.search(queries, 10).ids
    truth = exact.search(queries, 10).ids
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
    assert recall > 0.9
