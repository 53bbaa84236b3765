"""Train the reader (index/reader.py) from ../shared/data/train and write the files it ships.

    .venv/bin/python -m bench.train_reader [--train ../shared/data/train] [--work var/reader]
        [--layers 3] [--epochs 1] [--questions N] [--out index/data] [--refit]
    .venv/bin/python -m bench.train_reader --squad [--base DIR] [--data ../shared/data]

Stages, each cached in ``--work`` so a stopped run resumes where it was:
1. mine: every training article is parsed, segmented, embedded and ranked by the shipped first
   stage (bench/reader_data.py): answer sentences with the answer's offsets, hard negatives.
2. train: MiniLM's first ``--layers`` layers with a relevance and a start/end head, fine-tuned
   on the pairs (bf16 autocast where the CPU has bf16, CUDA when present); a checkpoint every
   few hundred steps, and a resumed run skips the batches already seen.
3. export: ONNX, quantised to int8 per channel (``reader-int8.onnx``, or ``--model``).
4. fit: on held-out SQuAD-Shifts articles, read through the exported model exactly as served,
   a logistic combination of first-stage and reader scores and an answerability model (with
   questions whose answering paragraph was removed); the threshold keeps 96% answered.
5. report: hit@1, answer-span exact match and F1, answered and abstained on the held-out
   articles and on QED dev (real search queries, never trained on); written to ``reader.json``
   (reading ``--candidates`` sentences) and ``reader-fast.json`` (``--fast-candidates``, for
   CPUs without an int8 dot-product instruction: ``index.reader.default_reader``), steps 4-6
   for each.
6. answerability: ``python -m bench.fit_answerability`` (run here, unless ``--no-refit``) refits
   the answerability model and threshold on the shared SQuAD dev half, its unanswerable and
   constructed questions, and the held-out questions of step 4 (the metrics of step 5 are of the
   model fitted in step 4; ``python -m bench.quality`` measures the shipped one).

7. ``--squad`` (bench/reader_squad.py), after the steps above: the reader fine-tuned on the
   shared SQuAD dev half, one reader per fold under ``--work``/squad (what bench.quality scores
   each fold with, and what reads each fold's questions when answerability is fitted) and the
   shipped one on every fold, each with steps 3-6.

``--refit`` keeps the model in ``--out`` and redoes steps 4-6 only (mining just the held-out and
QED questions): what a change of the first stage (encoder, features, ranker weights) needs, since
the combination and answerability are fitted on its scores.

Training code is offline tooling: the service only reads what it writes.
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
from pathlib import Path
from typing import Any

import numpy as np

from bench import bench_encoder, machine
from bench.reader_data import (
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
from bench.squad import DEFAULT_DATA, span_scores
from index.ranker import DEFAULT_WEIGHTS, LinearModel, RankerWeights
from index.reader import (
    ANSWER_FEATURES,
    COMBINED_FEATURES,
    DATA,
    DEFAULT_READER,
    FAST_READER,
    FORMAT_VERSION,
    judge,
    sha256,
)

logger = logging.getLogger("bench.train_reader")

MODEL_FILE = "reader-int8.onnx"  # the model's name in --out unless --model says otherwise
MAX_TOKENS = 128
BATCH = 32
LEARNING_RATE = 8e-5
WARMUP = 0.06
CHECKPOINT_EVERY = 200
CURVE = (0.25, 0.5)  # shares of the run whose weights are kept for the learning curve
ANSWERED_TARGET = 0.96
CANDIDATES = 3  # default: sentences the served reader reads per question
FAST_CANDIDATES = 1  # ... and reads on a CPU without int8 dot products (reader-fast.json)
COMBINED_READ = 3  # sentences per question the combination is fitted on, at least
SPAN_FLOOR = -20.0  # span score of a sentence with no readable token


def save_checkpoint(path: Path, model: Any, optimizer: Any, schedule: Any, **fields: Any) -> None:
    """Write the training state and ``fields`` (step, the plan) whole or not at all: a run killed
    while saving resumes from the previous one."""
    import torch

    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        **fields,
    }
    partial = path.with_suffix(".partial")
    torch.save(state, partial)
    partial.replace(path)


def resume_checkpoint(
    path: Path, model: Any, optimizer: Any, schedule: Any, device: Any, **plan: Any
) -> dict[str, Any] | None:
    """Restore the training state saved at ``path`` if it was saved under the same ``plan``
    (e.g. total steps and data size); its other fields, or None when there is nothing to
    resume."""
    import torch

    if not path.is_file():
        return None
    state: dict[str, Any] = torch.load(path, map_location=device, weights_only=False)
    if any(state.get(key) != value for key, value in plan.items()):
        return None
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    return state


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.train_reader", description=__doc__)
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
        "--no-refit", action="store_true", help="skip step 6 (bench.fit_answerability)"
    )
    parser.add_argument(
        "--refit",
        action="store_true",
        help="keep the model in --out; refit its combination and answerability only",
    )
    parser.add_argument(
        "--squad",
        action="store_true",
        help="fine-tune the reader in --base on the shared SQuAD dev half (bench/reader_squad.py)",
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
    encoder = bench_encoder("onnx")
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


# --- 2. train ----------------------------------------------------------------------------------


def encode_pairs(
    tokenizer: Any, pairs: Sequence[Pair]
) -> list[tuple[list[int], list[int], int, int]]:
    """Token ids, type ids and the answer's first and last token (-100 when there is none or
    truncation cut it off) of each pair, tokenized exactly as the served reader does."""
    encodings = tokenizer.encode_batch([(p.question, p.sentence) for p in pairs])
    out = []
    for pair, encoding in zip(pairs, encodings, strict=True):
        first = last = -100
        if pair.span is not None:
            a, b = pair.span
            pieces = zip(encoding.sequence_ids, encoding.offsets, strict=True)
            inside = [
                t for t, (seq, (x, y)) in enumerate(pieces) if seq == 1 and x < b and y > max(a, x)
            ]
            if inside and encoding.offsets[inside[-1]][1] >= b:
                first, last = inside[0], inside[-1]
        out.append((list(encoding.ids), list(encoding.type_ids), first, last))
    return out


def batches(lengths: Sequence[int], size: int, seed: int) -> list[list[int]]:
    """Batches of similar length (little padding), in a shuffled order fixed by ``seed`` so a
    resumed run sees the same sequence of batches."""
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = size * 50
    out: list[list[int]] = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
        out += [chunk[i : i + size] for i in range(0, len(chunk), size)]
    rng.shuffle(out)
    return out


def device_and_dtype(threads: int) -> tuple[Any, Any]:
    """CUDA when present; else the CPU, in bf16 autocast only where it has bf16 instructions
    (4x slower than fp32 without them)."""
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda"), torch.bfloat16
    torch.set_num_threads(threads)
    return torch.device("cpu"), torch.bfloat16 if machine()["bf16"] else None


def build_model(layers: int) -> Any:
    """MiniLM's first ``layers`` layers with two linear heads: relevance on the mean of the token
    states, start/end on every token."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    from index.encoder import BUNDLED_MODEL, resolve_model_path

    transformers_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

    class ReaderModel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = AutoModel.from_pretrained(
                str(resolve_model_path(BUNDLED_MODEL)),
                num_hidden_layers=layers,
                add_pooling_layer=False,
            )
            hidden = self.bert.config.hidden_size
            self.relevance = torch.nn.Linear(hidden, 1)
            self.span = torch.nn.Linear(hidden, 2)

        def forward(self, ids: Any, mask: Any, types: Any) -> tuple[Any, Any, Any]:
            states = self.bert(input_ids=ids, attention_mask=mask, token_type_ids=types)
            states = states.last_hidden_state
            # Relevance from the mean of the token states, as MiniLM was trained to pool: its
            # [CLS] state barely varies with the input, and a head on it learned nothing.
            weights = mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)
            relevance = self.relevance(pooled).float()[:, 0]
            logits = self.span(states).float()
            # Only the sentence's tokens can start or end an answer.
            closed = (types == 0) | (mask == 0)
            start = logits[..., 0].masked_fill(closed, -1e4)
            end = logits[..., 1].masked_fill(closed, -1e4)
            return relevance, start, end

    model = ReaderModel()
    # The word embeddings stay as pretrained: a third of the weights, and most of the step time.
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    return model


