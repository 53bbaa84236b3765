"""The chat widget in Chromium against the real server and model: what a reader sees and does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Dialog, Page, Request, Route, ViewportSize, expect

from tests.browser.harness import (
    DESKTOP,
    HIGHLIGHT,
    PHONE,
    PUBLISHER,
    ask,
    highlighted_text,
    show_cited_answer,
)
from tests.publisher import publishing

pytestmark = pytest.mark.browser

BYLINE = "Written by: Ross Key"
OWNER = "This article is owned by Latin Post."
# True once the highlighted sentence is on screen and not under the open chat panel (scrolling
# is smooth unless the reader prefers reduced motion, so tests poll for it).
HIGHLIGHT_ON_SCREEN = """name => {
    const ranges = [...(CSS.highlights.get(name) ?? [])];
    if (!ranges.length) return false;
    const rect = ranges[0].getBoundingClientRect();
    const panel = document.querySelector('article-qa-chat').shadowRoot
        .querySelector('.panel').getBoundingClientRect();
    const bottom = panel.left < rect.right && panel.right > rect.left ? panel.top : innerHeight;
    return rect.top >= 0 && rect.bottom <= bottom;
}"""


def sent_bodies(page: Page) -> list[dict[str, Any]]:
    """Every /v1/ask body the page sends, in order (filled in as requests go out)."""
    bodies: list[dict[str, Any]] = []

    def record(request: Request) -> None:
        if request.method == "POST" and request.url.endswith("/v1/ask"):
            bodies.append(json.loads(request.post_data or "{}"))

    page.on("request", record)
    return bodies


def open_widget(page: Page, url: str) -> None:
    page.goto(url)
    page.get_by_role("button", name="Ask").click()
    expect(page.get_by_role("textbox", name="Question")).to_be_focused()


def test_reader_asks_follows_up_and_is_told_when_the_article_does_not_say(
    page: Page, server: str
) -> None:
    bodies = sent_bodies(page)
    page.goto(server)
    expect(page.get_by_role("heading", level=1)).to_have_text("Mexico grants asylum to Jorge Glas")
    page.get_by_role("button", name="Ask").click()
    expect(page.get_by_role("textbox", name="Question")).to_be_focused()
    log = page.get_by_role("log")
    expect(log).to_have_attribute("aria-live", "polite")

    with page.expect_response("**/v1/ask") as response:
        ask(page, "Who wrote this article?")
    first = response.value.json()["citations"][0]
    quote, cited = first["quote"], {"start": first["start"], "end": first["end"]}
    span = (first["answer_span"] or {}).get("text")
    assert quote == BYLINE
    answer = log.locator(".answer").last
    expect(answer).to_contain_text(BYLINE)
    citation = answer.get_by_role("button", name="Citation 1")
    citation.click()
    expect(citation).to_have_attribute("aria-expanded", "true")
    expect(answer.locator(".source")).to_have_text("Source 1 is highlighted in the article")
    page.wait_for_function(HIGHLIGHT_ON_SCREEN, arg=HIGHLIGHT)
    assert highlighted_text(page) == quote
    assert bodies[0] == {
        "question": "Who wrote this article?",
        "article_id": "default",
        "top_k": 3,
        "history": [],
    }

    ask(page, "Which publication owns it?")
    expect(log.locator(".answer")).to_have_count(2)
    expect(log.locator(".answer").last.get_by_role("button", name="Citation 1")).to_be_visible()
    # Each earlier turn goes with where its answer was cited, so the server need not ask it again.
    assert bodies[1]["history"] == [
        {"question": "Who wrote this article?", "cited": cited} | ({"answer": span} if span else {})
    ]

    ask(page, "Who won the 2022 World Cup?")
    declined = log.locator(".declined").last
    expect(declined).to_contain_text("does not say")
    expect(declined.get_by_role("button", name="Citation 1")).to_have_count(0)
    expect(declined.locator("details")).not_to_have_attribute("open", "")
    assert [turn["question"] for turn in bodies[2]["history"]] == [
        "Who wrote this article?",
        "Which publication owns it?",
    ]
    expect(log.locator(".user")).to_have_text(
        ["Who wrote this article?", "Which publication owns it?", "Who won the 2022 World Cup?"]
    )


def test_keyboard_only(page: Page, server: str) -> None:
    page.goto(server)
    launcher = page.get_by_role("button", name="Ask")
    question = page.get_by_role("textbox", name="Question")
    page.keyboard.press("Tab")
    expect(launcher).to_be_focused()
    page.keyboard.press("Enter")
    expect(question).to_be_focused()
    page.keyboard.type("Who wrote this article?")
    page.keyboard.press("Enter")
    citation = page.get_by_role("button", name="Citation 1")
    expect(citation).to_be_visible()
    expect(question).to_be_focused()  # ready for a follow-up
    page.keyboard.press("Shift+Tab")  # the newest answer's citation sits just before the box
    expect(citation).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_function(HIGHLIGHT_ON_SCREEN, arg=HIGHLIGHT)
    assert highlighted_text(page) == BYLINE
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(launcher).to_be_focused()

    # Nothing traps the keyboard: Tab from the last control leaves the widget.
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Send").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement?.tagName") != "ARTICLE-QA-CHAT"


def _problem(status: int, detail: str) -> dict[str, Any]:
    return {
        "status": status,
        "content_type": "application/problem+json",
        "body": json.dumps({"type": "about:blank", "status": status, "detail": detail}),
    }


@pytest.mark.parametrize(
    ("failure", "message", "retryable"),
    [
        (None, "Could not reach the server", True),
        (500, "went wrong on the server", True),
        (503, "still starting up", True),
        (429, "Too many questions", True),
        (422, "question: too long for this test", False),
    ],
)
def test_failed_request_says_so_and_offers_retry(
    page: Page, server: str, failure: int | None, message: str, retryable: bool
) -> None:
    failures = [failure]

    def fail_once(route: Route) -> None:
        if not failures:
            route.continue_()
        elif (status := failures.pop()) is None:
            route.abort("connectionrefused")
        else:
            route.fulfill(**_problem(status, "question: too long for this test"))

    page.route("**/v1/ask", fail_once)
    bodies = sent_bodies(page)
    open_widget(page, server)
    ask(page, "Who wrote this article?")
    log = page.get_by_role("log")
    expect(log.locator(".error")).to_contain_text(message)
    expect(log.locator(".user")).to_have_text(["Who wrote this article?"])
    retry = page.get_by_role("button", name="Retry")
    if not retryable:
        expect(retry).to_have_count(0)
        return
    retry.click()
    expect(log.locator(".answer")).to_contain_text(BYLINE)
    expect(retry).to_have_count(0)
    expect(log.locator(".user")).to_have_text(["Who wrote this article?"])
    assert bodies[0] == bodies[1]


def test_markup_from_reader_or_server_is_shown_as_text(page: Page, server: str) -> None:
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    open_widget(page, server)
    log = page.get_by_role("log")
    markup = "<img src=x onerror=alert(1)>"
    ask(page, markup)
    expect(log.locator(".user")).to_have_text([markup])

    served = markup.replace("1", "2")
    answer = {
        "article_id": "default",
        "answerable": True,
        "answer": f"<b>{served}</b> [1]",
        "confidence": 0.9,
        "citations": [
            {
                "n": 1,
                "quote": served,
                "start": 0,
                "end": len(served),
                "passage": {"start": 0, "end": len(served), "text": served},
                "score": 1.0,
            }
        ],
    }
    page.route("**/v1/ask", lambda route: route.fulfill(json=answer))
    ask(page, "And now?")
    expect(log.locator(".answer")).to_contain_text(f"<b>{served}</b>")
    log.get_by_role("button", name="Citation 1").click()
    expect(log.locator(".source mark")).to_have_text(served)
    assert log.locator("img, b").count() == 0
    assert page.locator("img").count() == 0
    assert dialogs == []


def test_marks_are_used_without_the_highlight_api(page: Page, server: str) -> None:
    page.add_init_script("delete window.Highlight")
    open_widget(page, server)
    article = page.locator("[data-article-qa-text]")
    ask(page, "Who wrote this article?")
    page.get_by_role("button", name="Citation 1").click()
    expect(article.locator("mark")).to_have_text([BYLINE])

    ask(page, "Which publication owns this article?")
    page.get_by_role("log").locator(".answer").last.get_by_role("button", name="Citation 1").click()
    expect(article.locator("mark")).to_have_text([OWNER])
    # The earlier mark is gone and its paragraph is one text node again.
    byline = article.locator("p", has_text=BYLINE)
    assert byline.evaluate("p => p.childNodes.length") == 1
    assert highlighted_text(page) == ""


PUBLISHER_PAGE = """<!doctype html><html><head><title>Publisher</title><style>
* { color: rgb(200, 0, 0) !important; font-family: monospace !important; }
button { background: rgb(255, 0, 0); border: 5px solid lime; }
p { margin: 40px; }
</style></head><body>
<button id="own">Subscribe</button>
<div id="story"><p>Mexico has granted political asylum.</p>
<p>Written by:
   <a href="#">Ross Key</a></p></div>
