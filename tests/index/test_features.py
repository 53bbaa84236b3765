"""Feature rows: shapes, normalisation within a question, and answer-type evidence."""

from __future__ import annotations

import numpy as np

from index.features import (
    CONFIDENCE_FEATURES,
    FEATURES,
    SentenceFacts,
    confidence_features,
    question_features,
)

SENTENCES = [
    "The bridge opened in 1932 after years of work.",
    "Engineers praised its steel arch.",
    "Anna Ruiz led the design team.",
    "It carries trains because the old ferry was slow.",
]
BLOCKS = [0, 0, 1, 1]
FACTS = SentenceFacts.of(SENTENCES, BLOCKS, [" ".join(SENTENCES[:2]), " ".join(SENTENCES[2:])])


def row(question: str, dense: list[float] | None = None) -> dict[str, np.ndarray]:
    scores = np.array(dense or [0.5, 0.4, 0.3, 0.2], dtype=np.float32)
    lexical = np.zeros(len(SENTENCES), dtype=np.float32)
    matrix = question_features(question, scores, scores, lexical, FACTS)
    assert matrix.shape == (len(SENTENCES), len(FEATURES))
    return {name: matrix[:, i] for i, name in enumerate(FEATURES)}


def test_scores_are_normalised_within_the_question() -> None:
    f = row("When did the bridge open?")
    assert np.allclose(f["dense_mm"], [1.0, 2 / 3, 1 / 3, 0.0])
    assert f["dense_top"].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert np.isclose(f["dense_z"].mean(), 0.0, atol=1e-5)


def test_answer_types_match_the_question() -> None:
    assert row("When did the bridge open?")["wants_date_has"].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert row("Who led the design?")["wants_name_has"].tolist() == [0.0, 0.0, 1.0, 0.0]
    assert row("Why does it carry trains?")["wants_cause_has"].tolist() == [0.0, 0.0, 0.0, 1.0]
    assert not row("What is the arch made of?")["wants_date_has"].any()


def test_neighbours_stay_within_a_block() -> None:
    f = row("bridge", dense=[1.0, 0.0, 0.0, 0.0])
    assert f["neighbour_dense_mm"].tolist() == [0.0, 1.0, 0.0, 0.0]


def test_overlap_counts_stemmed_question_words() -> None:
    f = row("Engineers praising the arch?")
    assert f["overlap"][1] == 1.0
    assert f["overlap"][2] == 0.0


def test_confidence_row() -> None:
    dense = np.array([0.9, 0.1, 0.2, 0.3], np.float32)
    late = np.array([0.5, 0.7, 0.2, 0.3], np.float32)
    matrix = question_features("bridge", dense, late, np.zeros(4, np.float32), FACTS)
    out = confidence_features(np.array([3.0, 1.0, 0.5, 0.0]), matrix)
    values = dict(zip(CONFIDENCE_FEATURES, out.tolist(), strict=True))
    assert values["top_score"] == 3.0 and values["score_gap"] == 2.0
    assert np.isclose(values["top_dense"], 0.9) and np.isclose(values["max_dense"], 0.9)
    assert np.isclose(values["max_late"], 0.7)
