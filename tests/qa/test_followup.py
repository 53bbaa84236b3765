"""Follow-up resolution: which questions are follow-ups, and what context they get (no model)."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qa.followup import MAX_LOOKBACK, Answered, is_followup, resolve

GLAS = "Who was granted asylum by Mexico?"
GLAS_ANSWER = (
    "Mexico has granted political asylum to former Ecuadorean Vice President Jorge Glas, "
    "announced the foreign ministry on Friday."
)
CANDIDATE = "Which candidate was assassinated in August 2023?"
CANDIDATE_ANSWER = (
    "Lopez Obrador's comments insinuated that violence influenced Ecuador's recent presidential "
    "elections, referencing the assassination of Ecuadorean presidential candidate Fernando "
    "Villavicencio in August 2023."
)


class Answers:
    """A stand-in for the library: canned first-cited sentences, and a count of the calls."""

    def __init__(self, answers: dict[str, str | Answered | None]) -> None:
        self.answers = answers
        self.calls: list[str] = []
        self.positions: list[int] = []

    def __call__(self, position: int, question: str) -> Answered | None:
        self.calls.append(question)
        self.positions.append(position)
        answer = self.answers.get(question)
        return Answered(answer) if isinstance(answer, str) else answer


@pytest.mark.parametrize(
    "question",
    [
        "How long has he been in the embassy?",
        "What was he known for?",
        "Who were his leading receivers?",
        "What did Ecuador refuse to give him?",
        "When did it open?",
        "Why did that happen?",
        "What caused this?",
        "Were those charges dropped?",
        "How long has Glas been there?",
        "What happened then?",
        "Did Ecuador do the same?",
        "Why?",
        "When?",
        "How so?",
        "Which one?",
        "And Ecuador?",
        "And the runoff?",
        "What about Lula?",
        "How about the United States?",
        "Who else?",
        "By what margin?",
        "What was the score?",
    ],
)
def test_followups_are_detected(question: str) -> None:
    assert is_followup(question)


@pytest.mark.parametrize(
    "question",
    [
        "Who wrote this article?",
        "Who is the author?",
        "What did Lula do?",
        "Who was granted asylum by Mexico?",
        "Who narrowly won the runoff vote?",
        "And who won the runoff?",
        "Is there a date for the trial?",
        "How long did it take to build Levi's Stadium?",
        "Is it true that Glas was convicted twice?",
        "Which party that Villavicencio criticized won?",
        "What happened this year in Ecuador?",
        "How do I bake bread?",
        "Who won the 2022 World Cup?",
    ],
)
def test_standalone_questions_are_not_followups(question: str) -> None:
    assert not is_followup(question)


@pytest.mark.parametrize(
    "question",
    ["Who wrote this article?", "What did Lula do?", "Who narrowly won the runoff vote?"],
)
def test_standalone_question_is_returned_unchanged(question: str) -> None:
    history = ["Where has Glas taken refuge?", "What did Ecuador refuse to give him?"]
    answers = Answers({})
    assert resolve(question, history, answers) == question
    assert answers.calls == []


def test_no_history_means_no_change() -> None:
    assert resolve("How long has he been in the embassy?", []) == (
        "How long has he been in the embassy?"
    )
    assert resolve("Why?", ()) == "Why?"


def test_pronoun_takes_the_single_name_of_the_previous_question() -> None:
    history = ["Where has Glas taken refuge?"]
    assert resolve("What did Ecuador refuse to give him?", history) == (
        "What did Ecuador refuse to give Glas?"
    )
    assert resolve("When was he sentenced?", ["What company bribed Glas?"]) == (
        "When was Glas sentenced?"
    )


def test_a_name_in_front_of_a_person_noun_is_not_that_person() -> None:
    # "his" is the judge's; Texas is only where the judge sits.
    history = ["What did the Texas judge decide about the draft?"]
    assert resolve("What was his reasoning?", history) == "What was his reasoning?"
    assert resolve("What did it decide?", history) == "What did Texas decide?"  # not a person
    assert resolve("What did he decide?", ["What did Texas decide about the draft?"]) == (
        "What did Texas decide?"
    )


def test_a_conjunction_opening_a_question_is_not_a_name() -> None:
    history = ["Since when have women served in combat?"]
    assert resolve("Who decided it?", history) == "Who decided it?"


def test_several_names_are_appended_not_substituted() -> None:
    history = ["What does Mexico maintain with the United States?"]
    assert resolve("What obstacles does it face?", history) == (
        "What obstacles does it face? Mexico United States"
    )


def test_previous_question_without_names_adds_nothing_to_a_pronoun() -> None:
    assert resolve("Who owns it?", ["Who wrote this article?"]) == "Who owns it?"
    assert resolve("What is his favourite team?", ["How do I bake bread?"]) == (
        "What is his favourite team?"
    )


def test_ellipsis_carries_the_previous_predicate() -> None:
    assert resolve("Why?", ["What did Ecuador declare Mexico's ambassador?"]) == (
        "Why? Ecuador declare Mexico ambassador"
    )
    assert resolve("By what margin?", ["And who won the runoff?"]) == "By what margin? won runoff"


def test_ellipsis_with_its_own_name_replaces_the_previous_name() -> None:
    history = ["Which team did the Panthers beat in the divisional round?"]
    assert resolve("And the Broncos?", history) == "And the Broncos? team beat divisional round"
    assert resolve("What about Gonzalez?", ["Who did Villavicencio criticize?"]) == (
        "What about Gonzalez? criticize"
    )


def test_carried_words_are_capped() -> None:
    history = ["What did Ecuador's foreign ministry say about Mexico's diplomatic asylum grant?"]
    added = resolve("Why?", history).removeprefix("Why? ").split()
    assert 0 < len(added) <= 6


def test_answer_referent_is_left_alone_without_answers() -> None:
    """After "Who...?", "he" is the answer; the question's own names (Mexico) would mislead."""
    assert resolve("How long has he been in the embassy?", [GLAS]) == (
        "How long has he been in the embassy?"
    )
    assert resolve("What was he known for?", [CANDIDATE]) == "What was he known for?"


