"""Fine-tune the first stage's embedding model (all-MiniLM-L6-v2) on question/answer sentence
pairs, measure what it buys, and ship it (the default ``ARTICLE_QA_MODEL``).

    .venv/bin/python -m train.encoder [--pairs var/reader/pairs.jsonl] [--work var/encoder]
        [--questions 20000] [--minutes 45] [--threads 2] [--evaluate] [--ship var/encoder/step-N]

Training data: the reader's mined pairs (``python -m train.reader`` writes them from
``../shared/data/train``; none of SQuAD dev): per question its first answer sentence as the
positive and the first stage's first hard negative. Loss: MultipleNegativesRankingLoss written
out (softmax over the batch's positives and hard negatives, cosine x 20), so every other
question's sentences are in-batch negatives. The word embeddings stay frozen (only the
transformer layers would need shipping). A checkpoint every ``--checkpoint-minutes``; a stopped
run resumes at the step it reached (the batch plan is fixed by the seed). Training stops at the
planned number of questions or after ``--minutes`` of training, whichever comes first; the
learning-rate schedule is planned for ``--questions``. CUDA when present, else the CPU (fp32;
bf16 autocast only with ``--bf16``).

Snapshots after 1/8, 1/4, 1/2 and all of the planned questions (or wherever the time budget
stopped training) are saved as sentence-transformers directories (``work/step-N``, N training
questions), loadable by the product's encoders (``ARTICLE_QA_MODEL=DIR``,
``python -m bench.quality --model DIR``).

Measured (docs/benchmarks.md, levers table): ``--bf16 --questions 10240 --minutes 45`` on 2 AMD
EPYC cores stopped at 9,504 questions; dense-only hit@1 on SQuAD dev 0.608 -> 0.694, the product's
(``bench.quality --shipped-answerability --threshold 0``) 0.733 -> 0.760.

``--evaluate`` scores the stock model and every snapshot by dense-only hit@1 / mrr@5 on the
shared SQuAD dev half (the product's own sentences, float PyTorch), and prints the learning
curve as JSON.

``--ship DIR`` writes a snapshot's changed tensors in float16 to
``index/data/encoder-layers.safetensors`` (21 MB: the word embeddings stay the bundled ones) and
its card ``index/data/encoder.json`` (name, sha256, provenance), which index/encoder.py lays over
the bundled weights at first start. A new version of the model needs a new
``index.encoder.DEFAULT_MODEL`` name, so stored vectors are rebuilt; then refit the stages that
read its scores: ``python -m train.ranker``, ``python -m train.reader --refit`` (only the
combination is refitted) and so ``train.reader.answerability``.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shlex
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.encoder import BUNDLED_MODEL, DEFAULT_MODEL, SHIPPED_ENCODER, resolve_model_path
from index.machine import machine
from train.loop import log_progress, optimise, optimiser, resume_checkpoint, save_checkpoint
from train.reader.data import read_pairs
from train.squad import DEFAULT_DATA, TOP_K, hit_rank, load_articles

logger = logging.getLogger("train.encoder")

MAX_TOKENS = 128
SCALE = 20.0  # sentence-transformers' MultipleNegativesRankingLoss default
WARMUP = 0.1
SNAPSHOTS = (0.125, 0.25, 0.5, 1.0)  # shares of the planned questions kept for the curve


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m train.encoder", description=__doc__)
    parser.add_argument("--pairs", type=Path, default=Path("var/reader/pairs.jsonl"))
    parser.add_argument("--work", type=Path, default=Path("var/encoder"))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SQuAD dev (evaluation)")
    parser.add_argument("--questions", type=int, default=20000, help="planned training questions")
    parser.add_argument("--batch", type=int, default=32, help="questions per batch")
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--minutes", type=float, default=45.0, help="training wall-time budget")
    parser.add_argument("--checkpoint-minutes", type=float, default=4.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast on the CPU")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--no-train", action="store_true", help="only --evaluate what is saved")
    parser.add_argument("--evaluate", action="store_true", help="dense hit@1 on SQuAD dev")
    parser.add_argument(
        "--ship", type=Path, metavar="DIR", help="write this snapshot into index/data (no training)"
    )
    parser.add_argument("--out", type=Path, default=SHIPPED_ENCODER, help="the card --ship writes")
    return parser.parse_args(argv)


def triplets(pairs_path: Path, seed: int) -> list[tuple[str, str, str | None]]:
    """(question, first answer sentence, first hard negative) per question, shuffled by seed."""
    by_question: dict[str, tuple[list[str], list[str]]] = {}
    for pair in read_pairs(pairs_path):
        positives, negatives = by_question.setdefault(pair.question, ([], []))
        (positives if pair.relevant else negatives).append(pair.sentence)
    out = [(q, pos[0], neg[0] if neg else None) for q, (pos, neg) in by_question.items() if pos]
    out.sort()
    random.Random(seed).shuffle(out)
    return out


def batch_plan(rows: Sequence[tuple[str, str, str | None]], size: int) -> list[list[int]]:
    """Batches of distinct questions and distinct positives (a repeated sentence would be a
    false in-batch negative)."""
    plan: list[list[int]] = []
    current: list[int] = []
    seen: set[str] = set()
    waiting: list[int] = []
    for i, (question, positive, _) in enumerate(rows):
        if question in seen or positive in seen:
            waiting.append(i)
            continue
        current.append(i)
        seen |= {question, positive}
        if len(current) == size:
            plan.append(current)
            current, seen = [], set()
            retry, waiting = waiting, []
            for j in retry:
                q, p, _ = rows[j]
                if q in seen or p in seen or len(current) == size:
                    waiting.append(j)
                else:
                    current.append(j)
                    seen |= {q, p}
    if current:
        plan.append(current)
    return plan


def load_model(path: Path) -> Any:
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    return AutoModel.from_pretrained(str(path), add_pooling_layer=False)


def embed(model: Any, tokenizer: Any, texts: Sequence[str], device: Any) -> Any:
    """Mean-pooled, unit-norm vectors as all-MiniLM-L6-v2 pools (with gradients)."""
    batch = tokenizer(
        list(texts),
        padding=True,
        truncation=True,
        max_length=MAX_TOKENS,
        return_tensors="pt",
    ).to(device)
    return states(model, batch)[0]


def states(model: Any, batch: Any) -> tuple[Any, Any]:
    """The mean-pooled unit vector and every token's unit vector, as the product computes
    them (with gradients; float32 under bf16 autocast)."""
    import torch

    hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
    return (
        torch.nn.functional.normalize(pooled.float(), dim=-1),
        torch.nn.functional.normalize(hidden.float(), dim=-1),
    )


def save_snapshot(model: Any, target: Path) -> None:
    """A sentence-transformers directory: the bundled model's files with these weights."""
    source = resolve_model_path(BUNDLED_MODEL)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(source, partial, ignore=shutil.ignore_patterns("model.safetensors", "*.bin"))
    model.save_pretrained(str(partial))
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)


