"""Question -> ranked sentences: the one place ranking decisions live.

Every citable sentence gets dense (MiniLM cosine through FAISS), keyword (BM25) and context
features (index/features.py); a logistic-regression ranker trained on SQuAD with article-wise
cross-validation (index/ranker.py) orders them, and a second logistic model turns the top scores
into the probability that the article answers the question at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np
import numpy.typing as npt

from index.encoder import Encoder
from index.features import (
    FloatArray,
    SentenceFacts,
    confidence_features,
    question_features,
)
from index.lexical import LexicalIndex
from index.ranker import RankerWeights
from qa.article import search_text
from qa.models import Article, Hit, Segmentation


@dataclass(frozen=True, slots=True)
class IndexedArticle:
    """An article with everything needed to answer questions about it."""

    id: str
    article: Article
    segmentation: Segmentation
    vectors: faiss.Index
    lexical: LexicalIndex
    facts: SentenceFacts
    candidates: npt.NDArray[np.int64]  # indices of citable sentences, in article order
    created: str


def assemble(
    article_id: str,
    article: Article,
    segmentation: Segmentation,
    vectors: faiss.Index,
    created: str,
) -> IndexedArticle:
    """Build the keyword index and sentence facts over the citable sentences."""
    sentences = segmentation.sentences
    candidates = np.array([s.index for s in sentences if s.kind.citable], dtype=np.int64)
    texts = [search_text(sentences[i].text, sentences[i].kind) for i in candidates]
    # Blocks (paragraphs) are searched as the search texts of their citable sentences, so a
    # byline's description counts at block level too.
    block_texts: dict[int, list[str]] = {}
    for i, text in zip(candidates, texts, strict=True):
        block_texts.setdefault(sentences[i].block, []).append(text)
    dense_block = {block: n for n, block in enumerate(block_texts)}
    return IndexedArticle(
        id=article_id,
        article=article,
        segmentation=segmentation,
        vectors=vectors,
        lexical=LexicalIndex(texts),
        facts=SentenceFacts.of(
            texts,
            [dense_block[sentences[i].block] for i in candidates],
            [" ".join(parts) for parts in block_texts.values()],
        ),
        candidates=candidates,
        created=created,
    )


@dataclass(frozen=True, slots=True)
class Ranking:
    hits: tuple[Hit, ...]
    confidence: float


class Retriever:
    """Ranks an article's citable sentences for a question."""

    def __init__(self, encoder: Encoder, weights: RankerWeights) -> None:
        self.encoder = encoder
        self.weights = weights

    def features(self, indexed: IndexedArticle, question: str) -> FloatArray:
        """The feature matrix (citable sentences x FEATURES) for a question."""
        query = self.encoder.encode_queries([question])
        total = indexed.vectors.ntotal
        scores, ids = indexed.vectors.search(query, total)
        cosine = np.zeros(total, dtype=np.float32)
        cosine[ids[0]] = scores[0]
        return question_features(
            question, cosine[indexed.candidates], indexed.lexical.scores(question), indexed.facts
        )

    def rank(self, indexed: IndexedArticle, question: str) -> Ranking:
        """Score every citable sentence; hits are sorted best first."""
        if indexed.candidates.size == 0:
            return Ranking((), 0.0)
        matrix = self.features(indexed, question)
        scores = self.weights.ranker.score(matrix)
        order = np.argsort(-scores, kind="stable")
        # Citation scores are the ranker's probability that the sentence holds the answer.
        probability = 1.0 / (1.0 + np.exp(-np.clip(scores, -40.0, 40.0)))
        hits = tuple(
            Hit(sentence=int(indexed.candidates[i]), score=float(probability[i])) for i in order
        )
        confidence = self.weights.probability(confidence_features(scores, matrix))
        return Ranking(hits, confidence)