def test_answer_referent_comes_from_the_previous_answer() -> None:
    answers = Answers({GLAS: GLAS_ANSWER, CANDIDATE: CANDIDATE_ANSWER})
    assert resolve("How long has he been in the embassy?", [GLAS], answers) == (
        "How long has Glas been in the embassy?"
    )
    # "Which candidate" asks for a person: referred to by the surname, as news style does.
    assert resolve("What was he known for?", [CANDIDATE], answers) == (
        "What was Villavicencio known for?"
    )
    assert answers.calls == [GLAS, CANDIDATE]


def test_answer_referent_follows_a_chain_of_followups() -> None:
    answers = Answers({GLAS: GLAS_ANSWER})
    history = [GLAS, "How long has he been in the embassy?"]
    assert resolve("Why is he seeking asylum?", history, answers) == "Why is Glas seeking asylum?"
    assert answers.calls == [GLAS]
    assert answers.positions == [0]  # the turn's place in the history, for its stored answer


def test_answer_of_is_told_the_turns_place_in_the_whole_history() -> None:
    answers = Answers({GLAS: GLAS_ANSWER})
    history = ["", GLAS, "  "]  # blank turns are skipped but keep their places
    assert resolve("How long has he been there?", history, answers).startswith("How long has Glas")
    assert answers.positions == [1]


def test_declined_previous_answer_leaves_the_question_alone() -> None:
    answers = Answers({GLAS: None})
    question = "How long has he been in the embassy?"
    assert resolve(question, [GLAS], answers) == question


@pytest.mark.parametrize(
    ("previous", "answer", "question", "expected"),
    [
        (
            "Who headlined the halftime show?",
            "The halftime show was headlined by the British rock group Coldplay with guests.",
            "Which guests performed with them?",
            "Which guests performed with Coldplay?",
        ),
        (
            "Who was named the NFL Most Valuable Player?",
            "Quarterback Cam Newton was named the NFL Most Valuable Player (MVP).",
            "Who were his leading receivers?",
            "Who were Newton's leading receivers?",
        ),
        (
            "Which stadium was awarded the game?",
            "On May 21, 2013, NFL owners voted and awarded the game to Levi's Stadium.",
            "When did it open?",
            "When did Levi's Stadium open?",
        ),
        (
            "Which quarterback suffered a partial tear?",
            "In week 10, Manning suffered a partial tear of the plantar fasciitis.",
            "How old was he?",
            "How old was Manning?",
        ),
    ],
)
def test_answer_name_is_the_name_the_question_asked_for(
    previous: str, answer: str, question: str, expected: str
) -> None:
    assert resolve(question, [previous], Answers({previous: answer})) == expected