<script>window.globalsBefore = Object.getOwnPropertyNames(window);</script>
<script src="SERVER/widget.js" data-article-id="default" data-article-selector="#story" async>
</script>
</body></html>"""


def test_embedded_on_another_origin(page: Page, server: str) -> None:
    """A publisher's page, with hostile CSS, loads the script from the server and calls its API
    across origins (CORS); the widget finds the quote in the publisher's own markup."""
    url = f"{PUBLISHER}/story.html"
    html = PUBLISHER_PAGE.replace("SERVER", server)
    page.route(url, lambda route: route.fulfill(body=html, content_type="text/html"))
    # Chromium asks before a page reaches a loopback address; here both sides are loopback.
    page.context.grant_permissions(["local-network-access"], origin=PUBLISHER)
    page.goto(url)
    page.get_by_role("button", name="Ask").click()
    ask(page, "Who wrote this article?")
    page.get_by_role("button", name="Citation 1").click()
    page.wait_for_function("name => CSS.highlights.get(name)?.size > 0", arg=HIGHLIGHT)
    assert " ".join(highlighted_text(page).split()) == BYLINE

    # The page keeps its look, the widget keeps its own, and it adds one global name.
    style = "(element, name) => getComputedStyle(element)[name]"
    own = page.locator("#own")
    assert own.evaluate(style, "backgroundColor") == "rgb(255, 0, 0)"
    assert own.evaluate(style, "borderTopWidth") == "5px"
    assert page.locator("#story p").first.evaluate(style, "marginTop") == "40px"
    send = page.get_by_role("button", name="Send")
    assert send.evaluate(style, "backgroundColor") != "rgb(255, 0, 0)"
    assert page.get_by_role("log").evaluate(style, "color") != "rgb(200, 0, 0)"
    added = page.evaluate(
        "Object.getOwnPropertyNames(window).filter(n => !globalsBefore.includes(n)).sort()"
    )
    assert added == ["ArticleQA", "globalsBefore"]  # the second is the page's own


