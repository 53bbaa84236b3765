"""Answer quality of the real pipeline on SQuAD, cross-validated by article, beside plain rankers.

Each article's paragraphs are joined into one text and ingested through ``Library``. The ranker
and answerability model are fitted on three quarters of the articles (train/ranker.py) and every
question of the remaining quarter is asked through ``Library.ask`` with those weights: that call is
what is scored and timed. With the reader, its answerability model and threshold are fitted per
fold too, as ``python -m train.reader.answerability`` fits the shipped ones but on the other folds'
articles only (their answerable and unanswerable questions, and the constructed ones: the
answering paragraph removed, asked of another article; each ranked by a first stage fitted
without the held-out fold and without the question's own fold) plus the reader's held-out
training questions; ``--shipped-answerability`` scores the shipped one instead (and constructs
no questions). A reader fine-tuned on the SQuAD dev half (``python -m train.reader
--squad``) is scored out of fold: each fold's questions are served by the reader fine-tuned
without its articles, and read by that fold's own such reader when another fold's
answerability is fitted on them (``--fold-readers``, by default where its provenance says).
Besides SQuAD v2.0's unanswerable questions, the held-out fold's constructed ones are scored
too. The dense, BM25 and 50/50 blend reference rankers, and late interaction (MaxSim) alone,
score the same citable sentences from the same feature matrices. Prints one JSON object;
progress goes to stderr.

    .venv/bin/python -m bench.quality [--data ../shared/data] [--articles N] [--max-questions N]
        [--threshold F] [--dump rows.jsonl] [--shipped-answerability] [--model DIR]
        [--fold-readers DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import faiss
import numpy as np

from bench import (
    Target,
    add_backend_option,
    add_reader_option,
    bench_encoder,
    bench_reader,
    check_targets,
    skip_without_shared,
)
from index.features import FEATURES, FloatArray
from index.fusion import convex
from index.library import Library
from index.machine import machine
from index.ranker import RankerWeights
from index.retriever import IndexedArticle, Retriever
from qa.models import Answer
from train.ranker import Rankers
from train.reader.answerability import fit_without, heldout_rows, probe_rows, squad_probes
from train.reader.folds import memoised, out_of_fold
from train.squad import (
    DEFAULT_DATA,
    FOLDS,
    TOP_K,
    V1_FILE,
    Span,
    fold_of,
    hit_rank,
    load_articles,
    span_scores,
)

logger = logging.getLogger("bench.quality")

# Issue 13's targets for the product as shipped.
TARGETS: tuple[Target, ...] = (
    ("product.hit@1", ">=", 0.82),
    ("product.mrr@5", ">=", 0.88),
    ("product.answered", ">=", 0.95),
    ("product.abstain", ">=", 0.50),
    ("product.span_exact", ">=", 0.55),
    ("product.span_f1", ">=", 0.70),
)


@dataclass(slots=True)
class Tally:
    """Hit ranks (None = miss) of the answerable questions, for hit@1 and mrr@5."""

    ranks: list[int | None] = field(default_factory=list)
    quote_chars: list[int] = field(default_factory=list)
    exact: list[float] = field(default_factory=list)
    f1: list[float] = field(default_factory=list)

    def add_answer(
        self, answer: Answer, golds: Sequence[Span], answers: Sequence[str]
    ) -> int | None:
        quotes = [(c.quote.start, c.quote.end) for c in answer.citations[:TOP_K]]
        rank = hit_rank(quotes, golds) if answer.answerable else None
        self.ranks.append(rank)
        if quotes:
            self.quote_chars.append(quotes[0][1] - quotes[0][0])
        span = answer.citations[0].answer_span if answer.answerable and answer.citations else None
        exact, f1 = span_scores(span.text if span else None, answers)
        self.exact.append(exact)
        self.f1.append(f1)
        return rank

    def scores(self) -> dict[str, float]:
        n = max(len(self.ranks), 1)
        found = [r for r in self.ranks if r is not None]
        out = {
            "hit@1": round(sum(r == 1 for r in found) / n, 4),
            "mrr@5": round(sum(1 / r for r in found) / n, 4),
        }
        if self.exact:
            out["span_exact"] = round(sum(self.exact) / n, 4)
            out["span_f1"] = round(sum(self.f1) / n, 4)
        if self.quote_chars:
            out["median_quote_chars"] = round(float(statistics.median(self.quote_chars)), 4)
        return out


def top_spans(indexed: IndexedArticle, scores: FloatArray) -> list[Span]:
    """The five best sentences' spans: a reference ranker quotes single sentences."""
    order = np.argsort(-scores, kind="stable")[:TOP_K]
    sentences = indexed.segmentation.sentences
    return [(sentences[i].start, sentences[i].end) for i in indexed.candidates[order]]


