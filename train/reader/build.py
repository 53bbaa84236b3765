"""Train the reader (index/reader.py) from ../shared/data/train and write the files it ships.

    .venv/bin/python -m train.reader [--train ../shared/data/train] [--work var/reader]
        [--layers 3] [--epochs 1] [--questions N] [--out index/data] [--refit]
    .venv/bin/python -m train.reader --squad [--base DIR] [--data ../shared/data]

Stages, each cached in ``--work`` so a stopped run resumes where it was:
1. mine (``train.reader.data``): every training article is parsed, segmented, embedded and
   ranked by the shipped first stage: answer sentences with the answer's offsets, hard negatives.
2. train (``train.reader.model``): MiniLM's first ``--layers`` layers with a relevance and a
   start/end head, fine-tuned on the pairs.
3. export (``train.reader.export``): ONNX, quantised to int8 per channel (``reader-int8.onnx``,
   or ``--model``).
4. fit (``train.reader.fit``): on held-out SQuAD-Shifts articles, read through the exported model
   exactly as served, a logistic combination of first-stage and reader scores and an
   answerability model (with questions whose answering paragraph was removed); the threshold
   keeps 96% answered.
5. report: hit@1, answer-span exact match and F1, answered and abstained on the held-out
   articles and on QED dev (real search queries, never trained on); written to ``reader.json``
   (reading ``--candidates`` sentences, served on every CPU) and ``reader-fast.json``
   (``--fast-candidates``, an option for throughput on CPUs without int8 dot products), steps 4-6
   for each (``train.reader.files``).
6. answerability: ``python -m train.reader.answerability`` (run here, unless ``--no-refit``)
   refits the answerability model and threshold on the shared SQuAD dev half, its unanswerable
   and constructed questions, and the held-out questions of step 4 (the metrics of step 5 are of
   the model fitted in step 4; ``python -m bench.quality`` measures the shipped one).

7. ``--squad`` (``train.reader.squad``), after the steps above: the reader fine-tuned on the
   shared SQuAD dev half, one reader per fold under ``--work``/squad (what bench.quality scores
   each fold with, and what reads each fold's questions when answerability is fitted) and the
   shipped one on every fold, each with steps 3-6.

``--mine-only`` stops after step 1 (``python -m train.encoder`` trains on the mined pairs).
``--refit`` keeps the model in ``--out`` and redoes steps 4-6 only (mining just the held-out and
QED questions): what a change of the first stage (encoder, features, ranker weights) needs, since
the combination and answerability are fitted on its scores.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from index.machine import machine
from index.ranker import DEFAULT_WEIGHTS, RankerWeights
from index.reader import DATA, DEFAULT_READER, FAST_READER, FORMAT_VERSION, ReaderSession, sha256
from service.settings import Settings
from service.state import real_encoder
from train.reader import squad
from train.reader.data import (
    DEFAULT_TRAIN,
    REPORT_FILE,
    TRAIN_FILES,
    Asked,
    Miner,
    Pair,
    TrainArticle,
    held_out,
    load,
    read_asked,
    read_pairs,
    write_jsonl,
)
from train.reader.export import export
from train.reader.files import reader_files, served_fields, write_configs
from train.reader.fit import evaluate, fit
from train.reader.model import CURVE, MAX_TOKENS, device_and_dtype, train
from train.squad import DEFAULT_DATA

logger = logging.getLogger("train.reader")

MODEL_FILE = "reader-int8.onnx"  # the model's name in --out unless --model says otherwise
CANDIDATES = 3  # default: sentences the served reader reads per question
FAST_CANDIDATES = 1  # ... and reads on a CPU without int8 dot products (reader-fast.json)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m train.reader", description=__doc__)
    parser.add_argument("--train", type=Path, default=DEFAULT_TRAIN, help="training data folder")
    parser.add_argument("--work", type=Path, default=Path("var/reader"), help="caches, checkpoints")
    parser.add_argument("--out", type=Path, default=DATA, help="where the shipped files go")
    parser.add_argument(
        "--model",
        default=MODEL_FILE,
        help="the model's file name in --out (two readers shipped side by side differ by it)",
    )
    parser.add_argument("--layers", type=int, default=3, help="MiniLM layers kept (1-6)")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--negatives", type=int, default=2, help="hard negatives per question")
    parser.add_argument("--random-negatives", type=int, default=1)
    parser.add_argument("--questions", type=int, help="train on at most N questions (curves)")
    parser.add_argument("--threads", type=int, default=2, help="math threads for training")
    parser.add_argument(
        "--candidates", type=int, default=CANDIDATES, help="sentences the served reader reads"
    )
    parser.add_argument(
        "--fast-candidates",
        type=int,
        default=FAST_CANDIDATES,
        help="sentences it reads on CPUs without int8 dot products (reader-fast.json)",
    )
    parser.add_argument(
        "--files",
        nargs="+",
        choices=(DEFAULT_READER.name, FAST_READER.name),
        default=[DEFAULT_READER.name, FAST_READER.name],
        help="the reader files written (default both; one when the other has its own model)",
    )
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--no-refit", action="store_true", help="skip step 6 (train.reader.answerability)"
    )
    parser.add_argument(
        "--mine-only", action="store_true", help="stop after step 1 (the encoder trains on it)"
    )
    parser.add_argument(
        "--refit",
        action="store_true",
        help="keep the model in --out; refit its combination and answerability only",
    )
    parser.add_argument(
        "--squad",
        action="store_true",
        help="fine-tune the reader in --base on the shared SQuAD dev half (train/reader/squad.py)",
    )
    parser.add_argument(
        "--base", type=Path, help="--squad: the reader folder to start from (default: --out)"
    )
    parser.add_argument(
        "--squad-epochs", type=float, default=2.0, help="--squad: epochs over the SQuAD pairs"
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SQuAD data folder")
    return parser.parse_args(argv)


# --- 1. mine -----------------------------------------------------------------------------------


def mine(args: argparse.Namespace) -> tuple[list[Pair], list[Asked], list[Asked]]:
    """Training pairs, held-out questions (answerable and with the answer removed), QED dev.

    The held-out and QED questions carry the first stage's scores, which the combination and
    answerability are fitted on, so they are ranked again when the shipped first stage (encoder
    or ranker weights) changed. The pairs are kept: their hard negatives stay hard.
    """
    args.work.mkdir(parents=True, exist_ok=True)
    paths = {name: args.work / f"{name}.jsonl" for name in ("pairs", "heldout", "report")}
    if args.refit:  # no training: the pairs are neither needed nor mined
        paths.pop("pairs")
    encoder = real_encoder(Settings(backend="onnx", threads=1))
    stage = f"{encoder.name} ranker {sha256(DEFAULT_WEIGHTS)[:12]}"
    stage_file = args.work / "first-stage.txt"
    # Caches from before the stage was recorded were mined with the stock MiniLM.
    mined = stage_file.read_text().strip() if stage_file.is_file() else "stock MiniLM"
    if all(p.is_file() for p in paths.values()) and mined == stage:
        cached = read_pairs(paths["pairs"]) if "pairs" in paths else []
        return cached, read_asked(paths["heldout"]), read_asked(paths["report"])
    keep_pairs = "pairs" not in paths or paths["pairs"].is_file()
    if keep_pairs:
        logger.info("ranking the held-out and QED questions by %s (before: %s)", stage, mined)
    miner = Miner(encoder, RankerWeights.load(), seed=args.seed)
    articles: list[TrainArticle] = []
    for file, source in TRAIN_FILES:
        articles += load(args.train / file, source)
    if keep_pairs:
        articles = [a for a in articles if held_out(a)]
    started = time.perf_counter()
    pairs: list[Pair] = read_pairs(paths["pairs"]) if "pairs" in paths and keep_pairs else []
    heldout: list[Asked] = []
    for n, article in enumerate(articles):
        if held_out(article):
            heldout += miner.asked(article, remove_answer=False)
            heldout += miner.asked(article, remove_answer=True)
        else:
            pairs += miner.pairs(article, args.negatives, args.random_negatives)
        if n % 500 == 0:
            logger.info(
                "mined %d/%d articles: %d pairs, %d held-out (%.0f s)",
                n, len(articles), len(pairs), len(heldout), time.perf_counter() - started,
            )  # fmt: skip
    report: list[Asked] = []
    for article in load(args.train / REPORT_FILE[0], REPORT_FILE[1]):
        report += miner.asked(article, remove_answer=False)
    if not keep_pairs:
        write_jsonl(paths["pairs"], pairs)
    write_jsonl(paths["heldout"], heldout)
    write_jsonl(paths["report"], report)
    stage_file.write_text(stage + "\n")
    logger.info("mining took %.0f s", time.perf_counter() - started)
    return pairs, heldout, report


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(message)s")
    logger.setLevel(logging.INFO)
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    pairs, heldout, report = mine(args)
    if args.questions is not None:
        questions = sorted({p.question for p in pairs})
        keep = set(random.Random(args.seed).sample(questions, min(args.questions, len(questions))))
        pairs = [p for p in pairs if p.question in keep]
    logger.info("%d pairs, %d held-out, %d report questions", len(pairs), len(heldout), len(report))
    if args.mine_only:
        return
    target = args.out / args.model
    if args.refit:
        refit(args, target, heldout, report, started)
        return
    if args.squad:
        squad.run(args, heldout, report)
        return
    model = train(args, pairs)
    args.out.mkdir(parents=True, exist_ok=True)
    export(model, target)
    session = ReaderSession(target, MAX_TOKENS)
    first_confidence = RankerWeights.load().confidence
    served = {
        name: served_fields(session, heldout, report, first_confidence, candidates)
        for name, candidates in reader_files(args).items()
    }
    curve = []
    for share in CURVE:
        snapshot = args.work / f"curve-{args.layers}l-{share}.pt"
        if not snapshot.is_file():
            continue
        import torch

        model.load_state_dict(torch.load(snapshot, weights_only=True))
        with tempfile.TemporaryDirectory() as tmp:
            export(model, Path(tmp) / MODEL_FILE)
            early = ReaderSession(Path(tmp) / MODEL_FILE, MAX_TOKENS)
            early_fit = fit(early, heldout, first_confidence, args.candidates)
            point = evaluate(
                early, heldout, *early_fit[:2], first_confidence, early_fit[2], args.candidates
            )
        seen = round(share * args.epochs * len({p.question for p in pairs}))
        curve.append({"training_questions": seen, **point})
    seen = round(args.epochs * len({p.question for p in pairs}))
    curve.append({"training_questions": seen, **next(iter(served.values()))[1]["heldout"]})
    config = {
        "format_version": FORMAT_VERSION,
        "model": args.model,
        "sha256": sha256(target),
        "layers": args.layers,
        "max_tokens": MAX_TOKENS,
        "provenance": {
            "command": shlex.join(["python", "-m", "train.reader", *sys.argv[1:]]),
            "data": "../shared/data/train (SQuAD-Shifts new-wiki, Reddit, Amazon; QED NQ train; "
            "SelQA dev and test); fitted on a held-out quarter of the new-wiki articles",
            "training_pairs": len(pairs),
            "training_questions": len({p.question for p in pairs}),
            "epochs": args.epochs,
            "machine": machine(),
            "device": "cuda" if device_and_dtype(args.threads)[0].type == "cuda" else "cpu",
            "minutes": round((time.perf_counter() - started) / 60, 1),
            "learning_curve": curve,
        },
    }
    write_configs(args, config, served)


def refit(
    args: argparse.Namespace,
    target: Path,
    heldout: Sequence[Asked],
    report: Sequence[Asked],
    started: float,
) -> None:
    """Steps 4-6 for the model already in ``--out``, on the shipped first stage's rankings: its
    training provenance is kept, the refit recorded beside it."""
    config_path = args.out / next(iter(reader_files(args)))
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.get("sha256") != sha256(target):
        raise SystemExit(f"{target} does not match {config_path}; train it again")
    session = ReaderSession(target, MAX_TOKENS)
    first_confidence = RankerWeights.load().confidence
    served = {
        name: served_fields(session, heldout, report, first_confidence, candidates)
        for name, candidates in reader_files(args).items()
    }
    provenance = config["provenance"]
    provenance["refit"] = {
        "command": shlex.join(["python", "-m", "train.reader", *sys.argv[1:]]),
        "first_stage": (args.work / "first-stage.txt").read_text().strip(),
        "machine": machine(),
        "minutes": round((time.perf_counter() - started) / 60, 1),
    }
    write_configs(args, config, served)


if __name__ == "__main__":
    main()
