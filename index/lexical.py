"""Keyword index over sentences: BM25 (bm25s) with English stop words and Snowball stemming.

Dense MiniLM similarity is nearly flat across an article where every sentence shares the topic;
exact names, numbers and rare words are what BM25 adds.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import bm25s
import numpy as np
import numpy.typing as npt
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

_STEMMER = Stemmer.Stemmer("english")
# bm25s.tokenize's analysis (scikit-learn's token pattern, its English stop list), done directly:
# the same tokens (checked on every SQuAD text) without its per-call progress-bar set-up, which
# cost more than the analysis itself on a one-line question.
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
STOPWORDS = frozenset(STOPWORDS_EN)
# bm25s sets its own logger to DEBUG on import; put it back to the usual default so every index
# build does not print a line.
logging.getLogger("bm25s").setLevel(logging.WARNING)


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-case, drop English stop words, stem: the same analysis for documents and queries."""
    return [
        _STEMMER.stemWords([w for w in _TOKEN.findall(text.lower()) if w not in STOPWORDS])
        for text in texts
    ]


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
