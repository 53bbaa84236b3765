"""The encoder experiment's batches: every question once, no sentence twice in a batch (a repeated
positive would be a false in-batch negative)."""

from __future__ import annotations

from bench.train_encoder import batch_plan


def test_batches_hold_distinct_questions_and_positives_and_cover_every_row_once() -> None:
    rows = [(f"q{i}", f"s{i % 5}", None) for i in range(20)]  # 5 sentences answer 20 questions
    plan = batch_plan(rows, 4)
    assert sorted(i for batch in plan for i in batch) == list(range(20))
    for batch in plan:
        positives = [rows[i][1] for i in batch]
        assert len(set(positives)) == len(positives)
        assert len(batch) <= 4