def train(
    args: argparse.Namespace,
    pairs: Sequence[Pair],
    *,
    start: dict[str, Any] | None = None,
    learning_rate: float = LEARNING_RATE,
    checkpoint: Path | None = None,
) -> Any:
    """Fine-tune the reader on ``pairs``, resuming from ``checkpoint`` (default: the work
    folder's); from MiniLM's weights, or from the reader state ``start``. Learning-curve
    snapshots are kept for a run from MiniLM only."""
    import torch
    from tokenizers import Tokenizer

    from index.encoder import BUNDLED_MODEL, resolve_model_path

    device, dtype = device_and_dtype(args.threads)
    torch.manual_seed(args.seed)
    tokenizer = Tokenizer.from_file(str(resolve_model_path(BUNDLED_MODEL) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS, strategy="longest_first")
    encoded = encode_pairs(tokenizer, pairs)
    plan = batches([len(e[0]) for e in encoded], BATCH, args.seed)
    total = int(len(plan) * args.epochs)
    plan = (plan * math.ceil(args.epochs))[:total]
    model = build_model(args.layers)
    if start is not None:
        model.load_state_dict(start)
    model = model.to(device)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=0.01)
    warmup = max(1, int(total * WARMUP))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(total - warmup, 1))),
    )
    checkpoint = checkpoint or args.work / f"checkpoint-{args.layers}l.pt"
    step = 0
    state = resume_checkpoint(
        checkpoint, model, optimizer, schedule, device, total=total, pairs=len(pairs)
    )
    if state is not None:
        step = int(state["step"])
        logger.info("resumed at step %d of %d", step, total)
    bce = torch.nn.BCEWithLogitsLoss()
    spans = torch.nn.CrossEntropyLoss(ignore_index=-100)
    model.train()
    started, seen, done = time.perf_counter(), 0, 0
    while step < total:
        rows = [encoded[i] for i in plan[step]]
        width = max(len(r[0]) for r in rows)
        ids = torch.zeros((len(rows), width), dtype=torch.long)
        types = torch.zeros_like(ids)
        mask = torch.zeros_like(ids)
        for n, (tokens, kinds, _, _) in enumerate(rows):
            ids[n, : len(tokens)] = torch.tensor(tokens)
            types[n, : len(tokens)] = torch.tensor(kinds)
            mask[n, : len(tokens)] = 1
        relevant = torch.tensor([float(pairs[i].relevant) for i in plan[step]])
        first = torch.tensor([r[2] for r in rows])
        last = torch.tensor([r[3] for r in rows])
        ids, types, mask = ids.to(device), types.to(device), mask.to(device)
        relevant, first, last = relevant.to(device), first.to(device), last.to(device)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            relevance, starts, ends = model(ids, mask, types)
        loss = bce(relevance, relevant)
        if bool((first >= 0).any()):
            loss = loss + 0.5 * (spans(starts, first) + spans(ends, last))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        done += 1
        seen += int(mask.sum())
        if step % 50 == 0:
            elapsed = time.perf_counter() - started
            logger.info(
                "step %d/%d loss %.3f, %.0f tokens/s, %.0f min left",
                step, total, loss.item(), seen / elapsed, (total - step) * elapsed / done / 60,
            )  # fmt: skip
        for share in CURVE if start is None else ():
            if step == int(total * share):
                snapshot = {k: v.detach().clone() for k, v in model.state_dict().items()}
                torch.save(snapshot, args.work / f"curve-{args.layers}l-{share}.pt")
        if step % CHECKPOINT_EVERY == 0 or step == total:
            save_checkpoint(
                checkpoint, model, optimizer, schedule, step=step, total=total, pairs=len(pairs)
            )
    model.eval()
    return model.cpu().float()


