"""The learned ranker and confidence model: linear models stored as a small, readable JSON file.

``index/data/ranker.json`` is written by ``python -m train.ranker`` (fitted on the shared
SQuAD data: the ranker listwise and calibrated as log-odds, the confidence model by logistic
regression; ``bench.quality`` cross-validates both by article) and read once at start-up. It
is checked on load: a file trained on other features than the code computes is refused with the
command that regenerates it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from index.features import CONFIDENCE_FEATURES, FEATURES
from qa.errors import IndexMismatchError

FORMAT_VERSION = 1
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "data" / "ranker.json"
RETRAIN = "python -m train.ranker"


@dataclass(frozen=True, slots=True)
class LinearModel:
    """``(x - mean) / scale . coef + intercept``: a standardised logistic-regression score."""

    features: tuple[str, ...]
    mean: npt.NDArray[np.float64]
    scale: npt.NDArray[np.float64]
    coef: npt.NDArray[np.float64]
    intercept: float

    def score(self, matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Raw scores (log-odds) for rows of ``matrix`` (columns in ``features`` order)."""
        return ((matrix - self.mean) / self.scale) @ self.coef + self.intercept

    def to_json(self) -> dict[str, Any]:
        return {
            "intercept": self.intercept,
            "weights": {
                name: {"coef": float(c), "mean": float(m), "scale": float(s)}
                for name, c, m, s in zip(
                    self.features, self.coef, self.mean, self.scale, strict=True
                )
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], expected: tuple[str, ...]) -> LinearModel:
        weights = data["weights"]
        if tuple(weights) != expected:
            raise IndexMismatchError(
                f"ranker weights are for features {sorted(weights)}, the code computes "
                f"{sorted(expected)}; regenerate them with `{RETRAIN}`"
            )
        column = [weights[name] for name in expected]
        return cls(
            features=expected,
            mean=np.array([w["mean"] for w in column], dtype=np.float64),
            scale=np.array([w["scale"] for w in column], dtype=np.float64),
            coef=np.array([w["coef"] for w in column], dtype=np.float64),
            intercept=float(data["intercept"]),
        )


@dataclass(frozen=True, slots=True)
class RankerWeights:
    """Sentence ranker, answerability model and the threshold chosen with them."""

    ranker: LinearModel
    confidence: LinearModel
    threshold: float
    provenance: dict[str, Any]

    @classmethod
    def blend(cls) -> RankerWeights:
        """Untrained weights: a 50/50 blend of normalised dense and BM25 scores (txtai's hybrid),
        answerable when the best cosine is above 0.3. What ingest needs before training, and a
        model-independent baseline for tests."""
        n, m = len(FEATURES), len(CONFIDENCE_FEATURES)
        ranker = np.zeros(n)
        ranker[[FEATURES.index("dense_mm"), FEATURES.index("bm25_mm")]] = 1.0
        confidence = np.zeros(m)
        confidence[CONFIDENCE_FEATURES.index("max_dense")] = 10.0
        return cls(
            ranker=LinearModel(FEATURES, np.zeros(n), np.ones(n), ranker, 0.0),
            confidence=LinearModel(CONFIDENCE_FEATURES, np.zeros(m), np.ones(m), confidence, -3.0),
            threshold=0.5,
            provenance={"untrained": "50/50 blend of normalised dense and BM25 scores"},
        )

    def probability(self, row: npt.NDArray[np.float32]) -> float:
        """Calibrated probability that the article answers the question."""
        z = float(self.confidence.score(row[None, :])[0])
        return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))

    def save(self, path: Path) -> None:
        data = {
            "format_version": FORMAT_VERSION,
            "threshold": self.threshold,
            "provenance": self.provenance,
            "ranker": self.ranker.to_json(),
            "confidence": self.confidence.to_json(),
        }
        path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path = DEFAULT_WEIGHTS) -> RankerWeights:
        """Read and check a weights file; errors name the command that regenerates it."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
                raise ValueError("not a weights file of format version 1")
            return cls(
                ranker=LinearModel.from_json(data["ranker"], FEATURES),
                confidence=LinearModel.from_json(data["confidence"], CONFIDENCE_FEATURES),
                threshold=float(data["threshold"]),
                provenance=dict(data.get("provenance", {})),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexMismatchError(
                f"ranker weights {path} are unreadable ({exc}); regenerate them with `{RETRAIN}`"
            ) from exc
