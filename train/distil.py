"""Distil the shipped encoder into a shallower one for the article side (ingest speed).

    .venv/bin/python -m train.distil [--train ../shared/data/train] [--work var/distil]
        [--keep 0,2,4] [--sentences 80000] [--minutes 50] [--init var/distil/final]
        [--evaluate] [--ship var/distil/final]

An ingest embeds every sentence of an article, and on a CPU without int8 dot products (AVX2
alone) the six-layer encoder does about 230 sentences/s on two cores. Questions are one short
text each, so they keep the six-layer encoder; only articles go through the student, which is
taught to put a sentence where the teacher (the shipped encoder) puts it: its mean-pooled vector
and every token's unit vector (the late-interaction vectors), by cosine. So questions and
sentences stay in one space, and nothing the later stages fitted on the teacher's scores moves
much.

The student starts as the teacher's layers ``--keep`` (its embeddings frozen, so only the kept
layers are shipped) and learns on the citable sentences of ``../shared/data/train``'s articles
(none of SQuAD dev, none of the news yardstick), as the product segments them, in batches of
similar length. A checkpoint every ``--checkpoint-minutes``; a stopped run resumes where it was.
``--init DIR`` starts from a trained student's weights instead (its ``final`` folder): a second
epoch, with its own ``--seed`` for another batch order, moves it closer to the teacher.

``--evaluate`` prints dense-only hit@1 / mrr@5 on the shared SQuAD dev half with questions on
the teacher and sentences on the teacher, the starting student and the trained one, with each
one's mean cosine to the teacher. ``--ship DIR`` writes the student's layers in float16
(``index/data/documents-layers.safetensors``) and its card (``index/data/documents.json``).
"""

from __future__ import annotations

import argparse
import hashlib
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

from index.encoder import DEFAULT_MODEL, SHIPPED_DOCUMENTS, resolve_model_path
from index.machine import machine
from train.encoder import dense_scores, states
from train.loop import log_progress, optimise, optimiser, resume_checkpoint, save_checkpoint
from train.reader.data import DEFAULT_TRAIN, TRAIN_FILES, load
from train.squad import DEFAULT_DATA

logger = logging.getLogger("train.distil")

