"""Fine-tune the reader on the shared SQuAD dev half, one reader per fold and the shipped one.

    .venv/bin/python -m train.reader --squad [--base DIR] [--squad-epochs 2]

SQuAD's answers follow its own annotation style (the shortest phrase, no trailing words), which
the training sets of ``../shared/data/train`` only approach. The reader learns it from the shared
SQuAD dev half, cross-validated by article as every SQuAD fit here is (``train.squad.FOLDS``):

- pairs: each SQuAD question's first-stage top sentences, ranked by a first stage fitted without
  the question's fold (as ``bench.quality`` serves it): answerable questions with their answer
  spans, SQuAD v2.0's unanswerable ones and the answering-paragraph-removed ones as negatives;
- one reader per fold, fine-tuned from the base reader on the other folds' pairs plus a replayed
  sample of the training pairs (so it keeps what it learnt from ``train/``), written under
  ``--work``/squad/fold-K: what ``bench.quality`` scores fold K with and what the answerability
  fit reads fold K's questions with (out of fold);
- the shipped reader, fine-tuned the same way on every fold, written to ``--out``.

The base reader is a reader folder as ``python -m train.reader`` writes it (``--base``,
default ``--out``; refused when it is already fine-tuned on SQuAD, e.g. an earlier shipped one
restored from git): its int8 ONNX is dequantised into the training architecture, which,
exported again, reads exactly as it did. It is copied into ``--work`` first, so a stopped run
resumes from the same base after the shipped files were replaced.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from index.library import Library
from index.machine import machine
from index.ranker import RankerWeights
from index.reader import DEFAULT_READER, ReaderSession, sha256
from qa.models import Sentence
from service.settings import Settings
from service.state import real_encoder
from train.ranker import Example, Rankers
from train.reader.answerability import squad_probes
from train.reader.data import Asked, Pair, read_pairs, write_jsonl
from train.reader.export import dequantised, export
from train.reader.files import reader_files, served_fields, write_configs
from train.reader.folds import FOLD_DIR
from train.reader.model import MAX_TOKENS, build_model, train
from train.squad import FOLDS, fold_of, load_articles

logger = logging.getLogger("train.reader.squad")

SQUAD_LEARNING_RATE = 3e-5
REPLAY = 8000  # training pairs replayed beside the SQuAD ones
TOP = 3  # first-stage candidates per SQuAD question made into pairs
SOURCE = "squad-fold-"  # a pair's source names its fold: "squad-fold-2"


def fold_pairs(pairs: Sequence[Pair]) -> dict[int, list[Pair]]:
    """The SQuAD pairs by the fold their article is in."""
    out: dict[int, list[Pair]] = {}
    for pair in pairs:
        out.setdefault(int(pair.source.removeprefix(SOURCE)), []).append(pair)
    return out


def question_pairs(
    example: Example, sentences: Sequence[Sentence], scores: npt.NDArray[np.float64], source: str
) -> list[Pair]:
    """An answerable question's pairs: its TOP sentences by ``scores`` (the article's citable
    ``sentences``, in order) and its first answer sentence when they miss it; those that hold
    an answer (``example.labels``) with the answer's offsets inside the sentence."""
    order = np.argsort(-scores, kind="stable")[:TOP]
    chosen = {int(i) for i in order} | {int(i) for i in np.flatnonzero(example.labels)[:1]}
    pairs = []
    for i in sorted(chosen):
        s = sentences[i]
        span = None
        if example.labels[i]:
            a, b = next((a, b) for a, b in example.golds if s.start <= a and b <= s.end)
            span = (a - s.start, b - s.start)
        pairs.append(Pair(example.question, s.text, span is not None, span, source))
    return pairs


def squad_pairs(data: Path, path: Path) -> list[Pair]:
    """Every SQuAD question's pairs (cached in ``path``): its TOP first-stage sentences under a
    first stage fitted without its fold (``question_pairs`` for an answerable one); unanswerable
    questions (SQuAD v2.0's and the answering-paragraph-removed ones) give negatives only."""
    if path.is_file():
        return read_pairs(path)
    articles = load_articles(data, None, None)
    folds = fold_of([a.title for a in articles])
    encoder = real_encoder(Settings(backend="onnx", threads=1))
    pairs: list[Pair] = []
    with tempfile.TemporaryDirectory(prefix="reader-squad-") as data_dir:
        library = Library(Path(data_dir), encoder, RankerWeights.blend())
        indexed, examples, probes = squad_probes(library, articles)
        rankers = Rankers(examples, folds)
        for title, rows in examples.items():
            fold = folds[title]
            ranker = rankers.without(fold).ranker
            article = indexed[title]
            sentences = [article.segmentation.sentences[int(i)] for i in article.candidates]
            for example in rows:
                if example.answerable:  # unanswerable ones: from the probes below
                    scores = ranker.score(example.matrix)
                    pairs += question_pairs(example, sentences, scores, f"{SOURCE}{fold}")
            for probe in probes[title]:
                if probe.kind not in ("unanswerable", "removed"):
                    continue
                ranked = probe.indexed
                order = np.argsort(-ranker.score(probe.matrix), kind="stable")[:TOP]
                for i in order:
                    s = ranked.segmentation.sentences[int(ranked.candidates[int(i)])]
                    pairs.append(Pair(probe.question, s.text, False, None, f"{SOURCE}{fold}"))
    write_jsonl(path, pairs)
    return pairs


