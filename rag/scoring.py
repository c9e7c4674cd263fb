"""Stage 4: the learned decisions: rank the candidates, score the sentences, the
probability that the question is answered.

Each is a logistic regression over named features (rag.features), fitted offline by
`benchmarks/train_scoring.py` on the dev sets only (scikit-learn, cross-validated by
question) and shipped as data in `rag/weights.json`: per model its feature names, the
standardisation (mean, scale), the coefficients and intercept, and where they came from
(data sets, commit, the held-out figures). At run time a decision is one dot product.
A weights file whose models name a feature rag.features does not build, or lack one it
builds, is refused at load (a renamed feature never silently becomes 0); so is a row
that lacks a feature its model weighs.

    ranker     P(a candidate chunk holds the evidence)    -> the passages' order and score
    sentence   P(a sentence of the top passages answers)  -> the answer sentence
    abstain    P(the question is answerable)              -> the question abstains below the
               operating point of its kind (rag.answer, chosen on dev, cross-validated):
               `abstain_named` for one that names an outlet, `abstain_threshold` for the
               others, which also abstain when the rule kept beside the model says so

`rank` orders the candidates by the ranker; `top` takes the first k, folding overlapping
chunks of one article and copies; `score_sentences` gives each sentence its logit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from store import StoredChunk, StoredDocument, nearcopies

from . import features as F
from .types import Candidate, Sentence

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
        """One logit per row; a row lacking a feature of the model raises ValueError naming it."""
        if not rows:
            return np.zeros(0, dtype=np.float64)
        try:
            x = np.array([[float(r[f]) for f in self.features] for r in rows], dtype=np.float64)
        except KeyError as err:
            raise ValueError(f"the {self.name} model weighs feature {err.args[0]!r}, which a row lacks") from None
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
    abstain_threshold: float = 0.0  # any other question abstains below this probability


@lru_cache(maxsize=4)
def load(path: str | Path = WEIGHTS) -> Models:
    """The shipped models (read once per process)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return models_of(data)
    except (OSError, ValueError, KeyError) as err:
        raise RuntimeError(f"the scoring weights {path} cannot be read ({err}); reinstall corpus-qa "
                           f"or run benchmarks/train_scoring.py") from None


BUILT = {"ranker": F.RANKER, "sentence": F.SENTENCE, "abstain": F.ABSTAIN}  # what rag.features builds per model


def models_of(data: Mapping) -> Models:
    m = data["models"]
    models = {name: Model.from_dict(name, m[name]) for name in BUILT}
    for name, model in models.items():
        unknown = [f for f in model.features if f not in BUILT[name]]
        lacking = [f for f in BUILT[name] if f not in model.features]
        if unknown or lacking:
            raise ValueError(f"the {name} model " + "; ".join(
                ([f"weighs features rag.features does not build: {', '.join(unknown)}"] if unknown else [])
                + ([f"lacks features rag.features builds: {', '.join(lacking)}"] if lacking else [])))
    return Models(models["ranker"], models["sentence"], models["abstain"], float(data.get("low_relevance", 0.0)),
                  float(data.get("abstain_named", 0.0)), float(models["abstain"].threshold or 0.0))


def rank(candidates: Sequence[Candidate], ranker: Model) -> list[Candidate]:
    """The candidates by the ranker's logit, best first (ties by chunk id)."""
    logits = ranker.logits([c.features for c in candidates])
    scored = [replace(c, score=float(s)) for c, s in zip(candidates, logits)]
    return sorted(scored, key=lambda c: (-c.score, c.chunk.id))


def top(ranked: Sequence[Candidate], k: int, documents: Mapping[str, StoredDocument] | None = None) -> list[Candidate]:
    """The first k of a ranking, skipping a chunk that overlaps one already taken from its
    article by more than half, or whose text one taken already has (a copy), or that shares
    more than half of its word 5-grams with one taken from a near-copy of its article (the
    same story with small edits: `documents`, by id, say which articles are one).
    Folded chunks' articles are named by the passage kept (Passage.also_in)."""
    documents = documents or {}
    picked: list[Candidate] = []
    of_doc: dict[str, list[StoredChunk]] = {}
    of_group: dict[str, list[tuple[str, frozenset[str]]]] = {}  # group -> (doc id, 5-grams) of chunks taken
    texts: set[str] = set()
    for cand in ranked:
        chunk = cand.chunk
        if chunk.text in texts or any(_overlaps(chunk, o) for o in of_doc.get(chunk.doc_id, ())):
            continue
        doc = documents.get(chunk.doc_id)
        group = doc.group if doc is not None and doc.also_in else None
        grams = nearcopies.shingles("", chunk.text) if group else frozenset()
        if group and any(d != chunk.doc_id and nearcopies.containment(grams, g) > 0.5 for d, g in of_group.get(group, ())):
            continue
        picked.append(cand)
        of_doc.setdefault(chunk.doc_id, []).append(chunk)
        if group:
            of_group.setdefault(group, []).append((chunk.doc_id, grams))
        texts.add(chunk.text)
        if len(picked) == k:
            break
    return picked


def _overlaps(a: StoredChunk, b: StoredChunk) -> bool:
    """Whether two chunks of one document share more than half of the shorter one."""
    if a.doc_id != b.doc_id:
        return False
    shared = min(a.end, b.end) - max(a.start, b.start)
    return shared > 0.5 * min(a.end - a.start, b.end - b.start)


def score_sentences(sentences: Sequence[Sentence], model: Model) -> list[Sentence]:
    """The sentences with their logits under the sentence model."""
    logits = model.logits([s.features for s in sentences])
    return [replace(s, score=float(z)) for s, z in zip(sentences, logits)]
