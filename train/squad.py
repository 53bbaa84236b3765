"""The shared SQuAD data as "questions about one article" (see ../shared/data/README.md), its
folds and its scores.

Folds are by article (sorted titles, index mod ``FOLDS``): whatever is fitted on SQuAD here (the
ranker, the answerability model, the reader's fine-tuning) is scored by ``bench.quality`` only on
articles whose questions it was not fitted on.
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
V1_FILE = "squad-v1.1-dev-a.jsonl"
V2_FILE = "squad-v2.0-dev-a-unanswerable.jsonl"
TOP_K = 5
FOLDS = 4
# A quote longer than this does not point a reader at the answer, even when it contains it.
MAX_QUOTE_CHARS = 400
SEPARATOR = "\n\n"
_PUNCTUATION = frozenset(string.punctuation)

Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Question:
    """A question with its gold spans in the joined article text (none when unanswerable)."""

    id: str
    text: str
    golds: tuple[Span, ...]
    answers: tuple[str, ...]

    @property
    def answerable(self) -> bool:
        return bool(self.golds)


@dataclass(frozen=True, slots=True)
class SquadArticle:
    title: str
    text: str  # paragraph contexts joined with blank lines
    questions: tuple[Question, ...]
    paragraphs: tuple[str, ...] = ()  # the contexts joined in ``text``


def fold_of(titles: Sequence[str]) -> dict[str, int]:
    return {title: n % FOLDS for n, title in enumerate(sorted(titles))}


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                row: dict[str, Any] = json.loads(line)
                yield row


def load_articles(data: Path, limit: int | None, max_questions: int | None) -> list[SquadArticle]:
    """Join each article's paragraphs and put every gold span into the joined text's offsets."""
    unanswerable: dict[str, list[Question]] = {}
    for row in read_jsonl(data / V2_FILE):
        unanswerable[str(row["title"])] = [
            Question(str(qa["id"]), str(qa["question"]), (), ())
            for paragraph in row["paragraphs"]
            for qa in paragraph["unanswerable_qas"]
        ]
    articles: list[SquadArticle] = []
    for row in read_jsonl(data / V1_FILE):
        if limit is not None and len(articles) >= limit:
            break
        title = str(row["title"])
        contexts = [str(p["context"]) for p in row["paragraphs"]]
        answerable: list[Question] = []
        offset = 0
        for paragraph, context in zip(row["paragraphs"], contexts, strict=True):
            for qa in paragraph["qas"]:
                answers = [(int(a["answer_start"]), str(a["text"])) for a in qa["answers"]]
                golds = tuple((offset + s, offset + s + len(t)) for s, t in answers)
                texts = tuple(t for _, t in answers)
                answerable.append(Question(str(qa["id"]), str(qa["question"]), golds, texts))
            offset += len(context) + len(SEPARATOR)
        negatives = unanswerable.get(title, [])
        if max_questions is not None:
            answerable, negatives = answerable[:max_questions], negatives[:max_questions]
        articles.append(
            SquadArticle(
                title, SEPARATOR.join(contexts), (*answerable, *negatives), tuple(contexts)
            )
        )
    return articles


def hit_rank(spans: Iterable[Span], golds: Sequence[Span]) -> int | None:
    """1-based rank of the first short-enough span containing any gold answer, else None."""
    for rank, (start, end) in enumerate(spans, 1):
        if end - start <= MAX_QUOTE_CHARS and any(start <= a and b <= end for a, b in golds):
            return rank
    return None


def normalize_answer(text: str) -> str:
    """SQuAD's official normalisation: lower case, no punctuation, articles or extra spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def span_scores(prediction: str | None, answers: Sequence[str]) -> tuple[float, float]:
    """Exact match and token F1 of a predicted answer against the best gold (0 when None)."""
    if prediction is None or not answers:
        return 0.0, 0.0
    guess = normalize_answer(prediction).split()
    best_em = best_f1 = 0.0
    for answer in answers:
        gold = normalize_answer(answer).split()
        best_em = max(best_em, float(guess == gold))
        common = sum((Counter(guess) & Counter(gold)).values())
        if common:
            precision, recall = common / len(guess), common / len(gold)
            best_f1 = max(best_f1, 2 * precision * recall / (precision + recall))
    return best_em, best_f1
