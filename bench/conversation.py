"""Conversation benchmark: follow-up questions with and without resolution (qa.followup).

Runs the dialogues in ``bench/conversations.json`` (about the bundled default article and the
SQuAD article Super_Bowl_50 from ``../shared/data``; those are skipped, and counted as skipped,
where the shared data is missing) through the real library, each turn asked four ways:

- ``baseline``: the question as typed, history ignored;
- ``resolved``: ``resolve(question, history)``, the earlier questions only;
- ``resolved_answers``: ``resolve(question, history, answer_of)``, where ``answer_of`` re-asks an
  earlier (resolved) question and returns the sentence cited first, as the library can;
- ``product``: ``Library.ask(question, history=...)`` with the earlier questions, as the API asks
  it: resolution with answers, the sentences after the previous answer favoured, four sentences
  read and the follow-up threshold (``index.retriever.Flow``).

A turn is a hit when the first cited sentence contains one of its gold substrings and the product
answered, or, for an off-topic turn ("declined"), when the product declined. Prints one JSON
object: for all dialogues, for those written while developing the rules ("dev") and for those
written afterwards and not tuned on ("heldout"): hit@1 per mode overall, on the hand-labelled
follow-up turns and on standalone turns, the turns a mode fixed or broke (standalone turns made
worse must stay empty), how well ``is_followup`` matches the labels, then every turn in detail.

    .venv/bin/python -m bench.conversation
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import add_backend_option, add_reader_option, bench_encoder, bench_reader, needs_shared
from index.library import Library
from qa.followup import Answered, is_followup, resolve
from qa.models import Answer
from train.squad import DEFAULT_DATA, V1_FILE, read_jsonl

CONVERSATIONS = Path(__file__).with_name("conversations.json")
MODES = ("baseline", "resolved", "resolved_answers", "product")


def squad_article(squad: Path, title: str) -> str:
    """One SQuAD article as the product would ingest it: paragraphs joined by blank lines."""
    for record in read_jsonl(squad):
        if record["title"] == title:
            return "\n\n".join(p["context"] for p in record["paragraphs"])
    raise SystemExit(f"{title!r} is not in {squad}")


def load_articles(
    library: Library, spec: dict[str, dict[str, Any]], squad: Path
) -> tuple[dict[str, str], dict[str, str]]:
    """Index every article the dialogues use: dialogue article name -> library id; and the
    articles skipped, with why (the SQuAD ones, where ``squad`` is missing)."""
    ids: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for name, source in spec.items():
        if source.get("default"):
            ids[name] = library.ensure_default().id
        elif (reason := needs_shared(squad)) is not None:
            skipped[name] = reason
        else:
            title = source["squad_title"]
            ids[name] = library.ingest(squad_article(squad, title), title=title).id
    return ids, skipped


def check_gold(library: Library, ids: dict[str, str], dialogues: list[dict[str, Any]]) -> None:
    """Every gold substring must occur in its article, or the benchmark measures nothing."""
    for dialogue in dialogues:
        text = library.get(ids[dialogue["article"]]).article.text
        for turn in dialogue["turns"]:
            if turn["gold"] != "declined":
                missing = [g for g in turn["gold"] if g not in text]
                if missing:
                    raise SystemExit(f"gold not in article {dialogue['article']}: {missing}")


def rate(hits: list[bool]) -> float | None:
    return round(sum(hits) / len(hits), 4) if hits else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backend_option(parser)
    add_reader_option(parser)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SQuAD data directory")
    args = parser.parse_args()
    data: dict[str, Any] = json.loads(CONVERSATIONS.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        library = Library(Path(tmp), bench_encoder(args.backend), reader=bench_reader(args))
        ids, skipped = load_articles(library, data["articles"], args.data / V1_FILE)
        dialogues = [d for d in data["dialogues"] if d["article"] in ids]
        check_gold(library, ids, dialogues)
        rows: list[dict[str, Any]] = []
        for number, dialogue in enumerate(dialogues):
            article_id = ids[dialogue["article"]]

            def answer_of(_: int, query: str, article_id: str = article_id) -> Answered | None:
                answer = library.ask(query, article_id)
                if not answer.answerable:
                    return None
                first = answer.citations[0]
                span = first.answer_span.text if first.answer_span else None
                return Answered(first.quote.text, span)

            history: list[str] = []
            for turn in dialogue["turns"]:
                question: str = turn["question"]
                queries: dict[str, str] = {
                    "baseline": question,
                    "resolved": resolve(question, history),
                    "resolved_answers": resolve(question, history, answer_of),
                }
                row: dict[str, Any] = {
                    "dialogue": number,
                    "split": dialogue.get("split", "dev"),
                    "article": dialogue["article"],
                    "question": question,
                    "followup": bool(turn["followup"]),
                    "detected": bool(history) and is_followup(question),
                }
                for mode, query in queries.items():
                    answer = library.ask(query, article_id)
                    row[mode] = judge(answer, turn["gold"]) | {"query": query}
                answer = library.ask(question, article_id, history=history)
                row["product"] = judge(answer, turn["gold"])
                rows.append(row)
                history.append(question)
    result = summary(rows)
    if skipped:
        left = len(data["dialogues"]) - len(dialogues)
        result["skipped"] = {"dialogues": left, "articles": skipped}
    print(json.dumps(result, indent=1, ensure_ascii=False))


def judge(answer: Answer, gold: list[str] | str) -> dict[str, Any]:
    quote = answer.citations[0].quote.text if answer.citations else ""
    hit = (
        not answer.answerable
        if gold == "declined"
        else answer.answerable and any(g in quote for g in gold)
    )
    return {"hit": bool(hit), "answerable": answer.answerable, "cited": quote[:90]}


def section(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """hit@1 per mode over some turns, and which turns resolution changed."""
    followups = [r for r in rows if r["followup"]]
    standalone = [r for r in rows if not r["followup"]]

    def hit_rate(subset: list[dict[str, Any]], mode: str) -> float | None:
        return rate([r[mode]["hit"] for r in subset])

    def changed(mode: str, followup: bool, was: bool) -> list[str]:
        return [
            r["question"]
            for r in rows
            if r["followup"] == followup and r["baseline"]["hit"] == was and r[mode]["hit"] != was
        ]

    return {
        "dialogues": len({r["dialogue"] for r in rows}),
        "turns": len(rows),
        "followup_turns": len(followups),
        "detection": {
            "labelled_followups_detected": sum(r["detected"] for r in followups),
            "standalone_detected_as_followup": [r["question"] for r in standalone if r["detected"]],
        },
        "hit@1": {
            mode: {
                "all": hit_rate(rows, mode),
                "followup": hit_rate(followups, mode),
                "standalone": hit_rate(standalone, mode),
            }
            for mode in MODES
        },
        "standalone_worse": {mode: changed(mode, False, True) for mode in MODES[1:]},
        "followup_fixed": {mode: changed(mode, True, False) for mode in MODES[1:]},
        "followup_broken": {mode: changed(mode, True, True) for mode in MODES[1:]},
    }


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """All turns, then the dialogues written while developing ("dev") and the ones written and
    run once afterwards, without changing the rules ("heldout")."""
    return {
        "command": shlex.join(["python", "-m", "bench.conversation", *sys.argv[1:]]),
        "all": section(rows),
        **{
            split: section([r for r in rows if r["split"] == split]) for split in ("dev", "heldout")
        },
        "turns_detail": rows,
    }


if __name__ == "__main__":
    main()
