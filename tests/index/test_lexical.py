"""The BM25 keyword index: analysis (stop words, stemming) and scores in document order."""

from __future__ import annotations

import numpy as np
import pytest

from index.lexical import LexicalIndex, tokenize

DOCS = [
    "She runs every morning before work.",
    "The cat sleeps all afternoon.",
    "Markets fell sharply on Friday.",
]


def test_tokenize_lowercases_stems_and_drops_stop_words() -> None:
    assert tokenize(["Running RUNS", "the and of is", ""]) == [["run", "run"], [], []]


def test_stemming_matches_other_word_forms() -> None:
    index = LexicalIndex(DOCS)
    scores = index.scores("running")
    assert scores.shape == (3,)
    assert scores[0] > 0
    assert scores[1] == scores[2] == 0
    assert index.scores("market falling")[2] > 0


def test_scores_follow_document_order() -> None:
    index = LexicalIndex(DOCS)
    assert int(np.argmax(index.scores("cats sleeping"))) == 1
    assert int(np.argmax(index.scores("Friday"))) == 2


def test_rarer_terms_score_higher() -> None:
    index = LexicalIndex(["apple banana", "apple cherry", "apple date"])
    scores = index.scores("apple cherry")
    assert scores[1] > scores[0] > 0
    assert scores[0] == pytest.approx(scores[2])


@pytest.mark.parametrize("query", ["the and of", "", "   ", "?!", "is it"])
def test_query_without_content_words_gives_zeros(query: str) -> None:
    scores = LexicalIndex(DOCS).scores(query)
    assert scores.dtype == np.float32
    assert scores.tolist() == [0.0, 0.0, 0.0]


def test_no_match_gives_zeros() -> None:
    assert LexicalIndex(DOCS).scores("volcano").tolist() == [0.0, 0.0, 0.0]


def test_empty_corpus() -> None:
    scores = LexicalIndex([]).scores("anything at all")
    assert scores.shape == (0,)
    assert scores.dtype == np.float32


def test_corpus_of_stop_words_only() -> None:
    index = LexicalIndex(["the of and", "is it", ""])
    assert index.scores("cat").tolist() == [0.0, 0.0, 0.0]
    assert index.scores("the").tolist() == [0.0, 0.0, 0.0]


def test_single_document() -> None:
    scores = LexicalIndex(["Glas received asylum"]).scores("asylum")
    assert scores.shape == (1,)
    assert scores[0] > 0
