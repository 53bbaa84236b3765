"""Question -> ranked sentences: the one place ranking decisions live.

Dense (MiniLM cosine through FAISS) and keyword (BM25) evidence are each min-max normalised over
the article's citable sentences, blended with a measured weight, and topped up with a share of the
best neighbouring sentence's score. Confidence comes from the raw top cosine and keyword overlap,
which, unlike normalised scores, are comparable across questions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import faiss
import numpy as np

from index.encoder import Encoder
from index.fusion import convex, with_neighbours
from index.lexical import LexicalIndex
from qa.article import search_text
from qa.models import Article, Hit, Segmentation


@dataclass(frozen=True, slots=True)
class RetrievalConfig:
    """Ranking and abstention parameters; defaults chosen with bench/quality.py (see README)."""

    dense_weight: float = 0.5
    neighbour_weight: float = 0.0
    # Logistic confidence over the top raw cosine and the top normalised keyword score.
    confidence_bias: float = -4.0
    confidence_cosine: float = 10.0
    confidence_lexical: float = 1.0


@dataclass(frozen=True, slots=True)
class IndexedArticle:
    """An article with everything needed to answer questions about it."""

    id: str
    article: Article
    segmentation: Segmentation
    vectors: faiss.Index
    lexical: LexicalIndex
    candidates: np.ndarray  # indices of citable sentences, in article order
    created: str


def lexical_index(segmentation: Segmentation, candidates: np.ndarray) -> LexicalIndex:
    """Keyword index over the citable sentences, metadata lines described by their role."""
    sentences = segmentation.sentences
    return LexicalIndex([search_text(sentences[i].text, sentences[i].kind) for i in candidates])


def citable_sentences(segmentation: Segmentation) -> np.ndarray:
    """Indices of quotable sentences: body and metadata, never headings or boilerplate."""
    return np.array([s.index for s in segmentation.sentences if s.kind.citable], dtype=np.int64)


@dataclass(frozen=True, slots=True)
class Ranking:
    hits: tuple[Hit, ...]
    confidence: float


class Retriever:
    """Ranks an article's citable sentences for a question."""

    def __init__(self, encoder: Encoder, config: RetrievalConfig | None = None) -> None:
        self.encoder = encoder
        self.config = config or RetrievalConfig()

    def rank(self, indexed: IndexedArticle, question: str) -> Ranking:
        """Score every citable sentence; hits are sorted best first."""
        candidates = indexed.candidates
        if candidates.size == 0:
            return Ranking((), 0.0)
        query = self.encoder.encode_queries([question])
        total = indexed.vectors.ntotal
        scores, ids = indexed.vectors.search(query, total)
        cosine_all = np.zeros(total, dtype=np.float32)
        cosine_all[ids[0]] = scores[0]
        dense = cosine_all[candidates]
        lexical = indexed.lexical.scores(question)
        fused = convex(dense, lexical, self.config.dense_weight)
        blocks = np.array([indexed.segmentation.sentences[i].block for i in candidates])
        fused = with_neighbours(fused, blocks, self.config.neighbour_weight)
        order = np.argsort(-fused, kind="stable")
        top_lexical = float(lexical.max()) if lexical.size else 0.0
        hits = tuple(
            Hit(
                sentence=int(candidates[i]),
                score=float(fused[i]),
                features={"dense": float(dense[i]), "bm25": float(lexical[i])},
            )
            for i in order
        )
        return Ranking(hits, self._confidence(float(dense.max()), top_lexical))

    def _confidence(self, top_cosine: float, top_lexical: float) -> float:
        c = self.config
        z = (
            c.confidence_bias
            + c.confidence_cosine * top_cosine
            + c.confidence_lexical * math.tanh(top_lexical / 5)
        )
        return 1.0 / (1.0 + math.exp(-z))
