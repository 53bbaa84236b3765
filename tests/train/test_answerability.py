"""The unanswerable questions train.reader.answerability constructs, and the memoised reader."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from index.encoder import HashingEncoder
from index.ranker import RankerWeights
from index.reader import Reading
from index.retriever import IndexedArticle, Retriever, assemble
from index.store import build_faiss
from qa.article import parse_text, search_text
from qa.segment import segment
from tests.index.test_reader import StubReader
from train.reader.answerability import probes_for
from train.reader.folds import MemoReader
from train.squad import SEPARATOR, Question, SquadArticle

PARAGRAPHS = (
    "The council met on Monday about the budget.",
    "The new library opens downtown in May.",
    "The mayor said the library cost four million dollars. Taxes rise in May.",
)


def indexed_article(text: str, title: str, encoder: HashingEncoder) -> IndexedArticle:
    article = parse_text(text, title=title)
    segmentation = segment(article)
    embedding = encoder.encode_documents(
        [search_text(s.text, s.kind) for s in segmentation.sentences]
    )
    return assemble(
        title, article, segmentation, build_faiss(embedding.vectors), embedding.tokens, ""
    )


def squad_article() -> SquadArticle:
    text = SEPARATOR.join(PARAGRAPHS)
    start = text.index("downtown")
    cost = text.index("four million dollars")
    questions = (
        Question("a", "Where does the library open?", ((start, start + 8),), ("downtown",)),
        Question("b", "When does the library open?", ((start + 12, start + 15),), ("May",)),
        Question(
            "c", "What did the library cost?", ((cost, cost + 20),), ("four million dollars",)
        ),
    )
    return SquadArticle("Town", text, questions, PARAGRAPHS)


def test_removed_paragraph_and_other_article_probes() -> None:
    encoder = HashingEncoder()
    squad = squad_article()
    indexed = indexed_article(squad.text, squad.title, encoder)
    other = indexed_article("Whales sing in the ocean.\n\nThey migrate.", "Whales", encoder)
    retriever = Retriever(encoder, RankerWeights.blend())
    probes = probes_for(retriever, squad, indexed, [], other)
    removed = {p.question: p for p in probes if p.kind == "removed"}
    # "May" is also in the third paragraph: that question is still answerable without the second
    assert set(removed) == {"Where does the library open?", "What did the library cost?"}
    where = removed["Where does the library open?"].indexed.article.text
    assert "downtown" not in where and "four million" in where
    cost = removed["What did the library cost?"].indexed.article.text
    assert "four million" not in cost and "downtown" in cost
    # every 4th answerable question (the first here) is also asked of another article
    asked_elsewhere = [p for p in probes if p.kind == "other"]
    assert [p.question for p in asked_elsewhere] == ["Where does the library open?"]
    assert asked_elsewhere[0].indexed is other
    assert not any(p.answerable for p in probes)
    for probe in probes:
        assert probe.matrix.shape[0] == probe.indexed.candidates.size


class CountingReader(StubReader):
    def read(self, question: str, sentences: Sequence[str]) -> Reading:
        reading = super().read(question, sentences)
        return Reading(reading.relevance + len(self.read_counts), reading.span_score, reading.spans)


def test_the_memo_reader_reads_each_question_and_batch_once() -> None:
    base = CountingReader()
    memo = MemoReader(base)
    first = memo.read("Q?", ["a library", "b c"])
    again = memo.read("Q?", ["a library", "b c"])
    other_order = memo.read("Q?", ["b c", "a library"])
    assert base.read_counts == [2, 2]
    assert again is first
    assert not np.array_equal(other_order.relevance[::-1], first.relevance)  # read anew
    assert memo.candidates == base.candidates and memo.combined is base.combined
