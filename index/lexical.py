"""Keyword index over sentences: BM25 (bm25s) with English stop words and Snowball stemming.

Dense MiniLM similarity is nearly flat across an article where every sentence shares the topic;
exact names, numbers and rare words are what BM25 adds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import bm25s
import numpy as np
import numpy.typing as npt
import Stemmer

_STEMMER = Stemmer.Stemmer("english")
# bm25s sets its own logger to DEBUG on import; put it back to the usual default so every index
# build does not print a line.
logging.getLogger("bm25s").setLevel(logging.WARNING)


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-case, drop English stop words, stem: the same analysis for documents and queries."""
    tokens = bm25s.tokenize(
        list(texts), stopwords="en", stemmer=_STEMMER, return_ids=False, show_progress=False
    )
    return [list(t) for t in tokens]


class LexicalIndex:
    """BM25 scores of a query against every document, in document order."""

    def __init__(self, documents: Sequence[str]) -> None:
        self._size = len(documents)
        self._bm25 = bm25s.BM25()
        tokens = tokenize(documents)
        self._empty = not any(tokens)
        if not self._empty:
            self._bm25.index(tokens, show_progress=False)

    def scores(self, query: str) -> npt.NDArray[np.float32]:
        """BM25 score of ``query`` for every document (zeros when nothing matches)."""
        terms = tokenize([query])[0]
        if self._empty or not terms:
            return np.zeros(self._size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(terms), dtype=np.float32)