def train(args: argparse.Namespace) -> None:
    import torch
    from transformers import AutoTokenizer

    source = resolve_model_path(BUNDLED_MODEL)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rows = triplets(args.pairs, args.seed)
    plan = batch_plan(rows, args.batch)
    total = min(len(plan), max(1, args.questions // args.batch))
    logger.info("%d questions, %d batches planned (%d available)", len(rows), total, len(plan))
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    model = load_model(source).to(device)
    model.embeddings.word_embeddings.weight.requires_grad_(False)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer, schedule = optimiser(parameters, args.lr, total, WARMUP)
    args.work.mkdir(parents=True, exist_ok=True)
    checkpoint = args.work / "checkpoint.pt"
    step, trained = 0, 0.0
    planned = {"total": total, "questions": len(rows)}
    state = resume_checkpoint(checkpoint, model, optimizer, schedule, device, **planned)
    if state is not None:
        step, trained = int(state["step"]), float(state["seconds"])
        logger.info("resumed at step %d of %d (%.1f min trained)", step, total, trained / 60)
    snapshot_steps = {max(1, round(total * share)) for share in SNAPSHOTS}
    autocast = device.type == "cuda" or args.bf16
    loss_of = torch.nn.CrossEntropyLoss()
    model.train()

    def save() -> None:
        save_checkpoint(
            checkpoint, model, optimizer, schedule, step=step, seconds=trained, batch=args.batch,
            **planned,
        )  # fmt: skip

    last_save = time.perf_counter()
    while step < total and trained < args.minutes * 60:
        tick = time.perf_counter()
        batch = [rows[i] for i in plan[step]]
        questions = [q for q, _, _ in batch]
        documents = [p for _, p, _ in batch] + [n for _, _, n in batch if n is not None]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            q = embed(model, tokenizer, questions, device)
            d = embed(model, tokenizer, documents, device)
        logits = SCALE * q @ d.T
        loss = loss_of(logits, torch.arange(len(questions), device=device))
        optimise(loss, parameters, optimizer, schedule)
        step += 1
        trained += time.perf_counter() - tick
        log_progress(logger, step, total, loss, trained)
        if step in snapshot_steps:
            model.eval()
            save_snapshot(model, args.work / f"step-{step * args.batch}")
            model.train()
            logger.info("snapshot after %d questions", step * args.batch)
        if time.perf_counter() - last_save > args.checkpoint_minutes * 60 or step == total:
            save()
            last_save = time.perf_counter()
    save()
    if step < total:  # out of time: the weights reached are the last point of the curve
        model.eval()
        save_snapshot(model, args.work / f"step-{step * args.batch}")
    logger.info("stopped at step %d of %d after %.1f min of training", step, total, trained / 60)


def ship(snapshot: Path, card: Path) -> dict[str, Any]:
    """Write the tensors ``snapshot`` changed from the bundled model, in float16, beside
    ``card``, and the card: what index/encoder.py assembles the shipped model from."""
    import hashlib

    from safetensors.numpy import load_file, save_file

    base = load_file(str(resolve_model_path(BUNDLED_MODEL) / "model.safetensors"))
    tuned = load_file(str(snapshot / "model.safetensors"))
    changed = {
        key: value.astype(np.float16)
        for key, value in tuned.items()
        if key in base and value.dtype == np.float32 and not np.array_equal(value, base[key])
    }
    layers = card.with_name("encoder-layers.safetensors")
    save_file(changed, str(layers))
    layers.chmod(0o644)  # safetensors writes 0600; the file is committed and read by servers
    data = {
        "name": DEFAULT_MODEL,
        "file": layers.name,
        "sha256": hashlib.sha256(layers.read_bytes()).hexdigest(),
        "base": BUNDLED_MODEL,
        "tensors": len(changed),
        "parameters": int(sum(v.size for v in changed.values())),
        "provenance": {
            "snapshot": snapshot.name,  # step-N: after N training questions
            "command": "python -m train.encoder " + shlex.join(sys.argv[1:]),
            "machine": machine(),
        },
    }
    card.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return data


class _TorchVectors:
    """A saved model as float PyTorch, mean-pooled and normalised (the product's pooling)."""

    def __init__(self, path: Path) -> None:
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(path), device="cpu")

    def __call__(self, texts: Sequence[str]) -> Any:
        return np.asarray(
            self._model.encode(
                list(texts), batch_size=64, normalize_embeddings=True, show_progress_bar=False
            ),
            dtype=np.float32,
        )


def dense_scores(path: Path, data: Path, documents: Path | None = None) -> dict[str, float]:
    """Dense-only hit@1 and mrr@5 over the product's citable sentences of SQuAD dev (v1.1
    answerable questions): bench.quality's ``dense`` reference ranker, in float PyTorch. With
    ``documents``, the sentences are embedded by that model instead (train.distil's student)."""
    from qa.article import parse_text, search_text
    from qa.segment import segment

    encode = _TorchVectors(path)
    encode_sentences = _TorchVectors(documents) if documents else encode
    ranks: list[int | None] = []
    for squad in load_articles(data, None, None):
        article = parse_text(squad.text, title=squad.title)
        shift = squad.text.index(article.text)
        sentences = [s for s in segment(article).sentences if s.kind.citable]
        vectors = encode_sentences([search_text(s.text, s.kind) for s in sentences])
        asked = [q for q in squad.questions if q.answerable]
        queries = encode([q.text for q in asked])
        for question, scores in zip(asked, queries @ vectors.T, strict=True):
            order = np.argsort(-scores, kind="stable")[:TOP_K]
            golds = [(a - shift, b - shift) for a, b in question.golds]
            ranks.append(hit_rank([(sentences[i].start, sentences[i].end) for i in order], golds))
    n = max(len(ranks), 1)
    return {
        "questions": len(ranks),
        "hit@1": round(sum(r == 1 for r in ranks) / n, 4),
        "mrr@5": round(sum(1 / r for r in ranks if r is not None) / n, 4),
    }


def evaluate(args: argparse.Namespace) -> list[dict[str, Any]]:
    import torch

    torch.set_num_threads(args.threads)
    points = [(0, resolve_model_path(BUNDLED_MODEL))]
    for folder in args.work.glob("step-*"):
        if folder.is_dir() and not folder.name.endswith(".partial"):
            points.append((int(folder.name.split("-")[1]), folder))
    curve = []
    for questions, folder in sorted(points):
        tick = time.perf_counter()
        scores = dense_scores(folder, args.data)
        curve.append({"training_questions": questions, "model": str(folder), **scores})
        logger.info("%s (%.0f s)", curve[-1], time.perf_counter() - tick)
    return curve


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(message)s")
    logger.setLevel(logging.INFO)
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.ship is not None:
        json.dump(ship(args.ship, args.out), sys.stdout)
        sys.stdout.write("\n")
        return
    if not args.no_train:
        train(args)
    if args.evaluate:
        report = {"machine": machine(), "dense_on_squad_dev": evaluate(args)}
        json.dump(report, sys.stdout)
        sys.stdout.write("\n")


if __name__ == "__main__":
    main()
