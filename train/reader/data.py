"""Training data for the reader: the shared train/ sets cut into the product's own sentences.

Every article of ``../shared/data/train`` (SQuAD shape) is parsed and segmented exactly as an
ingest would, embedded with the product's encoder and ranked by the shipped first stage, so the
reader learns on the candidates it will see when serving: for each question, the sentences that
hold a gold answer (with the answer's offsets inside the sentence) and the first stage's
best-ranked wrong sentences as hard negatives, and for half the questions the answer sentence
with the question altered so that it no longer answers it (``altered``: a name or number swapped
for another of the article's, else negated), the kinds of unanswerable question SQuAD v2.0's
writers made most. Held-out articles keep each question's top
candidates with their first-stage scores, for fitting how the reader's scores are combined and
for the answerability model: there each question is also asked of its article with the
paragraph that answers it removed (unanswerable by construction).

Results are cached as JSON lines in the work directory, so a rerun does not mine again.
"""

from __future__ import annotations

import json
import logging
import random
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.encoder import Encoder, TokenVectors
from index.features import confidence_features
from index.lexical import STOPWORDS
from index.ranker import RankerWeights
from index.retriever import IndexedArticle, Retriever, assemble
from index.store import build_faiss
from qa.article import clean_text, parse_text, search_text
from qa.errors import ArticleQAError
from qa.segment import segment
from train.squad import read_jsonl

logger = logging.getLogger(__name__)

DEFAULT_TRAIN = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "train"
# (file, name): the SQuAD-shaped sets the reader learns from.
TRAIN_FILES = (
    ("squadshifts-new-wiki.jsonl", "new-wiki"),
    ("squadshifts-reddit.jsonl", "reddit"),
    ("squadshifts-amazon.jsonl", "amazon"),
    ("qed-nq-train.jsonl", "qed"),
    ("selqa-dev.jsonl", "selqa"),
    ("selqa-test.jsonl", "selqa"),
)
REPORT_FILE = ("qed-nq-dev.jsonl", "qed-dev")  # real search queries: reported, never trained on
HELD_OUT_SOURCE = "new-wiki"  # its held-out articles fit the combination and the threshold
HELD_OUT_SHARE = 0.25
MAX_PARAGRAPHS = 20  # longer "articles" (the Reddit set is one) are cut into pieces this long
MAX_QUOTE_CHARS = 400  # as train/squad.py: a longer sentence does not point at the answer
HARD_POOL = 8  # hard negatives are drawn from the first stage's best this many wrong sentences
ALTERED_SHARE = 0.5  # questions that also give an altered (unanswerable) question as a negative
KEEP = 8  # candidates kept per held-out question
SEPARATOR = "\n\n"


@dataclass(frozen=True, slots=True)
class Pair:
    """One (question, sentence) training pair; ``span`` is the answer inside the sentence."""

    question: str
    sentence: str
    relevant: bool
    span: tuple[int, int] | None
    source: str


@dataclass(frozen=True, slots=True)
class Candidate:
    sentence: str
    first: float  # first-stage log-odds
    relevant: bool
    spans: tuple[tuple[int, int], ...]  # gold answers inside the sentence


@dataclass(frozen=True, slots=True)
class Asked:
    """A held-out question with the first stage's top candidates and its first-stage features."""

    question: str
    answerable: bool
    answers: tuple[str, ...]
    confidence: tuple[float, ...]  # the first stage's CONFIDENCE_FEATURES row
    candidates: tuple[Candidate, ...]
    source: str
    article: str


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    golds: tuple[tuple[int, int], ...]  # in the article text
    answers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TrainArticle:
    source: str
    title: str
    paragraphs: tuple[str, ...]
    questions: tuple[tuple[int, Question], ...]  # (paragraph, question)

    @property
    def text(self) -> str:
        return SEPARATOR.join(self.paragraphs)


def load(path: Path, source: str) -> list[TrainArticle]:
    """Articles of one SQuAD-shaped file, long ones cut into pieces of MAX_PARAGRAPHS."""
    articles = []
    for row in read_jsonl(path):
        paragraphs = row["paragraphs"]
        for first in range(0, len(paragraphs), MAX_PARAGRAPHS):
            piece = paragraphs[first : first + MAX_PARAGRAPHS]
            contexts = tuple(str(p["context"]) for p in piece)
            questions = []
            offset = 0
            for number, (paragraph, context) in enumerate(zip(piece, contexts, strict=True)):
                for qa in paragraph["qas"]:
                    if qa.get("is_impossible"):
                        continue
                    answers = [(int(a["answer_start"]), str(a["text"])) for a in qa["answers"]]
                    golds = tuple((offset + s, offset + s + len(t)) for s, t in answers if t)
                    if golds:
                        texts = tuple(t for _, t in answers if t)
                        questions.append((number, Question(str(qa["question"]), golds, texts)))
                offset += len(context) + len(SEPARATOR)
            title = str(row["title"]) + (f" ({first // MAX_PARAGRAPHS + 1})" if first else "")
            articles.append(TrainArticle(source, title, contexts, tuple(questions)))
    return articles


