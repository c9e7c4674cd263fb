"""Fit the claim check's model (rag/claims.py) on claims-dev and write rag/claims.json.

    .venv/bin/python benchmarks/train_claims.py [--claims ../shared/qa/claims-dev.jsonl] [--out rag/claims.json]

Data: ../shared/qa/claims-dev.jsonl (format: ../shared/qa/README.md). Rows: each claim's
sentence against each of its two passages alone, labelled by whether that passage holds
it (the claim's own label for the passage it cites; the passage that holds it verbatim
for the other one, none for the other kinds). Only rows that pass the rules (numbers,
swapped names, negation) are fitted: the model decides only those at run time.

Fitting: scikit-learn's LogisticRegression on standardised features; the threshold is the
probability that maximises the rows' balanced accuracy on the training folds. Every
figure printed and stored is from 5-fold cross-validation grouped by question (all
claims of one question in one fold), scored per claim as the README scores it; the
shipped model is fitted on everything, its threshold chosen on the held-out
probabilities.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rag.claims import FEATURES, Checker, ClaimModel, model_of, split  # noqa: E402
from rag.scoring import Model  # noqa: E402

CLAIMS = REPO.parent / "shared" / "qa" / "claims-dev.jsonl"
QUESTIONS = REPO.parent / "shared" / "qa" / "bbc-dev.jsonl"  # a claim's `question` is one of its ids
SUPPORTED = ("verbatim", "moved", "restated")
FOLDS = 5


def read_claims(path: Path, questions: Path | None = QUESTIONS) -> list[dict]:
    """The claims, each with `question_text` when its question is found in `questions`
    (None otherwise: the check then runs without the question)."""
    claims = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    asked = {}
    if questions and questions.is_file():
        for line in questions.read_text(encoding="utf-8").splitlines():
            if line.strip():
                q = json.loads(line)
                asked[q["id"]] = q["question"]
    for c in claims:
        c["question_text"] = asked.get(c.get("question"))
    return claims


class CachedEncoder:
    """The embedding model (store.Embedder) with a memo: folds re-check the same
    sentences and passages. `cache`: an .npz that keeps the memo between runs."""

    def __init__(self, cache: Path | None = None):
        from store import SentenceTransformerEmbedder

        self.embedder = SentenceTransformerEmbedder()
        self.name = self.embedder.name
        self.cache = cache
        self.memo: dict[str, np.ndarray] = {}
        if cache and cache.is_file():
            with np.load(cache, allow_pickle=False) as saved:
                keys, vectors, counts = saved["keys"].tolist(), saved["vectors"], saved["counts"]
            at = 0
            for key, n in zip(keys, counts):
                self.memo[key] = vectors[at : at + n]
                at += n

    def save(self) -> None:
        if self.cache and self.memo:
            np.savez(self.cache, keys=np.array(list(self.memo)), counts=np.array([len(v) for v in self.memo.values()]),
                     vectors=np.concatenate(list(self.memo.values())))

    def encode(self, texts):
        new = [t for t in dict.fromkeys(texts) if "\0" + t not in self.memo]
        for t, v in zip(new, self.embedder.encode(new) if new else []):
            self.memo["\0" + t] = v[None, :]
        return np.concatenate([self.memo["\0" + t] for t in texts]) if texts else np.zeros((0, 384), np.float32)

    def encode_with_spans(self, texts, spans, progress=None):
        keys = [t + "\0" + json.dumps(list(map(list, s))) for t, s in zip(texts, spans)]
        new = [i for i, k in enumerate(keys) if k not in self.memo]
        if new:
            _, found = self.embedder.encode_with_spans([texts[i] for i in new], [spans[i] for i in new])
            for i, v in zip(new, found):
                self.memo[keys[i]] = v
        return None, [self.memo[k] for k in keys]


@dataclass
class Row:
    claim: int  # index into the claims
    group: str
    features: dict[str, float]
    label: bool
    ruled_out: bool  # a rule already says the passage does not hold it
    relevance: float  # the sentence's cosine to the question
    correct: bool | None  # for a sentence held verbatim by a passage it does not cite: should the marker move?


def rows_of(claims: list[dict], encode) -> list[Row]:
    rows = []
    for i, c in enumerate(claims):
        checker = Checker(c["passages"], encode, model=_dummy(), question=c["question_text"])
        sentence = split(c["text"])[0].text
        relevance = checker.relevance(sentence) if c["question_text"] else 1.0
        for n in range(1, len(c["passages"]) + 1):
            found, _ = checker.support(sentence, [n])
            moved = n != c["cite"] and _verbatim(sentence, c["passages"][n - 1])
            if n == c["cite"]:
                label = bool(c["supported"])
            else:
                label = c["kind"] == "miscite" or moved
            ruled = bool(found.missing_numbers or found.swapped_names or found.negation)
            correct = (c["kind"] == "miscite") if moved else None
            rows.append(Row(i, c["question"], found.features, label, ruled, relevance, correct))
    return rows


def _verbatim(sentence: str, passage: str) -> bool:
    squash = lambda s: " ".join(s.split()).rstrip(" .")  # noqa: E731
    return squash(sentence)[:-1] in " ".join(passage.split())


def _dummy() -> ClaimModel:
    zeros = np.zeros(len(FEATURES))
    return ClaimModel(Model("claims", FEATURES, zeros, np.ones(len(FEATURES)), zeros, 0.0), 0.5, 0.0)


def fit(rows: list[Row]) -> ClaimModel:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    use = [r for r in rows if not r.ruled_out]
    x = np.array([[r.features[f] for f in FEATURES] for r in use])
    y = np.array([r.label for r in use])
    scaler = StandardScaler().fit(x)
    lr = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000).fit(scaler.transform(x), y)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    model = Model("claims", FEATURES, scaler.mean_, scale, lr.coef_[0], float(lr.intercept_[0]))
    p = model.probabilities([r.features for r in use])
    moves = [r for r in rows if r.correct is not None]
    relevance = best_threshold(np.array([r.relevance for r in moves]), np.array([r.correct for r in moves]))
    return ClaimModel(model, best_threshold(p, y), relevance)


def best_threshold(p: np.ndarray, y: np.ndarray) -> float:
    """The probability that maximises balanced accuracy (ties: the highest, the stricter)."""
    best, at = -1.0, 0.5
    for t in np.unique(np.round(p, 4)):
        score = (np.mean(p[y] >= t) + np.mean(p[~y] < t)) / 2
        if score >= best:
            best, at = score, float(t)
    return round(at, 4)


def score(claims: list[dict], encode, models: dict[int, ClaimModel]) -> dict[str, dict]:
    """Per kind: how many claims the check keeps (supported ones) or catches (the others),
    each claim judged by models[its index]."""
    out: dict[str, Counter] = defaultdict(Counter)
    for i, c in enumerate(claims):
        verdicts = Checker(c["passages"], encode, models[i], question=c["question_text"]).check(c["text"])
        ok = bool(verdicts) and all(v.supported for v in verdicts)
        cited = {n for v in verdicts for n in v.cites}
        kind = c["kind"]
        if c["supported"]:
            good = ok and c["cite"] in cited
        elif kind == "miscite":
            good = not ok or c["cite"] not in cited
        else:
            good = not ok
        out[kind]["n"] += 1
        out[kind]["good"] += int(good)
    return {k: {"n": v["n"], "rate": round(v["good"] / v["n"], 4)} for k, v in sorted(out.items())}


def summary(per_kind: dict[str, dict]) -> dict[str, float]:
    kept = [per_kind[k] for k in per_kind if k in SUPPORTED]
    caught = [per_kind[k] for k in per_kind if k not in SUPPORTED]
    rate = lambda xs: round(sum(x["rate"] * x["n"] for x in xs) / max(sum(x["n"] for x in xs), 1), 4)  # noqa: E731
    return {"supported_kept": rate(kept), "unsupported_caught": rate(caught)}


def cross_validate(claims: list[dict], rows: list[Row], encode, folds: int = FOLDS):
    """Held-out models per claim (grouped by question) and the held-out probabilities."""
    from sklearn.model_selection import GroupKFold

    groups = np.array([r.group for r in rows])
    models: dict[int, ClaimModel] = {}
    held_p = np.zeros(len(rows))
    for train, test in GroupKFold(n_splits=folds).split(np.zeros(len(rows)), groups=groups):
        m = fit([rows[i] for i in train])
        scored = [i for i in test if not rows[i].ruled_out]  # the rules decide the others
        held_p[scored] = m.model.probabilities([rows[i].features for i in scored])
        for i in test:
            models[rows[i].claim] = m
    return models, held_p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--claims", type=Path, default=CLAIMS)
    ap.add_argument("--out", type=Path, default=REPO / "rag" / "claims.json")
    ap.add_argument("--questions", default=str(QUESTIONS),
                    help="the question set the claims' `question` ids come from ('none': check without questions)")
    ap.add_argument("--cache", type=Path, help="keep the sentence vectors in this .npz (the model's, reused)")
    args = ap.parse_args()
    if not args.claims.is_file():
        sys.exit(f"train_claims: no claim set at {args.claims}")
    claims = read_claims(args.claims, None if args.questions == "none" else Path(args.questions))
    encode = CachedEncoder(args.cache)
    started = time.monotonic()
    rows = rows_of(claims, encode)
    encode.save()
    print(f"{len(claims)} claims, {len(rows)} rows ({sum(r.ruled_out for r in rows)} ruled out by the rules), "
          f"features in {time.monotonic() - started:.0f} s")
    models, held_p = cross_validate(claims, rows, encode)
    per_kind = score(claims, encode, models)
    overall = summary(per_kind)
    for kind, v in per_kind.items():
        print(f"  {kind:15s} {'kept' if kind in SUPPORTED else 'caught'} {v['rate']:.3f}  (n={v['n']})")
    print(f"held out ({FOLDS}-fold, grouped by question): {overall}")
    final = fit(rows)
    use = [i for i, r in enumerate(rows) if not r.ruled_out]
    y = np.array([rows[i].label for i in use])
    threshold = best_threshold(held_p[use], y)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO).stdout.strip()
    data = {
        "trained_by": "benchmarks/train_claims.py", "commit": commit, "date": date.today().isoformat(),
        "data": str(args.claims.name), "claims": len(claims), "rows": len(use),
        "held_out": {"folds": FOLDS, "grouped_by": "question", "per_kind": per_kind, **overall},
        "relevance": final.relevance,
        "model": {**final.model.to_dict(), "threshold": threshold},
    }
    model_of(data)  # what rag.claims will read
    args.out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out} (threshold {threshold}, relevance {final.relevance}; coefficients "
          f"{dict(zip(FEATURES, np.round(final.model.coef, 3)))})")


if __name__ == "__main__":
    main()