# A publisher's article page as the reader gets it and as the server fetches it: one script tag
# with no article named, and the page's canonical URL on the publisher's own server.
ARTICLE_PAGE = """<!doctype html><html><head><title>Bridge reopens</title>
<link rel="canonical" href="CANONICAL"></head><body>
<div id="story"><h1>Bridge reopens</h1>
<p>The old bridge reopened on Monday after two years of repairs.</p>
<p>Mayor Ana Ruiz cut the ribbon.</p>
<p>Crowds cheered as the first cars crossed the river.</p></div>
<script src="SERVER/widget.js" data-article-selector="#story" async></script>
</body></html>"""


@pytest.mark.parametrize(
    ("attributes", "head", "named"),
    [
        ('data-article-id="default"', "canonical", {"article_id": "default"}),
        ('data-article-url="../x?p=2#c"', "canonical", {"article_url": f"{PUBLISHER}/x?p=2"}),
        ("data-article-url", "canonical", {"article_url": f"{PUBLISHER}/news/canonical.html"}),
        ("data-article-url", "", {"article_url": f"{PUBLISHER}/news/today.html?id=7"}),
        ("", "canonical", {"article_url": f"{PUBLISHER}/news/canonical.html"}),
        ("", "", {"article_id": "default"}),
    ],
    ids=["id", "url", "empty-url-canonical", "empty-url-page", "canonical", "neither"],
)  # fmt: skip
def test_which_article_the_widget_names(
    page: Page, server: str, attributes: str, head: str, named: dict[str, str]
) -> None:
    """The rule of widget.md: an id; else a URL (data-article-url, relative to the page, empty:
    this page), else the canonical link; else the default article. Fragments are dropped."""
    link = '<link rel="canonical" href="/news/canonical.html">' if head == "canonical" else ""
    html = (
        f"<!doctype html><html><head>{link}</head><body><p>A page.</p>"
        f'<script src="{server}/widget.js" {attributes} async></script></body></html>'
    )
    page.route(
        lambda u: u.startswith(f"{PUBLISHER}/news/"),
        lambda route: route.fulfill(body=html, content_type="text/html"),
    )
    page.context.grant_permissions(["local-network-access"], origin=PUBLISHER)
    bodies = sent_bodies(page)
    open_widget(page, f"{PUBLISHER}/news/today.html?id=7#top")
    ask(page, "Who wrote this article?")  # by URL: a 404 here, as localhost is not fetched from
    assert {k: v for k, v in bodies[0].items() if k.startswith("article_")} == named


