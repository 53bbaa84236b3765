"""A real page's article and nothing else: what a news page carries besides its story (menus,
teasers, comments, cookie prompts, hidden templates) never becomes citable text, and the page's
author and date become lines a reader can ask about."""

from __future__ import annotations

import pytest
import trafilatura

from qa import html as pages
from qa.article import classify, parse_html, published, search_text
from qa.errors import EmptyArticleError
from qa.models import Article, Kind

STORY = [
    "The old harbour bridge reopened on Monday after two years of repairs that cost the city "
    "more than 40 million euros, the transport office said in a statement.",
    "Engineers replaced the steel deck and the cables that hold it, which had rusted through in "
    "several places since the bridge was last repaired in 1987.",
    "Mayor Ana Ruiz cut the ribbon in front of a crowd of several hundred residents, who had "
    "waited since early morning in the rain to cross the bridge on foot.",
    "Traffic will return gradually: buses first, from Wednesday, then cars from the start of "
    "next month, once the last inspections are done.",
]
PAGE = f"""<!doctype html><html lang="en"><head>
<title>Harbour bridge reopens after two years | The Coastal Times</title>
<meta property="og:title" content="Harbour bridge reopens after two years">
<meta property="og:site_name" content="The Coastal Times">
<meta name="author" content="Maria Lopez">
<meta property="article:published_time" content="2026-11-30T08:15:00+01:00">
</head><body>
<div class="cookie-banner">We use cookies to improve your experience. Accept all cookies</div>
<nav><ul><li><a href="/">Home</a></li><li><a href="/politics">Politics</a></li>
<li><a href="/sport">Sport</a></li></ul></nav>
<main><article>
<h1>Harbour bridge reopens after two years</h1>
<p>{STORY[0]}</p>
<p>{STORY[1]}</p>
<h2>A crowd in the rain</h2>
<p>{STORY[2]}</p>
<div style="display: none"><p>Template for the share dialog: copy this link to share.</p></div>
<p>{STORY[3]}</p>
</article>
<section class="related"><h3>Related stories</h3><ul>
<li><a href="/a">Council approves new cycle lanes along the seafront promenade</a></li>
<li><a href="/b">Ferry strike ends after three days of talks with the unions</a></li>
</ul></section>
<section id="comments"><h3>Comments</h3>
<div class="comment"><p>Finally! I have been waiting for this for ages, what a waste of money
though, they should have built a tunnel instead.</p></div>
</section></main>
<footer><p>Copyright 2026 The Coastal Times. All rights reserved.</p></footer>
</body></html>"""


@pytest.fixture(scope="module")
def story() -> Article:
    return parse_html(PAGE, url="https://coastal.example/bridge")


def test_the_story_is_kept_whole(story: Article) -> None:
    for paragraph in STORY:
        assert paragraph in story.text
    headings = [story.text[b.start : b.end] for b in story.blocks if b.kind is Kind.HEADING]
    assert "A crowd in the rain" in headings


@pytest.mark.parametrize(
    "junk",
    ["cookies", "Politics", "cycle lanes", "Ferry strike", "tunnel", "All rights reserved",
     "share dialog"],
)  # fmt: skip
def test_what_is_not_the_story_is_not_kept(story: Article, junk: str) -> None:
    assert junk not in story.text


def test_the_author_and_the_date_are_lines_a_reader_can_ask_about(story: Article) -> None:
    meta = [story.text[b.start : b.end] for b in story.blocks if b.kind is Kind.META]
    assert meta == ["By Maria Lopez", "Published 30 November 2026"]
    assert (story.byline, story.publisher, published(story)) == (
        "Maria Lopez",
        "The Coastal Times",
        "2026-11-30",
    )
    assert story.title == "Harbour bridge reopens after two years"
    assert "published" in search_text("Published 30 November 2026", Kind.META)


@pytest.mark.parametrize(
    "line",
    ["Published 30 November 2026", "Published: 2026-11-30", "posted on 3 March 2020",
     "Updated 1 january 2021."],
)  # fmt: skip
def test_a_dateline_is_metadata(line: str) -> None:
    assert classify(line) is Kind.META


def test_a_dateline_in_plain_text_is_the_publication_date() -> None:
    from qa.article import parse_text

    article = parse_text(f"{STORY[0]}\n\nPublished: 2026-11-30")
    assert published(article) == "2026-11-30"
    assert published(parse_text(STORY[0])) is None


def test_a_page_inside_a_form_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """ASP.NET sites wrap the whole page in one <form>; the walk (what reads a page the library
    finds nothing in) keeps a form's text and drops only its controls."""
    monkeypatch.setattr(pages, "extracted", lambda *_: None)
    page = (
        "<html><body><form id='aspnetForm' action='/x'><input name='__VIEWSTATE' value='zz'>"
        f"<div><h1>Bridge</h1><p>{STORY[0]}</p><button>Search</button></div></form></body></html>"
    )
    article = parse_html(page)
    assert STORY[0] in article.text and "Search" not in article.text


def test_a_page_the_library_fails_on_is_walked(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("the library failed")

    monkeypatch.setattr(trafilatura, "bare_extraction", broken)
    article = parse_html(PAGE)
    assert all(paragraph in article.text for paragraph in STORY)
    assert "share dialog" not in article.text  # hidden, walked or not


def test_a_page_with_no_text_is_refused() -> None:
    with pytest.raises(EmptyArticleError):
        parse_html("<html><body><nav><a href='/'>Home</a></nav><script>x()</script></body></html>")


def test_a_table_row_is_one_block() -> None:
    page = (
        "<html><body><article>"
        + "".join(f"<p>{p}</p>" for p in STORY)
        + "<table><tr><td>Length</td><td>1.2 km</td></tr><tr><td>Opened</td><td>1902</td></tr>"
        "</table></article></body></html>"
    )
    article = parse_html(page)
    texts = [article.text[b.start : b.end] for b in article.blocks]
    assert f"Length{pages.CELL_SEPARATOR}1.2 km" in texts
