"""The answer's own words (a citation's ``answer_span``) in bold in the chat and highlighted more
strongly in the article. POST /v1/ask is answered by a fixed reply pointing at real offsets of
the default article, so nothing here depends on what the model answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.harness import ANSWER_HIGHLIGHT, HIGHLIGHT, ask, highlighted_text

pytestmark = pytest.mark.browser

# Words of two sentences of the default article, each the answer to a question about it.
SINCE = ("has taken refuge in Mexico's embassy", "since December")
SENTENCE = ("received a six-year prison sentence", "six-year prison sentence")


@pytest.fixture(scope="module")
def article(server: str) -> dict[str, Any]:
    """The default article as the API stores it: the text every offset refers to."""
    response = httpx.get(f"{server}/v1/articles/default", timeout=10)
    response.raise_for_status()
    stored: dict[str, Any] = response.json()
    return stored


def citation(article: dict[str, Any], n: int, words: tuple[str, str]) -> dict[str, Any]:
    """Citation ``n`` of the sentence holding ``words[0]``, its answer_span ``words[1]``; offsets
    are Python string indices into the stored text, as the API gives them."""
    text: str = article["text"]
    sentence = next(s for s in article["sentences"] if words[0] in s["text"])
    start, end = sentence["start"], sentence["end"]
    passage = next(p for p in article["passages"] if p["start"] <= start and end <= p["end"])
    at = start + text[start:end].index(words[1])
    span = {"start": at, "end": at + len(words[1]), "text": words[1]}
    assert text[span["start"] : span["end"]] == words[1]
    return {
        "n": n,
        "quote": text[start:end],
        "start": start,
        "end": end,
        "passage": passage,
        "score": 0.9 - n / 100,
        "answer_span": span,
    }


def reply(*citations: dict[str, Any], answerable: bool = True) -> dict[str, Any]:
    """An /v1/ask answer as the API composes it: the quotes, each followed by its marker."""
    answer = " ".join(f"{c['quote']} [{c['n']}]" for c in citations)
    return {
        "article_id": "default",
        "answerable": answerable,
        "answer": answer if answerable else "The article does not say.",
        "confidence": 0.9 if answerable else 0.1,
        "citations": list(citations),
    }


@pytest.fixture
def answers(page: Page) -> Iterator[list[dict[str, Any]]]:
    """Append replies to the list; each question gets the next one, in order."""
    queue: list[dict[str, Any]] = []

    def answer(route: Route) -> None:
        route.fulfill(json=queue.pop(0))

    page.route("**/v1/ask", answer)
    yield queue


def open_widget(page: Page, url: str) -> None:
    page.goto(url)
    page.get_by_role("button", name="Ask").click()
    expect(page.get_by_role("textbox", name="Question")).to_be_focused()


def test_answer_span_is_bold_in_the_answer_and_highlighted_in_the_article(
    page: Page, server: str, article: dict[str, Any], answers: list[dict[str, Any]]
) -> None:
    cited = citation(article, 1, SINCE)
    span = cited["answer_span"]["text"]
    answers.append(reply(cited))
    open_widget(page, server)
    ask(page, "How long has Glas been in the embassy?")

    answer = page.get_by_role("log").locator(".answer").last
    bold = answer.locator(".quote strong")
    expect(bold).to_have_text([span])
    assert bold.evaluate("b => b.getAttributeNames()") == []  # read as plain quote text
    # Still the whole quote, word for word, then its citation button.
    expect(answer.locator(".quote")).to_have_text(f"{cited['quote']} 1")

    answer.get_by_role("button", name="Citation 1").click()
    page.wait_for_function("name => CSS.highlights.has(name)", arg=ANSWER_HIGHLIGHT)
    assert highlighted_text(page, ANSWER_HIGHLIGHT) == span
    assert highlighted_text(page) == cited["quote"]
    # The answer's words are painted over the sentence's highlight.
    assert page.evaluate("name => CSS.highlights.get(name).priority", ANSWER_HIGHLIGHT) > 0
    expect(answer.locator(".source")).to_have_text("Source 1 is highlighted in the article")


# A page of the server's own origin with the widget but not the article: a citation shows its
# passage in the chat, the quote marked.
NO_ARTICLE = """<!doctype html><html><head><title>No article</title></head><body>
<p>Comments</p><script src="/widget.js" data-article-id="default" async></script></body></html>"""


def test_passage_view_bolds_the_span_inside_the_marked_quote(
    page: Page, server: str, article: dict[str, Any], answers: list[dict[str, Any]]
) -> None:
    cited = citation(article, 1, SINCE)
    url = f"{server}/no-article.html"
    page.route(url, lambda route: route.fulfill(body=NO_ARTICLE, content_type="text/html"))
    answers.append(reply(cited))
    open_widget(page, url)
    ask(page, "How long has Glas been in the embassy?")
    answer = page.get_by_role("log").locator(".answer").last
    answer.get_by_role("button", name="Citation 1").click()
    source = answer.locator(".source")
    expect(source.locator(".label")).to_have_text("Source 1")
    expect(source.locator("mark")).to_have_text(cited["quote"])
    expect(source.locator("mark strong")).to_have_text([SINCE[1]])
    expect(source.locator("p")).to_have_text(cited["passage"]["text"])
    assert not page.evaluate("name => CSS.highlights.has(name)", ANSWER_HIGHLIGHT)


def test_each_quote_of_a_two_quote_answer_bolds_its_own_span(
    page: Page, server: str, article: dict[str, Any], answers: list[dict[str, Any]]
) -> None:
    first, second = citation(article, 1, SINCE), citation(article, 2, SENTENCE)
    answers.append(reply(first, second))
    open_widget(page, server)
    ask(page, "What about Glas?")
    answer = page.get_by_role("log").locator(".answer").last
    expect(answer.locator(".quote strong")).to_have_text([SINCE[1], SENTENCE[1]])

    answer.get_by_role("button", name="Citation 2").click()
    page.wait_for_function(
        "([name, text]) => [...(CSS.highlights.get(name) ?? [])].map(String).join('') === text",
        arg=[ANSWER_HIGHLIGHT, SENTENCE[1]],
    )
    assert highlighted_text(page) == second["quote"]


def test_declined_answer_shows_no_bold(
    page: Page, server: str, article: dict[str, Any], answers: list[dict[str, Any]]
) -> None:
    # Even a span the API should have dropped (it sends null when declining) is not shown.
    answers.append(reply(citation(article, 1, SINCE), answerable=False))
    open_widget(page, server)
    ask(page, "Who won the 2022 World Cup?")
    declined = page.get_by_role("log").locator(".declined").last
    expect(declined).to_contain_text("does not say")
    declined.locator("summary").click()
    expect(declined.locator("li")).to_have_count(1)
    expect(declined.locator("strong")).to_have_count(0)


@pytest.mark.parametrize(
    "spoil",
    [
        lambda c: None,
        lambda c: {**c["answer_span"], "text": "not these words"},
        lambda c: {**c["answer_span"], "end": c["end"] + 5},
        lambda c: {"start": c["start"] - 3, "end": c["start"] + 4, "text": c["quote"][:4]},
    ],
    ids=["null", "other-text", "past-the-quote", "before-the-quote"],
)
def test_quote_without_a_usable_span_renders_as_before(
    page: Page, server: str, article: dict[str, Any], answers: list[dict[str, Any]], spoil: Any
) -> None:
    cited = citation(article, 1, SINCE)
    cited["answer_span"] = spoil(cited)
    answers.append(reply(cited))
    open_widget(page, server)
    ask(page, "How long has Glas been in the embassy?")
    answer = page.get_by_role("log").locator(".answer").last
    expect(answer.locator(".quote")).to_have_text(f"{cited['quote']} 1")
    expect(answer.locator("strong")).to_have_count(0)

    answer.get_by_role("button", name="Citation 1").click()
    page.wait_for_function("name => CSS.highlights.get(name)?.size > 0", arg=HIGHLIGHT)
    assert highlighted_text(page) == cited["quote"]
    assert not page.evaluate("name => CSS.highlights.has(name)", ANSWER_HIGHLIGHT)
    expect(answer.locator(".source")).to_have_text("Source 1 is highlighted in the article")


def test_both_highlights_are_cleared_together(
    page: Page, server: str, article: dict[str, Any], answers: list[dict[str, Any]]
) -> None:
    with_span, without = citation(article, 1, SINCE), citation(article, 1, SENTENCE)
    without["answer_span"] = None
    answers.extend([reply(with_span), reply(without)])
    open_widget(page, server)
    log = page.get_by_role("log")
    ask(page, "How long has Glas been in the embassy?")
    log.locator(".answer").last.get_by_role("button", name="Citation 1").click()
    page.wait_for_function("name => CSS.highlights.has(name)", arg=ANSWER_HIGHLIGHT)

    ask(page, "What was his sentence?")
    log.locator(".answer").last.get_by_role("button", name="Citation 1").click()
    page.wait_for_function(
        "([name, text]) => [...(CSS.highlights.get(name) ?? [])].map(String).join('') === text",
        arg=[HIGHLIGHT, without["quote"]],
    )
    assert not page.evaluate("name => CSS.highlights.has(name)", ANSWER_HIGHLIGHT)


# A page of the server's own origin that renders the sentence its own way: no data-start, the
# words split across elements and whitespace reflowed, so the widget finds the quote by its text.
OWN_MARKUP = """<!doctype html><html><head><title>Own markup</title></head><body>
<div id="story"><p>Mexico has granted political asylum.</p><p>QUOTE</p></div>
<script src="/widget.js" data-article-id="default" data-article-selector="#story" async>
</script></body></html>"""


def test_answer_span_is_found_in_a_page_without_offsets(
    page: Page, server: str, article: dict[str, Any], answers: list[dict[str, Any]]
) -> None:
    cited = citation(article, 1, SINCE)
    words = SINCE[1].split()
    own = cited["quote"].replace(SINCE[1], f"{words[0]}\n   <em>{' '.join(words[1:])}</em>")
    assert own != cited["quote"]
    url = f"{server}/own-markup.html"
    html = OWN_MARKUP.replace("QUOTE", own)
    page.route(url, lambda route: route.fulfill(body=html, content_type="text/html"))
    answers.append(reply(cited))
    open_widget(page, url)
    ask(page, "How long has Glas been in the embassy?")
    page.get_by_role("log").get_by_role("button", name="Citation 1").click()
    page.wait_for_function("name => CSS.highlights.has(name)", arg=ANSWER_HIGHLIGHT)
    assert " ".join(highlighted_text(page, ANSWER_HIGHLIGHT).split()) == SINCE[1]
    assert " ".join(highlighted_text(page).split()) == cited["quote"]


def test_marks_without_the_highlight_api_cover_the_quote(
    page: Page, server: str, article: dict[str, Any], answers: list[dict[str, Any]]
) -> None:
    """The <mark> fallback marks the sentence only; the bold words stay in the chat."""
    page.add_init_script("delete window.Highlight")
    cited = citation(article, 1, SINCE)
    answers.append(reply(cited))
    open_widget(page, server)
    ask(page, "How long has Glas been in the embassy?")
    answer = page.get_by_role("log").locator(".answer").last
    answer.get_by_role("button", name="Citation 1").click()
    expect(page.locator("[data-article-qa-text] mark")).to_have_text([cited["quote"]])
    expect(answer.locator(".quote strong")).to_have_text([SINCE[1]])
