"""Fit the reader's answerability model and threshold, and write them into ``reader.json``.

    .venv/bin/python -m train.reader.answerability [--data ../shared/data] [--work var/reader]
        [--reader index/data/reader.json]

The model (logistic regression over ``index.reader.ANSWER_FEATURES``, computed by
``index.reader.judge`` exactly as served) learns from:

- the shared SQuAD dev half: its answerable v1.1 questions, SQuAD v2.0's adversarial
  unanswerable questions for the same articles, and two kinds made from its answerable ones:
  asked of their article with the paragraph that answers them removed (skipped when another
  paragraph still contains an answer string), and asked of another article;
- the reader's held-out training questions (``var/reader/heldout.jsonl``, written by
  ``python -m train.reader``: SQuAD-Shifts pieces, answerable and with the answering
  paragraph removed).

Each SQuAD question's row comes from a first stage fitted without its article's fold (as
bench.quality serves it), so the rows look like those of an unseen article; for a reader
fine-tuned on SQuAD (``--squad``), it is read by the reader fine-tuned without that fold
(``train.reader.folds.out_of_fold``), never by one that trained on the question. The threshold keeps
``ANSWERED_TARGET`` of the fitting set's answerable questions answered. bench.quality fits the
same way per fold, on the other folds' articles only (``fit_folds``), and scores the held-out
fold. Only the answerability model, the threshold and the provenance change in ``reader.json``;
the reader model and its combination stay as trained.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from index.encoder import Encoder
from index.features import FloatArray
from index.library import Library
from index.machine import machine
from index.ranker import LinearModel, RankerWeights
from index.reader import ANSWER_FEATURES, DEFAULT_READER, Reader
from index.retriever import IndexedArticle, Retriever
from qa.article import search_text
from service.settings import Settings
from service.state import real_encoder
from train.ranker import Example, Rankers, examples_for
from train.reader.data import index_article, read_asked
from train.reader.fit import answer_rows, fit_linear
from train.reader.folds import MemoReader, memoised, out_of_fold
from train.squad import DEFAULT_DATA, FOLDS, SEPARATOR, SquadArticle, fold_of, load_articles

logger = logging.getLogger("train.reader.answerability")

ANSWERED_TARGET = 0.95  # of the fitting set's answerable questions
OTHER_ARTICLE_EVERY = 4  # every 4th answerable question is also asked of another article
KINDS = ("answerable", "unanswerable", "removed", "other")


@dataclass(frozen=True, slots=True)
class Probe:
    """A question asked of an indexed article, with its feature matrix (weight-independent)."""

    article: str  # the SQuAD article it belongs to, for folds
    kind: str  # one of KINDS; only "answerable" is answerable
    question: str
    indexed: IndexedArticle
    matrix: FloatArray

    @property
    def answerable(self) -> bool:
        return self.kind == "answerable"


def probes_for(
    retriever: Retriever,
    squad: SquadArticle,
    indexed: IndexedArticle,
    examples: Sequence[Example],
    other: IndexedArticle,
) -> list[Probe]:
    """Every question of one ingested SQuAD article as a probe, plus the constructed
    unanswerable ones: with the answering paragraph removed, and asked of ``other``."""
    kind = {True: "answerable", False: "unanswerable"}
    out = [Probe(squad.title, kind[e.answerable], e.question, indexed, e.matrix) for e in examples]
    # index_article's cache, seeded with what the full article already embedded.
    sentences = indexed.segmentation.sentences
    stored = indexed.vectors.reconstruct_n(0, len(sentences))
    vectors = {
        search_text(s.text, s.kind): (stored[i], indexed.tokens.select(np.array([i])))
        for i, s in enumerate(sentences)
    }
    starts, offset = [], 0
    for paragraph in squad.paragraphs:
        starts.append(offset)
        offset += len(paragraph) + len(SEPARATOR)
    by_paragraph: dict[int, list[tuple[str, tuple[str, ...]]]] = {}
    answerable = [q for q in squad.questions if q.answerable]
    for n, question in enumerate(answerable):
        number = int(np.searchsorted(starts, question.golds[0][0], side="right")) - 1
        by_paragraph.setdefault(number, []).append((question.text, question.answers))
        if n % OTHER_ARTICLE_EVERY == 0:
            matrix = retriever.features(other, question.text)
            out.append(Probe(squad.title, "other", question.text, other, matrix))
    for number, asked in sorted(by_paragraph.items()):
        rest = squad.paragraphs[:number] + squad.paragraphs[number + 1 :]
        kept = [q for q, answers in asked if not any(a in p for a in answers for p in rest)]
        if not rest or not kept:
            continue
        reduced = index_article(squad.title, SEPARATOR.join(rest), retriever.encoder, vectors)
        if reduced is None:
            continue
        for text in kept:
            matrix = retriever.features(reduced, text)
            out.append(Probe(squad.title, "removed", text, reduced, matrix))
    return out


def squad_probes(
    library: Library, articles: Sequence[SquadArticle], constructed: bool = True
) -> tuple[dict[str, IndexedArticle], dict[str, list[Example]], dict[str, list[Probe]]]:
    """Ingest every article (as bench.quality does), with its examples and probes; the
    other-article probes of each article are asked of the next article of the same fold.
    ``constructed=False``: no constructed probes (none are needed)."""
    started = time.perf_counter()
    indexed: dict[str, IndexedArticle] = {}
    examples: dict[str, list[Example]] = {}
    for squad in articles:
        indexed[squad.title] = library.ingest(squad.text, title=squad.title)
        examples[squad.title] = examples_for(library, indexed[squad.title], squad)
        logger.info("features: %s (%.0f s)", squad.title, time.perf_counter() - started)
    folds = fold_of([a.title for a in articles])
    probes: dict[str, list[Probe]] = {}
    for squad in articles if constructed else ():
        same = sorted(t for t in indexed if folds[t] == folds[squad.title])
        other = same[(same.index(squad.title) + 1) % len(same)]
        if other == squad.title:  # a fold of one article: any other article
            other = next(t for t in sorted(indexed) if t != squad.title)
        probes[squad.title] = probes_for(
            library.retriever, squad, indexed[squad.title], examples[squad.title], indexed[other]
        )
        counts = {k: sum(p.kind == k for p in probes[squad.title]) for k in KINDS}
        logger.info("probes: %s %s (%.0f s)", squad.title, counts, time.perf_counter() - started)
    return indexed, examples, probes


def probe_rows(
    encoder: Encoder, weights: RankerWeights, reader: Reader, probes: Iterable[Probe]
) -> tuple[list[npt.NDArray[np.float32]], list[Probe]]:
    """The ANSWER_FEATURES row of each probe under ``weights`` (the served path)."""
    retriever = Retriever(encoder, weights, reader)
    rows, kept = [], []
    for probe in probes:
        ranking = retriever.rank_features(probe.indexed, probe.question, probe.matrix)
        if ranking.evidence is not None:
            rows.append(ranking.evidence)
            kept.append(probe)
    return rows, kept


def heldout_rows(
    reader: Reader, work: Path
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """Rows of the reader's held-out training questions (their stored first-stage candidates,
    read as served), with the first stage as shipped; none when ``python -m train.reader``
    has not mined them into ``work``."""
    path = work / "heldout.jsonl"
    if not path.is_file():
        logger.warning("%s is missing (python -m train.reader mines it): fitting on "
                       "SQuAD alone", path)  # fmt: skip
        return np.zeros((0, len(ANSWER_FEATURES)), np.float32), np.zeros(0, np.bool_)
    asked = read_asked(path)
    readings = [
        reader.read(a.question, [c.sentence for c in a.candidates[: reader.candidates]])
        for a in asked
    ]
    rows, _ = answer_rows(reader.combined, RankerWeights.load().confidence, asked, readings)
    return rows, np.array([a.answerable for a in asked], dtype=np.bool_)


def fit_rows(
    rows: npt.NDArray[np.float32], answerable: npt.NDArray[np.bool_]
) -> tuple[LinearModel, float]:
    """The answerability model and the threshold keeping ANSWERED_TARGET answered."""
    model = fit_linear(ANSWER_FEATURES, rows, answerable)
    probability = 1.0 / (1.0 + np.exp(-model.score(rows[answerable])))
    return model, round(float(np.quantile(probability, 1.0 - ANSWERED_TARGET)), 4)


def fit_without(
    fold: int | None,
    encoder: Encoder,
    rankers: Rankers,
    readers: Sequence[Reader],
    probes: Mapping[str, Sequence[Probe]],
    folds: Mapping[str, int],
    extra: tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]],
) -> tuple[LinearModel, float, dict[str, int]]:
    """Fit on every fold but ``fold`` (None: all folds): fold g's probes are ranked by the
    first stage fitted without g (and without ``fold``), then read by ``readers[g]`` (out of
    fold: ``train.reader.folds.out_of_fold``); plus the ``extra`` rows."""
    rows: list[npt.NDArray[np.float32]] = []
    labels: list[bool] = []
    counts = dict.fromkeys(KINDS, 0)
    for g in range(FOLDS):
        if g == fold:
            continue
        weights = rankers.without(g) if fold is None else rankers.without(g, fold)
        chosen = [p for t, ps in probes.items() if folds[t] == g for p in ps]
        got, kept = probe_rows(encoder, weights, readers[g], chosen)
        rows += got
        labels += [p.answerable for p in kept]
        for p in kept:
            counts[p.kind] += 1
    matrix = np.vstack([np.asarray(rows, dtype=np.float32), extra[0]])
    answerable = np.concatenate([np.asarray(labels, dtype=np.bool_), extra[1]])
    model, threshold = fit_rows(matrix, answerable)
    counts["heldout_answerable"] = int(extra[1].sum())
    counts["heldout_unanswerable"] = int((~extra[1]).sum())
    return model, threshold, counts


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m train.reader.answerability", description=__doc__
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SQuAD data directory")
    parser.add_argument("--work", type=Path, default=Path("var/reader"), help="heldout.jsonl")
    parser.add_argument("--reader", type=Path, default=DEFAULT_READER, help="file to update")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(message)s")
    logger.setLevel(logging.INFO)
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    started = time.perf_counter()
    faiss.omp_set_num_threads(1)
    config: dict[str, Any] = json.loads(args.reader.read_text(encoding="utf-8"))
    reader = MemoReader(Reader(args.reader, threads=1, answerability=False))
    encoder = real_encoder(Settings(backend="onnx", threads=1))
    articles = load_articles(args.data, None, None)
    folds = fold_of([a.title for a in articles])
    readers = memoised(out_of_fold(reader, folds), reader)
    with tempfile.TemporaryDirectory(prefix="fit-answerability-") as data_dir:
        library = Library(Path(data_dir), encoder, RankerWeights.blend())
        _, examples, probes = squad_probes(library, articles)
        extra = heldout_rows(reader, args.work)
        model, threshold, counts = fit_without(
            None, encoder, Rankers(examples, folds), readers, probes, folds, extra
        )
    config["answerability"] = model.to_json()
    config["threshold"] = threshold
    config["provenance"]["answerability"] = {
        "command": shlex.join(["python", "-m", "train.reader.answerability", *argv]),
        "data": "../shared/data: SQuAD v1.1 dev half (answerable), SQuAD v2.0 unanswerable for "
        "the same articles, and constructed unanswerable ones (answering paragraph removed; "
        "asked of another article); the reader's held-out SQuAD-Shifts questions "
        f"({args.work / 'heldout.jsonl'}); SQuAD rows ranked by first stages fitted without "
        "the question's fold"
        + (", read by the reader fine-tuned without that fold" if readers[0] is not reader else ""),
        "examples": counts,
        "answered_target": ANSWERED_TARGET,
        "machine": machine(),
        "minutes": round((time.perf_counter() - started) / 60, 1),
    }
    args.reader.write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    logger.info("wrote %s (threshold %.4f): %s", args.reader, threshold, counts)
    json.dump(config["provenance"]["answerability"], sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