# --- 3. export ---------------------------------------------------------------------------------


def export_float(model: Any, target: Path) -> None:
    """The trained model as a float ONNX graph (its outputs: relevance, start, end)."""
    import warnings

    import torch

    names = ["input_ids", "attention_mask", "token_type_ids"]
    example = torch.ones((2, 12), dtype=torch.int64)
    types = torch.zeros_like(example)
    types[:, 6:] = 1
    axes = {n: {0: "batch", 1: "tokens"} for n in names} | {
        "relevance": {0: "batch"},
        "start": {0: "batch", 1: "tokens"},
        "end": {0: "batch", 1: "tokens"},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example, torch.ones_like(example), types),
            str(target),
            input_names=names,
            output_names=["relevance", "start", "end"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )


def export(model: Any, target: Path) -> None:
    """ONNX of the trained model, weights quantised to int8 per output channel; atomically."""
    from index.onnx_encoder import quantize_int8

    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        plain = Path(tmp) / "float.onnx"
        export_float(model, plain)
        partial = Path(tmp) / "int8.onnx"
        quantize_int8(plain, partial)
        partial.replace(target)


# --- 4. fit and 5. report ----------------------------------------------------------------------


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
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

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
    target = args.out / args.model
    if args.refit:
        refit(args, target, heldout, report, started)
        return
    if args.squad:
        from bench import reader_squad

        reader_squad.run(args, heldout, report)
        return
    model = train(args, pairs)
    args.out.mkdir(parents=True, exist_ok=True)
    export(model, target)
    from index.reader import ReaderSession

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
            "command": shlex.join(["python", "-m", "bench.train_reader", *sys.argv[1:]]),
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


