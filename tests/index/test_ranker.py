"""The weights file: round trip, validation, and that the shipped file matches the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from index.features import CONFIDENCE_FEATURES, FEATURES
from index.ranker import DEFAULT_WEIGHTS, LinearModel, RankerWeights
from qa.errors import IndexMismatchError


def weights(threshold: float = 0.4) -> RankerWeights:
    n, m = len(FEATURES), len(CONFIDENCE_FEATURES)
    rng = np.random.default_rng(7)
    return RankerWeights(
        ranker=LinearModel(
            FEATURES, rng.normal(size=n), rng.uniform(1, 2, n), rng.normal(size=n), 0.3
        ),
        confidence=LinearModel(CONFIDENCE_FEATURES, np.zeros(m), np.ones(m), np.ones(m), -1.0),
        threshold=threshold,
        provenance={"test": True},
    )


def test_round_trip_scores_identically(tmp_path: Path) -> None:
    original = weights()
    original.save(tmp_path / "w.json")
    loaded = RankerWeights.load(tmp_path / "w.json")
    matrix = np.random.default_rng(1).normal(size=(5, len(FEATURES))).astype(np.float32)
    assert np.allclose(loaded.ranker.score(matrix), original.ranker.score(matrix))
    assert loaded.threshold == 0.4
    assert loaded.provenance == {"test": True}


def test_linear_model_standardises_before_weighing() -> None:
    model = LinearModel(
        ("a", "b"), np.array([1.0, 0.0]), np.array([2.0, 1.0]), np.array([1.0, -1.0]), 0.5
    )
    assert model.score(np.array([[3.0, 1.0]], dtype=np.float32)).tolist() == [0.5]


def test_probability_is_a_logistic_of_the_confidence_score() -> None:
    w = weights()
    row = np.zeros(len(CONFIDENCE_FEATURES), dtype=np.float32)
    assert w.probability(row) == pytest.approx(1 / (1 + np.exp(1.0)))
    assert w.probability(row + 1000) == pytest.approx(1.0)


def test_features_that_do_not_match_the_code_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    weights().save(path)
    data = json.loads(path.read_text())
    data["ranker"]["weights"]["made_up"] = {"coef": 1, "mean": 0, "scale": 1}
    path.write_text(json.dumps(data))
    with pytest.raises(IndexMismatchError, match=re.escape("python -m train.ranker")):
        RankerWeights.load(path)


@pytest.mark.parametrize("content", ["", "{", '{"format_version": 99}', "[]"])
def test_unreadable_files_name_the_fix(tmp_path: Path, content: str) -> None:
    path = tmp_path / "w.json"
    path.write_text(content)
    with pytest.raises(IndexMismatchError, match="regenerate them"):
        RankerWeights.load(path)


def test_shipped_weights_load_and_rank_by_evidence() -> None:
    shipped = RankerWeights.load(DEFAULT_WEIGHTS)
    assert 0.0 < shipped.threshold < 1.0
    assert shipped.provenance["articles"] == 24
    coef = dict(zip(shipped.ranker.features, shipped.ranker.coef, strict=True))
    # More keyword and semantic evidence must raise a sentence's score, not lower it.
    assert coef["bm25_mm"] > 0 and coef["dense_mm"] > 0