def reference_rankers(matrix: FloatArray) -> dict[str, FloatArray]:
    """What peers ship by default, over the same sentences: dense, BM25, and their 50/50 blend;
    and late interaction (MaxSim) alone, one of the first stage's features."""
    dense = matrix[:, FEATURES.index("dense")]
    bm25 = matrix[:, FEATURES.index("bm25")]
    late = matrix[:, FEATURES.index("late")]
    return {"dense": dense, "bm25": bm25, "blend50": convex(dense, bm25, 0.5), "late": late}


def percentile(values: Sequence[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 4) if values else 0.0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.quality", description="Answer quality of the real pipeline on SQuAD."
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SQuAD data directory")
    parser.add_argument("--articles", type=int, help="only the first N articles")
    parser.add_argument(
        "--max-questions", type=int, help="at most N answerable and N unanswerable per article"
    )
    parser.add_argument(
        "--threshold", type=float, help="fixed confidence threshold instead of each fold's own"
    )
    parser.add_argument("--dump", type=Path, help="write one JSON row per question here")
    parser.add_argument(
        "--shipped-answerability",
        action="store_true",
        help="score the reader's shipped answerability model instead of fitting one per fold",
    )
    parser.add_argument(
        "--reader-work", type=Path, default=Path("var/reader"), help="the reader's heldout.jsonl"
    )
    parser.add_argument(
        "--fold-readers",
        type=Path,
        help="a reader fine-tuned on SQuAD: its fold readers' folder (default: its provenance's)",
    )
    parser.add_argument("--model", help="embedding model name or directory (an experiment)")
    add_backend_option(parser)
    add_reader_option(parser)
    return parser.parse_args(argv)


def run(args: argparse.Namespace, dump: TextIO | None) -> dict[str, Any]:
    """Ingest every article, fit per fold, ask and score every question; returns the report."""
    faiss.omp_set_num_threads(1)
    articles = load_articles(args.data, args.articles, args.max_questions)
    folds = fold_of([a.title for a in articles])
    encoder = bench_encoder(args.backend, args.model)
    # Fitted per fold unless --shipped-answerability: the shipped one is not needed then.
    reader = bench_reader(args, answerability=args.shipped_answerability)
    # Fold g's questions are read by a reader that never trained on them; checked up front.
    readers = [] if reader is None else out_of_fold(reader, folds, args.fold_readers)
    started = time.perf_counter()
    product, references = Tally(), {name: Tally() for name in ("dense", "bm25", "blend50", "late")}
    latencies: list[float] = []
    answered = declined = 0
    constructed = {"removed": [0, 0], "other": [0, 0]}  # declined, asked
    thresholds: list[float] = []
    fitted: list[dict[str, int]] = []
    per_fold = reader is not None and not args.shipped_answerability
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as data_dir:
        library = Library(Path(data_dir), encoder, RankerWeights.blend())
        # The constructed unanswerable questions are fitted on and scored with the reader only.
        indexed, examples, probes = squad_probes(library, articles, constructed=per_fold)
        rankers = Rankers(examples, folds)
        memos = memoised(readers)
        # The held-out training questions' rows, once per distinct reader.
        distinct = {id(m): m for m in memos} if per_fold else {}
        extras = {key: heldout_rows(m, args.reader_work) for key, m in distinct.items()}
        for fold in range(FOLDS):
            weights = rankers.without(fold)
            memo = memos[fold] if memos else None
            fold_reader = None
            if memo is not None and per_fold:
                model, threshold, counts = fit_without(
                    fold, encoder, rankers, memos, probes, folds, extras[id(memo)]
                )
                fold_reader = memo.base.with_answerability(model, threshold)
                fitted.append(counts)
                logger.info("fold %d: answerability fitted on %s, threshold %.4f",
                            fold, counts, threshold)  # fmt: skip
            elif memo is not None and reader is not None:
                fold_reader = memo.base.with_answerability(reader.answer, reader.threshold)
            thresholds.append(weights.threshold if fold_reader is None else fold_reader.threshold)
            library.retriever = Retriever(encoder, weights, fold_reader)
            default = fold_reader.threshold if fold_reader is not None else weights.threshold
            library.threshold = default if args.threshold is None else args.threshold
            if memo is not None and fold_reader is not None:
                chosen = [
                    p
                    for t, ps in probes.items()
                    if folds[t] == fold
                    for p in ps
                    if p.kind in constructed
                ]
                rows, kept = probe_rows(encoder, weights, memo, chosen)
                for row, probe in zip(rows, kept, strict=True):
                    constructed[probe.kind][0] += fold_reader.probability(row) < library.threshold
                    constructed[probe.kind][1] += 1
            for squad in (a for a in articles if folds[a.title] == fold):
                article = indexed[squad.title]
                for example in examples[squad.title]:
                    tick = time.perf_counter()
                    answer = library.ask(example.question, article.id, top_k=TOP_K)
                    latencies.append((time.perf_counter() - tick) * 1000)
                    rank = None
                    if example.answerable:
                        answered += answer.answerable
                        rank = product.add_answer(answer, example.golds, example.answers)
                        for name, scores in reference_rankers(example.matrix).items():
                            spans = top_spans(article, scores)
                            references[name].ranks.append(hit_rank(spans, example.golds))
                    else:
                        declined += not answer.answerable
                    if dump is not None:
                        record = {
                            "article": squad.title,
                            "fold": fold,
                            "question": example.question,
                            "answerable": example.answerable,
                            "product_answerable": answer.answerable,
                            "confidence": answer.confidence,
                            "hit_rank": rank,
                        }
                        dump.write(json.dumps(record) + "\n")
            logger.info(
                "fold %d done, hit@1 so far %.4f (%.0f s)",
                fold, product.scores()["hit@1"], time.perf_counter() - started,
            )  # fmt: skip
    n_answerable = sum(e.answerable for rows in examples.values() for e in rows)
    n_unanswerable = sum(not e.answerable for rows in examples.values() for e in rows)
    abstain_constructed = {
        f"abstain_{'removed_paragraph' if kind == 'removed' else 'other_article'}": round(
            no / max(asked, 1), 4
        )
        for kind, (no, asked) in constructed.items()
        if asked
    }
    report = {
        "command": shlex.join(["python", "-m", "bench.quality", *sys.argv[1:]]),
        "machine": machine(args.backend),  # the latency depends on it
        "protocol": f"{FOLDS}-fold cross-validation by article: fitted on 3/4, scored on 1/4",
        "articles": len(articles),
        "questions": n_answerable,
        "unanswerable": n_unanswerable,
        "product": {
            **product.scores(),
            "answered": round(answered / max(n_answerable, 1), 4),
            "abstain": round(declined / max(n_unanswerable, 1), 4),
            **abstain_constructed,
            "latency_ms_p50": percentile(latencies, 50),
            "latency_ms_p90": percentile(latencies, 90),
        },
        **{name: tally.scores() for name, tally in references.items()},
        "reader": None
        if reader is None
        else {
            "file": reader.file.name,
            "candidates": reader.candidates,
            "command": reader.provenance.get("command"),
            "squad": None
            if "squad" not in reader.provenance
            else {k: reader.provenance["squad"][k] for k in ("command", "fold_readers")},
        },
        "answerability": (
            None
            if reader is None
            else {"fitted": "per fold", "examples": fitted}
            if per_fold
            else {"fitted": "shipped", **reader.provenance.get("answerability", {})}
        ),
        "thresholds": thresholds,
    }
    return report | {"targets": check_targets(report, TARGETS)}


def main(argv: Sequence[str] | None = None) -> None:
    # Only this script's progress: library INFO logs would drown it.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(message)s")
    logger.setLevel(logging.INFO)
    args = parse_args(sys.argv[1:] if argv is None else argv)
    skip_without_shared(args.data / V1_FILE)
    if args.dump is None:
        report = run(args, None)
    else:
        with args.dump.open("w", encoding="utf-8") as dump:
            report = run(args, dump)
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
