"""The demo page, the widget script and CORS, through TestClient with the fake encoder."""

from __future__ import annotations

from collections.abc import Iterator

import lxml.html
import pytest
from fastapi.testclient import TestClient

from index.encoder import HashingEncoder
from qa.article import parse_text
from service.app import create_app
from service.routes.widget import render_demo
from service.settings import Settings
from tests.service.conftest import SlowStart, ready_client

PUBLISHER = "https://news.example"


def offset_blocks(root: lxml.html.HtmlElement) -> list[lxml.html.HtmlElement]:
    return [element for element in root.iter() if "data-start" in element.attrib]


def test_demo_page_renders_the_stored_text_with_offsets(client: TestClient) -> None:
    article = client.get("/v1/articles/default").json()
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    csp = response.headers["content-security-policy"]
    assert csp.startswith("default-src 'self';")
    assert "script-src" not in csp  # scripts fall back to 'self': no inline script runs
    page = lxml.html.fromstring(response.text)
    assert page.findtext(".//h1") == article["title"]
    script = page.find(".//script")
    assert script is not None
    assert script.get("src") == "/widget.js"
    assert script.get("data-article-id") == "default"
    container = page.find(".//article[@data-article-qa-text]")
    assert container is not None
    blocks = offset_blocks(container)
    assert blocks
    text = article["text"]
    for block in blocks:
        start = int(block.get("data-start"))
        content = block.text_content()
        assert text[start : start + len(content)] == content
    # Every sentence an answer can cite lies inside one rendered block.
    spans = [(int(b.get("data-start")), len(b.text_content())) for b in blocks]
    for sentence in article["sentences"]:
        assert any(s <= sentence["start"] and sentence["end"] <= s + n for s, n in spans)


def test_demo_page_shows_markup_in_the_article_as_text() -> None:
    article = parse_text(
        "<script>alert(1)</script> & <b>bold</b> claims.\n\nSecond <img src=x onerror=alert(2)>.",
        title="</title><script>alert(3)</script>",
    )
    page = lxml.html.fromstring(render_demo(article))
    assert [s.get("src") for s in page.iter("script")] == ["/widget.js"]
    assert not list(page.iter("img", "b"))
    assert page.findtext(".//h1") == "</title><script>alert(3)</script>"
    blocks = offset_blocks(page)
    assert [b.text_content() for b in blocks] == [
        "<script>alert(1)</script> & <b>bold</b> claims.",
        "Second <img src=x onerror=alert(2)>.",
    ]


def test_demo_page_is_503_until_the_model_has_loaded(slow_start: SlowStart) -> None:
    app, release = slow_start.app, slow_start.release
    with TestClient(app) as client:
        response = client.get("/")
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["retry-after"]
        assert 'http-equiv="refresh"' in response.text
        release.set()
        assert app.state.runtime.ready.wait(10)
        assert client.get("/").status_code == 200


def test_demo_page_says_so_in_html_when_the_default_article_is_deleted(
    client: TestClient,
) -> None:
    assert client.delete("/v1/articles/default").status_code == 204
    response = client.get("/")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "default article has been deleted" in response.text


def test_widget_script_is_cacheable_javascript(client: TestClient) -> None:
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "customElements.define" in response.text
    assert "innerHTML" not in response.text
    etag = response.headers["etag"]
    revalidated = client.get("/widget.js", headers={"If-None-Match": f'"other", {etag}'})
    assert revalidated.status_code == 304
    assert revalidated.content == b""
    assert revalidated.headers["etag"] == etag
    assert client.get("/widget.js", headers={"If-None-Match": '"stale"'}).status_code == 200
    head = client.head("/widget.js")
    assert head.status_code == 200
    assert head.headers["etag"] == etag


@pytest.fixture
def cors_client(settings: Settings) -> Iterator[TestClient]:
    settings = settings.model_copy(update={"cors_origins": [PUBLISHER]})
    yield from ready_client(create_app(settings, lambda _: HashingEncoder()))


def test_cors_lets_a_configured_origin_ask(cors_client: TestClient) -> None:
    preflight = cors_client.options(
        "/v1/ask",
        headers={
            "Origin": PUBLISHER,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == PUBLISHER
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "content-type" in preflight.headers["access-control-allow-headers"].lower()

    answer = cors_client.post(
        "/v1/ask", json={"question": "Who wrote this article?"}, headers={"Origin": PUBLISHER}
    )
    assert answer.headers["access-control-allow-origin"] == PUBLISHER
    # Errors carry the header too, so the widget can read their detail.
    invalid = cors_client.post("/v1/ask", json={"question": ""}, headers={"Origin": PUBLISHER})
    assert invalid.status_code == 422
    assert invalid.headers["access-control-allow-origin"] == PUBLISHER


def test_cors_refuses_other_origins(cors_client: TestClient, client: TestClient) -> None:
    other = {"Origin": "https://elsewhere.example"}
    response = cors_client.post("/v1/ask", json={"question": "Who?"}, headers=other)
    assert "access-control-allow-origin" not in response.headers
    preflight = cors_client.options(
        "/v1/ask", headers=other | {"Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 400
    # Without ARTICLE_QA_CORS_ORIGINS no origin is allowed.
    default = client.post("/v1/ask", json={"question": "Who?"}, headers={"Origin": PUBLISHER})
    assert "access-control-allow-origin" not in default.headers


@pytest.mark.parametrize(
    ("value", "origins"),
    [
        ("", []),
        ("https://a.example", ["https://a.example"]),
        (
            "https://a.example/, http://b.example:8080 ,",
            ["https://a.example", "http://b.example:8080"],
        ),
        ('["https://a.example", "https://b.example/"]', ["https://a.example", "https://b.example"]),
        ("*", ["*"]),
    ],
)
def test_cors_origins_setting(
    monkeypatch: pytest.MonkeyPatch, value: str, origins: list[str]
) -> None:
    monkeypatch.setenv("ARTICLE_QA_CORS_ORIGINS", value)
    assert Settings().cors_origins == origins


def test_an_unexpected_error_is_a_problem_the_widget_can_read(
    cors_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 500 carries the CORS headers, so a widget on another site shows its Retry message."""
    library = cors_client.app.state.runtime.library  # type: ignore[attr-defined]

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(library, "ask", broken)
    response = cors_client.post("/v1/ask", json={"question": "Who?"}, headers={"Origin": PUBLISHER})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "unexpected server error; it has been logged"
    assert response.headers["access-control-allow-origin"] == PUBLISHER
