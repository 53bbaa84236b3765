"""Per-sentence evidence for a question, as one feature row per citable sentence.

The learned ranker (index/ranker.py) weighs these; every feature is computed with numpy over all
candidates at once, so a question costs well under a millisecond on top of the encoder.
Scores are also normalised within the question (min-max, z-score, is-top) because raw cosine and
BM25 levels vary from question to question while their order is what matters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from index.encoder import TokenMatrix, TokenVectors
from index.fusion import minmax
from index.lexical import LexicalIndex, tokenize
from qa.answertype import AnswerType, names, question_types, sentence_types

FloatArray = npt.NDArray[np.float32]

FEATURES: tuple[str, ...] = (
    "dense", "dense_mm", "dense_z", "dense_top",
    "late", "late_mm", "late_z",
    "bm25", "bm25_mm", "bm25_z", "bm25_top",
    "block_dense_mm", "block_bm25_mm", "neighbour_dense_mm", "neighbour_bm25_mm",
    "block_late_mm", "neighbour_late_mm",
    "overlap", "novel_log", "length_log",
    "wants_date_has", "wants_number_has", "wants_name_has", "wants_cause_has",
)  # fmt: skip
# Question-level evidence that the article answers at all: raw levels, unlike normalised scores,
# are comparable across questions.
CONFIDENCE_FEATURES: tuple[str, ...] = (
    "top_score", "score_gap", "top_dense", "top_bm25", "max_dense", "max_bm25", "max_late",
)  # fmt: skip
# Late interaction (MaxSim) is computed for the sentences of this many best cosines, the rest
# scoring the lowest of them: its cost stays bounded on long articles, and a sentence outside
# them is not among the first few anyway.
LATE_POOL = 64
_TYPES = (AnswerType.DATE, AnswerType.NUMBER, AnswerType.CAUSE)


@dataclass(frozen=True, slots=True)
class SentenceFacts:
    """Question-independent facts about an article's citable sentences, computed once."""

    blocks: npt.NDArray[np.int64]  # block index of each candidate (dense, 0..n_blocks-1)
    block_lexical: LexicalIndex  # BM25 over whole blocks (paragraphs)
    tokens: tuple[frozenset[str], ...]  # stemmed content words
    names: tuple[frozenset[str], ...]
    types: npt.NDArray[np.bool_]  # candidates x (date, number, cause)
    length_log: FloatArray

    @classmethod
    def of(
        cls, texts: Sequence[str], blocks: Sequence[int], block_texts: Sequence[str]
    ) -> SentenceFacts:
        """Facts about ``texts`` (the candidates), which lie in ``blocks`` of ``block_texts``."""
        kinds = [sentence_types(t) for t in texts]
        return cls(
            blocks=np.asarray(blocks, dtype=np.int64),
            block_lexical=LexicalIndex(block_texts),
            tokens=tuple(frozenset(t) for t in tokenize(texts)),
            names=tuple(names(t) for t in texts),
            types=np.array([[k in ks for k in _TYPES] for ks in kinds], dtype=np.bool_).reshape(
                len(texts), len(_TYPES)
            ),
            length_log=np.log1p(np.array([len(t) for t in texts], dtype=np.float32)),
        )


def _zscore(x: FloatArray) -> FloatArray:
    return np.asarray((x - x.mean()) / (x.std() + 1e-6), dtype=np.float32)


def _block_mean(x: FloatArray, blocks: npt.NDArray[np.int64]) -> FloatArray:
    sums = np.bincount(blocks, weights=x)
    counts = np.bincount(blocks)
    return (sums / np.maximum(counts, 1))[blocks].astype(np.float32)


