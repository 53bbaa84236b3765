"""Parsing plain text and HTML into an Article: stored text, blocks, title and metadata."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from qa.article import (
    MAX_TITLE_CHARS,
    classify,
    clean_text,
    looks_like_html,
    parse_html,
    parse_text,
    search_text,
)
from qa.errors import EmptyArticleError
from qa.models import Article, Kind


def texts_of(article: Article, kind: Kind | None = None) -> list[str]:
    return [article.text[b.start : b.end] for b in article.blocks if kind is None or b.kind is kind]


def assert_blocks_well_formed(article: Article) -> None:
    """Blocks are non-empty, whitespace-trimmed, in order and non-overlapping."""
    previous_end = 0
    for block in article.blocks:
        chunk = article.text[block.start : block.end]
        assert chunk, block
        assert chunk == chunk.strip(), block
        assert block.start >= previous_end
        previous_end = block.end
    assert previous_end <= len(article.text)


# --- the bundled default article -------------------------------------------------------------


def test_default_article_boilerplate_blocks(default_article: Article) -> None:
    boilerplate = texts_of(default_article, Kind.BOILERPLATE)
    assert [b.split(":")[0] for b in boilerplate] == ["READ NEXT", "READ MORE", "WATCH"]
    assert boilerplate[0] == "READ NEXT: Ecuador Expels Mexico Ambassador Over Comments"
    assert boilerplate[2].startswith("WATCH: Ecuadorian police surrounds Mexican embassy")


def test_default_article_meta_blocks(default_article: Article) -> None:
    assert texts_of(default_article, Kind.META) == [
        "This article is owned by Latin Post.",
        "Written by: Ross Key",
    ]
    assert default_article.byline == "Ross Key"
    assert default_article.publisher == "Latin Post"


def test_default_article_headings(default_article: Article) -> None:
    assert texts_of(default_article, Kind.HEADING) == [
        "Increased Tensions and Diplomatic Spat",
        "Political Ramifications and Regional Dynamics",
    ]


def test_default_article_body_and_title(default_article: Article) -> None:
    body = texts_of(default_article, Kind.BODY)
    assert len(body) == 24
    assert body[0].startswith("Mexico has granted political asylum to former Ecuadorean")
    assert body[-1].startswith("While Andres Manuel Lopez Obrador seeks to assert")
    assert default_article.title == "Mexico grants asylum to Jorge Glas"
    assert len(default_article.blocks) == 31
    assert_blocks_well_formed(default_article)


def test_default_article_text_is_the_input_trimmed(
    default_text: str, default_article: Article
) -> None:
    assert default_article.text == default_text.strip()
    # The no-break space after "Comments" in the file is outside the trimmed block.
    assert "Comments\u00a0" in default_article.text


def test_default_article_title_derived_from_first_sentence(default_text: str) -> None:
    article = parse_text(default_text)
    # The first sentence is 124 characters, so it is cut at the last word within the limit.
    assert article.title == (
        "Mexico has granted political asylum to former Ecuadorean Vice President Jorge Glas, "
        "announced the foreign ministry on…"
    )


# --- plain text ------------------------------------------------------------------------------


def test_title_from_leading_heading() -> None:
    article = parse_text("Council Passes Budget\n\nThe council voted on Monday to pass it.")
    assert article.title == "Council Passes Budget"
    assert [b.kind for b in article.blocks] == [Kind.HEADING, Kind.BODY]


def test_long_derived_title_is_cut_at_a_word() -> None:
    sentence = " ".join(["word"] * 60) + "."
    article = parse_text(sentence)
    assert article.title.endswith("…")
    assert len(article.title) <= MAX_TITLE_CHARS + 1
    assert article.title[:-1].split() == ["word"] * len(article.title[:-1].split())


def test_given_title_is_whitespace_normalised() -> None:
    article = parse_text("Some body text here.", title="  Two \n  words\t")
    assert article.title == "Two words"


def test_blank_title_falls_back_to_derived() -> None:
    article = parse_text("Some body text here. More text.", title="   ")
    assert article.title == "Some body text here."


@pytest.mark.parametrize(
    "source",
    [
        "",
        "   ",
        "\n\n\t\r\n",
        "\x00\x01\x02",
        "\x00 \x7f\x1b\x0b",
        "\u00a0\u2028\u3000\x85\x1c",
    ],
)
def test_unreadable_text_raises(source: str) -> None:
    with pytest.raises(EmptyArticleError):
        parse_text(source)


@pytest.mark.parametrize(
    "article",
    [
        parse_text("Just A Heading"),
        parse_text("READ MORE: nothing else here."),
        parse_text("A Heading\n\nWATCH: a clip"),
        parse_html("<h1>A Heading</h1><p>READ NEXT: another story</p>"),
    ],
)
def test_text_with_nothing_citable_is_read_as_body(article: Article) -> None:
    """A one-line note or a lone boilerplate line is a short article, not an empty one."""
    assert article.blocks
    assert all(b.kind is Kind.BODY for b in article.blocks)


def test_crlf_and_lone_cr_are_normalised() -> None:
    article = parse_text("First paragraph here.\r\n\r\nSecond paragraph here.\rStill second.\r\n")
    assert "\r" not in article.text
    assert article.text == "First paragraph here.\n\nSecond paragraph here.\nStill second."
    assert texts_of(article) == [
        "First paragraph here.",
        "Second paragraph here.\nStill second.",
    ]


def test_lone_surrogates_are_replaced() -> None:
    article = parse_text("A broken \ud800 character and \udfff another.")
    assert article.text == "A broken \ufffd character and \ufffd another."
    article.text.encode("utf-8")  # would raise on a surrogate


def test_control_characters_become_spaces() -> None:
    assert clean_text("Tab\tok, nul\x00here,\x7fdel\x0cff.\n") == "Tab\tok, nul here, del ff."


def test_one_paragraph_per_line_without_blank_lines() -> None:
    article = parse_text("Line one is a sentence.\nLine two is another.\n  \nLine three too.")
    # A line holding only spaces counts as a blank line, so this text has two paragraphs.
    assert texts_of(article) == ["Line one is a sentence.\nLine two is another.", "Line three too."]

    article = parse_text("Line one is a sentence.\nLine two is another.\nLine three too.")
    assert texts_of(article) == [
        "Line one is a sentence.",
        "Line two is another.",
        "Line three too.",
    ]
    assert all(b.kind is Kind.BODY for b in article.blocks)


def test_blank_line_with_no_break_space_separates_paragraphs() -> None:
    article = parse_text("Alpha is first.\n \u00a0 \nBeta is second.")
    assert texts_of(article) == ["Alpha is first.", "Beta is second."]


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("By Jane Doe", Kind.META),
        ("Written by: Ross Key", Kind.META),
        ("Copyright 2024 Acme News", Kind.META),
        ("This article was originally published by The Daily.", Kind.META),
        ("Related: Ten things to know", Kind.BOILERPLATE),
        ("Subscribe", Kind.BOILERPLATE),
        ("Advertisement", Kind.BOILERPLATE),
        ("A Short Section Heading", Kind.HEADING),
        ("The mayor spoke on Monday.", Kind.BODY),
        ("Readers wrote in", Kind.HEADING),  # "read" inside a word is not boilerplate
        ("1234 5678", Kind.BODY),  # no letter: not a heading
        ("墨西哥给予格拉斯庇护", Kind.HEADING),
        ("墨西哥给予格拉斯庇护。他在使馆。", Kind.BODY),  # full-width full stop
        ("x" * (MAX_TITLE_CHARS + 1), Kind.BODY),  # one word, but longer than any title
    ],
)
def test_classify(line: str, kind: Kind) -> None:
    assert classify(line) is kind


def test_search_text_describes_metadata_only() -> None:
    byline = search_text("Written by: Ross Key", Kind.META)
    assert byline.startswith("Written by: Ross Key")
    assert "author" in byline
    assert byline.endswith("is Ross Key.")
    publisher = search_text("This article is owned by Latin Post.", Kind.META)
    assert "publisher" in publisher
    assert publisher.endswith("is Latin Post.")
    assert search_text("Written by: Ross Key", Kind.BODY) == "Written by: Ross Key"


# --- HTML ------------------------------------------------------------------------------------

PAGE = """<!doctype html>
<html><head>
<title>Page Title | Site</title>
<meta property="og:title" content="OG Title Here">
<meta property="og:site_name" content="The Gazette">
<meta name="author" content="Jane Doe">
<style>p { color: red } .stylecontent {}</style>
<script>var leaked = "secret script text";</script>
</head>
<body>
<nav><a href="/">Home nav link</a> <a href="/world">World</a></nav>
<header>Header junk banner</header>
<article>
<h1>Big Headline</h1>
<p>The council approved the budget on Monday. It passed
<a href="javascript:alert('pwned')">by a wide margin</a> after debate.</p>
<h2>Reaction</h2>
<ul><li>Residents welcomed the plan</li><li>Critics were silent.</li></ul>
<iframe src="https://ads.example/">iframe fallback text</iframe>
<p>Taxes will rise 3.5 percent next year.</p>
<script>document.write("inline script")</script>
<noscript>enable javascript</noscript>
</article>
<aside>Sidebar promo</aside>
<footer>Footer copyright stuff</footer>
</body></html>"""


@pytest.fixture(scope="module")
def page() -> Article:
    return parse_html(PAGE, url="https://example.com/budget")


def test_html_drops_non_article_elements(page: Article) -> None:
    for junk in (
        "secret script text",
        "stylecontent",
        "Home nav link",
        "Header junk",
        "iframe fallback",
        "inline script",
        "enable javascript",
        "Sidebar promo",
        "Footer copyright",
        "Page Title",
    ):
        assert junk not in page.text


def test_html_blocks(page: Article) -> None:
    assert [(page.text[b.start : b.end], b.kind) for b in page.blocks] == [
        ("Big Headline", Kind.HEADING),
        (
            "The council approved the budget on Monday. It passed by a wide margin after debate.",
            Kind.BODY,
        ),
        ("Reaction", Kind.HEADING),
        ("Residents welcomed the plan", Kind.BODY),
        ("Critics were silent.", Kind.BODY),
        ("Taxes will rise 3.5 percent next year.", Kind.BODY),
        ("By Jane Doe", Kind.META),
    ]
    assert page.text == "\n\n".join(texts_of(page))
    assert_blocks_well_formed(page)


def test_html_javascript_link_is_plain_text(page: Article) -> None:
    assert "by a wide margin" in page.text
    assert "javascript" not in page.text
    assert "alert" not in page.text
    assert "<a" not in page.text


def test_html_metadata(page: Article) -> None:
    assert page.title == "OG Title Here"
    assert page.byline == "Jane Doe"
    assert page.publisher == "The Gazette"
    assert page.url == "https://example.com/budget"


def test_html_title_precedence() -> None:
    body = "<p>The council approved the budget on Monday.</p>"
    head = "<html><head><title>Doc Title</title></head>"
    with_h1 = f"{head}<body><h1>H1 Title</h1>{body}</body></html>"
    only_title = f"{head}<body>{body}</body></html>"
    assert parse_html(with_h1).title == "H1 Title"
    assert parse_html(only_title).title == "Doc Title"
    assert parse_html(only_title, title="Given").title == "Given"
    assert parse_html(f"<body>{body}</body>").title == "The council approved the budget on Monday."


def test_html_author_meta_not_duplicated_when_body_has_byline() -> None:
    html = (
        '<html><head><meta name="author" content="Meta Person"></head><body>'
        "<p>By Real Author</p><p>The council approved the budget on Monday.</p></body></html>"
    )
    article = parse_html(html)
    assert texts_of(article, Kind.META) == ["By Real Author"]
    assert article.byline == "Real Author"


def test_html_loose_container_text_and_breaks() -> None:
    """Text loose in a container is a block of its own; a line break joins its lines with a
    space, within the block (it was glued: "First lineSecond")."""
    html = "<div>Loose text in a div.<br>After the break.<p>A paragraph.</p>Tail text.</div>"
    article = parse_html(html)
    assert texts_of(article) == [
        "Loose text in a div. After the break.",
        "A paragraph.",
        "Tail text.",
    ]
    assert texts_of(parse_html("<p>First line<br>Second</p>")) == ["First line Second"]


def test_html_leading_comment_does_not_crash() -> None:
    # Saved pages often start with a comment before <html>; lxml gives it no parent.
    html = (
        "<!-- saved from url=(0042)https://x -->"
        "<html><body><p>Hello <!-- c --> world.</p></body></html>"
    )
    article = parse_html(html)
    assert article.text == "Hello world."


@pytest.mark.parametrize(
    "html",
    [
        "",
        "   ",
        "<html></html>",
        "<p>",
        "</p></div>",
        "<!-- only a comment -->",
        "<![CDATA[x]]>",
        "<script>alert(1)</script>",
        "<<<>>>",
        "\x00\x01<p\x02>",
        "<p>A</p><p>A</p>",
        "<!>;",
        "<?php echo 1 ?>",
        "<html><body><p>Unclosed <b>bold <i>italic</p></div></span>text.",
        "<p>\ud800 lone surrogate text.</p>",
    ],
)
def test_garbage_html_parses_or_raises_empty(html: str) -> None:
    assert_parses_or_is_empty(html)


def assert_parses_or_is_empty(html: str) -> None:
    """Broken HTML either yields a well-formed, storable article or a clear EmptyArticleError."""
    try:
        article = parse_html(html)
    except EmptyArticleError:
        return
    assert any(b.kind.citable for b in article.blocks)
    assert_blocks_well_formed(article)
    article.text.encode("utf-8")


_TAG_SOUP = st.sampled_from(
    [
        "<p>", "</p>", "<h1>", "</h1>", "<script>", "</script>", "<!--", "-->", "<?x ?>",
        "<!DOCTYPE html>", "<html>", "<head>", "<body>", "</body>", "<li>", "<ul>", "<br>",
        "<table><tr><td>", "<nav>", "<div>", "</div>", "<meta name='author' content='Al B'>",
        "<title>T</title>", "Hello world.", "By Jane", " ", "\n", "&amp;", "&#0;", "&#xd800;",
        "\x00", "<![CDATA[", "]]>", "<svg>", "<a href='javascript:x'>", "</a>", "<pre>",
        "<iframe>", "<template>", "<!>", "\ud800",
    ]
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_TAG_SOUP | st.text(max_size=6), max_size=30).map("".join))
@example("<!><p>Comment before the root element.</p>")
def test_tag_soup_never_crashes(html: str) -> None:
    assert_parses_or_is_empty(html)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<!DOCTYPE html><html>", True),
        ("  <html lang='en'>", True),
        ("Some text <p>with a paragraph</p>", True),
        ("Plain text about a <b>bold</b> claim", False),
        ("Just prose.", False),
    ],
)
def test_looks_like_html(text: str, expected: bool) -> None:
    assert looks_like_html(text) is expected


def test_html_with_xml_declaration() -> None:
    article = parse_html(
        '<?xml version="1.0" encoding="utf-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml">'
        "<body><h1>Tides</h1><p>High tide is at noon. Low tide follows.</p></body></html>"
    )
    assert article.text == "Tides\n\nHigh tide is at noon. Low tide follows."
