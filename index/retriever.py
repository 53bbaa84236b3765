"""Question -> ranked sentences: the one place ranking decisions live.

Every citable sentence gets dense (MiniLM cosine through FAISS), late-interaction (MaxSim over
the stored token vectors), keyword (BM25) and context features (index/features.py); a linear
ranker fitted on SQuAD (index/ranker.py; its scores are log-odds) orders them, and a logistic
model turns the top scores into the probability that the article answers the question at all.
With the reader (index/reader.py), the first stage's best few sentences are then read with the
question: the reader's relevance reorders them, gives each its answer span, and its scores
decide whether the article answers.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import faiss
import numpy as np
import numpy.typing as npt

from index.encoder import Encoder, TokenVectors
from index.features import (
    FloatArray,
    SentenceFacts,
    confidence_features,
    late_interaction,
    question_features,
)
from index.lexical import LexicalIndex
from index.ranker import RankerWeights
from index.reader import Reader, judge
from qa.article import search_text
from qa.models import Article, Hit, Segmentation

# A conversation about a story moves forward through it: after a turn answered from one
# sentence, the next turn's answer is most often that sentence or one of the next few (the news
# yardstick's conversations: of 117 follow-ups after an answered turn, 15 the same sentence, 64
# within three after it, 4 before). The first stage's log-odds get FLOW_SAME for the sentence
# last cited, FLOW_NEXT for the next one, decaying by FLOW_DECAY a sentence after it, over
# FLOW_REACH sentences (chosen on the dev split of bench.news).
FLOW_SAME = 1.0
FLOW_NEXT = 2.0
FLOW_DECAY = 0.7
FLOW_REACH = 6
# The reader's combination weighs the first stage at about 0.45 per log-odd, so after reading
# less than half the flow was left; for a follow-up it is added again, FLOW_READ times, to the
# combined scores of the sentences read (bench.news dev conversations' follow-ups, hit@1 by
# FLOW_READ: 0: 38 of 77, 0.5: 37, 0.75: 40, 1: 42, 1.5: 42 with one more unanswerable
# answered; held-out: 22, 23, 22, 22, 20 of 40). A later question that stands on its own keeps
# only the first stage's flow (bench.conversation: "Which stadium was awarded the game?" lost
# to the sentence after the previous answer).
FLOW_READ = 1.0
# A follow-up is short and leans on the earlier turns, so the first stage ranks its answer lower
# ("Why?" shares few words with the sentence that says why): the reader reads the first stage's
# best four instead of two (dev conversations, previous answers recomputed: hit@1 0.390 -> 0.429).
FOLLOW_UP_READS = 4


@dataclass(frozen=True, slots=True)
class Flow:
    """Where a conversation stands when a later question is asked: ``after``, the sentence its
    previous turn was answered from, or read best when declined (None: it cited nothing);
    ``followup``, whether the question leans on the earlier turns (``qa.followup.is_followup``)."""

    after: int | None
    followup: bool = True


@dataclass(frozen=True, slots=True)
class IndexedArticle:
    """An article with everything needed to answer questions about it."""

    id: str
    article: Article
    segmentation: Segmentation
    vectors: faiss.Index
    tokens: TokenVectors  # of every sentence, as ``vectors``
    lexical: LexicalIndex
    facts: SentenceFacts
    candidates: npt.NDArray[np.int64]  # indices of citable sentences, in article order
    created: str


@dataclass(frozen=True, slots=True)
class Keywords:
    """What an article's keyword search needs, built from its text alone (no vectors): so an
    ingest builds it while the encoder runs."""

    candidates: npt.NDArray[np.int64]  # indices of citable sentences, in article order
    lexical: LexicalIndex
    facts: SentenceFacts


def keywords(segmentation: Segmentation) -> Keywords:
    """The keyword index and sentence facts over the citable sentences."""
    sentences = segmentation.sentences
    candidates = np.array([s.index for s in sentences if s.kind.citable], dtype=np.int64)
    texts = [search_text(sentences[i].text, sentences[i].kind) for i in candidates]
    # Blocks (paragraphs) are searched as the search texts of their citable sentences, so a
    # byline's description counts at block level too.
    block_texts: dict[int, list[str]] = {}
    for i, text in zip(candidates, texts, strict=True):
        block_texts.setdefault(sentences[i].block, []).append(text)
    dense_block = {block: n for n, block in enumerate(block_texts)}
    return Keywords(
        candidates=candidates,
        lexical=LexicalIndex(texts),
        facts=SentenceFacts.of(
            texts,
            [dense_block[sentences[i].block] for i in candidates],
            [" ".join(parts) for parts in block_texts.values()],
        ),
    )


def assemble(
    article_id: str,
    article: Article,
    segmentation: Segmentation,
    vectors: faiss.Index,
    tokens: TokenVectors,
    created: str,
    built: Keywords | None = None,
) -> IndexedArticle:
    """The article ready to ask; ``vectors`` and ``tokens`` are every sentence's, ``built`` its
    ``keywords`` when already built."""
    words = built or keywords(segmentation)
    return IndexedArticle(
        id=article_id,
        article=article,
        segmentation=segmentation,
        vectors=vectors,
        tokens=tokens,
        lexical=words.lexical,
        facts=words.facts,
        candidates=words.candidates,
        created=created,
    )


@dataclass(frozen=True, slots=True)
class Ranking:
    hits: tuple[Hit, ...]
    confidence: float
    # The answerability model's input row behind ``confidence`` (the reader's ANSWER_FEATURES,
    # or the first stage's CONFIDENCE_FEATURES without a reader): what its fitting reads.
    evidence: FloatArray | None = None


class Retriever:
    """Ranks an article's citable sentences for a question, and reads the best ones when it has
    a reader."""

    def __init__(
        self, encoder: Encoder, weights: RankerWeights, reader: Reader | None = None
    ) -> None:
        self.encoder = encoder
        self.weights = weights
        self.reader = reader

    def features(self, indexed: IndexedArticle, question: str) -> FloatArray:
        """The feature matrix (citable sentences x FEATURES) for a question."""
        query, tokens = self.encoder.encode_question(question)
        total = indexed.vectors.ntotal
        scores, ids = indexed.vectors.search(query, total)
        cosine = np.zeros(total, dtype=np.float32)
        cosine[ids[0]] = scores[0]
        dense = cosine[indexed.candidates]
        late = late_interaction(indexed.tokens, tokens, dense, indexed.candidates)
        lexical = indexed.lexical.scores(question)
        return question_features(question, dense, late, lexical, indexed.facts)

    def rank(self, indexed: IndexedArticle, question: str, turn: Flow | None = None) -> Ranking:
        """Score every citable sentence; hits are sorted best first. ``turn``: the question
        is a later turn of a conversation (None: it stands alone)."""
        if indexed.candidates.size == 0:
            return Ranking((), 0.0)
        return self.rank_features(indexed, question, self.features(indexed, question), turn)

    def rank_features(
        self, indexed: IndexedArticle, question: str, matrix: FloatArray, turn: Flow | None = None
    ) -> Ranking:
        """``rank`` from the question's feature matrix (``features``), e.g. one computed once
        and ranked under several weights."""
        scores = self.weights.ranker.score(matrix)
        prior = None  # the flow, for after reading
        if turn is not None and turn.after is not None:
            prior = flow(indexed.candidates, turn.after)
            scores = scores + prior
            prior = prior if turn.followup else None
        order = np.argsort(-scores, kind="stable")
        first_row = confidence_features(scores, matrix)
        if self.reader is not None:
            reads = self.reader.candidates
            if turn is not None:
                reads = max(reads, FOLLOW_UP_READS)
            return self._read(
                self.reader, indexed, question, scores, order, first_row, reads, prior
            )
        chances = _sigmoid(scores).tolist()
        sentences = indexed.candidates.tolist()
        hits = tuple(Hit(sentence=sentences[i], score=chances[i]) for i in order.tolist())
        return Ranking(hits, self.weights.probability(first_row), first_row)

    def _read(
        self,
        reader: Reader,
        indexed: IndexedArticle,
        question: str,
        scores: npt.NDArray[np.float64],
        order: npt.NDArray[np.intp],
        first_row: FloatArray,
        reads: int,
        prior: npt.NDArray[np.float64] | None = None,
    ) -> Ranking:
        """Read the first stage's ``reads`` best sentences; they are ranked by the combined
        score (plus FLOW_READ times the conversation's ``prior``, when a later turn) and carry
        their answer spans, the rest follow in first-stage order."""
        top = order[:reads]
        sentences = [indexed.segmentation.sentences[int(indexed.candidates[i])] for i in top]
        reading = reader.read(question, [s.text for s in sentences])
        first_confidence = float(self.weights.confidence.score(first_row[None, :])[0])
        searched = [search_text(s.text, s.kind) for s in sentences]  # a byline says what it is
        after = None if prior is None else FLOW_READ * prior[top]
        combined, best, row = judge(
            reader.combined, scores[top], reading, first_confidence, question, searched, after
        )
        chances = _sigmoid(combined).tolist()
        hits = []
        for j in best:
            sentence, span = sentences[int(j)], reading.spans[int(j)]
            absolute = (
                None if span is None else (sentence.start + span[0], sentence.start + span[1])
            )
            hits.append(Hit(sentence.index, chances[int(j)], absolute))
        # Unread sentences rank below every read one, scored no higher than the last of them.
        floor = hits[-1].score
        first_chances = _sigmoid(scores).tolist()
        candidates = indexed.candidates.tolist()
        hits += [
            Hit(candidates[i], min(first_chances[i], floor)) for i in order[top.size :].tolist()
        ]
        return Ranking(tuple(hits), reader.probability(row), row)


def sentence_at(indexed: IndexedArticle, offset: int) -> int | None:
    """The citable sentence holding character ``offset`` of the article, if any (an offset a
    client sent may be out of range, or point between sentences)."""
    sentences = indexed.segmentation.sentences
    starts = [sentences[i].start for i in indexed.candidates.tolist()]
    k = bisect.bisect_right(starts, offset) - 1
    if k < 0:
        return None
    sentence = sentences[int(indexed.candidates[k])]
    return sentence.index if offset < sentence.end else None


def flow(candidates: npt.NDArray[np.int64], after: int) -> npt.NDArray[np.float64]:
    """Log-odds added to each candidate's first-stage score when the previous turn was answered
    from sentence ``after``: the conversation tends to move forward through the story."""
    here = int(np.searchsorted(candidates, after))
    cited = here < candidates.size and candidates[here] == after
    steps = np.arange(candidates.size, dtype=np.float64) - here + (0 if cited else 1)
    prior = np.where(
        (steps >= 1) & (steps <= FLOW_REACH), FLOW_NEXT * FLOW_DECAY ** (steps - 1), 0.0
    )
    return np.where(steps == 0, FLOW_SAME, prior) if cited else prior


def _sigmoid(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Log-odds scores as probabilities: citation scores are the chance the sentence answers.
    (On the whole array at once: one call per sentence cost half a millisecond a question.)"""
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0))), np.float64)