MAX_TOKENS = 128
TOKEN_WEIGHT = 1.0  # the token vectors' cosine loss beside the pooled vector's
GROUP = 50  # batches per group sorted by length: little padding, varied batches
WARMUP = 0.05


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m train.distil", description=__doc__)
    parser.add_argument("--train", type=Path, default=DEFAULT_TRAIN, help="training articles")
    parser.add_argument("--work", type=Path, default=Path("var/distil"))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SQuAD dev (evaluation)")
    parser.add_argument("--keep", default="0,2,4", help="teacher layers the student starts from")
    parser.add_argument("--sentences", type=int, default=80000, help="planned training sentences")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--minutes", type=float, default=50.0, help="training wall-time budget")
    parser.add_argument("--checkpoint-minutes", type=float, default=4.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--init", type=Path, help="start from this trained student's folder")
    parser.add_argument("--evaluate", action="store_true", help="print the dense-only scores")
    parser.add_argument("--ship", type=Path, help="write this student into index/data")
    return parser.parse_args(argv)


def keep_layers(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def training_sentences(folder: Path, seed: int) -> list[str]:
    """The citable sentences of the training articles as the product indexes them, each once,
    shuffled."""
    from qa.article import parse_text, search_text
    from qa.segment import segment

    seen: dict[str, None] = {}
    for name, source in TRAIN_FILES:
        for article in load(folder / name, source):
            parsed = parse_text(article.text, title=article.title)
            for sentence in segment(parsed).sentences:
                if sentence.kind.citable:
                    seen.setdefault(search_text(sentence.text, sentence.kind))
    sentences = list(seen)
    random.Random(seed).shuffle(sentences)
    return sentences


def batch_plan(lengths: Sequence[int], size: int, seed: int) -> list[list[int]]:
    """Batches of ``size`` sentences of similar length, in shuffled order."""
    plan: list[list[int]] = []
    span = size * GROUP
    for first in range(0, len(lengths), span):
        group = sorted(range(first, min(first + span, len(lengths))), key=lengths.__getitem__)
        plan += [group[i : i + size] for i in range(0, len(group), size)]
    random.Random(seed).shuffle(plan)
    return plan


def student_of(teacher: Any, keep: Sequence[int]) -> Any:
    """A copy of ``teacher`` with only the layers ``keep``, embeddings frozen."""
    import copy

    import torch

    student = copy.deepcopy(teacher)
    student.encoder.layer = torch.nn.ModuleList([student.encoder.layer[i] for i in keep])
    student.config.num_hidden_layers = len(keep)
    for parameter in student.embeddings.parameters():
        parameter.requires_grad_(False)
    return student


def distance(student: tuple[Any, Any], teacher: tuple[Any, Any], mask: Any) -> Any:
    """1 - cosine of the pooled vectors, plus TOKEN_WEIGHT x the mean over real tokens."""
    pooled = 1.0 - (student[0] * teacher[0]).sum(-1).mean()
    cosines = (student[1] * teacher[1]).sum(-1)
    tokens = 1.0 - (cosines * mask).sum() / mask.sum()
    return pooled + TOKEN_WEIGHT * tokens


def load_teacher() -> tuple[Any, Any]:
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    path = resolve_model_path(DEFAULT_MODEL)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    return AutoModel.from_pretrained(str(path), add_pooling_layer=False), tokenizer


def train(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    teacher, tokenizer = load_teacher()
    teacher.eval()
    student = student_of(teacher, keep_layers(args.keep))
    if args.init is not None:
        from safetensors.torch import load_file

        student.load_state_dict(load_file(str(args.init / "model.safetensors")))
    sentences = training_sentences(args.train, args.seed)[: args.sentences]
    lengths = [
        len(ids)
        for ids in tokenizer(sentences, truncation=True, max_length=MAX_TOKENS)["input_ids"]
    ]
    plan = batch_plan(lengths, args.batch, args.seed)
    total = len(plan)
    logger.info("%d sentences, %d batches", len(sentences), total)
    parameters = [p for p in student.parameters() if p.requires_grad]
    optimizer, schedule = optimiser(parameters, args.lr, total, WARMUP)
    args.work.mkdir(parents=True, exist_ok=True)
    checkpoint = args.work / "checkpoint.pt"
    planned = {"total": total, "sentences": len(sentences), "keep": args.keep}
    step, trained = 0, 0.0
    state = resume_checkpoint(checkpoint, student, optimizer, schedule, "cpu", **planned)
    if state is not None:
        step, trained = int(state["step"]), float(state["seconds"])
        logger.info("resumed at step %d of %d (%.1f min trained)", step, total, trained / 60)
    student.train()
    last_save = time.perf_counter()

    def save() -> None:
        save_checkpoint(
            checkpoint, student, optimizer, schedule, step=step, seconds=trained, **planned
        )

    while step < total and trained < args.minutes * 60:
        tick = time.perf_counter()
        batch = tokenizer(
            [sentences[i] for i in plan[step]],
            padding=True,
            truncation=True,
            max_length=MAX_TOKENS,
            return_tensors="pt",
        )
        with torch.no_grad():
            target = states(teacher, batch)
        loss = distance(states(student, batch), target, batch["attention_mask"].float())
        optimise(loss, parameters, optimizer, schedule)
        step += 1
        trained += time.perf_counter() - tick
        log_progress(logger, step, total, loss, trained)
        if time.perf_counter() - last_save > args.checkpoint_minutes * 60:
            save()
            last_save = time.perf_counter()
    save()
    student.eval()
    save_folder(student, args.work / "final")
    logger.info("stopped at step %d of %d after %.1f min of training", step, total, trained / 60)


def save_folder(student: Any, target: Path) -> None:
    """A sentence-transformers directory: the teacher's files with the student's weights."""
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    ignored = shutil.ignore_patterns("model.safetensors", "*.bin", "*.onnx")
    shutil.copytree(resolve_model_path(DEFAULT_MODEL), partial, ignore=ignored)
    student.save_pretrained(str(partial))
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)


def ship(folder: Path, card: Path, keep: Sequence[int]) -> dict[str, Any]:
    """Write the student's layers in float16 and their card into index/data."""
    from safetensors.numpy import load_file, save_file

    tuned = load_file(str(folder / "model.safetensors"))
    layers = {k: v.astype(np.float16) for k, v in tuned.items() if k.startswith("encoder.layer.")}
    target = card.with_name("documents-layers.safetensors")
    save_file(layers, str(target))
    target.chmod(0o644)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    data = {
        "name": f"article-qa/minilm-l{len(keep)}-documents-{digest[:8]}",  # new weights, new name
        "file": target.name,
        "sha256": digest,
        "teacher": DEFAULT_MODEL,
        "layers": len(keep),
        "parameters": int(sum(v.size for v in layers.values())),
        "provenance": {
            "kept": list(keep),
            "command": "python -m train.distil " + shlex.join(sys.argv[1:]),
            "machine": machine(),
        },
    }
    card.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return data


def evaluate(student: Path, data: Path) -> dict[str, Any]:
    """Dense-only scores on SQuAD dev with the teacher's sentences and with the student's."""
    teacher = resolve_model_path(DEFAULT_MODEL)
    return {
        "teacher": dense_scores(teacher, data),
        "student": {"model": str(student), **dense_scores(teacher, data, student)},
    }


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.ship:
        print(json.dumps(ship(args.ship, SHIPPED_DOCUMENTS, keep_layers(args.keep)), indent=1))
    elif args.evaluate:
        print(json.dumps(evaluate(args.work / "final", args.data), indent=1))
    else:
        train(args)


if __name__ == "__main__":
    main()
