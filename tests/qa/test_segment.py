"""Sentence and passage segmentation, and the offset invariant it must never break."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from qa.article import MAX_TITLE_CHARS, parse_html, parse_text
from qa.errors import EmptyArticleError
from qa.models import Article, Block, Kind, Segmentation
from qa.segment import (
    MAX_SENTENCE_CHARS,
    PASSAGE_CHARS,
    PASSAGE_SENTENCES,
    segment,
    split_sentences,
)


def split(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text, 0, len(text))]


def one_block(text: str) -> Article:
    return Article(text=text, title="t", blocks=(Block(0, len(text), Kind.BODY),))


def assert_invariants(article: Article, segmentation: Segmentation) -> None:
    """Offsets quote the stored text exactly; sentences are trimmed, ordered, disjoint, bounded,
    inside their block, and together cover every visible character of the block."""
    text = article.text
    covered = [False] * len(text)
    previous_end = 0
    for i, s in enumerate(segmentation.sentences):
        assert s.index == i
        assert text[s.start : s.end] == s.text
        assert s.text, s
        assert s.text == s.text.strip(), repr(s.text)
        assert s.end - s.start <= MAX_SENTENCE_CHARS
        assert s.start >= previous_end, "sentences overlap or are out of order"
        previous_end = s.end
        block = article.blocks[s.block]
        assert block.start <= s.start < s.end <= block.end
        assert s.kind is block.kind
        assert i in segmentation.passages[s.passage].sentences
        for k in range(s.start, s.end):
            covered[k] = True
    for block in article.blocks:
        for k in range(block.start, block.end):
            assert covered[k] or text[k].isspace(), f"character {k} {text[k]!r} is in no sentence"
    for j, p in enumerate(segmentation.passages):
        assert p.index == j
        assert text[p.start : p.end] == p.text
        members = [segmentation.sentences[i] for i in p.sentences]
        assert members, p
        assert list(p.sentences) == list(range(p.sentences[0], p.sentences[-1] + 1))
        assert len(members) <= PASSAGE_SENTENCES
        assert {m.block for m in members} == {members[0].block}
        assert p.start == members[0].start
        assert p.end == members[-1].end
        assert all(m.passage == j for m in members)


# --- sentence splitting ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Mr. Smith went to Washington. He met the U.S. president there. It was fine.",
            ["Mr. Smith went to Washington.", "He met the U.S. president there.", "It was fine."],
        ),
        (
            "Aid came from the U.S. The decision was final. The U.S. Army and U.K. envoys agreed.",
            [
                "Aid came from the U.S.",
                "The decision was final.",
                "The U.S. Army and U.K. envoys agreed.",
            ],
        ),
        (
            "He works at Acme Inc. Its shares fell at 5 p.m. Then Acme Inc. Chief Jo Ray spoke.",
            [
                "He works at Acme Inc.",
                "Its shares fell at 5 p.m.",
                "Then Acme Inc. Chief Jo Ray spoke.",
            ],
        ),
        (
            "He lives at 10 Downing St. The house is old. St. Louis is far.",
            ["He lives at 10 Downing St.", "The house is old.", "St. Louis is far."],
        ),
        (
            "Ask Mr. The Fixer, or Dr. Who.",
            ["Ask Mr. The Fixer, or Dr. Who."],
        ),
        (
            "The book by J. K. Rowling sold well. Fans queued.",
            ["The book by J. K. Rowling sold well.", "Fans queued."],
        ),
        (
            "Dr. Jones and Mrs. Lee met Gen. Patton. They talked.",
            ["Dr. Jones and Mrs. Lee met Gen. Patton.", "They talked."],
        ),
        (
            'He said "Stop." Then he left.',
            ['He said "Stop."', "Then he left."],
        ),
        (
            "She asked, “Why?” Nobody answered! The end… Next one.",
            ["She asked, “Why?”", "Nobody answered!", "The end…", "Next one."],
        ),
        (
            "Growth was 3.5 percent in 2023. Prices rose 0.25 points.",
            ["Growth was 3.5 percent in 2023.", "Prices rose 0.25 points."],
        ),
        (
            "It rose in Jan. 2024 (see Fig. 3) as expected. Done.",
            ["It rose in Jan. 2024 (see Fig. 3) as expected.", "Done."],
        ),
        (
            "He left (finally.) Then silence. Why? Because.",
            ["He left (finally.)", "Then silence.", "Why?", "Because."],
        ),
        (
            "lower case after a stop. does not split. 2024 was a year.",
            ["lower case after a stop. does not split.", "2024 was a year."],
        ),
        ("No terminal punctuation at all", ["No terminal punctuation at all"]),
        ("Visit example.com today. Now!", ["Visit example.com today.", "Now!"]),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split(text) == expected


def test_split_respects_the_range_and_trims() -> None:
    text = "xx  First one. Second one.   yy"
    spans = split_sentences(text, 2, len(text) - 2)
    assert [text[a:b] for a, b in spans] == ["First one.", "Second one."]


def test_long_sentence_is_split_at_spaces() -> None:
    words = ["alpha"] * 700  # 4199 characters, no terminal punctuation
    text = " ".join(words) + "."
    pieces = split(text)
    assert len(pieces) >= 5
    assert all(len(p) <= MAX_SENTENCE_CHARS for p in pieces)
    assert all(p == p.strip() for p in pieces)
    # Cut at word boundaries: re-joining with single spaces restores the text.
    assert " ".join(pieces) == text
    assert all(p.split(" ")[0] == "alpha" for p in pieces)


def test_long_run_without_spaces_is_cut_hard() -> None:
    text = "x" * (2 * MAX_SENTENCE_CHARS + 5)
    assert [len(p) for p in split(text)] == [MAX_SENTENCE_CHARS, MAX_SENTENCE_CHARS, 5]


@pytest.mark.parametrize("run", [".", "?!", "…"])
def test_long_run_of_punctuation_is_split_in_linear_time(run: str) -> None:
    text = run * (30_000 // len(run))
    started = time.perf_counter()
    pieces = split(text)
    # Backtracking from every character of the run took about 20 s here; linear is milliseconds.
    assert time.perf_counter() - started < 1
    assert "".join(pieces) == text
    assert all(len(p) <= MAX_SENTENCE_CHARS for p in pieces)


@pytest.mark.parametrize("gap", ["  ", " \u00a0", "\u00a0", " \t", "\n", " \u2028 "])
def test_long_sentence_pieces_are_trimmed_whatever_the_whitespace(gap: str) -> None:
    text = gap.join(["word"] * 600)
    pieces = split_sentences(text, 0, len(text))
    assert len(pieces) >= 2
    for a, b in pieces:
        assert b - a <= MAX_SENTENCE_CHARS
        assert text[a:b] == text[a:b].strip(), repr(text[b - 3 : b])
    # Only whitespace is lost between pieces.
    assert "".join("".join(text[a:b].split()) for a, b in pieces) == "word" * 600


# --- segment ---------------------------------------------------------------------------------


def test_default_article_segmentation(default_article: Article) -> None:
    seg = segment(default_article)
    assert_invariants(default_article, seg)
    assert len(seg.sentences) == 31  # every paragraph of the bundled article is one sentence
    texts = [s.text for s in seg.sentences]
    assert "Written by: Ross Key" in texts
    assert "This article is owned by Latin Post." in texts
    kinds = {s.text: s.kind for s in seg.sentences}
    assert kinds["Written by: Ross Key"] is Kind.META
    assert kinds["Increased Tensions and Diplomatic Spat"] is Kind.HEADING


def test_passages_group_up_to_three_sentences_of_one_block() -> None:
    article = parse_text(
        "One is here. Two is here. Three is here. Four is here.\n\nFive is elsewhere."
    )
    seg = segment(article)
    assert_invariants(article, seg)
    assert [p.text for p in seg.passages] == [
        "One is here. Two is here. Three is here.",
        "Four is here.",
        "Five is elsewhere.",
    ]
    assert [s.passage for s in seg.sentences] == [0, 0, 0, 1, 2]
    assert [s.block for s in seg.sentences] == [0, 0, 0, 0, 1]


def test_passage_closes_when_it_reaches_the_character_budget() -> None:
    long = "Word " * 150  # ~750 characters
    article = parse_text(f"{long.strip()}. Short next. Another one.")
    seg = segment(article)
    assert_invariants(article, seg)
    assert len(seg.sentences[0].text) >= PASSAGE_CHARS
    assert seg.passages[0].sentences == (0,)
    assert seg.passages[1].sentences == (1, 2)


def test_segment_offsets_into_html_like_stored_text() -> None:
    article = one_block("  Leading space. Trailing space.  ")
    seg = segment(article)
    assert [s.text for s in seg.sentences] == ["Leading space.", "Trailing space."]
    assert [(s.start, s.end) for s in seg.sentences] == [(2, 16), (17, 32)]


# --- the offset invariant over arbitrary text ------------------------------------------------

_ODD_WHITESPACE = ["\n", "\n\n", "\r\n", "\r", "\t", " ", "  ", "\u00a0", "\u2028", "\u2029",
                   "\x85", "\x0b", "\u3000", "\n \u00a0\n"]  # fmt: skip
_PIECES = st.text() | st.sampled_from(
    [*_ODD_WHITESPACE, ".", ". ", "? ", "! ", "Mr.", "U.S.", "J. K.", "3.5", '." ', "” ", "A",
     "\ud800", "READ MORE: ", "By Jane Doe", "\x00"]
)  # fmt: skip


def _check_text(source: str, parse: Callable[[str], Article] = parse_text) -> None:
    try:
        article = parse(source)
    except EmptyArticleError:
        return
    article.text.encode("utf-8")
    assert_invariants(article, segment(article))


# Every code point, lone surrogates and unassigned ones included.
_ANY_CHAR = st.characters(exclude_categories=())


@settings(max_examples=200, deadline=None)
@given(st.text(_ANY_CHAR))
def test_invariant_over_any_text(source: str) -> None:
    _check_text(source)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=["Cc", "Zl", "Zp"])))
def test_invariant_over_text_without_newlines(source: str) -> None:
    _check_text(source + ".")


@settings(max_examples=200, deadline=None)
@given(st.lists(_PIECES, max_size=40).map("".join))
def test_invariant_over_sentence_like_text(source: str) -> None:
    _check_text(source + ".")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.sampled_from(["word", "Mr.", "end. Next", "x" * 40, "3.5"]),
        min_size=150,
        max_size=400,
    ),
    st.lists(st.sampled_from([" ", "  ", "\u00a0", " \t", "\u2028", "\x85"]), min_size=1),
)
@example(["word"] * 400, ["  "])
def test_invariant_over_long_paragraphs(words: list[str], gaps: list[str]) -> None:
    source = "".join(word + gaps[i % len(gaps)] for i, word in enumerate(words))
    _check_text(source)


_MARKUP = st.sampled_from(
    ["<p>", "</p>", "<h2>", "</h2>", "<li>", "<br>", "<div>", "</div>", "<pre>", "<script>",
     "</script>", "<!--", "-->", "&amp;", "&#0;", "&#xd800;", "&#x10ffff;", ". ", "\n\n"]
)  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(_ANY_CHAR, max_size=12) | _MARKUP, max_size=30).map("".join))
def test_invariant_over_any_html(source: str) -> None:
    _check_text(source, parse_html)


@settings(max_examples=50, deadline=None)
@given(
    st.text(st.characters(categories=["L", "M", "N"]), min_size=MAX_TITLE_CHARS + 1, max_size=3000)
)
@example("今天天气很好我们去公园" * 20)
def test_paragraph_without_spaces_is_citable(source: str) -> None:
    """Few words but many characters (CJK text, one long token) is a paragraph, not a heading."""
    article = parse_text(source)
    assert [b.kind for b in article.blocks] == [Kind.BODY]
    assert_invariants(article, segment(article))
