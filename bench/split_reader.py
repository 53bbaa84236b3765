"""Experiment: a split reader (PreTTR / DeFormer) on the token vectors the product already stores.

    .venv/bin/python -m bench.split_reader [--work var/reader-adv] [--questions 17293]
        [--layers 2] [--epochs 1] [--candidates 3]

The lower layers are the shipped encoder itself: ingest already stores every sentence's unit
token vectors (int8, for MaxSim) and the first stage already encodes the question's. Only
``--layers`` transformer layers (initialised from the encoder's top layers) run jointly over
``question tokens + sentence tokens``, with a relevance and a start/end head as the reader's. So
the sentence's reading costs nothing at ingest and no extra storage, and a question's reading is
``--layers`` layers over the candidates instead of the reader's three over the text.

Trains on the reader's mined pairs (``bench.train_reader``'s work folder, mined by the shipped
first stage), with the token vectors computed once by the served int8 encoder and cached; then
exports the joint layers to int8 ONNX, fits the combination and answerability on the held-out
SQuAD-Shifts articles and reports as ``bench.train_reader`` does (same functions, same data),
with the time to read three candidates beside the shipped reader's. Offline tooling only.
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
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench import machine
from bench.reader_data import Pair
from bench.train_reader import (
    BATCH,
    LEARNING_RATE,
    WARMUP,
    batches,
    device_and_dtype,
    evaluate,
    fit,
    mine,
)
from bench.train_reader import (
    parse_args as reader_args,
)
from index.encoder import DEFAULT_MODEL, TokenVectors
from index.ranker import RankerWeights
from index.reader import SPAN_FLOOR, Reader, Reading, _logsumexp, best_span

logger = logging.getLogger("bench.split_reader")


def unit_tokens(tokens: TokenVectors, text: int) -> np.ndarray:
    """One text's token vectors in float, as the product dequantises them."""
    a, b = int(tokens.offsets[text]), int(tokens.offsets[text + 1])
    return tokens.data[a:b].astype(np.float32) * tokens.scales[a:b, None]


