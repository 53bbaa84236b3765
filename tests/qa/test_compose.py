"""Composing an answer from ranked sentences: citations, markers, abstention."""

from __future__ import annotations

import itertools

import pytest

from qa.article import parse_text
from qa.compose import MIN_QUOTE_CHARS, NOT_IN_ARTICLE, SECOND_QUOTE_MARGIN, compose
from qa.models import Answer, Article, Hit, Segmentation
from qa.segment import segment

TEXT = (
    "The mayor announced a new budget for the city on Monday. It passed. "
    "Critics said the plan raises taxes too much for families.\n\n"
    "Short one. The library will open a new branch downtown next spring, officials said.\n\n"
    "Alpha sentence is long enough to stand alone here. "
    "Beta sentence is also long enough by itself. Gamma is short. "
    "Delta closes the paragraph with enough words.\n\n"
    "The end came."
)

# Sentence indices in TEXT (asserted in test_fixture_layout).
MAYOR, PASSED, CRITICS, SHORT, LIBRARY, ALPHA, BETA, GAMMA, DELTA, END = range(10)


@pytest.fixture(scope="module")
def article() -> Article:
    return parse_text(TEXT)


@pytest.fixture(scope="module")
def seg(article: Article) -> Segmentation:
    return segment(article)


def run(
    article: Article,
    seg: Segmentation,
    hits: list[tuple[int, float]],
    confidence: float = 0.9,
    threshold: float = 0.5,
    top_k: int = 3,
) -> Answer:
    return compose(
        [Hit(sentence=i, score=score) for i, score in hits],
        seg,
        article.text,
        confidence=confidence,
        threshold=threshold,
        top_k=top_k,
    )


def assert_citations_quote_the_text(answer: Answer, text: str) -> None:
    for n, citation in enumerate(answer.citations, start=1):
        assert citation.n == n
        quote, passage = citation.quote, citation.passage
        assert text[quote.start : quote.end] == quote.text
        assert text[passage.start : passage.end] == passage.text
        assert passage.start <= quote.start < quote.end <= passage.end
        assert quote.text in passage.text


def test_fixture_layout(seg: Segmentation) -> None:
    assert len(seg.sentences) == 10
    assert seg.sentences[PASSED].text == "It passed."
    assert seg.sentences[GAMMA].text == "Gamma is short."
    assert seg.sentences[GAMMA].passage != seg.sentences[DELTA].passage
    assert seg.sentences[GAMMA].block == seg.sentences[DELTA].block
    assert len(seg.sentences[END].text) < MIN_QUOTE_CHARS


def test_answerable_answer_quotes_the_best_sentence(article: Article, seg: Segmentation) -> None:
    answer = run(article, seg, [(LIBRARY, 0.9), (MAYOR, 0.2), (CRITICS, 0.1)], confidence=0.8)
    assert answer.answerable
    library = seg.sentences[LIBRARY].text
    assert answer.text == f"{library} [1]"
    assert answer.confidence == 0.8
    assert [c.quote.text for c in answer.citations] == [
        library,
        seg.sentences[MAYOR].text,
        seg.sentences[CRITICS].text,
    ]
    assert [c.score for c in answer.citations] == [0.9, 0.2, 0.1]
    assert_citations_quote_the_text(answer, article.text)


def test_below_threshold_declines_but_still_cites(article: Article, seg: Segmentation) -> None:
    answer = run(article, seg, [(LIBRARY, 0.9), (MAYOR, 0.89)], confidence=0.49, threshold=0.5)
    assert not answer.answerable
    assert answer.text == NOT_IN_ARTICLE
    assert len(answer.citations) == 2
    for citation in answer.citations:
        assert citation.quote.text not in answer.text
    assert "[1]" not in answer.text
    assert answer.confidence == 0.49
    assert_citations_quote_the_text(answer, article.text)


def test_confidence_exactly_at_threshold_answers(article: Article, seg: Segmentation) -> None:
    assert run(article, seg, [(MAYOR, 1.0)], confidence=0.5, threshold=0.5).answerable


def test_no_hits_is_not_answerable(article: Article, seg: Segmentation) -> None:
    answer = run(article, seg, [], confidence=0.99)
    assert answer == Answer(False, NOT_IN_ARTICLE, 0.99, ())


def test_second_quote_only_when_close(article: Article, seg: Segmentation) -> None:
    mayor, library = seg.sentences[MAYOR].text, seg.sentences[LIBRARY].text
    close = run(article, seg, [(MAYOR, 0.9), (LIBRARY, 0.9 - SECOND_QUOTE_MARGIN / 2)])
    assert close.text == f"{mayor} [1] {library} [2]"
    far = run(article, seg, [(MAYOR, 0.9), (LIBRARY, 0.9 - SECOND_QUOTE_MARGIN * 2)])
    assert far.text == f"{mayor} [1]"
    assert "[2]" not in far.text
    assert len(far.citations) == 2  # still cited, just not in the answer text


def test_never_a_third_quote_in_the_text(article: Article, seg: Segmentation) -> None:
    answer = run(article, seg, [(MAYOR, 0.9), (LIBRARY, 0.9), (ALPHA, 0.9)])
    assert "[2]" in answer.text
    assert "[3]" not in answer.text
    assert len(answer.citations) == 3


def test_short_sentence_is_extended_with_the_next_one(article: Article, seg: Segmentation) -> None:
    answer = run(article, seg, [(PASSED, 0.9)])
    quote = answer.citations[0].quote
    assert quote.text == "It passed. Critics said the plan raises taxes too much for families."
    assert (quote.start, quote.end) == (seg.sentences[PASSED].start, seg.sentences[CRITICS].end)
    assert answer.text == f"{quote.text} [1]"
    assert_citations_quote_the_text(answer, article.text)


