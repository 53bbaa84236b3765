"""Question and sentence answer types."""

from __future__ import annotations

import pytest

from qa.answertype import AnswerType, answer_fits, names, question_types, sentence_types


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


@pytest.mark.parametrize(
    ("question", "answer", "fits"),
    [
        ("How many people died?", "seventeen", True),
        ("How many people died?", "39", True),
        ("How many are still missing?", "dozens", True),
        ("How many children did they have?", "Officially", False),
        ("How much did Odebrecht pay him?", "$1 million", True),
        ("How much did Odebrecht pay him?", "the construction firm", False),
        ("How much control do parties have?", "close control", True),  # a degree, not a sum
        ("How much did Odebrecht pay Glas in bribes?", "six-year", False),  # a sentence's
        ("How much does NASA pay Russia per astronaut?", "roughly US$80 million", True),
        ("How much money is being spent on them?", "one good weather year", False),
        ("How much did the oldest child weigh?", "82 pounds", True),  # no sum asked
        ("When did the building come down?", "on Monday", True),
        ("When did the building come down?", "after the blast", True),
        ("When did the building come down?", "ten-storey building", False),
        ("When will she report her findings?", "NTSB would begin an investigation", False),
        ("When is a lens biconcave?", "with two concave surfaces", True),  # a condition
        ("In what year did the war end?", "the treaty", False),
        ("Who invented it and in what year?", "Johannes Gutenberg", True),  # two questions
        ("Who found the data?", "a cybersecurity firm", True),
        ("How many butterflies are there now?", "roughly 6.05 hectares", False),  # an area
        ("How many miles did it fly?", "about 12 miles", True),  # the unit asked for
        ("How many residents are from Istanbul?", "28 percent", True),  # a share
        ("How long did the study take?", "about 18 mph", False),  # a speed
        ("How long did the study take?", "18 months", True),
        ("How long is the filter good for?", "50 gallons", True),  # a consumable's life
        ("When will Glas leave the embassy?", "since December", False),  # began, not to come
        ("When will she report her findings?", "yesterday", False),
        ("When will the stadium open?", "in 2016", True),
        ("When would he pay more?", "if it lasted longer", True),  # not a future question
        ("Who came up with the new name?", "Reportedly", False),  # a sentence adverb
        ("Where did they buy it?", "locally", True),
        ("How old is Pelosi?", "116th", False),  # a rank: "the 116th Congress"
        ("How old is Pelosi?", "78", True),
        ("How many times did they buy it?", "2nd", True),  # how reviewers answer
        ("How many times has he tripped?", "a couple", True),  # a count in words
        ("How many times was it used?", "once", True),
        ("When did they get the watch?", "for Christmas", True),  # a feast day
        ("When did Istanbul become homogenized?", "the end of the Ottoman Empire", True),
        ("When did low relief revive?", "the Renaissance", True),  # a period
    ],
)
def test_answer_words_of_the_kind_a_count_or_time_question_asks_for(
    question: str, answer: str, fits: bool
) -> None:
    assert answer_fits(question, answer) is fits