def _best_neighbour(x: FloatArray, blocks: npt.NDArray[np.int64]) -> FloatArray:
    """The larger score of the previous and next sentence in the same block (0 at the edges)."""
    left = np.concatenate([[0.0], x[:-1]])
    right = np.concatenate([x[1:], [0.0]])
    same_left = np.concatenate([[False], blocks[1:] == blocks[:-1]])
    same_right = np.concatenate([blocks[:-1] == blocks[1:], [False]])
    return np.maximum(np.where(same_left, left, 0.0), np.where(same_right, right, 0.0)).astype(
        np.float32
    )


def late_interaction(
    tokens: TokenVectors,
    question: TokenMatrix,
    dense: FloatArray,
    candidates: npt.NDArray[np.int64],
) -> FloatArray:
    """Late interaction (ColBERT's MaxSim: each question token's best cosine in the sentence,
    averaged) of each candidate (``candidates``: their rows in ``tokens``) with the question's
    token vectors, over the LATE_POOL best by ``dense`` cosine (of the candidates)."""
    pool = np.argsort(-dense, kind="stable")[:LATE_POOL]
    scores = tokens.select(candidates[pool]).best_matches(question).mean(axis=1)
    late = np.full(dense.size, scores.min() if scores.size else 0.0, dtype=np.float32)
    late[pool] = scores
    return late


def question_features(
    question: str,
    dense: FloatArray,
    late: FloatArray,
    lexical: FloatArray,
    facts: SentenceFacts,
) -> FloatArray:
    """Feature matrix (candidates x FEATURES) for one question: ``dense`` its cosine with each
    candidate, ``late`` their MaxSim (``late_interaction``), ``lexical`` their BM25."""
    n = dense.size
    dense_mm, lexical_mm = minmax(dense), minmax(lexical)
    block_lexical = facts.block_lexical.scores(question)[facts.blocks]
    asked = tokenize([question])[0]
    asked_set = frozenset(asked)
    overlap = np.array([len(asked_set & t) for t in facts.tokens], dtype=np.float32) / max(
        len(asked_set), 1
    )
    novel = np.log1p(np.array([len(t - asked_set) for t in facts.tokens], dtype=np.float32))
    wants = question_types(question)
    asked_names = names(question) | {w.lower() for w in question.split()}
    new_name = np.array([bool(s - asked_names) for s in facts.names], dtype=np.float32)
    date, number, cause = (facts.types[:, i].astype(np.float32) for i in range(3))
    columns = [
        dense, dense_mm, _zscore(dense), (dense == dense.max()).astype(np.float32),
        late, minmax(late), _zscore(late),
        lexical, lexical_mm, _zscore(lexical), (lexical == lexical.max()).astype(np.float32),
        minmax(_block_mean(dense, facts.blocks)), minmax(block_lexical),
        _best_neighbour(dense_mm, facts.blocks), _best_neighbour(lexical_mm, facts.blocks),
        minmax(_block_mean(late, facts.blocks)), _best_neighbour(minmax(late), facts.blocks),
        overlap, novel, facts.length_log,
        date * (AnswerType.DATE in wants), number * (AnswerType.NUMBER in wants),
        new_name * (AnswerType.NAME in wants), cause * (AnswerType.CAUSE in wants),
    ]  # fmt: skip
    matrix = np.column_stack([np.broadcast_to(c, n) for c in columns]).astype(np.float32)
    assert matrix.shape[1] == len(FEATURES)
    return matrix


def confidence_features(scores: npt.NDArray[np.float64], matrix: FloatArray) -> FloatArray:
    """One row of CONFIDENCE_FEATURES from the ranker's scores and the feature matrix."""
    order = np.argsort(-scores)
    top = int(order[0])
    gap = float(scores[top] - scores[order[1]]) if scores.size > 1 else 0.0
    dense, bm25 = matrix[:, FEATURES.index("dense")], matrix[:, FEATURES.index("bm25")]
    late = matrix[:, FEATURES.index("late")]
    return np.array(
        [scores[top], gap, dense[top], bm25[top], dense.max(), bm25.max(), late.max()],
        dtype=np.float32,
    )
