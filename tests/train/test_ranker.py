"""The first stage's fit (train/ranker.py): a listwise ranker, calibrated as log-odds."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from index.features import FEATURES
from train.ranker import Example, fit


def examples(seed: int, questions: int = 300, sentences: int = 12) -> list[Example]:
    """Questions whose answer sentence has the highest ``late`` within the question, while
    ``late``'s level shifts from question to question far more than within one (as raw
    similarities do): only an order within each question tells the answer."""
    rng = np.random.default_rng(seed)
    out = []
    for n in range(questions):
        matrix = rng.normal(size=(sentences, len(FEATURES))).astype(np.float32)
        labels = np.zeros(sentences, dtype=np.bool_)
        answer = int(rng.integers(sentences))
        labels[answer] = True
        late = matrix[:, FEATURES.index("late")]
        late += rng.normal(scale=5.0)  # the question's level
        late[answer] = late.max() + 0.5
        answerable = n % 3 > 0  # the answerability model is fitted on the others
        if not answerable:
            labels[:] = False
        out.append(Example(f"a{n % 4}", f"q{n}", answerable, matrix, labels, ((0, 1),)))
    return out


def test_the_ranker_puts_the_answer_first_and_its_scores_are_log_odds() -> None:
    weights = fit(examples(0), {})
    held_out = [e for e in examples(1) if e.answerable]
    first = [e.labels[int(np.argmax(weights.ranker.score(e.matrix)))] for e in held_out]
    assert np.mean(first) > 0.9
    assert weights.ranker.coef[FEATURES.index("late")] > 0
    # Calibrated on every sentence: the mean probability is about the share of answers.
    z = np.concatenate([weights.ranker.score(e.matrix) for e in held_out])
    assert abs(float(np.mean(1 / (1 + np.exp(-z)))) - 1 / 12) < 0.03
    # A per-sentence logistic regression is misled by the levels (what the listwise fit fixed).
    trained = [e for e in examples(0) if e.answerable]
    pointwise = LogisticRegression(max_iter=5000).fit(
        np.vstack([e.matrix for e in trained]), np.concatenate([e.labels for e in trained])
    )
    first = [e.labels[int(np.argmax(pointwise.decision_function(e.matrix)))] for e in held_out]
    assert np.mean(first) < 0.9
