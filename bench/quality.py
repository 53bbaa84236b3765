"""Answer quality of the real pipeline on SQuAD articles, next to plain reference rankers.

Each article's paragraphs are joined into one text, ingested through ``Library`` and every question
is asked through ``Library.ask`` (that is what is measured and timed). The dense, BM25 and 50/50
blend rankers score the same citable sentences with the query vectors the product computed, so the
reference numbers cost no extra encoding. Prints one JSON object to stdout; progress goes to stderr.

    .venv/bin/python -m bench.quality [--data ../shared/data] [--articles N] [--max-questions N]
        [--dense-weight F] [--neighbour-weight F] [--threshold F] [--dump rows.jsonl]
        [--sweep-dense-weights F ...] [--sweep-neighbour-weights F ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import faiss
import numpy as np
import numpy.typing as npt

from index.encoder import Encoder, Progress, SentenceTransformerEncoder, Vectors
from index.fusion import convex
from index.library import Library
from index.retriever import IndexedArticle, RetrievalConfig
from qa.models import Answer

logger = logging.getLogger("bench.quality")

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
V1_FILE = "squad-v1.1-dev-a.jsonl"
V2_FILE = "squad-v2.0-dev-a-unanswerable.jsonl"
TOP_K = 5
# A quote longer than this does not point a reader at the answer, even when it contains it.
MAX_QUOTE_CHARS = 400
SEPARATOR = "\n\n"

Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Question:
    """A question with its gold spans in the joined article text (none when unanswerable)."""

    id: str
    text: str
    golds: tuple[Span, ...]
    answers: tuple[str, ...]

    @property
    def answerable(self) -> bool:
        return bool(self.golds)


@dataclass(frozen=True, slots=True)
class SquadArticle:
    title: str
    text: str  # paragraph contexts joined with blank lines
    questions: tuple[Question, ...]


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                row: dict[str, Any] = json.loads(line)
                yield row


def load_articles(data: Path, limit: int | None, max_questions: int | None) -> list[SquadArticle]:
    """Join each article's paragraphs and put every gold span into the joined text's offsets."""
    unanswerable: dict[str, list[Question]] = {}
    for row in _read_jsonl(data / V2_FILE):
        unanswerable[str(row["title"])] = [
            Question(str(qa["id"]), str(qa["question"]), (), ())
            for paragraph in row["paragraphs"]
            for qa in paragraph["unanswerable_qas"]
        ]
    articles: list[SquadArticle] = []
    for row in _read_jsonl(data / V1_FILE):
        if limit is not None and len(articles) >= limit:
            break
        title = str(row["title"])
        contexts = [str(p["context"]) for p in row["paragraphs"]]
        answerable: list[Question] = []
        offset = 0
        for paragraph, context in zip(row["paragraphs"], contexts, strict=True):
            for qa in paragraph["qas"]:
                answers = [(int(a["answer_start"]), str(a["text"])) for a in qa["answers"]]
                golds = tuple((offset + s, offset + s + len(t)) for s, t in answers)
                texts = tuple(t for _, t in answers)
                answerable.append(Question(str(qa["id"]), str(qa["question"]), golds, texts))
            offset += len(context) + len(SEPARATOR)
        negatives = unanswerable.get(title, [])
        if max_questions is not None:
            answerable, negatives = answerable[:max_questions], negatives[:max_questions]
        articles.append(SquadArticle(title, SEPARATOR.join(contexts), (*answerable, *negatives)))
    return articles


def hit_rank(spans: Iterable[Span], golds: Sequence[Span]) -> int | None:
    """1-based rank of the first short-enough span containing any gold answer, else None."""
    for rank, (start, end) in enumerate(spans, 1):
        if end - start <= MAX_QUOTE_CHARS and any(start <= a and b <= end for a, b in golds):
            return rank
    return None


@dataclass(slots=True)
class Tally:
    """Hit ranks (None = miss) of the answerable questions, for hit@1 and mrr@5."""

    ranks: list[int | None] = field(default_factory=list)
    quote_chars: list[int] = field(default_factory=list)

    def add_answer(self, answer: Answer, golds: Sequence[Span]) -> int | None:
        quotes = [(c.quote.start, c.quote.end) for c in answer.citations[:TOP_K]]
        rank = hit_rank(quotes, golds) if answer.answerable else None
        self.ranks.append(rank)
        if quotes:
            self.quote_chars.append(quotes[0][1] - quotes[0][0])
        return rank

    def scores(self) -> dict[str, float]:
        n = max(len(self.ranks), 1)
        found = [r for r in self.ranks if r is not None]
        out = {
            "hit@1": round(sum(r == 1 for r in found) / n, 4),
            "mrr@5": round(sum(1 / r for r in found) / n, 4),
        }
        if self.quote_chars:
            out["median_quote_chars"] = round(float(statistics.median(self.quote_chars)), 4)
        return out


class RecordingEncoder:
    """The real model, keeping each query vector the product computed, to reuse it for free."""

    def __init__(self, inner: Encoder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.queries: dict[str, Vectors] = {}

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        vectors = self.inner.encode_queries(texts)
        self.queries.update(zip(texts, vectors, strict=True))
        return vectors

    def encode_documents(self, texts: Sequence[str], progress: Progress | None = None) -> Vectors:
        return self.inner.encode_documents(texts, progress)

    def replay(self, texts: Sequence[str]) -> Vectors:
        return np.stack([self.queries[t] for t in texts]).astype(np.float32)


class ReplayEncoder:
    """Serves recorded query vectors, so sweep variants rank exactly like the product at no cost."""

    def __init__(self, recorder: RecordingEncoder) -> None:
        self.recorder = recorder
        self.name = recorder.name
        self.dim = recorder.dim

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        return self.recorder.replay(texts)

    def encode_documents(self, texts: Sequence[str], progress: Progress | None = None) -> Vectors:
        return self.recorder.encode_documents(texts, progress)


Scores = npt.NDArray[np.float32]


def reference_scores(
    indexed: IndexedArticle, query_vectors: Vectors, questions: Sequence[Question]
) -> tuple[Scores, Scores]:
    """Raw cosine and BM25 of every question (rows) against every citable sentence (columns)."""
    vectors = indexed.vectors.reconstruct_n(0, indexed.vectors.ntotal)[indexed.candidates]
    dense = np.asarray(query_vectors @ vectors.T, dtype=np.float32)
    lexical = np.stack([indexed.lexical.scores(q.text) for q in questions]).astype(np.float32)
    return dense, lexical


def top_spans(indexed: IndexedArticle, scores: Scores) -> list[Span]:
    """The five best sentences' spans: a reference ranker quotes single sentences."""
    order = np.argsort(-scores, kind="stable")[:TOP_K]
    sentences = indexed.segmentation.sentences
    return [(sentences[i].start, sentences[i].end) for i in indexed.candidates[order]]


