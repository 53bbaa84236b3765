"""Experiment: does a cross-encoder, fine-tuned on CPU from the bundled MiniLM, rerank better?

Same data and folds as bench/quality.py (SQuAD, four folds by article). For each fold run, the
first-stage logistic-regression ranker is fitted on the other folds and picks every question's
top candidates; a cross-encoder (MiniLM with a one-logit head, optionally cut to its first K
layers) is fine-tuned on (question, sentence) pairs from the training folds only: each labelled
answer sentence as a positive, the first stage's best-ranked other sentences as hard negatives, and
the top three sentences of unanswerable questions as negatives. On the held-out fold it reorders
the top candidates alone and blended with the first-stage score, and its best logit is tried as an
answerability confidence. Prints one JSON object; progress goes to stderr.

    .venv/bin/python -m bench.ce_experiment [--articles N] [--max-questions N] [--folds 0 1]
        [--candidates 10] [--negatives 4] [--epochs 1] [--layers K] ...
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse
import json
import logging
import math
import random
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt
import torch
import transformers
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from bench import bench_encoder
from bench.squad import DEFAULT_DATA, TOP_K, load_articles
from bench.training import FOLDS, Example, examples_for, fit, fold_of
from index.encoder import DEFAULT_BACKEND, DEFAULT_MODEL, resolve_model_path
from index.library import Library
from index.ranker import RankerWeights

logger = logging.getLogger("bench.ce_experiment")

LAMBDAS = (0.25, 0.5, 1.0, 2.0, 4.0)
ANSWERED_TARGET = 0.95  # share of answerable training questions the thresholds keep answered
UNANSWERABLE_NEGATIVES = 3
THRESHOLD_SAMPLE = 500  # answerable training questions scored to pick the CE threshold
LOG_EVERY = 50

Pair = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Item:
    """One question with its fold and the text of each citable sentence (labels' order)."""

    number: int  # position in the list of all items
    example: Example
    fold: int
    sentences: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one held-out question fared under each ranking and abstention rule."""

    answerable: bool
    in_candidates: bool  # a labelled sentence is among the top candidates
    first_rank: int | None  # 1-based rank of the first labelled sentence in the top five
    ce_rank: int | None
    blend_hits: tuple[bool, ...]  # hit@1 per LAMBDAS
    first_declined: bool
    ce_declined: bool


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ce_experiment",
        description="Cross-encoder reranking over the first-stage ranker, cross-validated.",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SQuAD data directory")
    parser.add_argument("--articles", type=int, help="only the first N articles")
    parser.add_argument(
        "--max-questions", type=int, help="at most N answerable and N unanswerable per article"
    )
    parser.add_argument(
        "--folds", type=int, nargs="+", default=list(range(FOLDS)), help="held-out folds to run"
    )
    parser.add_argument("--candidates", type=int, default=10, help="first-stage sentences kept")
    parser.add_argument("--negatives", type=int, default=4, help="hard negatives per question")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--max-length", type=int, default=128, help="tokens per pair")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--layers", type=int, help="keep only the first K transformer layers")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if any(not 0 <= f < FOLDS for f in args.folds):
        parser.error(f"folds are 0..{FOLDS - 1}")
    return args


def load_items(args: argparse.Namespace) -> list[Item]:
    """Ingest every article as bench.quality does; feature matrices and sentence texts."""
    faiss.omp_set_num_threads(1)
    articles = load_articles(args.data, args.articles, args.max_questions)
    folds = fold_of([a.title for a in articles])
    encoder = bench_encoder(DEFAULT_BACKEND)
    started = time.perf_counter()
    items: list[Item] = []
    with tempfile.TemporaryDirectory(prefix="bench-ce-") as data_dir:
        library = Library(Path(data_dir), encoder, RankerWeights.blend())
        for squad in articles:
            indexed = library.ingest(squad.text, title=squad.title)
            text, sentences = indexed.article.text, indexed.segmentation.sentences
            texts = tuple(text[sentences[i].start : sentences[i].end] for i in indexed.candidates)
            for example in examples_for(library, indexed, squad):
                items.append(Item(len(items), example, folds[squad.title], texts))
            logger.info("features: %s (%.0f s)", squad.title, time.perf_counter() - started)
        library.close()
    return items


class Float32Head(torch.nn.Module):
    """The classifier outside bf16 autocast: bf16 logits (8-bit mantissa) would tie candidates."""

    def __init__(self, linear: torch.nn.Linear) -> None:
        super().__init__()
        self.linear = linear

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", enabled=False):
            out: torch.Tensor = self.linear(hidden.float())
            return out


def load_model(layers: int | None) -> tuple[Any, Any]:
    """MiniLM with a fresh one-logit head, optionally cut to its first ``layers`` layers."""
    path = str(resolve_model_path(DEFAULT_MODEL))
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
    if layers is not None:
        model.bert.encoder.layer = model.bert.encoder.layer[:layers]
        model.config.num_hidden_layers = layers
    model.classifier = Float32Head(model.classifier)
    logger.info(
        "model %s, tokenizer %s (fast: %s), %d layers",
        type(model).__name__, type(tokenizer).__name__, tokenizer.is_fast,
        len(model.bert.encoder.layer),
    )  # fmt: skip
    return model, tokenizer


def encode(tokenizer: Any, pairs: Sequence[Pair], max_length: int) -> Any:
    return tokenizer(
        [q for q, _ in pairs],
        [s for _, s in pairs],
        truncation=True,
        max_length=max_length,
        padding=True,
        return_tensors="pt",
    )


def train(
    model: Any,
    tokenizer: Any,
    pairs: Sequence[Pair],
    labels: Sequence[float],
    args: argparse.Namespace,
) -> None:
    """BCE on the logit; AdamW with 10% linear warm-up then linear decay; bf16 autocast."""
    batches_per_epoch = math.ceil(len(pairs) / args.batch)
    total = max(batches_per_epoch * args.epochs, 1)
    warmup = max(1, round(0.1 * total))
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: (
            step / warmup if step < warmup else max(0.0, (total - step) / (total - warmup))
        ),
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    shuffler = random.Random(args.seed)
    order = list(range(len(pairs)))
    model.train()
    step, seen, losses, tick = 0, 0, [], time.perf_counter()
    for epoch in range(args.epochs):
        shuffler.shuffle(order)
        for start in range(0, len(order), args.batch):
            batch = order[start : start + args.batch]
            inputs = encode(tokenizer, [pairs[i] for i in batch], args.max_length)
            target = torch.tensor([labels[i] for i in batch], dtype=torch.float32)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = model(**inputs).logits.squeeze(-1)
            loss = loss_fn(logits.float(), target)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            step, seen = step + 1, seen + len(batch)
            losses.append(loss.item())
            if step % LOG_EVERY == 0 or step == total:
                logger.info(
                    "epoch %d step %d/%d loss %.4f, %.1f pairs/s",
                    epoch, step, total, float(np.mean(losses[-LOG_EVERY:])),
                    seen / (time.perf_counter() - tick),
                )  # fmt: skip
    model.eval()


def score_pairs(
    model: Any, tokenizer: Any, pairs: Sequence[Pair], batch: int, max_length: int
) -> npt.NDArray[np.float32]:
    """Cross-encoder logits; pairs are batched by length so little padding is computed."""
    out = np.zeros(len(pairs), dtype=np.float32)
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        for start in range(0, len(order), batch):
            chunk = order[start : start + batch]
            inputs = encode(tokenizer, [pairs[i] for i in chunk], max_length)
            out[chunk] = model(**inputs).logits.squeeze(-1).float().numpy()
    return out


def score_items(
    model: Any,
    tokenizer: Any,
    items: Sequence[Item],
    tops: Sequence[npt.NDArray[np.int64]],
    args: argparse.Namespace,
) -> dict[int, npt.NDArray[np.float32]]:
    """CE logits of each item's top candidates, by item number."""
    pairs = [(it.example.question, it.sentences[i]) for it in items for i in tops[it.number]]
    logits = score_pairs(model, tokenizer, pairs, args.batch, args.max_length)
    out, at = {}, 0
    for it in items:
        n = len(tops[it.number])
        out[it.number] = logits[at : at + n]
        at += n
    return out


def training_pairs(
    items: Sequence[Item], tops: Sequence[npt.NDArray[np.int64]], negatives: int
) -> tuple[list[Pair], list[float]]:
    """Labelled sentences as positives, the first stage's best other sentences as negatives.

    Answerable questions whose answer lies in no citable sentence (too long, or across two) are
    skipped, as the first-stage ranker skips them: every sentence would count as a negative.
    """
    pairs: list[Pair] = []
    labels: list[float] = []
    for it in items:
        question, top, gold = it.example.question, tops[it.number], it.example.labels
        if it.example.answerable:
            if not gold.any():
                continue
            chosen = [(int(i), 1.0) for i in np.flatnonzero(gold)]
            chosen += [(int(i), 0.0) for i in top if not gold[i]][:negatives]
        else:
            chosen = [(int(i), 0.0) for i in top[:UNANSWERABLE_NEGATIVES]]
        pairs += [(question, it.sentences[i]) for i, _ in chosen]
        labels += [label for _, label in chosen]
    return pairs, labels


def first_hit(labels: npt.NDArray[np.bool_], order: npt.NDArray[np.int64]) -> int | None:
    for rank, i in enumerate(order[:TOP_K], 1):
        if labels[i]:
            return rank
    return None


def keep_answered(confidences: Sequence[float]) -> float:
    """The threshold that keeps ANSWERED_TARGET of these (answerable) questions answered."""
    return float(np.quantile(confidences, 1.0 - ANSWERED_TARGET))


def summarise(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    answerable = [o for o in outcomes if o.answerable]
    unanswerable = [o for o in outcomes if not o.answerable]
    n, m = max(len(answerable), 1), max(len(unanswerable), 1)

    def ranked(ranks: list[int | None]) -> dict[str, float]:
        found = [r for r in ranks if r is not None]
        return {
            "hit@1": round(sum(r == 1 for r in found) / n, 4),
            "mrr@5": round(sum(1 / r for r in found) / n, 4),
        }

    def abstention(declined: list[bool], unanswered: list[bool]) -> dict[str, float | None]:
        return {
            "abstain": round(sum(declined) / m, 4) if unanswerable else None,
            "answered": round(1 - sum(unanswered) / n, 4),
        }

    return {
        "questions": len(answerable),
        "unanswerable": len(unanswerable),
        "recall@candidates": round(sum(o.in_candidates for o in answerable) / n, 4),
        "first_stage": {
            **ranked([o.first_rank for o in answerable]),
            **abstention(
                [o.first_declined for o in unanswerable], [o.first_declined for o in answerable]
            ),
        },
        "cross_encoder": {
            **ranked([o.ce_rank for o in answerable]),
            **abstention(
                [o.ce_declined for o in unanswerable], [o.ce_declined for o in answerable]
            ),
        },
        "blend_hit@1": {
            str(lam): round(sum(o.blend_hits[k] for o in answerable) / n, 4)
            for k, lam in enumerate(LAMBDAS)
        },
    }


def run_fold(fold: int, items: Sequence[Item], args: argparse.Namespace) -> dict[str, Any]:
    train_items = [it for it in items if it.fold != fold]
    test_items = [it for it in items if it.fold == fold]
    weights = fit([it.example for it in train_items], {"fold": fold})
    first = [weights.ranker.score(it.example.matrix) for it in items]
    tops = [np.argsort(-s, kind="stable")[: args.candidates].astype(np.int64) for s in first]
    pairs, labels = training_pairs(train_items, tops, args.negatives)
    logger.info("fold %d: %d training pairs (%d positive)", fold, len(pairs), int(sum(labels)))

    torch.manual_seed(args.seed)
    model, tokenizer = load_model(args.layers)
    tick = time.perf_counter()
    train(model, tokenizer, pairs, labels, args)
    train_seconds = time.perf_counter() - tick

    # Thresholds from answerable training questions (a sample: each costs a CE pass).
    sample = [it for it in train_items if it.example.answerable]
    sample = random.Random(args.seed).sample(sample, min(len(sample), THRESHOLD_SAMPLE))
    sample_logits = score_items(model, tokenizer, sample, tops, args)
    first_threshold = keep_answered([float(first[it.number].max()) for it in sample])
    ce_threshold = keep_answered([float(sample_logits[it.number].max()) for it in sample])

    tick = time.perf_counter()
    logits = score_items(model, tokenizer, test_items, tops, args)
    eval_seconds = time.perf_counter() - tick
    eval_pairs = sum(len(tops[it.number]) for it in test_items)

    outcomes = []
    for it in test_items:
        top, ce, gold = tops[it.number], logits[it.number], it.example.labels
        stage = first[it.number][top]
        outcomes.append(
            Outcome(
                answerable=it.example.answerable,
                in_candidates=bool(gold[top].any()),
                first_rank=first_hit(gold, top),
                ce_rank=first_hit(gold, top[np.argsort(-ce, kind="stable")]),
                blend_hits=tuple(bool(gold[top[np.argmax(stage + lam * ce)]]) for lam in LAMBDAS),
                first_declined=float(stage.max()) < first_threshold,
                ce_declined=float(ce.max()) < ce_threshold,
            )
        )
    report = {
        **summarise(outcomes),
        "thresholds": {
            "first_stage": round(first_threshold, 4),
            "cross_encoder": round(ce_threshold, 4),
        },
        "train_seconds": round(train_seconds, 1),
        "pairs_trained": len(pairs) * args.epochs,
        "eval_pairs": eval_pairs,
        "eval_seconds": round(eval_seconds, 2),
        "eval_pairs_per_s": round(eval_pairs / max(eval_seconds, 1e-9), 1),
        "parameters": sum(p.numel() for p in model.parameters()),
        "model_class": type(model).__name__,
        "tokenizer_class": type(tokenizer).__name__,
    }
    logger.info("fold %d: %s", fold, json.dumps(report))
    return {"report": report, "outcomes": outcomes}


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(message)s")
    logger.setLevel(logging.INFO)
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    args = parse_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(args.threads)
    items = load_items(args)
    runs = {fold: run_fold(fold, items, args) for fold in args.folds}
    reports = [r["report"] for r in runs.values()]
    eval_pairs = sum(r["eval_pairs"] for r in reports)
    eval_seconds = sum(r["eval_seconds"] for r in reports)
    result = {
        "command": shlex.join(["python", "-m", "bench.ce_experiment", *sys.argv[1:]]),
        "protocol": (
            f"{FOLDS}-fold cross-validation by article; first stage and cross-encoder fitted on "
            f"the other folds; CE reorders the first stage's top {args.candidates}; abstention "
            f"thresholds keep {ANSWERED_TARGET:.0%} of answerable training questions answered"
        ),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "articles": len({it.example.article for it in items}),
        "folds": {str(fold): r["report"] for fold, r in runs.items()},
        "pooled": {
            **summarise([o for r in runs.values() for o in r["outcomes"]]),
            "train_seconds": round(sum(r["train_seconds"] for r in reports), 1),
            "pairs_trained": sum(r["pairs_trained"] for r in reports),
            "eval_pairs_per_s": round(eval_pairs / max(eval_seconds, 1e-9), 1),
            "parameters": reports[0]["parameters"],
        },
    }
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
