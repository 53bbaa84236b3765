"""A later turn of a conversation: the previous answer's place favoured, more sentences read,
its own threshold, and the previous answer taken from the client when it says where it was."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from index import library as library_module
from index.encoder import HashingEncoder
from index.library import Library
from index.ranker import RankerWeights
from index.reader import Reading
from index.retriever import (
    FLOW_NEXT,
    FLOW_REACH,
    FLOW_READ,
    FLOW_SAME,
    FOLLOW_UP_READS,
    Flow,
    IndexedArticle,
    Ranking,
    Retriever,
    flow,
    sentence_at,
)
from qa.models import Turn
from tests.index.conftest import CountingEncoder, make_library
from tests.index.test_reader import StubReader, _indexed

STORY = (
    "The storm reached the coast on Monday.\n\n"
    "Thousands of homes lost power overnight.\n\n"
    "Crews restored most of it by Tuesday.\n\n"
    "The mayor thanked the crews.\n\n"
    "Schools stay closed until Friday."
)


def test_flow_favours_the_cited_sentence_and_the_next_ones_decaying() -> None:
    candidates = np.array([0, 2, 3, 5, 6, 7, 8, 9, 10, 11], dtype=np.int64)
    prior = flow(candidates, 3)
    assert prior[:2].tolist() == [0.0, 0.0]  # before: nothing
    assert prior[2] == FLOW_SAME
    assert prior[3] == FLOW_NEXT
    assert 0 < prior[4] < prior[3]  # decaying with distance
    assert np.count_nonzero(prior[3:]) == FLOW_REACH


def test_flow_after_a_sentence_that_is_not_a_candidate_starts_at_the_next() -> None:
    candidates = np.array([0, 2, 3], dtype=np.int64)
    assert flow(candidates, 1).tolist()[:2] == [0.0, FLOW_NEXT]
    assert not flow(candidates, 9).any()  # after the last: nothing


def test_sentence_at_finds_the_citable_sentence_holding_an_offset() -> None:
    _, indexed = _indexed(STORY, HashingEncoder())
    sentences = indexed.segmentation.sentences
    second = sentences[int(indexed.candidates[1])]
    assert sentence_at(indexed, second.start) == second.index
    assert sentence_at(indexed, second.end - 1) == second.index
    assert sentence_at(indexed, len(STORY) + 100) is None  # a client's offset out of range
    assert STORY[second.end] == "\n"
    assert sentence_at(indexed, second.end) is None  # between paragraphs


def test_a_later_turn_reads_more_sentences_and_moves_forward() -> None:
    encoder = HashingEncoder()
    _, indexed = _indexed(STORY, encoder)
    reader = StubReader()
    reader.candidates = 2
    retriever = Retriever(encoder, RankerWeights.blend(), reader)
    alone = retriever.rank(indexed, "what then")
    first_cited = int(indexed.candidates[1])
    later = retriever.rank(indexed, "what then", Flow(first_cited))
    assert reader.read_counts == [2, FOLLOW_UP_READS]
    assert later.hits[0].sentence == int(indexed.candidates[2])  # the next sentence
    assert alone.hits[0].sentence != later.hits[0].sentence
    declined_before = retriever.rank(indexed, "what then", Flow(None))
    assert reader.read_counts[-1] == FOLLOW_UP_READS  # read more, nothing favoured
    assert [h.sentence for h in declined_before.hits[:2]] != [h.sentence for h in later.hits[:2]]


class CoastReader(StubReader):
    """Reads the sentence about the coast as a little more relevant than the others."""

    def read(self, question: str, sentences: Sequence[str]) -> Reading:
        reading = super().read(question, sentences)
        relevance = np.array([1.0 if "coast" in s else 0.0 for s in sentences], np.float32)
        return Reading(relevance, reading.span_score, reading.spans)


def test_the_flow_outlasts_the_reading() -> None:
    """The reader's combination may weigh the first stage little (the stub's not at all): for a
    follow-up the flow is added to the combined scores too, so a slightly better reading
    elsewhere does not undo it."""
    encoder = HashingEncoder()
    _, indexed = _indexed(STORY, encoder)
    reader = CoastReader()
    reader.candidates = 5  # every sentence read
    retriever = Retriever(encoder, RankerWeights.blend(), reader)
    coast = next(s.index for s in indexed.segmentation.sentences if "coast" in s.text)
    assert retriever.rank(indexed, "what then").hits[0].sentence == coast
    later = retriever.rank(indexed, "what then", Flow(int(indexed.candidates[1])))
    assert later.hits[0].sentence == int(indexed.candidates[2])  # FLOW_NEXT beats 1.0
    assert FLOW_NEXT * FLOW_READ > 1.0
    # A later question that stands on its own keeps only the first stage's flow.
    alone_later = retriever.rank(indexed, "what then", Flow(int(indexed.candidates[1]), False))
    assert alone_later.hits[0].sentence == coast


@pytest.fixture
def story(library: Library) -> str:
    return library.ingest(STORY, title="Storm").id


def test_a_turn_that_says_where_it_was_answered_is_not_asked_again(
    library: Library, story: str, encoder: CountingEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Flow | None] = []
    rank = library.retriever.rank

    def counted(indexed: IndexedArticle, question: str, turn: Flow | None = None) -> Ranking:
        seen.append(turn)
        return rank(indexed, question, turn)

    monkeypatch.setattr(library.retriever, "rank", counted)
    text = library.get(story).article.text
    start = text.index("Crews restored")
    cited = (start, start + len("Crews restored most of it by Tuesday."))
    library.ask("When did they reopen?", story, history=[Turn("Who fixed it?", cited, "Crews")])
    crews = sentence_at(library.get(story), start)
    assert seen == [Flow(crews)]  # one ranking, from the sentence the client named
    seen.clear()
    library.ask("When did they reopen?", story, history=["Who fixed it?"])
    assert len(seen) == 2 and seen[0] is None  # the plain question is asked again first
    assert isinstance(seen[1], Flow)
    # Declined: asked again, and its best sentence is where the conversation stands (the
    # reader was most likely looking there, just not sure enough to answer).
    seen.clear()
    library.ask("When did they reopen?", story, history=[Turn("Who fixed it?")])
    assert len(seen) == 2 and seen[0] is None
    best = library.ask("Who fixed it?", story, top_k=1).citations[0].quote.start
    assert seen[1] == Flow(sentence_at(library.get(story), best))


def test_a_follow_up_answers_at_a_share_of_the_threshold(
    data_dir: Path, encoder: CountingEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = make_library(data_dir, encoder)
    story = library.ingest(STORY, title="Storm").id
    history = [Turn("What happened?")]

    def ask(question: str) -> tuple[bool, float]:
        answer = library.ask(question, story, history=history)
        return answer.answerable, answer.confidence

    followup, standalone = "What did the crews do then?", "Did crews restore the power?"
    confidence = ask(followup)[1]
    monkeypatch.setattr(library, "threshold", confidence + 0.01)
    monkeypatch.setattr(library_module, "FOLLOW_UP_THRESHOLD_SHARE", 1.0)
    assert ask(followup) == (False, confidence)
    share = (confidence - 0.001) / library.threshold
    monkeypatch.setattr(library_module, "FOLLOW_UP_THRESHOLD_SHARE", share)
    assert ask(followup) == (True, confidence)
    # A question that stands on its own keeps the full threshold, later in a chat too.
    monkeypatch.setattr(library, "threshold", ask(standalone)[1] + 0.001)
    monkeypatch.setattr(library_module, "FOLLOW_UP_THRESHOLD_SHARE", 0.01)
    assert not ask(standalone)[0]
