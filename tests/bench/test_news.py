"""The news yardstick: its data holds what the issue asks of it, every gold is in its story, and
the tally scores what a reader would call right."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bench.news import TOP_K, Asked, Tally, counts, load, run, split_of, turn_of
from index.encoder import HashingEncoder
from index.library import Library
from index.ranker import RankerWeights
from qa.models import Answer, Citation, Span, Turn

STORIES, ASKED = load()


def test_the_set_is_as_large_as_the_issue_asks() -> None:
    seen = counts(ASKED)
    assert seen["stories"] >= 30
    assert seen["questions"] + seen["turns"] >= 500
    unanswerable = sum(a.gold is None for a in ASKED)
    assert unanswerable >= len(ASKED) / 4
    assert seen["unanswerable"] >= seen["questions"] / 4
    assert seen["conversations"] >= 25
    sizes = Counter(a.article for a in ASKED if a.kind != "single")
    assert all(3 <= n <= 6 for n in sizes.values())


def test_every_gold_is_in_its_story_and_every_answer_in_its_gold() -> None:
    for asked in ASKED:
        text = STORIES[asked.article]["text"]
        if asked.gold is None:
            assert asked.answers == ()
            continue
        assert asked.gold in text and "\n\n" not in asked.gold, asked
        assert asked.answers and all(a in asked.gold for a in asked.answers), asked


def test_conversations_carry_their_earlier_questions() -> None:
    for asked in ASKED:
        assert (asked.kind == "followup") == bool(asked.history), asked


def test_every_third_story_is_held_out() -> None:
    assert [split_of(f"wn-{n:03d}") for n in (1, 2, 3, 33)] == [
        "dev",
        "dev",
        "held-out",
        "held-out",
    ]
    held = {a.article for a in ASKED if a.split == "held-out"}
    assert held and len(held) <= len({a.article for a in ASKED}) / 3 + 1


def _answer(answerable: bool, *quotes: tuple[int, int], span: Span | None = None) -> Answer:
    citations = tuple(
        Citation(n, Span(a, b, ""), Span(a, b, ""), 1.0, span if n == 1 else None)
        for n, (a, b) in enumerate(quotes, 1)
    )
    return Answer(answerable, "", 0.5, citations)


def test_the_tally_counts_a_hit_only_when_answered_from_the_gold_sentence() -> None:
    text = "Rain fell. The bridge opened in 1901. It was old."
    asked = Asked("wn-001", "single", "When did it open?", "The bridge opened in 1901.", ("1901",))
    tally = Tally()
    tally.add(asked, _answer(True, (11, 37), span=Span(32, 36, "1901")), text)
    tally.add(asked, _answer(False, (11, 37)), text)  # right sentence, declined
    tally.add(asked, _answer(True, (0, 10), (11, 37)), text)  # cited second
    unanswerable = Asked("wn-001", "single", "Who built it?", None, ())
    tally.add(unanswerable, _answer(False, (0, 10)), text)
    report = tally.report()
    assert report["hit@1"] == round(1 / 3, 4)
    assert report["mrr@5"] == round((1 + 1 + 0.5) / 3, 4)
    assert report["answered"] == round(2 / 3, 4)
    assert report["declined"] == 1.0
    assert report["answer_em"] == round(1 / 3, 4)
    assert [m["why"] for m in tally.misses] == ["declined", "another sentence cited first"]


def test_a_run_tallies_every_kind_and_split(tmp_path: Path) -> None:
    chosen = [a for a in ASKED if a.article in ("wn-002", "wn-003")]
    library = Library(tmp_path, HashingEncoder(), RankerWeights.blend())
    tallies = run(library, STORIES, chosen)
    for split in ("dev", "held-out", "all"):
        for kind in ("single", "first_turn", "followup", "turns"):
            assert (split, kind) in tallies
    total = tallies["all", "single"]
    assert total.answerable + total.unanswerable == sum(a.kind == "single" for a in chosen)
    assert TOP_K == 5


@pytest.mark.parametrize("kind", ["single", "turns"])
def test_held_out_and_dev_add_up_to_all(tmp_path: Path, kind: str) -> None:
    chosen = [a for a in ASKED if a.article in ("wn-001", "wn-003")]
    tallies = run(Library(tmp_path, HashingEncoder(), RankerWeights.blend()), STORIES, chosen)
    parts = [tallies[split, kind] for split in ("dev", "held-out")]
    assert tallies["all", kind].hits == sum(p.hits for p in parts)
    assert tallies["all", kind].answerable == sum(p.answerable for p in parts)


def test_a_turn_keeps_where_its_answer_was_cited_as_the_widget_does() -> None:
    answered = _answer(True, (11, 37), (0, 10), span=Span(32, 36, "1901"))
    assert turn_of("When?", answered) == Turn("When?", (11, 37), "1901")
    assert turn_of("Who?", _answer(True, (11, 37))) == Turn("Who?", (11, 37), None)
    assert turn_of("Why?", _answer(False, (11, 37))) == Turn("Why?")  # declined: nothing cited


def test_conversations_go_with_the_products_earlier_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = [a for a in ASKED if a.article == "wn-002" and a.kind != "single"]
    library = Library(tmp_path, HashingEncoder(), RankerWeights.blend())
    histories: list[list[str | Turn]] = []
    ask = library.ask

    def recorded(question: str, article_id: str, top_k: int, history: list[str | Turn]) -> Answer:
        histories.append(list(history))
        return ask(question, article_id, top_k, history)

    monkeypatch.setattr(library, "ask", recorded)
    run(library, STORIES, chosen)
    assert [len(h) for h in histories] == list(range(len(chosen)))
    last = histories[-1]
    assert all(isinstance(turn, Turn) for h in histories for turn in h)
    assert [turn.question for turn in last if isinstance(turn, Turn)] == [
        a.question for a in chosen[:-1]
    ]
    histories.clear()
    run(library, STORIES, chosen, plain=True)
    assert histories[-1] == [a.question for a in chosen[:-1]]
