"""One vector index over every sentence of every article: search across the whole archive.

Below ``EXACT_LIMIT`` vectors the index is exact (FAISS flat inner product: 1.5 kB per sentence,
a scan that stays within milliseconds). Above it, an inverted file with 8-bit scalar quantisation
(IVF-SQ8): vectors are grouped around ``nlist`` k-means centroids and stored in a quarter of the
space; a search scans only the ``nprobe`` nearest groups. At a million sentences that is about
390 MB instead of 1.5 GB, and about a millisecond per search (numbers: ``python -m bench.scale``).
Writes are followed by adding and removing the written articles' vectors (``Archive.sync``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import faiss
import numpy as np
import numpy.typing as npt

from index.encoder import Vectors
from index.store import ArticleStore

EXACT_LIMIT = 50_000
# Centroids per vector count: sqrt-scaled, as FAISS recommends (4 * sqrt(n) -> 4,000 at 10^6).
CENTROIDS_PER_SQRT = 4
NPROBE = 32
TRAIN_PER_CENTROID = 40  # k-means sample size per centroid (FAISS warns below 39)
# An IVF index keeps its centroids while the archive stays within this factor of the size they
# were trained for; beyond it, lists grow long or few, and it is trained again.
RETRAIN_FACTOR = 4
# A vector's id in the index: (article slot << SENTENCE_BITS) | sentence number.
SENTENCE_BITS = 24
_SENTENCE_MASK = (1 << SENTENCE_BITS) - 1


@dataclass(frozen=True, slots=True)
class ArchiveHits:
    scores: npt.NDArray[np.float32]
    ids: npt.NDArray[np.int64]  # the ids the vectors were added with (-1: fewer than k found)


class ArchiveIndex:
    """Exact or IVF-SQ8 inner-product search over unit vectors, chosen by size, with ids
    (positions unless given) so vectors can be added and removed after the build."""

    def __init__(
        self,
        vectors: Vectors,
        ids: npt.NDArray[np.int64] | None = None,
        *,
        exact_limit: int = EXACT_LIMIT,
        seed: int = 0,
    ) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        count, dim = vectors.shape
        self.exact, self.exact_limit, self.trained_for = count <= exact_limit, exact_limit, count
        if self.exact:
            self._flat = faiss.IndexFlatIP(dim)  # the id map does not own it: keep it alive
            self._index: faiss.Index = faiss.IndexIDMap(self._flat)
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
        self.add(vectors, np.arange(count, dtype=np.int64) if ids is None else ids)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def fits(self, count: int) -> bool:
        """Whether this index still suits an archive of ``count`` vectors (else: build anew)."""
        if self.exact:
            return count <= self.exact_limit
        return self.exact_limit < count and (
            self.trained_for / RETRAIN_FACTOR <= count <= self.trained_for * RETRAIN_FACTOR
        )

    def add(self, vectors: Vectors, ids: npt.NDArray[np.int64]) -> None:
        self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)

    def remove(self, low: int, high: int) -> None:
        """Remove the vectors whose ids lie in ``[low, high)``."""
        self._index.remove_ids(faiss.IDSelectorRange(low, high))

    def memory_bytes(self) -> int:
        """Bytes the index holds in memory (its serialised size, which is what it stores)."""
        return int(faiss.serialize_index(self._index).nbytes)

    def search(self, queries: Vectors, k: int) -> ArchiveHits:
        scores, ids = self._index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return ArchiveHits(scores, ids)


class Archive:
    """Every stored article's sentence vectors in one index, kept in step with the store.

    Each write moves the store's generation; ``sync`` then removes the vectors of the articles
    deleted or replaced since, and adds the new ones: milliseconds per article at any size, where
    building anew takes minutes at a million sentences (k-means). It builds anew only when the
    index must change kind (exact or IVF) or has outgrown its training. Not thread-safe: the
    library serialises its use.
    """

    def __init__(self, model: str, dim: int, *, exact_limit: int = EXACT_LIMIT) -> None:
        self._model, self._dim = model, dim
        self.generation: int | None = None
        self.index = ArchiveIndex(np.zeros((0, dim), np.float32), exact_limit=exact_limit)
        self._held: dict[str, tuple[int, str]] = {}  # article id -> (slot, revision)
        self._slots: dict[int, str] = {}  # slot -> article id
        self._next_slot = 0
        self.builds = 0  # times the index was built from every stored vector

    def sync(self, store: ArticleStore) -> None:
        """Catch up with every write since the last sync (by any process)."""
        generation = store.generation()  # read first: a write after it shows at the next sync
        if generation == self.generation:
            return
        current = store.revisions(self._model, self._dim)
        if not self.index.fits(sum(sentences for _, sentences in current.values())):
            self._build(store)
        else:
            for article_id, (slot, revision) in list(self._held.items()):
                if article_id not in current or current[article_id][0] != revision:
                    self.index.remove(slot << SENTENCE_BITS, (slot + 1) << SENTENCE_BITS)
                    del self._held[article_id], self._slots[slot]
            wanted = current.keys() - self._held.keys()
            for article_id, revision, vectors in store.all_vectors(self._model, self._dim, wanted):
                slot = self._hold(article_id, revision)
                self.index.add(vectors, _ids(slot, len(vectors)))
        self.generation = generation

    def _build(self, store: ArticleStore) -> None:
        self._held, self._slots, self._next_slot = {}, {}, 0
        parts, ids = [np.zeros((0, self._dim), np.float32)], [np.zeros(0, np.int64)]
        for article_id, revision, vectors in store.all_vectors(self._model, self._dim):
            ids.append(_ids(self._hold(article_id, revision), len(vectors)))
            parts.append(vectors)
        self.index = ArchiveIndex(
            np.vstack(parts), np.concatenate(ids), exact_limit=self.index.exact_limit
        )
        self.builds += 1

    def _hold(self, article_id: str, revision: str) -> int:
        slot, self._next_slot = self._next_slot, self._next_slot + 1
        self._held[article_id] = (slot, revision)
        self._slots[slot] = article_id
        return slot

    def search(self, query: Vectors, k: int) -> list[tuple[float, str, int]]:
        """(score, article id, sentence number) of the ``k`` sentence vectors nearest ``query``."""
        if not len(self.index):
            return []
        found = self.index.search(query, min(k, len(self.index)))
        return [
            (float(score), self._slots[int(id_) >> SENTENCE_BITS], int(id_) & _SENTENCE_MASK)
            for score, id_ in zip(found.scores[0], found.ids[0], strict=True)
            if id_ >= 0
        ]


def _ids(slot: int, count: int) -> npt.NDArray[np.int64]:
    return (slot << SENTENCE_BITS) + np.arange(count, dtype=np.int64)