def base_reader(base: Path, work: Path) -> Path:
    """The reader folder fine-tuning starts from: ``base``, copied into ``work`` on the first
    run (a resumed run starts from the copy, since the shipped files are replaced at the end)."""
    copy = work / "base"
    if not (copy / DEFAULT_READER.name).is_file():
        config = json.loads((base / DEFAULT_READER.name).read_text(encoding="utf-8"))
        if "squad" in config["provenance"]:
            raise SystemExit(
                f"{base} holds a reader already fine-tuned on SQuAD; pass --base with the one it "
                "was fine-tuned from (its sha256 is in its provenance; restore it from git)"
            )
        if sha256(base / config["model"]) != config["sha256"]:
            raise SystemExit(f"{base / config['model']} does not match its reader.json")
        copy.mkdir(parents=True, exist_ok=True)
        for name in (DEFAULT_READER.name, config["model"]):
            shutil.copy(base / name, copy / name)
    return copy


def run(args: argparse.Namespace, heldout: Sequence[Asked], report: Sequence[Asked]) -> None:
    """Fine-tune and write a reader for each fold, then the shipped one on every fold; each
    finished one is skipped on a rerun, and a stopped training resumes from its checkpoint."""
    started = time.perf_counter()
    work = args.work / "squad"
    work.mkdir(parents=True, exist_ok=True)
    base = base_reader(args.base or args.out, work)
    base_config = json.loads((base / DEFAULT_READER.name).read_text(encoding="utf-8"))
    start = dequantised(base / base_config["model"], build_model(base_config["layers"]))
    by_fold = fold_pairs(squad_pairs(args.data, work / "pairs.jsonl"))
    titles = sorted(a.title for a in load_articles(args.data, None, None))
    folds = fold_of(titles)
    training = read_pairs(args.work / "pairs.jsonl")
    replay = random.Random(args.seed).sample(training, min(REPLAY, len(training)))
    settings = argparse.Namespace(
        **{**vars(args), "epochs": args.squad_epochs, "layers": base_config["layers"]}
    )
    first_confidence = RankerWeights.load().confidence
    for fold in (*range(FOLDS), None):
        out = args.out if fold is None else work / f"{FOLD_DIR}{fold}"
        name = "all" if fold is None else f"{FOLD_DIR}{fold}"
        held_out = sorted(t for t in titles if folds[t] == fold)
        if finished(out, list(reader_files(args)), base_config["sha256"], fold, args.squad_epochs):
            logger.info("%s: already fine-tuned", name)
            continue
        pairs = [p for g, ps in sorted(by_fold.items()) if g != fold for p in ps] + replay
        logger.info("%s: %d SQuAD pairs + %d replayed", name, len(pairs) - len(replay), len(replay))
        model = train(
            settings,
            pairs,
            start=start,
            learning_rate=SQUAD_LEARNING_RATE,
            checkpoint=work / f"checkpoint-{name}.pt",
        )
        out.mkdir(parents=True, exist_ok=True)
        target = out / args.model
        export(model, target)
        session = ReaderSession(target, MAX_TOKENS)
        served = {
            file: served_fields(session, heldout, report, first_confidence, candidates)
            for file, candidates in reader_files(args).items()
        }
        provenance = dict(base_config["provenance"])
        for key in ("metrics", "answerability", "refit"):  # of the base; written anew below
            provenance.pop(key, None)
        provenance["squad"] = {
            "command": shlex.join(["python", "-m", "train.reader", *sys.argv[1:]]),
            "data": "../shared/data: SQuAD v1.1 dev half and SQuAD v2.0 unanswerable for the same "
            "articles, the answering-paragraph-removed ones, each question's first-stage top "
            f"{TOP} sentences (first stage fitted without its fold); {len(replay)} training pairs "
            "replayed",
            "base_sha256": base_config["sha256"],
            "fold": fold,
            "held_out": held_out,
            "fold_readers": os.path.relpath(work),
            "pairs": len(pairs),
            "epochs": args.squad_epochs,
            "learning_rate": SQUAD_LEARNING_RATE,
            "machine": machine(),
            "minutes": round((time.perf_counter() - started) / 60, 1),
        }
        config = base_config | {
            "model": args.model,
            "sha256": sha256(target),
            "provenance": provenance,
        }
        quiet = argparse.Namespace(
            **{**vars(args), "out": out, "no_refit": args.no_refit or fold is not None}
        )
        write_configs(quiet, config, served)


def finished(out: Path, files: Sequence[str], base: str, fold: int | None, epochs: float) -> bool:
    """Whether ``out`` holds the reader ``files`` fine-tuned from ``base`` without ``fold`` for
    ``epochs``."""
    try:
        config = json.loads((out / files[0]).read_text(encoding="utf-8"))
        squad = config["provenance"]["squad"]
        return bool(
            squad["base_sha256"] == base
            and squad["fold"] == fold
            and squad["epochs"] == epochs
            and sha256(out / config["model"]) == config["sha256"]
            and all((out / name).is_file() for name in files)
        )
    except (OSError, KeyError, ValueError):
        return False
