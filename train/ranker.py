"""Fit the first stage's ranker and confidence model on SQuAD; writes index/data/ranker.json.

    .venv/bin/python -m train.ranker [--data ../shared/data]

Features come from the product's own ``Retriever.features``, so what is trained is exactly what
runs. The shipped weights are fitted on every shared SQuAD article; ``Rankers`` fits them
without some folds, for what is cross-validated (``bench.quality``, the answerability fit, the
reader's SQuAD pairs), so a model is never scored on an article whose questions it was fitted on.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from index.encoder import BACKENDS, DEFAULT_BACKEND
from index.features import CONFIDENCE_FEATURES, FEATURES, FloatArray, confidence_features
from index.library import Library
from index.ranker import DEFAULT_WEIGHTS, LinearModel, RankerWeights
from index.retriever import IndexedArticle
from service.settings import Settings
from service.state import real_encoder
from train.squad import DEFAULT_DATA, FOLDS, MAX_QUOTE_CHARS, SquadArticle, load_articles

logger = logging.getLogger(__name__)

# Share of answerable questions that must still be answered; the threshold follows from it.
# Measured trade-off (bench/quality.py, cross-validated): 0.95 declines 16% of the unanswerable
# SQuAD questions but also three of 32 ordinary default-article questions and a fifth of the
# conversation benchmark's right answers; 0.98 declines 5% of the unanswerable, every off-topic
# question, and one default-article question.
ANSWERED_TARGET = 0.98


@dataclass(frozen=True, slots=True)
class Example:
    """One question's feature matrix over an article's citable sentences, with labels."""

    article: str
    question: str
    answerable: bool
    matrix: FloatArray
    labels: npt.NDArray[np.bool_]  # which sentences contain a gold answer (<= 400 chars)
    golds: tuple[tuple[int, int], ...]
    answers: tuple[str, ...] = ()  # the gold answers' text


def examples_for(library: Library, indexed: IndexedArticle, squad: SquadArticle) -> list[Example]:
    """Feature matrices and labels for every question of one ingested article."""
    stored = indexed.article.text
    shift = squad.text.index(stored)
    sentences = indexed.segmentation.sentences
    spans = [(sentences[i].start, sentences[i].end) for i in indexed.candidates]
    out = []
    for question in squad.questions:
        golds = tuple((a - shift, b - shift) for a, b in question.golds)
        labels = np.array(
            [
                end - start <= MAX_QUOTE_CHARS and any(start <= a and b <= end for a, b in golds)
                for start, end in spans
            ],
            dtype=np.bool_,
        )
        matrix = library.retriever.features(indexed, question.text)
        out.append(
            Example(
                squad.title,
                question.text,
                question.answerable,
                matrix,
                labels,
                golds,
                question.answers,
            )
        )
    return out


def _linear(
    names: tuple[str, ...], rows: FloatArray, labels: npt.NDArray[np.bool_]
) -> tuple[LinearModel, npt.NDArray[np.float64]]:
    scaler = StandardScaler().fit(rows)
    model = LogisticRegression(max_iter=5000).fit(scaler.transform(rows), labels)
    linear = LinearModel(
        features=names,
        mean=np.asarray(scaler.mean_, dtype=np.float64),
        scale=np.asarray(scaler.scale_, dtype=np.float64),
        coef=np.asarray(model.coef_[0], dtype=np.float64),
        intercept=float(model.intercept_[0]),
    )
    return linear, linear.score(rows)


def _listwise_loss(
    w: npt.NDArray[np.float64],
    rows: npt.NDArray[np.float64],
    labels: npt.NDArray[np.bool_],
    firsts: npt.NDArray[np.intp],
    groups: npt.NDArray[np.intp],
) -> tuple[float, npt.NDArray[np.float64]]:
    """Minus the log of the answer sentences' softmax share within each question, plus half
    the squared weights, and its gradient."""
    scores = rows @ w
    scores -= np.maximum.reduceat(scores, firsts)[groups]
    e = np.exp(scores)
    every = np.add.reduceat(e, firsts)
    answers = np.add.reduceat(np.where(labels, e, 0.0), firsts)
    loss = float(np.sum(np.log(every) - np.log(answers))) + 0.5 * float(w @ w)
    share = e / every[groups] - np.where(labels, e, 0.0) / answers[groups]
    return loss, rows.T @ share + w


def _ranker(trainable: Sequence[Example]) -> LinearModel:
    """The sentence ranker: weights that put each question's answer sentence first (a softmax
    over its sentences; +0.6 hit@1 over a pointwise logistic regression on the same features,
    ``bench.quality``), then scaled and shifted so a sentence's score is its log-odds of holding
    the answer (calibrated on every sentence, as citations show it)."""
    from scipy.optimize import minimize

    rows = np.vstack([e.matrix for e in trainable]).astype(np.float64)
    labels = np.concatenate([e.labels for e in trainable])
    sizes = np.array([len(e.labels) for e in trainable])
    firsts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    groups = np.repeat(np.arange(len(trainable)), sizes)
    scaler = StandardScaler().fit(rows)
    standard = scaler.transform(rows)
    result = minimize(
        _listwise_loss,
        np.zeros(standard.shape[1]),
        args=(standard, labels, firsts, groups),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 2000},
    )
    direction = np.asarray(result.x, dtype=np.float64)
    calibration = LogisticRegression(max_iter=5000).fit((standard @ direction)[:, None], labels)
    return LinearModel(
        features=FEATURES,
        mean=np.asarray(scaler.mean_, dtype=np.float64),
        scale=np.asarray(scaler.scale_, dtype=np.float64),
        coef=direction * float(calibration.coef_[0, 0]),
        intercept=float(calibration.intercept_[0]),
    )


def fit(examples: Sequence[Example], provenance: dict[str, Any]) -> RankerWeights:
    """Fit the sentence ranker, then the answerability model on the ranker's top scores.

    The ranker learns from answerable questions whose answer lies in a citable sentence; the
    answerability model from all questions. The threshold is the confidence that keeps
    ``ANSWERED_TARGET`` of the training questions answered.
    """
    ranker = _ranker([e for e in examples if e.answerable and e.labels.any()])
    rows = np.vstack([confidence_features(ranker.score(e.matrix), e.matrix) for e in examples])
    answerable = np.array([e.answerable for e in examples], dtype=np.bool_)
    confidence, z = _linear(CONFIDENCE_FEATURES, rows, answerable)
    probability = 1.0 / (1.0 + np.exp(-z[answerable]))
    threshold = float(np.quantile(probability, 1.0 - ANSWERED_TARGET))
    return RankerWeights(ranker, confidence, round(threshold, 4), provenance)


def train_all(examples: Sequence[Example], path: Path, encoder: str) -> RankerWeights:
    """Fit on every article and write the shipped weights file."""
    titles = sorted({e.article for e in examples})
    weights = fit(
        examples,
        {
            "trained_by": "python -m train.ranker",
            "encoder": encoder,
            "data": "SQuAD v1.1 dev (24 articles) + v2.0 unanswerable, ../shared/data",
            "articles": len(titles),
            "questions": sum(e.answerable for e in examples),
            "unanswerable": sum(not e.answerable for e in examples),
        },
    )
    weights.save(path)
    logger.info("wrote %s (threshold %.4f)", path, weights.threshold)
    return weights


class Rankers:
    """First stages fitted on the examples of some folds, each fitted once."""

    def __init__(self, examples: Mapping[str, Sequence[Example]], folds: Mapping[str, int]):
        self._examples = examples
        self._folds = folds
        self._fitted: dict[frozenset[int], RankerWeights] = {}

    def without(self, *held_out: int) -> RankerWeights:
        key = frozenset(range(FOLDS)) - set(held_out)
        if key not in self._fitted:
            train = [e for t, rows in self._examples.items() if self._folds[t] in key for e in rows]
            self._fitted[key] = fit(train, {"folds": sorted(key)})
        return self._fitted[key]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m train.ranker", description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SQuAD data directory")
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS, help="weights file to write")
    parser.add_argument(
        "--backend", choices=BACKENDS, default=DEFAULT_BACKEND, help="encoder backend"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    faiss.omp_set_num_threads(1)
    encoder = real_encoder(Settings(backend=args.backend, threads=1))
    examples = []
    with tempfile.TemporaryDirectory(prefix="train-ranker-") as data_dir:
        library = Library(Path(data_dir), encoder, RankerWeights.blend())
        for squad in load_articles(args.data, None, None):
            examples += examples_for(library, library.ingest(squad.text, title=squad.title), squad)
    weights = train_all(examples, args.out, encoder.name)
    print(json.dumps({"out": str(args.out), "threshold": weights.threshold, **weights.provenance}))


if __name__ == "__main__":
    main()
