"""Question and sentence answer types."""

from __future__ import annotations

import pytest

from qa.answertype import AnswerType, names, question_types, sentence_types


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("When was Glas sentenced?", {AnswerType.DATE}),
        ("In what year did the war end?", {AnswerType.DATE}),
        ("How many times was he convicted?", {AnswerType.NUMBER}),
        ("Who wrote this article?", {AnswerType.NAME}),
        ("Which country granted asylum?", {AnswerType.NAME}),
        ("Why did Mexico grant asylum?", {AnswerType.CAUSE}),
        ("What is the capital?", set()),
    ],
)
def test_question_types(question: str, expected: set[AnswerType]) -> None:
    assert question_types(question) == expected


def test_sentence_types() -> None:
    assert sentence_types("He was sentenced in 2017 to six years.") == {
        AnswerType.DATE,
        AnswerType.NUMBER,
    }
    assert sentence_types("It failed because of the rain.") == {AnswerType.CAUSE}
    assert sentence_types("Nothing to see here.") == set()


def test_names_skip_the_sentence_initial_word() -> None:
    assert names("The court in Quito heard Jorge Glas.") == {"quito", "jorge", "glas"}
