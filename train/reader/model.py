"""The reader's training: MiniLM's first layers with a relevance and a start/end head, fine-tuned
on question/sentence pairs (``train.reader.data``), resumable from checkpoints.

bf16 autocast where the CPU has bf16, CUDA when present; a checkpoint every few hundred steps,
and a resumed run skips the batches already seen.
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from index.encoder import BUNDLED_MODEL, resolve_model_path
from index.machine import machine
from train.loop import optimise, optimiser, resume_checkpoint, save_checkpoint
from train.reader.data import Pair

logger = logging.getLogger("train.reader")

MAX_TOKENS = 128
BATCH = 32
LEARNING_RATE = 8e-5
WARMUP = 0.06
CHECKPOINT_EVERY = 200
CURVE = (0.25, 0.5)  # shares of the run whose weights are kept for the learning curve


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
    optimizer, schedule = optimiser(parameters, learning_rate, total, WARMUP)
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
        optimise(loss, parameters, optimizer, schedule)
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