_SWAPPABLE = re.compile(r"\b(?:[A-Z][\w'’-]*|\d+(?:[.,]\d+)*)")
_AUXILIARY = re.compile(
    r"\b(is|was|are|were|did|does|do|has|have|had|can|could|will|would|should)\b(?! not\b)"
)


_NEGATION = re.compile(r"\b(not|never|no|n't)\b", re.IGNORECASE)


def altered(question: str, sentence: str, article: Sequence[str], rng: random.Random) -> str | None:
    """The question changed so that ``sentence`` (which answers it) no longer does: a name or
    number it shares with the sentence swapped for one of the article's that the sentence
    lacks, else negated after its first auxiliary verb ("When was it not built?"); None when
    neither applies. ``article``: the article's names and numbers."""
    words = set(_SWAPPABLE.findall(sentence))
    first = question.split(maxsplit=1)[0] if question.strip() else ""
    shared = [w for w in _SWAPPABLE.findall(question) if w in words and w != first]
    others = sorted(
        {w for w in article if w not in words and w not in question and w.lower() not in STOPWORDS}
    )
    if shared and others:
        old = rng.choice(shared)
        kind = old[0].isdigit()
        alike = [w for w in others if w[0].isdigit() == kind]
        if alike:
            return re.sub(rf"\b{re.escape(old)}(?![\w'’-])", rng.choice(alike), question, count=1)
    if _NEGATION.search(question) is None and (verb := _AUXILIARY.search(question)):
        return f"{question[: verb.end()]} not{question[verb.end() :]}"
    return None


def held_out(article: TrainArticle) -> bool:
    """A stable quarter of the held-out source's articles, by title."""
    if article.source != HELD_OUT_SOURCE:
        return False
    return zlib.crc32(article.title.encode()) % 100 < HELD_OUT_SHARE * 100


def index_article(
    title: str, text: str, encoder: Encoder, vectors: dict[str, Any]
) -> IndexedArticle | None:
    """The article indexed as an ingest would (None when nothing is citable); ``vectors``
    caches sentence vectors and token vectors by search text across calls."""
    try:
        article = parse_text(text, title=title)
    except ArticleQAError:
        return None
    segmentation = segment(article)
    texts = [search_text(s.text, s.kind) for s in segmentation.sentences]
    missing = sorted({t for t in texts if t not in vectors})
    if missing:
        embedding = encoder.encode_documents(missing)
        for n, missed in enumerate(missing):
            vectors[missed] = (embedding.vectors[n], embedding.tokens.select(np.array([n])))
    matrix = np.vstack([np.zeros((0, encoder.dim), np.float32)] + [vectors[t][0] for t in texts])
    tokens = TokenVectors.concat([vectors[t][1] for t in texts], encoder.dim)
    indexed = assemble(title, article, segmentation, build_faiss(matrix), tokens, "")
    return indexed if indexed.candidates.size else None


