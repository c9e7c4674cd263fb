"""The learned decisions: rank the candidates, choose the answer sentence, abstain or not.

Each is a logistic regression over named features (rag.features), fitted offline by
`benchmarks/train_scoring.py` on the dev sets only (scikit-learn, cross-validated by
question) and shipped as data in `rag/weights.json`: per model its feature names, the
standardisation (mean, scale), the coefficients and intercept, and where they came from
(data sets, commit, the held-out figures). At run time a decision is one dot product.

    ranker     P(a candidate chunk holds the evidence)    -> the passages' order and score
    sentence   P(a sentence of the top passages answers)  -> the answer sentence
    abstain    P(the question is answerable)              -> a question that names an outlet
               abstains below `abstain_named` (chosen on dev: at most 3 % of such answerable
               questions fall below it); one that names none keeps the hand-set rule
               (rag.answer), which abstained better on bbc-dev at every threshold
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

WEIGHTS = Path(__file__).with_name("weights.json")


@dataclass(frozen=True)
class Model:
    name: str
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float | None = None  # a probability: the operating point of a decision

    def logits(self, rows: Sequence[Mapping[str, float]]) -> np.ndarray:
        """One logit per row; a feature a row lacks counts as 0."""
        if not rows:
            return np.zeros(0, dtype=np.float64)
        x = np.array([[float(r.get(f, 0.0)) for f in self.features] for r in rows], dtype=np.float64)
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def probabilities(self, rows: Sequence[Mapping[str, float]]) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logits(rows)))

    @classmethod
    def from_dict(cls, name: str, d: Mapping) -> Model:
        features = tuple(d["features"])
        arrays = [np.asarray(d[k], dtype=np.float64) for k in ("mean", "scale", "coef")]
        if any(a.shape != (len(features),) for a in arrays):
            raise ValueError(f"model {name!r}: mean, scale and coef must each have {len(features)} values")
        return cls(name, features, *arrays, float(d["intercept"]), d.get("threshold"))

    def to_dict(self) -> dict:
        return {"features": list(self.features), "mean": self.mean.round(6).tolist(),
                "scale": self.scale.round(6).tolist(), "coef": self.coef.round(6).tolist(),
                "intercept": round(self.intercept, 6), "threshold": self.threshold}


@dataclass(frozen=True)
class Models:
    ranker: Model
    sentence: Model
    abstain: Model
    low_relevance: float  # a passage whose ranker probability is below this is marked low relevance
    abstain_named: float = 0.0  # a question that names an outlet abstains below this probability


@lru_cache(maxsize=4)
def load(path: str | Path = WEIGHTS) -> Models:
    """The shipped models (read once per process)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return models_of(data)
    except (OSError, ValueError, KeyError) as err:
        raise RuntimeError(f"the scoring weights {path} cannot be read ({err}); reinstall corpus-qa "
                           f"or run benchmarks/train_scoring.py") from None


def models_of(data: Mapping) -> Models:
    m = data["models"]
    return Models(Model.from_dict("ranker", m["ranker"]), Model.from_dict("sentence", m["sentence"]),
                  Model.from_dict("abstain", m["abstain"]), float(data.get("low_relevance", 0.0)),
                  float(data.get("abstain_named", 0.0)))