def test_the_readers_answer_words_name_the_referent() -> None:
    """Two names near the question's words: the one inside the answer the reader marked wins."""
    previous = "Who met the minister in Quito?"
    sentence = "The minister in Quito met Carlos Ruiz, then Ambassador Maria Lopez."
    question = "Where does she work?"
    assert resolve(question, [previous], Answers({previous: sentence})) == "Where does Ruiz work?"
    marked = Answers({previous: Answered(sentence, "Ambassador Maria Lopez")})
    assert resolve(question, [previous], marked) == "Where does Lopez work?"
    unmarked = Answers({previous: Answered(sentence, "The minister")})  # no name in the words
    assert resolve(question, [previous], unmarked) == "Where does Ruiz work?"
    # The words marked part of a longer name ("Ambassador Maria Lopez"): that name still wins.
    part = Answers({previous: Answered(sentence, "Maria Lopez")})
    assert resolve(question, [previous], part) == "Where does Lopez work?"


def test_only_the_last_few_turns_are_read() -> None:
    history = ["Where has Glas taken refuge?", *["Why?"] * MAX_LOOKBACK]
    assert "Glas" not in resolve("What did Ecuador refuse to give him?", history)


def test_long_history_is_fast_and_asks_little() -> None:
    history = [f"Question {i} about Ecuador?" for i in range(10_000)]
    history += [GLAS] + ["How long has he been in the embassy?"] * 9_999
    answers = Answers({GLAS: GLAS_ANSWER})
    started = time.perf_counter()
    for _ in range(100):
        resolve("Why is he seeking asylum?", history, answers)
    assert (time.perf_counter() - started) / 100 < 0.01
    assert len(answers.calls) == 0  # the name-asking question is out of reach


@pytest.mark.parametrize(
    "history",
    [
        ["", "   ", "\n"],
        ["?!", "...", "¿?"],
        ["", GLAS, ""],
        ["¿Quién es Lula?", "🙂🙂", "Qu'est-ce que c'est?"],
    ],
)
def test_blank_and_odd_history_items_do_not_break_resolution(history: list[str]) -> None:
    for question in ["Why?", "What did he do?", "", "???", "Who wrote this article?"]:
        assert isinstance(resolve(question, history), str)


def test_blank_history_items_are_skipped() -> None:
    assert resolve("What did Ecuador refuse to give him?", ["Where is Glas?", "", "  "]) == (
        "What did Ecuador refuse to give Glas?"
    )


def test_empty_and_punctuation_questions_are_returned_unchanged() -> None:
    for question in ["", "   ", "???", "!!"]:
        assert resolve(question, [GLAS, "Why?"]) == question


def test_non_ascii_names_are_carried() -> None:
    history = ["Where does Luiz Inácio Lula da Silva live?"]
    expected = "What did Luiz Inácio Lula da Silva pursue?"
    assert resolve("What did he pursue?", history) == expected
    assert resolve("Qu'a-t-il fait?", ["Who is Élodie Dupré?"]) == "Qu'a-t-il fait?"


def test_possessive_names_keep_their_spelling() -> None:
    history = ["Why was Levi's Stadium's turf criticised?"]
    assert resolve("Who fixed it?", history) == "Who fixed Levi's Stadium?"


@given(st.text(max_size=80), st.lists(st.text(max_size=80), max_size=6))
def test_resolve_never_fails_and_leaves_standalone_questions_alone(
    question: str, history: list[str]
) -> None:
    resolved = resolve(question, history)
    assert isinstance(resolved, str)
    if not is_followup(question):
        assert resolved == question