def percentile(values: Sequence[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 4) if values else 0.0


@dataclass(frozen=True, slots=True)
class Variant:
    """A sweep point: the product path with other ranking weights and replayed query vectors."""

    config: RetrievalConfig
    library: Library
    tally: Tally = field(default_factory=Tally)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    default = RetrievalConfig()
    parser = argparse.ArgumentParser(
        prog="python -m bench.quality", description="Answer quality of the real pipeline on SQuAD."
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SQuAD data directory")
    parser.add_argument("--articles", type=int, help="only the first N articles")
    parser.add_argument(
        "--max-questions", type=int, help="at most N answerable and N unanswerable per article"
    )
    parser.add_argument("--dense-weight", type=float, default=default.dense_weight)
    parser.add_argument("--neighbour-weight", type=float, default=default.neighbour_weight)
    parser.add_argument("--threshold", type=float, default=0.5, help="Library confidence threshold")
    parser.add_argument("--dump", type=Path, help="write one JSON row per question here")
    parser.add_argument(
        "--sweep-dense-weights", type=float, nargs="*", default=[],
        help="also score these dense weights (grid with --sweep-neighbour-weights), no re-encoding",
    )  # fmt: skip
    parser.add_argument("--sweep-neighbour-weights", type=float, nargs="*", default=[])
    return parser.parse_args(argv)


def sweep_configs(
    base: RetrievalConfig, dense: Sequence[float], neighbour: Sequence[float]
) -> list[RetrievalConfig]:
    """Grid of the base weights plus the requested ones, without the base point itself."""
    if not dense and not neighbour:
        return []
    grid = [
        dataclasses.replace(base, dense_weight=d, neighbour_weight=n)
        for d in sorted({base.dense_weight, *dense})
        for n in sorted({base.neighbour_weight, *neighbour})
    ]
    return [c for c in grid if c != base]


def run(args: argparse.Namespace, dump: TextIO | None) -> dict[str, Any]:
    """Ingest, ask and score every article; returns the report."""
    faiss.omp_set_num_threads(1)
    config = dataclasses.replace(
        RetrievalConfig(), dense_weight=args.dense_weight, neighbour_weight=args.neighbour_weight
    )
    articles = load_articles(args.data, args.articles, args.max_questions)
    recorder = RecordingEncoder(SentenceTransformerEncoder(threads=1))
    product, unanswered = Tally(), 0
    references = {"dense": Tally(), "bm25": Tally(), "blend50": Tally()}
    latencies: list[float] = []
    n_answerable = n_unanswerable = answered = 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as data_dir:
        library = Library(Path(data_dir), recorder, config=config, threshold=args.threshold)
        variants = [
            Variant(c, Library(Path(data_dir), ReplayEncoder(recorder), c, args.threshold))
            for c in sweep_configs(config, args.sweep_dense_weights, args.sweep_neighbour_weights)
        ]
        for number, squad in enumerate(articles, 1):
            indexed = library.ingest(squad.text, title=squad.title)
            stored = indexed.article.text
            assert stored == squad.text.strip(), f"{squad.title}: stored text is not the input"
            shift = squad.text.index(stored)
            golds = [tuple((a - shift, b - shift) for a, b in q.golds) for q in squad.questions]
            for question, shifted in zip(squad.questions, golds, strict=True):
                for (a, b), text in zip(shifted, question.answers, strict=True):
                    assert stored[a:b] == text, f"{question.id}: gold span does not match"
            answers: list[Answer] = []
            for question in squad.questions:
                tick = time.perf_counter()
                answers.append(library.ask(question.text, indexed.id, top_k=TOP_K))
                latencies.append((time.perf_counter() - tick) * 1000)
            dense, lexical = reference_scores(
                indexed, recorder.replay([q.text for q in squad.questions]), squad.questions
            )
            blend = np.stack([convex(d, b, 0.5) for d, b in zip(dense, lexical, strict=True)])
            for row, (question, answer) in enumerate(zip(squad.questions, answers, strict=True)):
                rank = None
                if question.answerable:
                    n_answerable += 1
                    answered += answer.answerable
                    rank = product.add_answer(answer, golds[row])
                    for name, scores in (("dense", dense), ("bm25", lexical), ("blend50", blend)):
                        spans = top_spans(indexed, scores[row])
                        references[name].ranks.append(hit_rank(spans, golds[row]))
                    for variant in variants:
                        again = variant.library.ask(question.text, indexed.id, top_k=TOP_K)
                        variant.tally.add_answer(again, golds[row])
                else:
                    n_unanswerable += 1
                    unanswered += not answer.answerable
                if dump is not None:
                    record = {
                        "article": squad.title,
                        "id": question.id,
                        "answerable": question.answerable,
                        "product_answerable": answer.answerable,
                        "confidence": answer.confidence,
                        "hit_rank": rank,
                        "top_dense": round(float(dense[row].max()), 4),
                        "top_bm25": round(float(lexical[row].max()), 4),
                    }
                    dump.write(json.dumps(record) + "\n")
            logger.info(
                "%d/%d %s: %d questions, hit@1 so far %.4f, %.0fs",
                number, len(articles), squad.title, len(squad.questions),
                product.scores()["hit@1"], time.perf_counter() - started,
            )  # fmt: skip
    report: dict[str, Any] = {
        "command": shlex.join(["python", "-m", "bench.quality", *sys.argv[1:]]),
        "articles": len(articles),
        "questions": n_answerable,
        "unanswerable": n_unanswerable,
        "product": {
            **product.scores(),
            "answered": round(answered / max(n_answerable, 1), 4),
            "abstain": round(unanswered / max(n_unanswerable, 1), 4),
            "latency_ms_p50": percentile(latencies, 50),
            "latency_ms_p90": percentile(latencies, 90),
        },
        **{name: tally.scores() for name, tally in references.items()},
        "config": {**dataclasses.asdict(config), "threshold": args.threshold},
    }
    if variants:
        report["sweep"] = [
            {
                "dense_weight": v.config.dense_weight,
                "neighbour_weight": v.config.neighbour_weight,
                **v.tally.scores(),
            }
            for v in variants
        ]
    return report


def main(argv: Sequence[str] | None = None) -> None:
    # Only this script's progress: library INFO logs (one per BM25 index) would drown it.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(message)s")
    logger.setLevel(logging.INFO)
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.dump is None:
        report = run(args, None)
    else:
        with args.dump.open("w", encoding="utf-8") as dump:
            report = run(args, dump)
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
