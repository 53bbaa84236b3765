"""What is fitted on a trained reader's readings, and how it is scored: the first-stage/reader
combination and the answerability model, computed exactly as ``index.reader.judge`` serves them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from index.ranker import LinearModel
from index.reader import ANSWER_FEATURES, COMBINED_FEATURES, judge
from train.reader.data import Asked
from train.squad import span_scores

ANSWERED_TARGET = 0.96
COMBINED_READ = 3  # sentences per question the combination is fitted on, at least


def read_all(session: Any, asked: Sequence[Asked], candidates: int) -> list[Any]:
    return [
        session.read(a.question, [c.sentence for c in a.candidates[:candidates]]) for a in asked
    ]


def answer_rows(
    combined: LinearModel,
    first_confidence: LinearModel,
    asked: Sequence[Asked],
    readings: Sequence[Any],
) -> tuple[Any, list[int]]:
    """ANSWER_FEATURES per question, and each question's best candidate after combination, as
    the served retriever computes them (``index.reader.judge``)."""
    rows, best = [], []
    for a, reading in zip(asked, readings, strict=True):
        read = a.candidates[: len(reading.relevance)]
        first = np.array([c.first for c in read])
        confidence = float(first_confidence.score(np.array([a.confidence], dtype=np.float32))[0])
        texts = [c.sentence for c in read]
        _, order, row = judge(combined, first, reading, confidence, a.question, texts)
        rows.append(row)
        best.append(int(order[0]))
    return np.asarray(rows, dtype=np.float32), best


def fit_linear(names: tuple[str, ...], rows: Any, labels: Any) -> LinearModel:
    scaler = StandardScaler().fit(rows)
    model = LogisticRegression(max_iter=5000).fit(scaler.transform(rows), labels)
    return LinearModel(
        names,
        np.asarray(scaler.mean_, dtype=np.float64),
        np.asarray(scaler.scale_, dtype=np.float64),
        np.asarray(model.coef_[0], dtype=np.float64),
        float(model.intercept_[0]),
    )


def fit(
    session: Any, heldout: Sequence[Asked], first_confidence: LinearModel, candidates: int
) -> tuple[LinearModel, LinearModel, float]:
    """The first-stage/reader combination and the answerability model, on held-out articles.

    The combination is fitted on at least COMBINED_READ sentences per question whatever the
    reader serves (with one, every question it learns from would be a positive); the
    answerability on what is served."""
    served = read_all(session, heldout, candidates)
    wide = served if candidates >= COMBINED_READ else read_all(session, heldout, COMBINED_READ)
    features, labels = [], []
    for a, reading in zip(heldout, wide, strict=True):
        relevant = [c.relevant for c in a.candidates[: len(reading.relevance)]]
        if a.answerable and any(relevant):
            for c, r in zip(a.candidates, reading.relevance, strict=False):
                features.append([c.first, r])
                labels.append(c.relevant)
    combined = fit_linear(COMBINED_FEATURES, np.asarray(features, np.float32), np.asarray(labels))
    rows, _ = answer_rows(combined, first_confidence, heldout, served)
    answerable = np.array([a.answerable for a in heldout])
    answer = fit_linear(ANSWER_FEATURES, rows, answerable)
    z = answer.score(rows[answerable])
    probability = 1.0 / (1.0 + np.exp(-z))
    threshold = float(np.quantile(probability, 1.0 - ANSWERED_TARGET))
    return combined, answer, round(threshold, 4)


def evaluate(
    session: Any,
    asked: Sequence[Asked],
    combined: LinearModel,
    answer: LinearModel,
    first_confidence: LinearModel,
    threshold: float,
    candidates: int,
) -> dict[str, float | None]:
    """hit@1 (the first cited sentence holds an answer and the question is answered), answered,
    abstained, and the answer span's exact match and F1 (a declined answer scores 0)."""
    readings = read_all(session, asked, candidates)
    rows, best = answer_rows(combined, first_confidence, asked, readings)
    z = answer.score(rows)
    says = 1.0 / (1.0 + np.exp(-z)) >= threshold
    hits = ems = f1s = first_hits = 0.0
    n_answerable = sum(a.answerable for a in asked)
    answered = declined = 0
    for a, reading, top, answering in zip(asked, readings, best, says, strict=True):
        if not a.answerable:
            declined += not answering
            continue
        answered += bool(answering)
        first_hits += a.candidates[0].relevant
        if not answering:
            continue
        hits += a.candidates[top].relevant
        span = reading.spans[top]
        text = a.candidates[top].sentence[span[0] : span[1]] if span else None
        em, f1 = span_scores(text, a.answers)
        ems, f1s = ems + em, f1s + f1
    n_unanswerable = len(asked) - n_answerable
    return {
        "questions": n_answerable,
        "unanswerable": n_unanswerable,
        "first_stage_hit@1": round(first_hits / max(n_answerable, 1), 4),
        "hit@1": round(hits / max(n_answerable, 1), 4),
        "answered": round(answered / max(n_answerable, 1), 4),
        "abstain": round(declined / max(n_unanswerable, 1), 4) if n_unanswerable else None,
        "span_em": round(ems / max(n_answerable, 1), 4),
        "span_f1": round(f1s / max(n_answerable, 1), 4),
    }
