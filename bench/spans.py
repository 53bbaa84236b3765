"""Answer spans by their longest allowed length, on questions the reader was never trained on.

The reader marks the answer as the best pair of start and end tokens at most
``index.reader.MAX_ANSWER_TOKENS`` apart. This benchmark asks, end to end through the library
(five citations, as the API asks), the reader's held-out SQuAD-Shifts new-wiki pieces (what its
combination and threshold are fitted on; never trained on) and QED dev (never trained or fitted
on), once per limit, and reports per set and limit: ``hit@1`` (answered, and the first citation
holds a gold answer) and the answer words' exact match and F1 (SQuAD's normalisation; a declined
question scores 0). Needs ``../shared/data/train``; skipped without it. Prints one JSON object.

    .venv/bin/python -m bench.spans [--longest 8,12,16,20,24,30] [--train DIR]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import (
    add_backend_option,
    add_reader_option,
    bench_encoder,
    bench_reader,
    skip_without_shared,
)
from index.library import Library
from index.machine import machine
from index.reader import MAX_ANSWER_TOKENS
from qa.article import clean_text
from qa.errors import ArticleQAError
from train.reader.data import DEFAULT_TRAIN, TrainArticle, held_out, load
from train.squad import span_scores

SETS = {  # name: (file in --train, its source name, whether only its held-out pieces count)
    "new-wiki-held-out": ("squadshifts-new-wiki.jsonl", "new-wiki", True),
    "qed-dev": ("qed-nq-dev.jsonl", "qed", False),
}
TOP_K = 5


@dataclass
class Tally:
    questions: int = 0
    hits: int = 0
    em: float = 0.0
    f1: float = 0.0

    def report(self) -> dict[str, float | int]:
        n = max(self.questions, 1)
        return {
            "questions": self.questions,
            "hit@1": round(self.hits / n, 4),
            "answer_em": round(self.em / n, 4),
            "answer_f1": round(self.f1 / n, 4),
        }


def ask_all(
    library: Library, articles: Sequence[TrainArticle], limits: Sequence[int]
) -> list[Tally]:
    """Every question of ``articles`` asked once per limit (each article ingested once)."""
    tallies = [Tally() for _ in limits]
    reader = library.retriever.reader
    assert reader is not None  # main() refuses --no-reader
    for article in articles:
        text = article.text
        if clean_text(text) != text.strip():
            continue  # cleaning would move the gold offsets; rare (carriage returns)
        try:
            indexed = library.ingest(text, title=article.title)
        except ArticleQAError:
            continue
        shift = text.index(indexed.article.text)
        for _, question in article.questions:
            golds = [(a - shift, b - shift) for a, b in question.golds]
            for limit, tally in zip(limits, tallies, strict=True):
                reader.longest = limit
                answer = library.ask(question.text, indexed.id, TOP_K)
                tally.questions += 1
                if not answer.answerable or not answer.citations:
                    continue
                first = answer.citations[0]
                quote = first.quote
                tally.hits += any(quote.start <= a and b <= quote.end for a, b in golds)
                span = first.answer_span.text if first.answer_span else None
                em, f1 = span_scores(span, question.answers)
                tally.em, tally.f1 = tally.em + em, tally.f1 + f1
    reader.longest = MAX_ANSWER_TOKENS
    return tallies


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.spans", description=__doc__)
    add_backend_option(parser)
    add_reader_option(parser)
    parser.add_argument(
        "--longest",
        default="8,12,16,20,24,30",
        help="the span limits to measure, in tokens, comma-separated",
    )
    parser.add_argument("--train", type=Path, default=DEFAULT_TRAIN, help="../shared/data/train")
    args = parser.parse_args(argv)
    if args.no_reader:
        parser.error("answer spans need the reader; drop --no-reader")
    limits = [int(n) for n in args.longest.split(",")]
    report: dict[str, Any] = {
        "command": shlex.join(["python", "-m", "bench.spans", *(argv or sys.argv[1:])]),
        "machine": machine(args.backend),
        "reader": args.reader.name if args.reader else "default",
        "shipped_limit": MAX_ANSWER_TOKENS,
    }
    for name, (file, source, held_out_only) in SETS.items():
        skip_without_shared(args.train / file)
        articles = [a for a in load(args.train / file, source) if held_out(a) or not held_out_only]
        with tempfile.TemporaryDirectory(prefix="bench-spans-") as tmp:
            library = Library(Path(tmp), bench_encoder(args.backend), reader=bench_reader(args))
            tallies = ask_all(library, articles, limits)
        report[name] = {str(n): t.report() for n, t in zip(limits, tallies, strict=True)}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