def build_model(layers: int, model_path: Path) -> Any:
    """``layers`` BERT layers (the encoder's top ones) over [question tokens; sentence tokens]."""
    import torch
    from transformers import AutoModel

    class SplitReader(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            bert = AutoModel.from_pretrained(str(model_path), add_pooling_layer=False)
            hidden = bert.config.hidden_size
            self.layers = torch.nn.ModuleList(bert.encoder.layer[-layers:])
            # Unit vectors back to LayerNorm's scale (about sqrt(hidden)), and which side a
            # token is on: the question and the sentence were encoded apart.
            self.scale = torch.nn.Parameter(torch.tensor(math.sqrt(hidden)))
            self.side = torch.nn.Embedding(2, hidden)
            torch.nn.init.zeros_(self.side.weight)
            self.relevance = torch.nn.Linear(hidden, 1)
            self.span = torch.nn.Linear(hidden, 2)

        def forward(self, states: Any, mask: Any, types: Any) -> tuple[Any, Any, Any]:
            hidden = states * self.scale + self.side(types)
            extended = (1.0 - mask[:, None, None, :].to(hidden.dtype)) * -1e4
            for layer in self.layers:
                out = layer(hidden, attention_mask=extended)
                hidden = out[0] if isinstance(out, tuple) else out
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
            relevance = self.relevance(pooled).float()[:, 0]
            logits = self.span(hidden).float()
            closed = (types == 0) | (mask == 0)
            start = logits[..., 0].masked_fill(closed, -1e4)
            end = logits[..., 1].masked_fill(closed, -1e4)
            return relevance, start, end

    return SplitReader()


class TokenCache:
    """Token vectors of many texts from the served encoder, computed once per text."""

    def __init__(self, encoder: Any, texts: Sequence[str]) -> None:
        unique = sorted(set(texts))
        self.row = {t: i for i, t in enumerate(unique)}
        started = time.perf_counter()
        self.tokens = encoder.encode_documents(unique).tokens
        logger.info("token vectors of %d texts: %.0f s", len(unique), time.perf_counter() - started)

    def get(self, text: str) -> np.ndarray:
        return unit_tokens(self.tokens, self.row[text])


def span_tokens(tokenizer: Any, pair: Pair) -> tuple[int, int, list[tuple[int, int]]]:
    """The answer's first and last token in the sentence's own encoding (-100: none), and the
    encoding's character offsets."""
    encoding = tokenizer.encode(pair.sentence)
    first = last = -100
    if pair.span is not None:
        a, b = pair.span
        inside = [
            t for t, (x, y) in enumerate(encoding.offsets) if y > x and x < b and y > max(a, x)
        ]
        if inside and encoding.offsets[inside[-1]][1] >= b:
            first, last = inside[0], inside[-1]
    return first, last, list(encoding.offsets)


def joint_inputs(
    question: np.ndarray, sentences: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Padded [question; sentence] states, mask and side (0 question, 1 sentence) per row."""
    width = len(question) + max(len(s) for s in sentences)
    states = np.zeros((len(sentences), width, question.shape[1]), np.float32)
    mask = np.zeros((len(sentences), width), np.int64)
    types = np.zeros_like(mask)
    q = len(question)
    for row, s in enumerate(sentences):
        states[row, :q], states[row, q : q + len(s)] = question, s
        mask[row, : q + len(s)] = 1
        types[row, q : q + len(s)] = 1
    return states, mask, types


def train(args: argparse.Namespace, pairs: Sequence[Pair], encoder: Any, tokenizer: Any) -> Any:
    import torch

    device, dtype = device_and_dtype(2)
    torch.manual_seed(13)
    questions = TokenCache(encoder, [p.question for p in pairs])
    sentences = TokenCache(encoder, [p.sentence for p in pairs])
    labels = [span_tokens(tokenizer, p)[:2] for p in pairs]
    for p in pairs[:200]:  # the tokenizer here counts the tokens the encoder stored
        assert len(tokenizer.encode(p.sentence).ids) == len(sentences.get(p.sentence))
    lengths = [len(questions.get(p.question)) + len(sentences.get(p.sentence)) for p in pairs]
    plan = batches(lengths, BATCH, 13)
    total = int(len(plan) * args.epochs)
    plan = (plan * math.ceil(args.epochs))[:total]
    model = build_model(args.layers, args.model_path).to(device)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=LEARNING_RATE, weight_decay=0.01)
    warmup = max(1, int(total * WARMUP))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(total - warmup, 1))),
    )
    bce = torch.nn.BCEWithLogitsLoss()
    spans = torch.nn.CrossEntropyLoss(ignore_index=-100)
    model.train()
    started = time.perf_counter()
    for step, rows in enumerate(plan, 1):
        chosen = [pairs[i] for i in rows]
        states, mask, types = joint_inputs_batch(chosen, questions, sentences)
        q_lengths = [len(questions.get(p.question)) for p in chosen]
        first = torch.tensor([labels[i][0] + q if labels[i][0] >= 0 else -100
                              for i, q in zip(rows, q_lengths, strict=True)])  # fmt: skip
        last = torch.tensor([labels[i][1] + q if labels[i][1] >= 0 else -100
                             for i, q in zip(rows, q_lengths, strict=True)])  # fmt: skip
        relevant = torch.tensor([float(p.relevant) for p in chosen])
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            relevance, start, end = model(
                torch.from_numpy(states), torch.from_numpy(mask), torch.from_numpy(types)
            )
        loss = bce(relevance, relevant)
        if bool((first >= 0).any()):
            loss = loss + 0.5 * (spans(start, first) + spans(end, last))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        if step % 100 == 0:
            elapsed = time.perf_counter() - started
            logger.info(
                "step %d/%d loss %.3f, %.1f min left",
                step, total, float(loss), (total - step) * elapsed / step / 60,
            )  # fmt: skip
    model.eval()
    return model.cpu().float()


def joint_inputs_batch(
    chosen: Sequence[Pair], questions: TokenCache, sentences: TokenCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``joint_inputs`` for pairs of different questions: each row its own question."""
    rows = [(questions.get(p.question), sentences.get(p.sentence)) for p in chosen]
    width = max(len(q) + len(s) for q, s in rows)
    dim = rows[0][0].shape[1]
    states = np.zeros((len(rows), width, dim), np.float32)
    mask = np.zeros((len(rows), width), np.int64)
    types = np.zeros_like(mask)
    for row, (q, s) in enumerate(rows):
        states[row, : len(q)], states[row, len(q) : len(q) + len(s)] = q, s
        mask[row, : len(q) + len(s)] = 1
        types[row, len(q) : len(q) + len(s)] = 1
    return states, mask, types


def export(model: Any, target: Path) -> None:
    """The joint layers and heads as int8 ONNX (inputs: states, mask, types)."""
    import torch

    from index.onnx_encoder import quantize_int8

    example = torch.zeros((2, 12, 384))
    mask = torch.ones((2, 12), dtype=torch.int64)
    types = torch.zeros_like(mask)
    types[:, 6:] = 1
    axes = {n: {0: "batch", 1: "tokens"} for n in ("states", "mask", "types", "start", "end")}
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = Path(tmp) / "float.onnx"
        torch.onnx.export(
            model, (example, mask, types), str(plain),
            input_names=["states", "mask", "types"], output_names=["relevance", "start", "end"],
            dynamic_axes=axes | {"relevance": {0: "batch"}}, opset_version=17, dynamo=False,
        )  # fmt: skip
        quantize_int8(plain, target)


class SplitSession:
    """Reads (question, sentences) as the product would: the question's token vectors from the
    query encoder, the sentences' from the ingest encoder (the store's), the joint layers on
    ONNX Runtime."""

    def __init__(self, model: Path, encoder: Any, tokenizer: Any) -> None:
        from index.onnx_encoder import cpu_session

        self.session = cpu_session(model, 1)
        self.encoder, self.tokenizer = encoder, tokenizer
        self.stored: dict[str, np.ndarray] = {}

    def store(self, texts: Sequence[str]) -> None:
        """What ingest would have stored for these sentences."""
        cache = TokenCache(self.encoder, texts)
        self.stored.update({t: cache.get(t) for t in cache.row})

    def read(self, question: str, sentences: Sequence[str]) -> Reading:
        _, q = self.encoder.encode_question(question)
        return self.read_tokens(q, sentences)

    def read_tokens(self, q: np.ndarray, sentences: Sequence[str]) -> Reading:
        states, mask, types = joint_inputs(q, [self.stored[s] for s in sentences])
        relevance, start, end = self.session.run(
            ["relevance", "start", "end"], {"states": states, "mask": mask, "types": types}
        )
        scores: list[float] = []
        logprobs: list[float] = []
        spans: list[tuple[int, int] | None] = []
        for row, sentence in enumerate(sentences):
            offsets = self.tokenizer.encode(sentence).offsets
            allowed = np.zeros(start.shape[1], np.bool_)
            for t, (a, b) in enumerate(offsets):
                allowed[len(q) + t] = b > a
            found = best_span(start[row], end[row], allowed)
            if found is None:
                scores.append(SPAN_FLOOR)
                logprobs.append(SPAN_FLOOR)
                spans.append(None)
                continue
            first, last, score = found
            scores.append(max(score, SPAN_FLOOR))
            lp = score - _logsumexp(start[row][allowed]) - _logsumexp(end[row][allowed])
            logprobs.append(max(lp, SPAN_FLOOR))
            spans.append((offsets[first - len(q)][0], offsets[last - len(q)][1]))
        return Reading(
            np.asarray(relevance, np.float32).reshape(-1),
            np.asarray(scores, np.float32),
            tuple(spans),
            np.asarray(logprobs, np.float32),
        )


def timing(split: SplitSession, asked: Sequence[Any], candidates: int) -> dict[str, float]:
    """Median ms to read ``candidates`` sentences: the shipped reader (tokens ids through three
    layers) against the split one (its joint layers; the question's token vectors come free with
    the first stage)."""
    shipped = Reader()
    ms: dict[str, list[float]] = {"shipped": [], "split": []}
    for a in asked:
        texts = [c.sentence for c in a.candidates[:candidates]]
        _, q = split.encoder.encode_question(a.question)
        t = time.perf_counter()
        shipped.read(a.question, texts)
        ms["shipped"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        split.read_tokens(q, texts)
        ms["split"].append((time.perf_counter() - t) * 1000)
    return {name: round(statistics.median(v), 2) for name, v in ms.items()}


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(message)s")
    logger.setLevel(logging.INFO)
    logging.getLogger("bench.train_reader").setLevel(logging.INFO)
    parser = argparse.ArgumentParser(prog="python -m bench.split_reader", description=__doc__)
    parser.add_argument("--work", type=Path, default=Path("var/reader-adv"))
    parser.add_argument("--questions", type=int, default=17293)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--candidates", type=int, default=3)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    pairs, heldout, report = mine(reader_args(["--work", str(args.work)]))
    questions = sorted({p.question for p in pairs})
    keep = set(random.Random(13).sample(questions, min(args.questions, len(questions))))
    pairs = [p for p in pairs if p.question in keep]
    from index.encoder import resolve_model_path
    from index.loading import load_encoder
    from service.settings import Settings

    # Two threads for the token vectors' one-off encoding; readings are timed on one.
    encoder = load_encoder(DEFAULT_MODEL, backend="onnx", threads=2,
                           cache_dir=Settings().model_cache)  # fmt: skip

    args.model_path = resolve_model_path(DEFAULT_MODEL)
    from tokenizers import Tokenizer

    from index.onnx_encoder import _max_tokens

    tokenizer = Tokenizer.from_file(str(args.model_path / "tokenizer.json"))
    tokenizer.enable_truncation(_max_tokens(args.model_path))  # as the encoder tokenizes
    tokenizer.no_padding()
    weights = args.work / f"split-{args.layers}l-{len(keep)}q-{args.epochs}e.pt"
    if weights.is_file():  # trained before: evaluate again
        import torch

        model = build_model(args.layers, args.model_path)
        model.load_state_dict(torch.load(weights, weights_only=True))
        model.eval()
    else:
        model = train(args, pairs, encoder, tokenizer)
        import torch

        torch.save(model.state_dict(), weights)
    target = args.work / f"split-{args.layers}l.onnx"
    export(model, target)
    split = SplitSession(target, encoder, tokenizer)
    split.store([c.sentence for a in (*heldout, *report) for c in a.candidates[: args.candidates]])
    first_confidence = RankerWeights.load().confidence
    fitted = fit(split, heldout, first_confidence, args.candidates)
    result: dict[str, Any] = {
        "layers": args.layers,
        "training_questions": len(keep),
        "epochs": args.epochs,
    }
    for name, asked in (("heldout", heldout), ("qed_dev", report)):
        result[name] = evaluate(
            split, asked, *fitted[:2], first_confidence, fitted[2], args.candidates
        )
    result["read_ms"] = timing(split, heldout[:300], args.candidates)
    result["model_bytes"] = target.stat().st_size
    result["machine"] = machine()
    result["minutes"] = round((time.perf_counter() - started) / 60, 1)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
