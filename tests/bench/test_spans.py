"""bench.spans: every question asked once per span limit, scored against its gold answer."""

from __future__ import annotations

from pathlib import Path

from bench.spans import ask_all
from index.encoder import HashingEncoder
from index.library import Library
from index.ranker import RankerWeights
from index.reader import MAX_ANSWER_TOKENS, Reader
from train.reader.data import Question, TrainArticle

TEXT = "The company was founded by John Smith and Mary Jones in 1990. Bananas are yellow."


def test_a_longer_limit_marks_a_longer_answer_and_the_shipped_limit_is_restored(
    tmp_path: Path,
) -> None:
    start = TEXT.index("John")
    gold = (start, start + len("John Smith and Mary Jones"))
    question = Question("Who founded the company?", (gold,), ("John Smith and Mary Jones",))
    article = TrainArticle("new-wiki", "A company", (TEXT,), ((0, question),))
    library = Library(tmp_path, HashingEncoder(), RankerWeights.blend(), reader=Reader())
    one, twenty = ask_all(library, [article], [1, 20])
    assert one.questions == twenty.questions == 1
    assert one.hits == twenty.hits == 1  # the first citation holds the gold answer
    assert one.f1 < 0.5 < twenty.f1  # one token cannot hold the two names
    assert library.retriever.reader is not None
    assert library.retriever.reader.longest == MAX_ANSWER_TOKENS
