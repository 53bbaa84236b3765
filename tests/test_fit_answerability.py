"""The unanswerable questions bench.fit_answerability constructs, the memoised reader, and what
the answerability model learns."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bench.fit_answerability import (
    ANSWERED_TARGET,
    MemoReader,
    Probe,
    Rows,
    fit_rows,
    probe_rows,
    probes_for,
)
from bench.squad import SEPARATOR, Question, SquadArticle
from index.encoder import HashingEncoder
from index.ranker import RankerWeights
from index.reader import ANSWER_FEATURES, Reading
from index.retriever import IndexedArticle, Retriever, assemble
from index.store import build_faiss
from qa.article import parse_text, search_text
from qa.segment import segment
from tests.index.test_reader import StubReader

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


def test_probe_rows_say_whether_the_sentence_cited_first_holds_the_answer() -> None:
    encoder = HashingEncoder()
    squad = squad_article()
    indexed = indexed_article(squad.text, squad.title, encoder)
    retriever = Retriever(encoder, RankerWeights.blend(), StubReader())
    question = "What about the library?"  # the stub reader cites a library sentence first
    matrix = retriever.features(indexed, question)
    downtown, cost = squad.questions[0].golds, squad.questions[2].golds
    probes = [
        Probe("Town", kind, question, indexed, matrix, golds)
        for kind, golds in (("answerable", downtown), ("answerable", cost), ("removed", cost))
    ]
    rows, kept, right = probe_rows(encoder, RankerWeights.blend(), StubReader(), probes)
    cited = retriever.rank_features(indexed, question, matrix).hits[0].sentence
    opens = "opens downtown" in indexed.segmentation.sentences[cited].text
    assert kept == probes and len(rows) == 3
    assert right == [opens, not opens, False]  # one library sentence; never an unanswerable one


def test_the_model_learns_right_citations_and_the_threshold_keeps_answerable_ones_answered() -> (
    None
):
    rng = np.random.default_rng(3)
    n = 400
    answerable = np.arange(n) < 300
    right = answerable & (np.arange(n) % 3 != 0)  # a third of the answerable ones cited wrongly
    matrix = rng.normal(size=(n, len(ANSWER_FEATURES))).astype(np.float32)
    matrix[:, 1] += np.where(right, 2.0, 0.0)  # only the citation's correctness shows here
    matrix[:, 2] += np.where(answerable, 2.0, 0.0)  # only answerability shows here
    model, threshold = fit_rows(Rows(matrix, answerable, right))
    assert model.coef[1] > 3 * abs(model.coef[2])  # learns what is right, not what is answerable
    probability = 1.0 / (1.0 + np.exp(-model.score(matrix[answerable])))
    assert abs(float(np.mean(probability >= threshold)) - ANSWERED_TARGET) < 0.01