class Miner:
    """Indexes training articles as the product does and ranks their sentences per question."""

    def __init__(self, encoder: Encoder, weights: RankerWeights, seed: int = 13) -> None:
        self.encoder = encoder
        self.retriever = Retriever(encoder, weights)
        self.random = random.Random(seed)

    def first_stage(self, indexed: IndexedArticle, question: str) -> tuple[Any, Any]:
        """First-stage log-odds per citable sentence, and the confidence feature row."""
        matrix = self.retriever.features(indexed, question)
        scores = self.retriever.weights.ranker.score(matrix)
        return scores, confidence_features(scores, matrix)

    def pairs(self, article: TrainArticle, negatives: int, random_negatives: int) -> Iterator[Pair]:
        """Training pairs: each question's answer sentences, hard and random negatives, and
        for ALTERED_SHARE of the questions an altered question with its answer sentence."""
        text = article.text
        if clean_text(text) != text.strip():
            return  # cleaning would move offsets; rare (carriage returns)
        indexed = index_article(article.title, text, self.encoder, {})
        if indexed is None:
            return
        shift = text.index(indexed.article.text)
        sentences = [indexed.segmentation.sentences[i] for i in indexed.candidates]
        swappable = _SWAPPABLE.findall(indexed.article.text)
        for _, question in article.questions:
            golds = [(a - shift, b - shift) for a, b in question.golds]
            scores, _ = self.first_stage(indexed, question.text)
            order = np.argsort(-scores, kind="stable")
            positive = {
                int(i)
                for i, s in enumerate(sentences)
                if s.end - s.start <= MAX_QUOTE_CHARS
                and any(s.start <= a and b <= s.end for a, b in golds)
            }
            if not positive:
                continue  # the answer crosses sentences
            for i in sorted(positive):
                s = sentences[i]
                a, b = next((a, b) for a, b in golds if s.start <= a and b <= s.end)
                yield Pair(question.text, s.text, True, (a - s.start, b - s.start), article.source)
            if self.random.random() < ALTERED_SHARE:
                s = sentences[min(positive)]
                changed = altered(question.text, s.text, swappable, self.random)
                if changed is not None:
                    yield Pair(changed, s.text, False, None, article.source)
            wrong = [int(i) for i in order if int(i) not in positive]
            hard = wrong[:HARD_POOL]
            chosen = self.random.sample(hard, min(negatives, len(hard)))
            rest = [i for i in wrong if i not in chosen]
            chosen += self.random.sample(rest, min(random_negatives, len(rest)))
            for i in chosen:
                yield Pair(question.text, sentences[i].text, False, None, article.source)

    def asked(self, article: TrainArticle, *, remove_answer: bool) -> Iterator[Asked]:
        """Held-out questions with their top candidates; with ``remove_answer`` each is asked of
        the article without the paragraph that answers it (skipped when another paragraph still
        contains an answer string)."""
        if clean_text(article.text) != article.text.strip():
            return
        vectors: dict[str, Any] = {}
        full = index_article(article.title, article.text, self.encoder, vectors)
        if full is None:
            return
        by_paragraph: dict[int, list[Question]] = {}
        for number, question in article.questions:
            by_paragraph.setdefault(number, []).append(question)
        for number, questions in by_paragraph.items():
            if remove_answer:
                rest = article.paragraphs[:number] + article.paragraphs[number + 1 :]
                questions = [
                    q for q in questions if not any(t in p for t in q.answers for p in rest)
                ]
                if not rest or not questions:
                    continue
                indexed = index_article(article.title, SEPARATOR.join(rest), self.encoder, vectors)
                if indexed is None:
                    continue
            else:
                indexed = full
            shift = article.text.index(indexed.article.text) if not remove_answer else 0
            sentences = [indexed.segmentation.sentences[i] for i in indexed.candidates]
            for question in questions:
                golds = [] if remove_answer else [(a - shift, b - shift) for a, b in question.golds]
                scores, confidence = self.first_stage(indexed, question.text)
                order = np.argsort(-scores, kind="stable")[:KEEP]
                candidates = []
                for i in order:
                    s = sentences[int(i)]
                    inside = tuple(
                        (a - s.start, b - s.start) for a, b in golds if s.start <= a and b <= s.end
                    )
                    relevant = bool(inside) and s.end - s.start <= MAX_QUOTE_CHARS
                    candidates.append(Candidate(s.text, float(scores[i]), relevant, inside))
                yield Asked(
                    question.text,
                    not remove_answer,
                    question.answers,
                    tuple(float(x) for x in confidence),
                    tuple(candidates),
                    article.source,
                    article.title,
                )


def write_jsonl(path: Path, rows: Sequence[Any]) -> None:
    """Write dataclass rows atomically (a half-written cache is never read as whole)."""
    partial = path.with_suffix(".partial")
    with partial.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(asdict(row)) + "\n")
    partial.replace(path)


def read_pairs(path: Path) -> list[Pair]:
    rows = []
    for row in read_jsonl(path):
        span = tuple(row["span"]) if row["span"] is not None else None
        rows.append(Pair(row["question"], row["sentence"], row["relevant"], span, row["source"]))
    return rows


def read_asked(path: Path) -> list[Asked]:
    rows = []
    for row in read_jsonl(path):
        candidates = tuple(
            Candidate(c["sentence"], c["first"], c["relevant"], tuple(map(tuple, c["spans"])))
            for c in row["candidates"]
        )
        rows.append(
            Asked(
                row["question"],
                row["answerable"],
                tuple(row["answers"]),
                tuple(row["confidence"]),
                candidates,
                row["source"],
                row["article"],
            )
        )
    return rows
