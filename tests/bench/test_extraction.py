"""bench.extraction: the shingle scorer, the reference text, the stored pages and their split, and
the product scored over HTTP on two pages."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bench import extraction
from bench.extraction import (
    Overlap,
    Page,
    ProductOverHttp,
    html_blocks,
    load_pages,
    page_names,
    reference_tokens,
    score,
    shingles,
    split_of,
    tokens,
)


def words(text: str) -> list[str]:
    return text.split()


# --- the scorer -------------------------------------------------------------------------------


def test_one_wrong_word_at_the_end_costs_one_shingle_of_two() -> None:
    overlap = score(words("a b c d e"), words("a b c d f"))
    assert overlap == Overlap(common=1, candidate=2, reference=2)
    assert (overlap.precision, overlap.recall, overlap.f1) == (0.5, 0.5, 0.5)


def test_an_identical_candidate_scores_one() -> None:
    text = words("the minister said on tuesday that the talks would resume")
    overlap = score(text, text)
    assert overlap == Overlap(7, 7, 7)
    assert (overlap.precision, overlap.recall, overlap.f1) == (1.0, 1.0, 1.0)


def test_an_empty_candidate_scores_zero_and_an_empty_pair_one() -> None:
    empty = score([], words("a b c d e"))
    assert empty == Overlap(0, 0, 2)
    assert (empty.precision, empty.recall, empty.f1) == (0.0, 0.0, 0.0)
    nothing = score([], [])
    assert (nothing.precision, nothing.recall, nothing.f1) == (1.0, 1.0, 1.0)


def test_shingles_are_counted_so_a_repeated_paragraph_costs_precision() -> None:
    assert shingles(words("a b c d a b c d"))[("a", "b", "c", "d")] == 2
    overlap = score(words("a b c d a b c d"), words("a b c d"))
    assert overlap == Overlap(common=1, candidate=5, reference=1)
    assert overlap.precision == pytest.approx(0.2)
    assert overlap.recall == 1.0
    assert overlap.f1 == pytest.approx(2 * 0.2 / 1.2)


def test_a_text_shorter_than_a_shingle_is_one_shingle() -> None:
    assert shingles(["breaking", "news"]) == {("breaking", "news"): 1}
    assert score(["breaking", "news"], ["breaking", "news"]).f1 == 1.0
    assert score(["breaking"], ["breaking", "news"]).f1 == 0.0


def test_micro_scores_sum_shingles_over_pages() -> None:
    total = Overlap(1, 2, 4) + Overlap(3, 3, 4)
    assert total == Overlap(4, 5, 8)
    assert (total.precision, total.recall) == (0.8, 0.5)


# --- words and the reference text --------------------------------------------------------------


def test_tokens_are_normalised_lowercase_words_and_cjk_characters() -> None:
    assert tokens("The ﬁrst, Ｆｉｎａｌ word—isn't it?") == [
        "the",
        "first",
        "final",
        "word",
        "isn",
        "t",
        "it",
    ]
    assert tokens("DeepMind新电脑 2016年") == ["deepmind", "新", "电", "脑", "2016", "年"]
    assert tokens(" ... ") == []


def test_block_boundaries_separate_words_and_inline_tags_do_not() -> None:
    html = "<div><p>the end</p><p>Start <b>W</b>ord<br>next</p><ul><li>one</li><li>two</li></ul>"
    assert html_blocks(html) == ["the end", "Start Word", "next", "one", "two"]


def test_scripts_styles_comments_and_the_title_are_not_text() -> None:
    html = (
        "<html><head><title>Page title</title><style>p{}</style></head><body>"
        "<p>kept<script>var x = 1;</script> tail<!-- a comment --> end</p>"
        "<noscript>enable JS</noscript></body></html>"
    )
    assert html_blocks(html) == ["kept tail end"]
    assert html_blocks("") == []
    assert html_blocks("   ") == []


def test_reference_tokens_are_the_text_of_expected_html() -> None:
    expected = '<div id="readability-page-1"><h2>Heading</h2><p>Body&nbsp;text.</p></div>'
    assert reference_tokens(expected) == ["heading", "body", "text"]


# --- the stored pages ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pages() -> list[Page]:
    return load_pages()


def test_every_stored_page_loads_with_text_and_metadata(pages: list[Page]) -> None:
    assert len(pages) == 130
    assert len({p.name for p in pages}) == len(pages)
    for page in pages:
        assert "<" in page.source_html, page.name
        assert not page.source_html.startswith("\ufeff"), page.name
        assert page.reference, f"{page.name}: no reference words"
        assert "title" in page.metadata, page.name


def test_the_split_is_deterministic_disjoint_and_about_a_third_held_out(
    pages: list[Page],
) -> None:
    names = page_names()
    tune = {n for n in names if split_of(n) == "tune"}
    held_out = {n for n in names if split_of(n) == "held-out"}
    assert tune.isdisjoint(held_out)
    assert tune | held_out == set(names)
    assert [split_of(n) for n in names] == [p.split for p in pages]
    assert 0.25 <= len(held_out) / len(names) <= 0.45
    # Pinned: a change to the split would move pages that extraction work was tuned on.
    assert len(held_out) == 51
    assert {"001", "yahoo-2", "wapo-1", "medium-1"} <= held_out
    assert {"nytimes-1", "guardian-1", "yahoo-1", "wikipedia-2"} <= tune


def test_an_unknown_page_name_says_which_names_exist() -> None:
    with pytest.raises(SystemExit, match=r"no page 'nope'.*001"):
        extraction.load_page("nope")


# --- the product over HTTP -----------------------------------------------------------------


@pytest.fixture(scope="module")
def product() -> Iterator[ProductOverHttp]:
    with extraction.product_over_http() as product:
        yield product


def test_the_product_scores_two_pages_over_http(product: ProductOverHttp) -> None:
    chosen = load_pages(["001", "basic-tags-cleaning"])
    results = [extraction.extract(product, page) for page in chosen]
    for result in results:
        assert result.refused is None, result
        assert result.overlap.recall > 0.9, result
        assert result.overlap.candidate > 0
        assert result.ms > 0
    # Only body and heading sentences count; the stored text also holds the byline.
    assert product.kept["001"]
    assert len(" ".join(product.kept["001"])) < len(product.text["001"])


def test_a_page_without_text_is_a_refusal_with_the_reason(product: ProductOverHttp) -> None:
    page = Page(
        "empty", "<html><body><nav>Home</nav><script>x()</script></body></html>", "<p>x</p>"
    )
    result = extraction.extract(product, page)
    assert result.refused is not None and result.refused.startswith("422: ")
    assert result.overlap == Overlap(0, 0, 1)
    assert extraction.summarize([result])["refused"] == 1


def test_the_command_prints_one_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    extraction.main(["--pages", "001,ol", "--extractors", "product,readability", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["data"] == {
        "pages": 2,
        "tune": 0,
        "held-out": 2,
        "source": "Mozilla Readability test pages; bench/data/extraction/README.md",
    }
    for name in ("product", "readability"):
        assert report[name]["pages"] == 2
        assert report[name]["held-out"]["pages"] == 2
        assert report[name]["tune"] == {"pages": 0}
        assert 0 < report[name]["f1"] <= 1
        assert [row["page"] for row in report["pages"][name]] == ["001", "ol"]
    assert "trafilatura" not in report
    assert {w["page"] for w in report["product_worst"]} == {"001", "ol"}
