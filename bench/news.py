"""News yardstick: questions people wrote about news stories, alone and in conversation.

Readers of this product ask about news, in a chat. ``bench/data/news`` holds 36 Wikinews stories
(CC BY 2.5) and the questions written about them as a reader would (its README says how): most
asked from the headline and first paragraph before reading on, then answered from the text (the
gold sentence and the answer's words), a quarter on the story's subject but not answered by it,
and one conversation per story whose follow-ups lean on earlier turns. Each story is ingested
as plain text through the real library (the shipped encoder and reader, as
``bench.default_article``), and every question asked as the API asks it (five citations); a
conversation's earlier turns go with it as the widget sends them, each question with where the
product cited its answer (``--plain-history``: the questions alone, as a plain API client may).

Per kind of turn (single questions; the first turns and the follow-ups of conversations) and per
split (``dev``; ``held-out``, every third story, which no change may be tuned on; ``all``):
``hit@1``, answered and the first citation holds the gold sentence; ``mrr@5``, of the first
citation that does, answered or not; ``answered``, of the answerable questions; ``declined``, of
the unanswerable ones; and the answer words' exact match and F1 (SQuAD's normalisation; a
declined answer scores 0). Prints one JSON object.

    .venv/bin/python -m bench.news [--no-reader] [--reader FILE] [--split held-out] [--misses]
        [--plain-history]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import add_backend_option, add_reader_option, bench_encoder, bench_reader
from index.library import Library
from index.machine import machine
from qa.models import Answer, Turn
from train.squad import read_jsonl, span_scores

DATA = Path(__file__).resolve().parent / "data" / "news"
TOP_K = 5
SPLITS = ("dev", "held-out")
KINDS = ("single", "first_turn", "followup")


def split_of(article: str) -> str:
    """Every third story (wn-003, wn-006, ...) is held out: reported, never tuned on."""
    return "held-out" if int(article.removeprefix("wn-")) % 3 == 0 else "dev"


@dataclass(frozen=True, slots=True)
class Asked:
    """One question as asked: its kind, its gold and what came before it in its conversation."""

    article: str
    kind: str  # one of KINDS
    question: str
    gold: str | None  # the sentence that answers it; None: the story does not say
    answers: tuple[str, ...]
    history: tuple[str, ...] = ()

    @property
    def split(self) -> str:
        return split_of(self.article)


def load(data: Path = DATA) -> tuple[dict[str, dict[str, Any]], list[Asked]]:
    """The stories by id, and every question: the single ones, then each conversation's turns
    with the questions before them as history."""
    stories = {str(row["id"]): row for row in read_jsonl(data / "articles.jsonl")}
    asked: list[Asked] = []
    for row in read_jsonl(data / "questions.jsonl"):
        article = str(row["article"])
        if row["type"] == "question":
            gold, answers = row["gold_sentence"], tuple(row["answers"])
            asked.append(Asked(article, "single", row["question"], gold, answers))
            continue
        history: list[str] = []
        for turn in row["turns"]:
            kind = "followup" if turn["followup"] else "first_turn"
            gold = turn["gold_sentence"]
            asked.append(
                Asked(article, kind, turn["question"], gold, tuple(turn["answers"]), tuple(history))
            )
            history.append(turn["question"])
    return stories, asked


@dataclass
class Tally:
    """Sums over some questions, reported as rates."""

    answerable: int = 0
    unanswerable: int = 0
    hits: int = 0
    reciprocal: float = 0.0
    answered: int = 0
    declined: int = 0
    em: float = 0.0
    f1: float = 0.0
    misses: list[dict[str, Any]] = field(default_factory=list)

    def add(self, asked: Asked, answer: Answer, text: str) -> None:
        if asked.gold is None:
            self.unanswerable += 1
            self.declined += not answer.answerable
            if answer.answerable:
                self._miss(asked, answer, "answered, but the story does not say")
            return
        self.answerable += 1
        start = text.index(asked.gold)
        end = start + len(asked.gold)
        ranks = [
            n
            for n, c in enumerate(answer.citations[:TOP_K], 1)
            if c.quote.start < end and start < c.quote.end
        ]
        self.reciprocal += 1 / ranks[0] if ranks else 0.0
        self.answered += answer.answerable
        hit = answer.answerable and ranks[:1] == [1]
        self.hits += hit
        span = answer.citations[0].answer_span if answer.answerable and answer.citations else None
        em, f1 = span_scores(span.text if span else None, asked.answers)
        self.em, self.f1 = self.em + em, self.f1 + f1
        if not hit:
            why = "declined" if not answer.answerable else "another sentence cited first"
            self._miss(asked, answer, why)

    def _miss(self, asked: Asked, answer: Answer, why: str) -> None:
        cited = answer.citations[0].quote.text if answer.citations else ""
        self.misses.append(
            {"article": asked.article, "question": asked.question, "why": why,
             "cited": cited[:120], "gold": (asked.gold or "")[:120]}
        )  # fmt: skip

    def report(self) -> dict[str, Any]:
        def rate(part: float, whole: int) -> float | None:
            return round(part / whole, 4) if whole else None

        return {
            "answerable": self.answerable,
            "unanswerable": self.unanswerable,
            "hit@1": rate(self.hits, self.answerable),
            "mrr@5": rate(self.reciprocal, self.answerable),
            "answered": rate(self.answered, self.answerable),
            "declined": rate(self.declined, self.unanswerable),
            "answer_em": rate(self.em, self.answerable),
            "answer_f1": rate(self.f1, self.answerable),
        }


def turn_of(question: str, answer: Answer) -> Turn:
    """A turn as the widget keeps it: where the answer was cited, and its words."""
    if not answer.answerable or not answer.citations:
        return Turn(question)
    first = answer.citations[0]
    words = first.answer_span.text if first.answer_span else None
    return Turn(question, (first.quote.start, first.quote.end), words)


def run(
    library: Library,
    stories: dict[str, dict[str, Any]],
    asked: Sequence[Asked],
    plain: bool = False,
) -> dict[tuple[str, str], Tally]:
    """Every question asked of its story, tallied by (split, kind), "all" and "turns" included
    (the conversations' turns together). A conversation's history carries where each earlier
    answer was cited, as the widget sends it, or with ``plain`` only the questions."""
    ids: dict[str, str] = {}
    texts: dict[str, str] = {}
    for article in sorted({a.article for a in asked}):
        story = stories[article]
        indexed = library.ingest(story["text"], title=story["title"], url=story["url"])
        ids[article], texts[article] = indexed.id, indexed.article.text
    tallies: dict[tuple[str, str], Tally] = {}
    # A conversation's turns as the widget sends them: each earlier question with where the
    # product cited its answer (the plain questions alone with ``plain``).
    chat: dict[tuple[str, ...], Turn] = {}
    for question in asked:
        thread = (question.article, *question.history)
        history: Sequence[str | Turn] = question.history
        if not plain:
            history = [chat[thread[: i + 2]] for i in range(len(question.history))]
        answer = library.ask(question.question, ids[question.article], TOP_K, history)
        chat[(*thread, question.question)] = turn_of(question.question, answer)
        turns = ("turns",) if question.kind != "single" else ()
        for split in (question.split, "all"):
            for kind in (question.kind, *turns):
                tallies.setdefault((split, kind), Tally()).add(
                    question, answer, texts[question.article]
                )
    return tallies


def summary(tallies: dict[tuple[str, str], Tally], with_misses: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for split in ("all", *SPLITS):
        out[split] = {
            kind: tallies[split, kind].report()
            for kind in (*KINDS, "turns")
            if (split, kind) in tallies
        }
        if with_misses:
            kinds = [kind for kind in KINDS if (split, kind) in tallies]
            out[split]["misses"] = [m for kind in kinds for m in tallies[split, kind].misses]
    return out


def counts(asked: Iterable[Asked]) -> dict[str, int]:
    questions = list(asked)
    return {
        "stories": len({a.article for a in questions}),
        "questions": sum(a.kind == "single" for a in questions),
        "unanswerable": sum(a.kind == "single" and a.gold is None for a in questions),
        "conversations": sum(a.kind == "first_turn" for a in questions),
        "turns": sum(a.kind != "single" for a in questions),
        "unanswerable_turns": sum(a.kind != "single" and a.gold is None for a in questions),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.news", description=__doc__)
    add_backend_option(parser)
    add_reader_option(parser)
    parser.add_argument("--split", choices=SPLITS, help="only this split's stories")
    parser.add_argument("--misses", action="store_true", help="list every question missed")
    parser.add_argument(
        "--plain-history",
        action="store_true",
        help="send a conversation's earlier questions alone, not where their answers were cited",
    )
    args = parser.parse_args(argv)
    stories, asked = load()
    if args.split:
        asked = [a for a in asked if a.split == args.split]
    with tempfile.TemporaryDirectory(prefix="bench-news-") as tmp:
        library = Library(Path(tmp), bench_encoder(args.backend), reader=bench_reader(args))
        tallies = run(library, stories, asked, args.plain_history)
    report = {
        "command": shlex.join(["python", "-m", "bench.news", *(argv or sys.argv[1:])]),
        "machine": machine(args.backend),
        "reader": None if args.no_reader else (args.reader.name if args.reader else "default"),
        "data": counts(asked),
        **summary(tallies, args.misses),
    }
    print(json.dumps(report, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
