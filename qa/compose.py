"""Ranked sentences -> the answer a reader sees, with numbered citations into the article."""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import replace

from qa.answertype import answer_fits
from qa.models import Answer, Citation, Hit, Segmentation, Sentence, Span

NOT_IN_ARTICLE = "The article does not say."
# A quote shorter than this is extended by the next sentence of its block ("It did." alone
# tells a reader nothing).
MIN_QUOTE_CHARS = 40
# A second quote joins the answer when its score is this close to the first.
SECOND_QUOTE_MARGIN = 0.05


def quote_span(
    sentence: Sentence, segmentation: Segmentation, text: str, cited: Set[int] = frozenset()
) -> Span:
    """The cited text for a sentence: the sentence, or it and the next one when it is very short
    (unless the next one is already ``cited``, which would quote it twice)."""
    start, end = sentence.start, sentence.end
    following = sentence.index + 1
    if (
        end - start < MIN_QUOTE_CHARS
        and following not in cited
        and following < len(segmentation.sentences)
        and segmentation.sentences[following].block == sentence.block
        and segmentation.sentences[following].kind.citable
    ):
        end = segmentation.sentences[following].end
    return Span(start, end, text[start:end])


def compose(
    hits: Sequence[Hit],
    segmentation: Segmentation,
    text: str,
    confidence: float,
    threshold: float,
    top_k: int,
    question: str = "",
) -> Answer:
    """Build the answer: quoted sentences with [n] markers, or an honest "does not say".

    Citations that would repeat a sentence already quoted are skipped. Below ``threshold``, or
    when the first citation's answer words cannot answer ``question`` (``answer_fits``), the
    closest sentences are still cited, but the answer text does not present them as the answer.
    """
    citations: list[Citation] = []
    covered: set[int] = set()
    for hit in hits:
        if len(citations) >= top_k:
            break
        sentence = segmentation.sentences[hit.sentence]
        if sentence.index in covered:
            continue
        quote = quote_span(sentence, segmentation, text, covered)
        extended = quote.end > sentence.end
        covered.update(range(sentence.index, sentence.index + (2 if extended else 1)))
        passage = segmentation.passages[sentence.passage]
        start, end = min(passage.start, quote.start), max(passage.end, quote.end)
        answer_span = None
        if hit.span is not None and quote.start <= hit.span[0] < hit.span[1] <= quote.end:
            answer_span = Span(hit.span[0], hit.span[1], text[hit.span[0] : hit.span[1]])
        citations.append(
            Citation(
                n=len(citations) + 1,
                quote=quote,
                passage=Span(start, end, text[start:end]),
                score=round(hit.score, 4),
                answer_span=answer_span,
            )
        )
    answerable = bool(citations) and confidence >= threshold
    words = citations[0].answer_span if citations else None
    if words is not None and not answer_fits(question, words.text):
        answerable = False
    if not answerable:
        # A declined answer points at no words as the answer.
        citations = [replace(c, answer_span=None) for c in citations]
        return Answer(False, NOT_IN_ARTICLE, round(confidence, 4), tuple(citations))
    parts = [f"{citations[0].quote.text} [1]"]
    if len(citations) > 1 and citations[1].score >= citations[0].score - SECOND_QUOTE_MARGIN:
        parts.append(f"{citations[1].quote.text} [2]")
    return Answer(True, " ".join(parts), round(confidence, 4), tuple(citations))
