"""The bundled MiniLM answering real questions about the default article, through the API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from index.encoder import Encoder
from service import cli
from service.app import create_app
from service.settings import Settings
from tests.qa.test_html import PAGE as NEWS_PAGE
from tests.service.conftest import ready_client

pytestmark = pytest.mark.model


@pytest.fixture
def real_client(settings: Settings, minilm: Encoder) -> Iterator[TestClient]:
    shipped = settings.model_copy(update={"ranker_weights": None, "reader": True})
    yield from ready_client(create_app(shipped, lambda _: minilm))


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Who wrote this article?", "Written by: Ross Key"),
        ("Which publication owns this article?", "This article is owned by Latin Post."),
        ("How long has Glas been in the embassy?", "since December"),
        ("What was Villavicencio known for?", "an anticorruption advocate"),
        ("Who won the runoff vote?", "Noboa narrowly winning"),
        ("What did Ecuador refuse to give Glas?", "safe passage"),
        ("Who bribed Glas?", "Odebrecht"),
        ("Which candidate was assassinated in August 2023?", "Fernando Villavicencio"),
        ("What did Ecuador declare the Mexican ambassador?", "persona non grata"),
    ],
)
def test_real_questions_cite_the_right_sentence(
    real_client: TestClient, question: str, expected: str
) -> None:
    body = real_client.post("/v1/ask", json={"question": question}).json()
    assert body["answerable"] is True, body
    assert expected in body["citations"][0]["quote"]
    assert expected in body["answer"]


@pytest.mark.parametrize(
    "question",
    ["Who won the 2022 World Cup?", "How do I bake bread?", "What is the capital of Japan?"],
)
def test_off_topic_questions_are_declined(real_client: TestClient, question: str) -> None:
    body = real_client.post("/v1/ask", json={"question": question}).json()
    assert body["answerable"] is False, body
    assert body["answer"] == "The article does not say."


def test_a_posted_page_answers_who_wrote_it_and_when_it_was_published(
    real_client: TestClient,
) -> None:
    """The page's author and date are stored as lines a question can cite, and shown as
    metadata; the page's menus, teasers and comments are not there to be cited."""
    created = real_client.post("/v1/articles", json={"html": NEWS_PAGE})
    assert created.status_code == 201, created.text
    article = real_client.get(created.headers["Location"]).json()
    assert (article["byline"], article["published"], article["publisher"]) == (
        "Maria Lopez",
        "2026-11-30",
        "The Coastal Times",
    )
    for question, expected in [
        ("Who wrote this article?", "By Maria Lopez"),
        ("When was this article published?", "Published 30 November 2026"),
        ("Who cut the ribbon?", "Mayor Ana Ruiz cut the ribbon"),
    ]:
        asked = {"question": question, "article_id": created.json()["id"]}
        body = real_client.post("/v1/ask", json=asked).json()
        assert body["answerable"] is True, body
        assert expected in body["citations"][0]["quote"], (question, body)


@pytest.mark.parametrize(
    ("history", "question", "expected"),
    [
        (
            ["Who was granted asylum by Mexico?"],
            "How long has he been in the embassy?",
            "since December",
        ),
        (
            ["Which candidate was assassinated in August 2023?"],
            "What was he known for?",
            "an anticorruption advocate",
        ),
        # A question that stands on its own is not dragged toward the previous topic.
        (["Who was granted asylum by Mexico?"], "Who wrote this article?", "Written by: Ross Key"),
    ],
)
def test_follow_up_questions_use_the_history(
    real_client: TestClient, history: list[str], question: str, expected: str
) -> None:
    body = real_client.post("/v1/ask", json={"question": question, "history": history}).json()
    assert body["answerable"] is True, body
    assert expected in body["citations"][0]["quote"]


@pytest.mark.parametrize(
    ("question", "words"),
    [
        ("Who wrote this article?", "Ross Key"),
        ("Since when has Glas been staying in the embassy?", "December"),
        ("What nationality is the construction company Odebrecht?", "Brazilian"),
    ],
)
def test_the_reader_points_at_the_answer_words(
    real_client: TestClient, question: str, words: str
) -> None:
    body = real_client.post("/v1/ask", json={"question": question}).json()
    assert body["answerable"] is True, body
    first = body["citations"][0]
    span = first["answer_span"]
    assert span is not None, body
    assert words in span["text"]
    text = real_client.get("/v1/articles/default").json()["text"]
    assert text[span["start"] : span["end"]] == span["text"]
    assert first["start"] <= span["start"] < span["end"] <= first["end"]


def test_a_declined_answer_has_no_answer_span(real_client: TestClient) -> None:
    body = real_client.post("/v1/ask", json={"question": "How do I bake bread?"}).json()
    assert body["answerable"] is False
    assert all(c["answer_span"] is None for c in body["citations"])


def test_the_cli_prints_the_answer_words(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ARTICLE_QA_DATA_DIR", str(tmp_path / "cli-data"))
    assert cli.main(["ask", "Who wrote this article?"]) == 0
    assert "answer 'Ross Key' at" in capsys.readouterr().out
