"""The HTTP contract, through TestClient with the fake encoder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from index.encoder import Encoder, HashingEncoder
from index.sqlite_store import DB_NAME
from service.app import create_app
from service.settings import Settings
from tests.service.conftest import SlowStart, ready_client

HTML = """<html><head><title>Harbour bridge reopens</title>
<script>document.body.innerHTML = 'pwned'</script><style>p {color: red}</style></head>
<body><nav><a href="/">Home</a> <a href="/world">World</a></nav>
<h1>Harbour bridge reopens after repairs</h1>
<p>The harbour bridge reopened on Monday after six months of repairs.</p>
<p>Engineers replaced 40 steel cables, said the city's chief engineer, Ana Ruiz.
<a href="javascript:alert(1)">Read the report</a>.</p>
<iframe src="https://ads.example"></iframe><footer>Copyright Example News</footer></body></html>"""


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"]
    return body


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {
        "status": "ready",
        "articles": 1,
        "store": {"backend": "sqlite", "ok": True},
        "rate_limit_storage": {"backend": "memory", "ok": True},
    }


def test_readyz_is_503_until_the_model_has_loaded(slow_start: SlowStart) -> None:
    app, release = slow_start.app, slow_start.release
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert_problem(client.get("/readyz"), 503)
        response = client.post("/v1/ask", json={"question": "Who wrote this article?"})
        assert_problem(response, 503)
        assert response.headers["retry-after"]
        release.set()
        assert app.state.runtime.ready.wait(10)
        assert client.get("/readyz").status_code == 200


def test_failed_start_up_is_reported_by_readyz(settings: Settings) -> None:
    def broken(_: Settings) -> Encoder:
        raise RuntimeError("no weights here")

    for client in ready_client(create_app(settings, broken)):
        assert "no weights here" in assert_problem(client.get("/readyz"), 503)["detail"]
        assert_problem(client.post("/v1/ask", json={"question": "Who?"}), 503)


def test_ask_default_article_returns_cited_answer(client: TestClient) -> None:
    text = client.get("/v1/articles/default").json()["text"]
    body = client.post("/v1/ask", json={"question": "Who wrote this article?"}).json()
    assert body["article_id"] == "default"
    assert body["answerable"] is True
    assert 0.0 <= body["confidence"] <= 1.0
    first = body["citations"][0]
    assert first["n"] == 1
    assert first["quote"] == "Written by: Ross Key"
    assert text[first["start"] : first["end"]] == first["quote"]
    assert body["answer"].startswith("Written by: Ross Key [1]")
    passage = first["passage"]
    assert text[passage["start"] : passage["end"]] == passage["text"]
    assert passage["start"] <= first["start"] and first["end"] <= passage["end"]
    scores = [c["score"] for c in body["citations"]]
    assert scores == sorted(scores, reverse=True)


def test_ask_respects_top_k_and_accepts_history(client: TestClient) -> None:
    body = client.post(
        "/v1/ask",
        json={"question": "Glas embassy Quito", "top_k": 5, "history": ["Who is Glas?"]},
    ).json()
    assert [c["n"] for c in body["citations"]] == [1, 2, 3, 4, 5]


def test_history_turns_may_say_where_their_answers_were_cited(client: TestClient) -> None:
    """As the widget sends them: the previous answer's place, so it is not asked again. Offsets
    outside the article are ignored, not an error (the article may have been re-ingested)."""
    first = client.post("/v1/ask", json={"question": "Who is Glas?"}).json()
    cited = {"start": first["citations"][0]["start"], "end": first["citations"][0]["end"]}
    for turn in (
        {"question": "Who is Glas?", "cited": cited, "answer": "Jorge Glas"},
        {"question": "Who is Glas?", "cited": None},
        {"question": "Who is Glas?", "cited": {"start": 10**9, "end": 10**9 + 5}},
        {"question": "Who is Glas?", "cited": {"start": 9, "end": 3}},
    ):
        response = client.post("/v1/ask", json={"question": "Where is he?", "history": [turn]})
        assert response.status_code == 200, response.text
        assert response.json()["citations"]
    mixed = ["Who is Glas?", {"question": "Where is he?", "cited": cited}]
    response = client.post("/v1/ask", json={"question": "Why?", "history": mixed})
    assert response.status_code == 200


def test_off_topic_question_is_declined_without_presenting_a_quote(client: TestClient) -> None:
    body = client.post("/v1/ask", json={"question": "zzz qqq xxyyzz"}).json()
    assert body["answerable"] is False
    assert "does not say" in body["answer"]
    assert all(c["quote"] not in body["answer"] for c in body["citations"])


def test_boilerplate_is_never_cited(client: TestClient) -> None:
    body = client.post(
        "/v1/ask",
        json={"question": "READ NEXT WATCH READ MORE Maduro Essequibo TeleSUR", "top_k": 10},
    ).json()
    for citation in body["citations"]:
        assert not citation["quote"].startswith(("READ NEXT", "READ MORE", "WATCH"))


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"question": ""}, "question"),
        ({"question": "   \n\t "}, "question"),
        ({"question": "x" * 1001}, "question"),
        ({"question": 42}, "question"),
        ({}, "question"),
        ({"question": "Who?", "top_k": 0}, "top_k"),
        ({"question": "Who?", "top_k": 1000}, "top_k"),
        ({"question": "Who?", "history": ["q"] * 51}, "history"),
        ({"question": "Who?", "surprise": 1}, "surprise"),
        ({"question": "Who?", "history": [5]}, "history.0"),
        (
            {"question": "Who?", "history": [{"cited": {"start": 0, "end": 4}}]},
            "history.0.question",
        ),
        (
            {"question": "Who?", "history": [{"question": "q", "cited": {"start": -1, "end": 4}}]},
            "history.0.cited.start",
        ),
        (
            {"question": "Who?", "history": [{"question": "q", "cited": {"start": "0", "end": 4}}]},
            "history.0.cited.start",
        ),
        ({"question": "Who?", "history": [{"question": "q", "why": 1}]}, "history.0.why"),
    ],
)
def test_ask_rejects_invalid_bodies(
    client: TestClient, payload: dict[str, Any], field: str
) -> None:
    body = assert_problem(client.post("/v1/ask", json=payload), 422)
    assert any(e["field"].startswith(field) for e in body["errors"])


def test_ask_rejects_malformed_json(client: TestClient) -> None:
    response = client.post(
        "/v1/ask", content=b'{"question": ', headers={"content-type": "application/json"}
    )
    assert_problem(response, 422)


@pytest.mark.parametrize("article_id", ["nope", "../../etc/passwd", "x" * 150, ".tmp-x"])
def test_unknown_article_is_404(client: TestClient, article_id: str) -> None:
    response = client.post("/v1/ask", json={"question": "Who?", "article_id": article_id})
    assert "GET /v1/articles" in assert_problem(response, 404)["detail"]
    assert_problem(client.get(f"/v1/articles/{article_id}"), 404)
    assert_problem(client.delete(f"/v1/articles/{article_id}"), 404)


def test_article_lifecycle_text(client: TestClient) -> None:
    text = "Harbour news\n\nThe harbour bridge reopened on Monday. Engineers replaced 40 cables."
    created = client.post("/v1/articles", json={"text": text, "url": "https://example.com/a"})
    assert created.status_code == 201
    body = created.json()
    assert set(body) == {"id", "title", "sentences", "passages"}
    assert body["title"] == "Harbour news"
    assert body["sentences"] == 3
    assert created.headers["location"] == f"/v1/articles/{body['id']}"

    listed = client.get("/v1/articles").json()["articles"]
    assert {a["id"] for a in listed} == {"default", body["id"]}

    detail = client.get(f"/v1/articles/{body['id']}").json()
    assert detail["text"] == text
    assert detail["url"] == "https://example.com/a"
    for sentence in detail["sentences"]:
        assert detail["text"][sentence["start"] : sentence["end"]] == sentence["text"]
    assert [s["kind"] for s in detail["sentences"]] == ["heading", "body", "body"]

    answer = client.post(
        "/v1/ask", json={"question": "How many cables were replaced?", "article_id": body["id"]}
    ).json()
    assert answer["citations"][0]["quote"] == "Engineers replaced 40 cables."

    assert client.delete(f"/v1/articles/{body['id']}").status_code == 204
    assert_problem(client.get(f"/v1/articles/{body['id']}"), 404)
    assert_problem(client.delete(f"/v1/articles/{body['id']}"), 404)


def test_html_article_drops_scripts_and_navigation(client: TestClient) -> None:
    body = client.post("/v1/articles", json={"html": HTML}).json()
    assert body["title"] == "Harbour bridge reopens after repairs"  # <h1> beats <title>
    detail = client.get(f"/v1/articles/{body['id']}").json()
    text = detail["text"]
    for unwanted in ("pwned", "color: red", "Home", "ads.example", "Copyright", "javascript"):
        assert unwanted not in text
    # The headline is the title, not body text to cite; the article starts with its story.
    assert text.startswith("The harbour bridge reopened on Monday after six months of repairs.")
    assert "Read the report" in text
    answer = client.post(
        "/v1/ask", json={"question": "Who is the chief engineer?", "article_id": body["id"]}
    ).json()
    assert "Ana Ruiz" in answer["citations"][0]["quote"]


@pytest.mark.parametrize(
    "payload",
    [
        {"text": "   \n\n  "},
        {"text": ""},
        {"html": "<html><body><script>x()</script></body></html>"},
        {"text": "a", "html": "<p>b</p>"},
        {"title": "only a title"},
        {"text": "fine text.", "extra": True},
    ],
)
def test_ingest_rejects_unusable_articles(client: TestClient, payload: dict[str, Any]) -> None:
    assert_problem(client.post("/v1/articles", json=payload), 422)
    assert {a["id"] for a in client.get("/v1/articles").json()["articles"]} == {"default"}


def test_oversized_article_is_413(client: TestClient) -> None:
    # Under the body limit but over the article limit (50,000 characters in these settings).
    assert_problem(client.post("/v1/articles", json={"text": "word " * 20_000}), 413)


def test_oversized_body_is_rejected_before_it_is_read(client: TestClient) -> None:
    huge = b'{"text": "' + b"a" * 300_000 + b'"}'
    response = client.post(
        "/v1/articles", content=huge, headers={"content-type": "application/json"}
    )
    assert_problem(response, 413)

    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(30):
            yield b"a" * 10_000
        yield b'"}'

    streamed = client.post(
        "/v1/articles", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_problem(streamed, 413)


def test_articles_survive_a_restart(settings: Settings) -> None:
    app = create_app(settings, lambda _: HashingEncoder())
    for client in ready_client(app):
        article_id = client.post(
            "/v1/articles", json={"text": "Bridges are red. Roads are grey."}
        ).json()["id"]
    encoded: list[int] = []

    class Counting(HashingEncoder):
        def encode_documents(self, texts: Any, progress: Any = None) -> Any:
            encoded.append(len(texts))
            return super().encode_documents(texts, progress)

    for client in ready_client(create_app(settings, lambda _: Counting())):
        answer = client.post(
            "/v1/ask", json={"question": "What colour are roads?", "article_id": article_id}
        ).json()
        assert answer["citations"][0]["quote"] == "Roads are grey."
    assert encoded == [], "a restart must load stored vectors, not re-embed"


def test_unknown_route_and_method_are_problems(client: TestClient) -> None:
    assert_problem(client.get("/v1/nothing"), 404)
    assert_problem(client.put("/v1/ask", json={}), 405)


def test_a_wrong_method_lists_every_method_of_the_path(client: TestClient) -> None:
    response = client.put("/v1/articles/default")
    assert_problem(response, 405)
    assert {"GET", "DELETE"} <= set(response.headers["Allow"].split(", "))
    assert {"GET", "POST"} <= set(client.patch("/v1/articles").headers["Allow"].split(", "))


def test_openapi_documents_every_field(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    assert {"/v1/ask", "/v1/articles", "/v1/articles/{article_id}", "/healthz", "/readyz"} <= set(
        paths
    )
    ask = schema["components"]["schemas"]["AskRequest"]["properties"]
    assert all(field.get("description") for field in ask.values())
    assert client.get("/docs").status_code == 200


def test_data_dir_is_created_under_settings(settings: Settings, client: TestClient) -> None:
    assert (Path(settings.data_dir) / DB_NAME).is_file()


def test_search_across_articles(client: TestClient) -> None:
    created = client.post(
        "/v1/articles", json={"text": "Harbour News\n\nThe ferry to the island sank in a storm."}
    ).json()
    response = client.post("/v1/search", json={"query": "ferry sank in a storm", "top_k": 3})
    assert response.status_code == 200
    results = response.json()["results"]
    assert results[0]["article_id"] == created["id"]
    assert results[0]["quote"] == "The ferry to the island sank in a storm."
    text = client.get(f"/v1/articles/{created['id']}").json()["text"]
    assert text[results[0]["start"] : results[0]["end"]] == results[0]["quote"]
    assert {r["article_id"] for r in results} <= {created["id"], "default"}
    assert_problem(client.post("/v1/search", json={"query": " "}), 422)
    assert_problem(client.post("/v1/search", json={"query": "x", "top_k": 21}), 422)
