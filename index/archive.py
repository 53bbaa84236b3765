"""One vector index over every sentence of every article: search across the whole archive.

Below ``EXACT_LIMIT`` vectors the index is exact (FAISS flat inner product: 1.5 kB per sentence,
a scan that stays within milliseconds). Above it, an inverted file with 8-bit scalar quantisation
(IVF-SQ8): vectors are grouped around ``nlist`` k-means centroids and stored in a quarter of the
space; a search scans only the ``nprobe`` nearest groups. At a million sentences that is about
390 MB instead of 1.5 GB, and a few milliseconds per search (numbers: ``python -m bench.scale``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import faiss
import numpy as np
import numpy.typing as npt

from index.encoder import Vectors

EXACT_LIMIT = 50_000
# Centroids per vector count: sqrt-scaled, as FAISS recommends (4 * sqrt(n) -> 4,000 at 10^6).
CENTROIDS_PER_SQRT = 4
NPROBE = 32
TRAIN_PER_CENTROID = 40  # k-means sample size per centroid (FAISS warns below 39)


@dataclass(frozen=True, slots=True)
class ArchiveHits:
    scores: npt.NDArray[np.float32]
    ids: npt.NDArray[np.int64]  # positions in the vectors the index was built from


class ArchiveIndex:
    """Exact or IVF-SQ8 inner-product search over unit vectors, chosen by size."""

    def __init__(self, vectors: Vectors, *, exact_limit: int = EXACT_LIMIT, seed: int = 0) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        count, dim = vectors.shape
        self.exact = count <= exact_limit
        if self.exact:
            self._index: faiss.Index = faiss.IndexFlatIP(dim)
        else:
            nlist = max(1, round(CENTROIDS_PER_SQRT * math.sqrt(count)))
            quantizer = faiss.IndexFlatIP(dim)
            index = faiss.IndexIVFScalarQuantizer(
                quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
            )
            sample = np.random.default_rng(seed).choice(
                count, size=min(count, nlist * TRAIN_PER_CENTROID), replace=False
            )
            index.train(vectors[np.sort(sample)])
            index.nprobe = min(NPROBE, nlist)
            self._quantizer = quantizer  # the IVF index does not own it: keep it alive
            self._index = index
        self._index.add(vectors)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def memory_bytes(self) -> int:
        """Bytes the index holds in memory (its serialised size, which is what it stores)."""
        return int(faiss.serialize_index(self._index).nbytes)

    def search(self, queries: Vectors, k: int) -> ArchiveHits:
        scores, ids = self._index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return ArchiveHits(scores, ids)


@dataclass(frozen=True, slots=True)
class Archive:
    """The archive index with, for each of its vectors, the article and sentence it came from."""

    generation: int
    index: ArchiveIndex
    article_ids: tuple[str, ...]
    owner: npt.NDArray[np.int32]  # vector position -> index into article_ids
    sentence: npt.NDArray[np.int32]  # vector position -> sentence index in its article

    @classmethod
    def build(cls, generation: int, articles: list[tuple[str, Vectors]], dim: int) -> Archive:
        sizes = [len(vectors) for _, vectors in articles]
        stacked = np.vstack([np.zeros((0, dim), np.float32), *(v for _, v in articles)])
        return cls(
            generation=generation,
            index=ArchiveIndex(stacked),
            article_ids=tuple(article_id for article_id, _ in articles),
            owner=np.repeat(np.arange(len(articles), dtype=np.int32), sizes),
            sentence=np.concatenate(
                [np.zeros(0, np.int32)] + [np.arange(n, dtype=np.int32) for n in sizes]
            ),
        )