def test_a_page_not_stored_is_asked_about_by_its_canonical_url(page: Page, server: str) -> None:
    """No ingest step: the widget names the article by the page's canonical URL, the server
    fetches that page once and answers from it, and follow-ups name the id it answered with."""
    with publishing() as site:
        canonical = f"{site.base}/bridge-reopens"
        html = ARTICLE_PAGE.replace("CANONICAL", canonical).replace("SERVER", server)
        site.pages["/bridge-reopens"] = html
        url = f"{PUBLISHER}/news/bridge-reopens.html?utm_source=feed"
        page.route(url, lambda route: route.fulfill(body=html, content_type="text/html"))
        page.context.grant_permissions(["local-network-access"], origin=PUBLISHER)
        bodies = sent_bodies(page)
        open_widget(page, url)
        with page.expect_response("**/v1/ask") as response:
            ask(page, "Who cut the ribbon?")
        article_id = response.value.json()["article_id"]
        answer = page.get_by_role("log").locator(".answer").last
        expect(answer).to_contain_text("Mayor Ana Ruiz cut the ribbon.")
        answer.get_by_role("button", name="Citation 1").click()
        page.wait_for_function("name => CSS.highlights.get(name)?.size > 0", arg=HIGHLIGHT)
        assert highlighted_text(page) == "Mayor Ana Ruiz cut the ribbon."

        ask(page, "When did the bridge reopen?")
        assert [{k: b.get(k) for k in ("article_id", "article_url")} for b in bodies] == [
            {"article_id": None, "article_url": canonical},
            {"article_id": article_id, "article_url": None},
        ]
        stored = httpx.get(f"{server}/v1/articles/{article_id}", timeout=10).json()
        assert stored["url"] == canonical
        assert len(site.hosts) == 1


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_layout_fits_the_screen(
    browser: Browser, server: str, viewport: ViewportSize, tmp_path: Path
) -> None:
    context = browser.new_context(viewport=viewport, reduced_motion="reduce")
    try:
        page = context.new_page()
        show_cited_answer(page, server)
        # Reduced motion: the page jumps to the sentence instead of gliding there.
        assert page.evaluate(HIGHLIGHT_ON_SCREEN, HIGHLIGHT)
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        box = page.get_by_role("dialog").bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
        assert box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"]
        page.screenshot(path=tmp_path / "widget.png")
    finally:
        context.close()