def reader_files(args: argparse.Namespace) -> dict[str, int]:
    """The reader files written (``--files``), with the sentences each reads."""
    reads = {DEFAULT_READER.name: args.candidates, FAST_READER.name: args.fast_candidates}
    return {name: reads[name] for name in reads if name in args.files}


def served_fields(
    session: Any,
    heldout: Sequence[Asked],
    report: Sequence[Asked],
    first_confidence: LinearModel,
    candidates: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Steps 4-5 for a reader file reading ``candidates`` sentences: its fitted fields and the
    metrics of them."""
    combined, answer, threshold = fit(session, heldout, first_confidence, candidates)
    metrics = {
        name: evaluate(session, asked, combined, answer, first_confidence, threshold, candidates)
        for name, asked in (("heldout", heldout), ("qed_dev", report))
    }
    fields = {
        "candidates": candidates,
        "threshold": threshold,
        "combined": combined.to_json(),
        "answerability": answer.to_json(),
    }
    return fields, metrics


def write_configs(
    args: argparse.Namespace,
    config: dict[str, Any],
    served: dict[str, tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    """Write each reader file (``config`` with its served fields and metrics), print its
    provenance, and refit its answerability unless told not to."""
    for name, (fields, metrics) in served.items():
        whole = config | fields | {"provenance": config["provenance"] | {"metrics": metrics}}
        (args.out / name).write_text(json.dumps(whole, indent=1) + "\n", encoding="utf-8")
        json.dump(whole["provenance"], sys.stdout)
        sys.stdout.write("\n")
        if not args.no_refit:
            from bench import fit_answerability

            # Relative to the working directory, so the recorded command runs on a fresh clone.
            relative = os.path.relpath(args.out / name)
            fit_answerability.main(["--work", str(args.work), "--reader", relative])


def refit(
    args: argparse.Namespace,
    target: Path,
    heldout: Sequence[Asked],
    report: Sequence[Asked],
    started: float,
) -> None:
    """Steps 4-6 for the model already in ``--out``, on the shipped first stage's rankings: its
    training provenance is kept, the refit recorded beside it."""
    from index.reader import ReaderSession

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
        "command": shlex.join(["python", "-m", "bench.train_reader", *sys.argv[1:]]),
        "first_stage": (args.work / "first-stage.txt").read_text().strip(),
        "machine": machine(),
        "minutes": round((time.perf_counter() - started) / 60, 1),
    }
    write_configs(args, config, served)


if __name__ == "__main__":
    main()
