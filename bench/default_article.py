"""Default-article benchmark: the product against naive dense search over lines.

Asks the reader questions in ``bench/default_questions.json`` about the bundled article and
prints one JSON object: hit@1 of the product (right sentence cited first, and answered), the shares
of off-topic questions and of on-topic questions the article does not answer that it declines
(with the latter it answered), and hit@1 of plain MiniLM cosine and plain BM25 over the
article's non-empty lines (boilerplate included, as a naive system would index them).

    .venv/bin/python -m bench.default_article
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import add_backend_option, add_reader_option, bench_encoder, bench_reader
from index.lexical import LexicalIndex
from index.library import DEFAULT_ARTICLE, Library

QUESTIONS = Path(__file__).with_name("default_questions.json")


def _hit(text: str, gold: list[str]) -> bool:
    return any(g in text for g in gold)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backend_option(parser)
    add_reader_option(parser)
    args = parser.parse_args()
    data: dict[str, Any] = json.loads(QUESTIONS.read_text(encoding="utf-8"))
    answerable: list[dict[str, Any]] = data["answerable"]
    off_topic: list[str] = data["off_topic"]
    on_topic: list[str] = data["on_topic_unanswered"]
    encoder = bench_encoder(args.backend)
    lines = [line.strip() for line in DEFAULT_ARTICLE.read_text("utf-8").splitlines()]
    lines = [line for line in lines if line]
    line_vectors = encoder.encode_documents(lines).vectors
    lexical = LexicalIndex(lines)

    with tempfile.TemporaryDirectory() as tmp:
        library = Library(Path(tmp), encoder, reader=bench_reader(args))
        library.ensure_default()
        product_hits = dense_hits = bm25_hits = 0
        latencies: list[float] = []
        misses: list[dict[str, str]] = []
        for item in answerable:
            started = time.perf_counter()
            answer = library.ask(item["question"])
            latencies.append((time.perf_counter() - started) * 1000)
            quote = answer.citations[0].quote.text if answer.citations else ""
            if answer.answerable and _hit(quote, item["gold"]):
                product_hits += 1
            else:
                misses.append(
                    {
                        "question": item["question"],
                        "cited": quote[:80],
                        "answerable": str(answer.answerable),
                    }
                )
            query = encoder.encode_queries([item["question"]])[0]
            dense_hits += _hit(lines[int(np.argmax(line_vectors @ query))], item["gold"])
            bm25_hits += _hit(lines[int(np.argmax(lexical.scores(item["question"])))], item["gold"])
        declined = sum(not library.ask(q).answerable for q in off_topic)
        answered_unanswered = [q for q in on_topic if library.ask(q).answerable]

    n = len(answerable)
    print(
        json.dumps(
            {
                "command": shlex.join(["python", "-m", "bench.default_article", *sys.argv[1:]]),
                "questions": n,
                "off_topic": len(off_topic),
                "on_topic_unanswered": len(on_topic),
                "product": {
                    "hit@1": round(product_hits / n, 4),
                    "declined_off_topic": round(declined / len(off_topic), 4),
                    "declined_on_topic_unanswered": round(
                        1 - len(answered_unanswered) / len(on_topic), 4
                    ),
                    "latency_ms_p50": round(statistics.median(latencies), 1),
                },
                "dense_lines": {"hit@1": round(dense_hits / n, 4)},
                "bm25_lines": {"hit@1": round(bm25_hits / n, 4)},
                "misses": misses,
                "answered_but_unanswered": answered_unanswered,
            },
            indent=1,
        )
    )
    print(f"product hit@1 {product_hits}/{n}", file=sys.stderr)


if __name__ == "__main__":
    main()
