"""How fast ingests embed, in process: the ingest paths the CPU could take, side by side.

Embedding is most of an ingest (``bench.speed`` measures the whole request). Each of the 24 shared
SQuAD articles is segmented as the library does it, and its sentences are embedded the way an
ingest embeds one article; every configuration embeds every article once per round, in a
shuffled order per article, so a noisy spell on the shared machine hits them all alike. Reports
sentences per second for each, the ratio to the path the product takes on this CPU, and each
path's lowest cosine to the float32 vectors (when ``f32`` runs too), with the machine it ran on.
Prints one JSON line.

Paths, all on two cores (``ARTICLE_QA_INGEST_THREADS=2``):

- ``bf16``: the float graph on OpenVINO in bfloat16, two single-thread streams (the product on
  a CPU with AMX);
- ``f32``: the same in float32 (``INFERENCE_PRECISION_HINT=f32``);
- ``int8``: the int8 copy on ONNX Runtime, one session with two threads;
- ``int8x2``: the int8 copy on ONNX Runtime, two single-thread sessions in two threads, each
  taking the next batch (the product without AMX).

Every path is an ``OnnxEncoder`` and every runner the product's own (``OpenVinoDocuments``,
``Int8Documents``), so tokenizing, batching and padding are as served; ``f32`` and ``int8`` only
change the precision or the sessions.

    .venv/bin/python -m bench.ingest [--rounds 3] [--budgets 256,512,1024]
        [--paths bf16,f32,int8,int8x2]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench import skip_without_shared
from index.encoder import DEFAULT_MODEL, resolve_model_path
from index.machine import machine
from index.onnx_encoder import (
    FLOAT_FILE,
    INT8_FILE,
    Int8Documents,
    OnnxEncoder,
    OpenVinoDocuments,
    bf16_available,
    cached_model_path,
    cpu_session,
)
from qa.article import parse_text, search_text
from qa.segment import segment
from train.squad import DEFAULT_DATA, V1_FILE, load_articles

SHIPPED_BUDGET = 512
STREAMS = 2  # ARTICLE_QA_INGEST_THREADS' default
PATHS = ("bf16", "f32", "int8", "int8x2")


def encoders(paths: Sequence[str], budgets: Sequence[int], cache: Path) -> dict[str, OnnxEncoder]:
    """One encoder per path and batch budget, named for the report."""
    folder = cached_model_path(resolve_model_path(DEFAULT_MODEL, cache), cache)
    out: dict[str, OnnxEncoder] = {}
    for path in paths:
        for budget in budgets:
            name = f"{path}, {budget} tokens"
            if path == "bf16":
                out[name] = OnnxEncoder(cache_dir=cache, batch_tokens=budget, bf16=True)
                continue
            encoder = OnnxEncoder(cache_dir=cache, batch_tokens=budget, bf16=False)
            if path == "f32":
                encoder._documents = OpenVinoDocuments(folder / FLOAT_FILE, STREAMS, "f32").run
            elif path == "int8":
                single = cpu_session(folder / INT8_FILE, STREAMS)
                encoder._documents = Int8Documents([single]).run
            out[name] = encoder
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budgets", default="256,512,1024", help="padded tokens per batch")
    parser.add_argument("--paths", default="bf16", help=f"comma-separated: {','.join(PATHS)}")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SQuAD data directory")
    args = parser.parse_args()
    skip_without_shared(args.data / V1_FILE)
    paths = [p for p in args.paths.split(",") if p]
    if unknown := set(paths) - set(PATHS):
        raise SystemExit(f"unknown paths: {', '.join(sorted(unknown))}")
    from service.settings import Settings

    articles = [
        [search_text(s.text, s.kind) for s in segment(parse_text(a.text, title=a.title)).sentences]
        for a in load_articles(args.data, None, None)
    ]
    budgets = [int(b) for b in args.budgets.split(",")]
    configurations = encoders(paths, budgets, Settings().model_cache)
    # Compile and warm every path first; keep the first article's vectors to compare.
    vectors = {name: e.encode_documents(articles[0]).vectors for name, e in configurations.items()}
    seconds = dict.fromkeys(configurations, 0.0)
    order = random.Random(0)
    for _ in range(args.rounds):
        for texts in articles:
            for name in order.sample(list(configurations), len(configurations)):
                started = time.perf_counter()
                configurations[name].encode_documents(texts)
                seconds[name] += time.perf_counter() - started
    sentences = args.rounds * sum(map(len, articles))
    shipped_path = "bf16" if bf16_available() else "int8x2"
    shipped = seconds.get(f"{shipped_path}, {SHIPPED_BUDGET} tokens")
    report: dict[str, Any] = {
        "command": " ".join(["python -m bench.ingest", *sys.argv[1:]]),
        "machine": machine("onnx"),
        "sentences": sentences,
        "per_s": {name: round(sentences / s) for name, s in seconds.items()},
    }
    if shipped:
        report["speed_vs_shipped"] = {name: round(shipped / s, 3) for name, s in seconds.items()}
    reference = vectors.get(f"f32, {budgets[0]} tokens")
    if reference is not None:
        report["min_cosine_to_f32"] = {
            name: round(float(np.min(np.sum(v * reference, axis=1))), 4)
            for name, v in vectors.items()
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
