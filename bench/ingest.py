"""How fast ingests embed, in process: the bf16 path at several batch budgets, and int8.

Embedding is most of an ingest (``bench.speed`` measures the whole request). Each of the 24 shared
SQuAD articles is segmented as the library does it, and its sentences are embedded the way an
ingest embeds one article; every configuration embeds every article once per round, in a
shuffled order per article, so a noisy spell on the shared machine hits them all alike. Reports
sentences per second for each and the ratio to the shipped budget. Prints one JSON line.

    .venv/bin/python -m bench.ingest [--rounds 3] [--budgets 256,512,1024] [--int8]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from bench.squad import DEFAULT_DATA, load_articles
from index.onnx_encoder import OnnxEncoder
from qa.article import parse_text, search_text
from qa.segment import segment

SHIPPED_BUDGET = 512


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budgets", default="256,512,1024", help="padded tokens per batch")
    parser.add_argument("--int8", action="store_true", help="also the int8 path (no-bf16 CPUs)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SQuAD data directory")
    args = parser.parse_args()
    from service.settings import Settings

    cache = Settings().model_cache
    articles = [
        [search_text(s.text, s.kind) for s in segment(parse_text(a.text, title=a.title)).sentences]
        for a in load_articles(args.data, None, None)
    ]
    encoders = {
        f"bf16, {budget} tokens": OnnxEncoder(cache_dir=cache, batch_tokens=budget)
        for budget in (int(b) for b in args.budgets.split(","))
    }
    if args.int8:  # the path of a CPU without bf16
        encoders[f"int8, {SHIPPED_BUDGET} tokens"] = OnnxEncoder(cache_dir=cache, bf16=False)
    for encoder in encoders.values():  # compile and warm every path first
        encoder.encode_documents(articles[0])
    seconds = dict.fromkeys(encoders, 0.0)
    order = random.Random(0)
    for _ in range(args.rounds):
        for texts in articles:
            for name in order.sample(list(encoders), len(encoders)):
                started = time.perf_counter()
                encoders[name].encode_documents(texts)
                seconds[name] += time.perf_counter() - started
    sentences = args.rounds * sum(map(len, articles))
    shipped = seconds.get(f"bf16, {SHIPPED_BUDGET} tokens")
    report: dict[str, Any] = {
        "command": " ".join(["python -m bench.ingest", *sys.argv[1:]]),
        "sentences": sentences,
        "per_s": {name: round(sentences / s) for name, s in seconds.items()},
    }
    if shipped:
        report["speed_vs_shipped"] = {name: round(shipped / s, 3) for name, s in seconds.items()}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
