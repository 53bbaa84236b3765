"""The benchmarks' target check: the verdict printed beside the numbers."""

from __future__ import annotations

from bench import check_targets


def test_targets_are_checked_in_both_directions() -> None:
    result = {"p50": 7.5, "ingest": {"per_s": 380}}
    checked = check_targets(result, [("p50", "<=", 8), ("ingest.per_s", ">=", 400)])
    assert checked == [
        {"measure": "p50", "target": "<= 8", "measured": 7.5, "met": True},
        {"measure": "ingest.per_s", "target": ">= 400", "measured": 380, "met": False},
    ]


def test_a_target_on_the_limit_is_met() -> None:
    assert check_targets({"recall": 0.95}, [("recall", ">=", 0.95)])[0]["met"] is True