def test_extension_stays_within_the_block(article: Article, seg: Segmentation) -> None:
    # "The end came." is short but the last sentence of its block (and of the article).
    answer = run(article, seg, [(END, 0.9)])
    assert answer.citations[0].quote.text == "The end came."
    # "Short one." is extended by the next sentence of its own block, not across blocks.
    answer = run(article, seg, [(SHORT, 0.9)])
    assert answer.citations[0].quote.text == "Short one. " + seg.sentences[LIBRARY].text


def test_extended_quote_across_passages_widens_the_context(
    article: Article, seg: Segmentation
) -> None:
    answer = run(article, seg, [(GAMMA, 0.9)])
    citation = answer.citations[0]
    assert citation.quote.text == "Gamma is short. Delta closes the paragraph with enough words."
    gamma_passage = seg.passages[seg.sentences[GAMMA].passage]
    assert citation.passage.start == gamma_passage.start
    assert citation.passage.end == seg.sentences[DELTA].end
    assert_citations_quote_the_text(answer, article.text)


def test_no_duplicate_citations(article: Article, seg: Segmentation) -> None:
    hits = [(PASSED, 0.9), (CRITICS, 0.85), (PASSED, 0.8), (MAYOR, 0.7), (MAYOR, 0.6)]
    answer = run(article, seg, hits, top_k=5)
    # CRITICS is already inside the extended PASSED quote; repeats are skipped too.
    assert [c.quote.start for c in answer.citations] == [
        seg.sentences[PASSED].start,
        seg.sentences[MAYOR].start,
    ]
    assert [c.n for c in answer.citations] == [1, 2]
    starts = [c.quote.start for c in answer.citations]
    assert len(starts) == len(set(starts))


@pytest.mark.parametrize("top_k", [0, 1, 2, 4])
def test_top_k_is_respected(article: Article, seg: Segmentation, top_k: int) -> None:
    hits = [(i, 1.0 - i / 10) for i in (MAYOR, LIBRARY, ALPHA, BETA, DELTA, END)]
    answer = run(article, seg, hits, top_k=top_k)
    assert len(answer.citations) == top_k
    assert answer.answerable is (top_k > 0)
    assert [c.quote.start for c in answer.citations] == [
        seg.sentences[i].start for i, _ in hits[:top_k]
    ]


def test_scores_and_confidence_are_rounded(article: Article, seg: Segmentation) -> None:
    answer = run(article, seg, [(MAYOR, 0.123456789)], confidence=0.987654321)
    assert answer.citations[0].score == 0.1235
    assert answer.confidence == 0.9877


def test_every_sentence_as_a_hit(article: Article, seg: Segmentation) -> None:
    hits = [(s.index, 1.0) for s in seg.sentences]
    answer = run(article, seg, hits, top_k=len(hits))
    assert_citations_quote_the_text(answer, article.text)
    quoted = [(c.quote.start, c.quote.end) for c in answer.citations]
    for (_, end), (start, _) in itertools.pairwise(quoted):
        assert end <= start, "quotes overlap"


def test_default_article_citations(default_article: Article) -> None:
    seg = segment(default_article)
    byline = next(s.index for s in seg.sentences if s.text == "Written by: Ross Key")
    answer = compose(
        [Hit(byline, 1.0)], seg, default_article.text, confidence=0.9, threshold=0.5, top_k=3
    )
    # A META sentence is short, but its next sentence is in another block, so it stands alone.
    assert answer.text == "Written by: Ross Key [1]"
    assert_citations_quote_the_text(answer, default_article.text)


def test_answer_span_is_the_quoted_words_when_answered(article: Article, seg: Segmentation) -> None:
    sentence = seg.sentences[LIBRARY]
    start = article.text.index("next spring")
    hit = Hit(LIBRARY, 0.9, (start, start + len("next spring")))
    answer = compose([hit], seg, article.text, confidence=0.9, threshold=0.5, top_k=3)
    span = answer.citations[0].answer_span
    assert span is not None
    assert span.text == "next spring" == article.text[span.start : span.end]
    assert sentence.start <= span.start < span.end <= sentence.end


def test_declined_answer_has_no_span(article: Article, seg: Segmentation) -> None:
    start = article.text.index("next spring")
    hit = Hit(LIBRARY, 0.9, (start, start + len("next spring")))
    answer = compose([hit], seg, article.text, confidence=0.1, threshold=0.5, top_k=3)
    assert not answer.answerable
    assert answer.citations[0].answer_span is None


@pytest.mark.parametrize(
    ("question", "answerable"),
    [("When will the branch open?", True), ("How many branches will open?", False)],
)
def test_answer_words_that_cannot_answer_the_question_decline_it(
    article: Article, seg: Segmentation, question: str, answerable: bool
) -> None:
    """ "next spring" answers "when?", not "how many?": the article does not say how many."""
    start = article.text.index("next spring")
    hit = Hit(LIBRARY, 0.9, (start, start + len("next spring")))
    answer = compose([hit], seg, article.text, 0.9, 0.5, 3, question)
    assert answer.answerable is answerable
    assert (answer.text == NOT_IN_ARTICLE) is not answerable
    assert answer.citations[0].quote.text.startswith("The library")  # cited all the same


def test_span_outside_the_quote_is_dropped(article: Article, seg: Segmentation) -> None:
    outside = seg.sentences[MAYOR]
    hit = Hit(LIBRARY, 0.9, (outside.start, outside.end))
    answer = compose([hit], seg, article.text, confidence=0.9, threshold=0.5, top_k=3)
    assert answer.citations[0].answer_span is None
