"""Fit the three learned decisions (rag/scoring.py) on the dev sets and write rag/weights.json.

    .venv/bin/python benchmarks/train_scoring.py [--indexes DIR] [--sets ...] [--out rag/weights.json]

Data: the dev sets only (benchmarks/sets.py: dev, followups-dev, bbc-dev,
followups-bbc-dev, multihop-dev, scifact-train, bbc-outside-dev, and the made unanswerable
questions of bbc-made, which only the abstention model learns from), each
question's candidates with their features taken from QA.trace, the path `ask` takes (conversations turn by turn, each
turn after the earlier Answers of the shipped models). Labels: a candidate holds the evidence (the
scoring rule of its set); a sentence holds an expected answer and comes from a right
document; a question is answerable.

Fitting: scikit-learn's LogisticRegression on standardised features, each question
weighing the same (SciFact, another domain, half). Every figure printed is from 5-fold
cross-validation grouped by question (conversation for follow-ups), never the training
fit. The sentence model sees the ranker's held-out logits, the abstention model the
held-out logits of both. The abstention thresholds are held-out probabilities, on every dev
set with 20 answerable questions of the kind or more: for questions that name an outlet, the
one below which 2 % of such answerable questions of every kind fall; for the others, which also abstain
when the rule kept beside the model says so (rag.answer.weak), the one below which the model
adds at most 2 % of answerable questions to the rule's. A made question is held out with the
dev question it was made from (benchmarks/sets.py group_of). The final models are fitted on everything.
"""

from __future__ import annotations

import argparse
import json
import pickle
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(1, str(Path(__file__).resolve().parent))
import sets as S  # noqa: E402

from rag.answer import weak  # noqa: E402  (the rule beside the abstention model)
from rag.features import ABSTAIN, RANKER, SENTENCE  # noqa: E402  (the names the models weigh: one place)

MAX_ABSTAIN = 0.02  # at most this share of answerable dev questions naming an outlet may abstain, of every kind
MAX_ADDED = 0.02  # the model adds at most this share of answerable dev questions to the rule's abstentions
# each set's questions weigh this much (so no set's style decides for the others: ~200 questions' worth each)
SET_WEIGHT = {"scifact-train": 0.25, "multihop-dev": 0.35}
# the sentence model: the conversations (a third of the questions with a labelled sentence) weigh as much as bbc-dev
SENTENCE_WEIGHT = {"followups-bbc-dev": 2.5, "followups-dev": 2.5}
LGBM = False  # --lgbm: LambdaMART instead of Pairwise (compared, not shipped)
PAIRWISE = True  # the ranker and the sentence model learn the order within a question (Pairwise)


def collect(qa, items: list[S.Item]) -> list[dict]:
    """Per question: its trace (the analysed question, what was found, every candidate
    with its features) and the candidates' labels."""
    from rag import Passage

    out, history, conversation = [], [], None
    for item in items:
        if item.conversation != conversation:
            history, conversation = [], item.conversation
        trace = qa.trace(item.question, k=10, history=history)
        as_passages = [Passage(1, c.chunk.source, c.chunk.title, c.chunk.text, 0, 0, 0.0, None, False)
                       for c in trace.candidates]
        labels = [bool(S.hits(item, [p])) for p in as_passages]
        out.append({"item": item, "trace": trace, "labels": labels, "group": S.group_of(item)})
        if item.conversation is not None:
            history.append(trace.answer)
    return out


def as_model(name: str, features, scaler, model, threshold=None):
    from rag.scoring import Model

    if isinstance(model, Lambdarank):  # not shippable as a dot product: scored here only
        return _Scored(name, tuple(features), scaler, model, threshold)

    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    return Model(name, tuple(features), scaler.mean_, scale, model.coef_[0], float(model.intercept_[0]), threshold)


class Pairwise:
    """A linear ranker fitted on pairs: for each question, (an evidence row - another row)
    is a positive example and its negation a negative one (RankSVM's transform, fitted by
    LogisticRegression without intercept), so only the order within a question is learned;
    then one logistic regression on its score calibrates it into a probability. Exposes
    coef_, intercept_ and decision_function like the pointwise model."""

    def __init__(self, c: float = 1.0, negatives: int = 30, seed: int = 0):
        self.c, self.negatives, self.seed = c, negatives, seed

    def fit(self, x, y, groups, w):
        from sklearn.linear_model import LogisticRegression

        rng = np.random.default_rng(self.seed)
        diffs, weights = [], []
        for g in np.unique(groups):
            rows = np.flatnonzero(groups == g)
            pos, neg = rows[y[rows]], rows[~y[rows]]
            if not len(pos) or not len(neg):
                continue
            for p in pos:
                pick = neg if len(neg) <= self.negatives else rng.choice(neg, self.negatives, replace=False)
                diffs.append(x[p] - x[pick])
                weights.append(np.full(len(pick), 1.0 / (len(pos) * len(pick)) * w[p] * len(rows)))
        d, dw = np.vstack(diffs), np.concatenate(weights)
        pair = LogisticRegression(C=self.c, fit_intercept=False, max_iter=2000).fit(
            np.vstack([d, -d]), np.r_[np.ones(len(d)), np.zeros(len(d))], sample_weight=np.r_[dw, dw])
        raw = x @ pair.coef_[0]
        calibrate = LogisticRegression(max_iter=1000).fit(raw[:, None], y, sample_weight=w)
        a, b = calibrate.coef_[0][0], calibrate.intercept_[0]
        self.coef_, self.intercept_ = (pair.coef_[0] * a)[None, :], np.array([b])
        return self

    def decision_function(self, x):
        return x @ self.coef_[0] + self.intercept_[0]


class _Scored:
    def __init__(self, name, features, scaler, model, threshold):
        self.name, self.features, self.scaler, self.model, self.threshold = name, features, scaler, model, threshold

    def logits(self, rows):
        return self.model.decision_function(self.scaler.transform(matrix(rows, self.features)))


class Lambdarank:
    """LightGBM's LambdaMART over the same features (--lgbm): trees, so interactions count;
    calibrated into probabilities like Pairwise. Only for comparison here."""

    def fit(self, x, y, groups, w):
        import lightgbm
        from sklearn.linear_model import LogisticRegression

        order = np.argsort(groups, kind="stable")
        _, sizes = np.unique(groups[order], return_counts=True)
        self.model = lightgbm.LGBMRanker(n_estimators=300, num_leaves=15, learning_rate=0.05, min_child_samples=20,
                                         subsample=0.8, subsample_freq=1, colsample_bytree=0.8, verbose=-1)
        self.model.fit(x[order], y[order].astype(int), group=sizes)
        raw = self.model.predict(x)
        self.calibrate = LogisticRegression(max_iter=1000).fit(raw[:, None], y, sample_weight=w)
        return self

    def decision_function(self, x):
        return self.calibrate.decision_function(self.model.predict(x)[:, None])


def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, c: float = 1.0, groups=None):
    """Standardise, then a pointwise logistic regression, or (with `groups`) a pairwise
    ranker calibrated into probabilities (Pairwise)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    z = scaler.transform(x)
    if groups is not None:
        return scaler, (Lambdarank() if LGBM else Pairwise(c)).fit(z, y, np.asarray(groups), w)
    return scaler, LogisticRegression(C=c, max_iter=2000).fit(z, y, sample_weight=w)


def out_of_fold(x, y, w, groups, folds: int = 5, pairwise: bool = False) -> np.ndarray:
    """Held-out logits: each row scored by a model fitted on the other folds' questions."""
    from sklearn.model_selection import GroupKFold

    logits = np.zeros(len(y))
    for train, test in GroupKFold(n_splits=folds).split(x, y, groups):
        scaler, model = fit(x[train], y[train], w[train], groups=groups[train] if pairwise else None)
        logits[test] = model.decision_function(scaler.transform(x[test]))
    return logits


def rrf(f: dict) -> float:
    """Plain reciprocal rank fusion (k = 60) of the two rankings (dense, keyword), from the 1 / (1 + rank) features."""
    return sum(1 / (60 + 1 / f[k]) for k in ("rr_dense", "rr_keyword") if f[k] > 0)


def matrix(rows: list[dict], features) -> np.ndarray:
    return np.array([[r.get(f, 0.0) for f in features] for r in rows], dtype=np.float64)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    S.add_options(p, training=True)
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "rag" / "weights.json")
    p.add_argument("--cache", type=Path, help="keep each set's gathered candidates here and reuse them "
                                              "(only while rag/ is unchanged)")
    p.add_argument("--dump", type=Path, help="write the abstention model's held-out probabilities here (.npz)")
    p.add_argument("--pointwise", action="store_true", help="pointwise logistic regressions instead of Pairwise")
    p.add_argument("--lgbm", action="store_true", help="LightGBM LambdaMART instead of Pairwise (held-out figures only)")
    args = S.parse(p)
    global PAIRWISE, LGBM
    PAIRWISE, LGBM = not args.pointwise, args.lgbm
    names = args.names

    from rag import Settings
    from rag import features as F
    from rag.evaluate import _same_doc
    from rag.scoring import Models, top
    from store import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    qa_settings = Settings()  # what QA.trace used: its candidates per search, its answer passages
    questions: list[dict] = []
    for name in names:
        started = time.monotonic()
        qa = S.open_index(S.SETS[name][0], args.indexes, embedder)
        cache = args.cache / f"{name}.pickle" if args.cache else None
        if cache and cache.exists():
            got = pickle.loads(cache.read_bytes())
        else:
            got = collect(qa, S.items(name))
            if cache:
                cache.parent.mkdir(parents=True, exist_ok=True)
                cache.write_bytes(pickle.dumps(got))
        _, published, documents = qa._catalogue()
        dated = min(1.0, len(published) / documents) if documents else 0.0
        for q in got:
            q["qa"] = qa
            if q["trace"] and "dated" not in vars(q["trace"].question):  # a cache from before Question.dated
                q["trace"] = replace(q["trace"], question=replace(q["trace"].question, dated=dated))
        questions += got
        print(f"# {name}: {len(got)} questions gathered in {time.monotonic() - started:.0f} s", file=sys.stderr)

    # 1. the ranker: a candidate holds the evidence
    rows, y, w, g, owner = [], [], [], [], []
    for qi, q in enumerate(questions):
        if not q["trace"] or not q["item"].answerable or not any(q["labels"]):
            continue
        weight = SET_WEIGHT.get(q["item"].set, 1.0) / len(q["labels"])
        for c, label in zip(q["trace"].candidates, q["labels"]):
            rows.append(c.features), y.append(label), w.append(weight), g.append(q["group"]), owner.append(qi)
    x, y, w = matrix(rows, RANKER), np.array(y), np.array(w)
    g = np.array(g)
    oof = out_of_fold(x, y, w, g, pairwise=PAIRWISE)
    scaler, model = fit(x, y, w, groups=g if PAIRWISE else None)
    ranker = as_model("ranker", RANKER, scaler, model)
    positives = np.sort(1 / (1 + np.exp(-oof[y])))
    low_relevance = float(positives[int(0.05 * len(positives))])  # 95 % of evidence passages score above
    held_out: dict = {}
    rows_of: dict[int, list[int]] = {}
    for row, qi in enumerate(owner):
        rows_of.setdefault(qi, []).append(row)
    for qi, q in enumerate(questions):  # every candidate's held-out logit (the final model's if it was not trained on)
        if q["trace"]:
            ids = rows_of.get(qi)
            logits = oof[ids] if ids else ranker.logits([c.features for c in q["trace"].candidates])
            q["ranked"] = sorted((replace(c, score=float(z)) for c, z in zip(q["trace"].candidates, logits)),
                                 key=lambda c: (-c.score, c.chunk.id))
            q["baseline"] = sorted(q["trace"].candidates, key=lambda c: -rrf(c.features))
    print("ranker, held-out (5 folds by question): hit@1 / MRR@10 of the first evidence candidate, "
          "beside plain RRF of the same two rankings")
    for name in names:
        qs = [q for q in questions if q["item"].set == name and q["trace"] and q["item"].answerable and any(q["labels"])]
        if not qs:  # a set of unanswerable questions only (bbc-outside-dev, the made ones)
            continue
        for label, key in (("learned", "ranked"), ("rrf", "baseline")):
            ranks = []
            for q in qs:
                truth = {c.chunk.id for c, l in zip(q["trace"].candidates, q["labels"]) if l}
                order = [c.chunk.id for c in top(q[key], 10)]
                ranks.append(next((r for r, i in enumerate(order, 1) if i in truth), None))
            hit1 = np.mean([r == 1 for r in ranks])
            mrr = np.mean([1 / r if r else 0 for r in ranks])
            held_out.setdefault(name, {})[f"ranker_{label}"] = {"hit@1": round(float(hit1), 4),
                                                                "mrr@10": round(float(mrr), 4), "n": len(ranks)}
            print(f"  {name:20s} {label:8s} hit@1 {hit1:.3f}  MRR@10 {mrr:.3f}  (n={len(ranks)})")

    # 2. the sentence model: a sentence holds an expected answer and comes from a right document
    srows, sy, sw, sg, sowner = [], [], [], [], []
    for qi, q in enumerate(questions):
        if not q["trace"]:
            continue
        q["top"] = top(q["ranked"], 10)
        q["sentences"] = F.sentences(q["trace"].question, q["trace"].found, q["top"], qa_settings.answer.passages)
        item = q["item"]
        if not item.answerable or not item.answers or item.set.startswith(("multihop", "scifact")):
            continue
        docs = {d for d, _ in item.evidence}
        labels = [any(a.lower() in s.text.lower() for a in item.answers)
                  and any(_same_doc(q["top"][s.passage].chunk.source, d) for d in docs) for s in q["sentences"]]
        if not any(labels):
            continue
        for s, label in zip(q["sentences"], labels):
            srows.append(s.features), sy.append(label), sw.append(SENTENCE_WEIGHT.get(item.set, 1.0) / len(labels)), sg.append(q["group"]), sowner.append(qi)
    sx, sy, sw = matrix(srows, SENTENCE), np.array(sy), np.array(sw)
    sg = np.array(sg)
    soof = out_of_fold(sx, sy, sw, sg, pairwise=PAIRWISE)
    scaler, model = fit(sx, sy, sw, groups=sg if PAIRWISE else None)
    sentence = as_model("sentence", SENTENCE, scaler, model)
    print("sentence model, held-out: the best sentence holds an answer (of questions where some sentence does)")
    by_q: dict[int, list[tuple[float, bool, float]]] = {}
    for qi, z, label, row in zip(sowner, soof, sy, srows):
        by_q.setdefault(qi, []).append((z, label, row["cos"] + 0.25 * row["share"] + 0.15 * row["cue"]))
    for name in names:
        qis = [qi for qi in by_q if questions[qi]["item"].set == name]
        if qis:
            learned = np.mean([max(by_q[qi])[1] for qi in qis])
            hand = np.mean([max(by_q[qi], key=lambda t: t[2])[1] for qi in qis])
            held_out.setdefault(name, {})["sentence"] = {"learned": round(float(learned), 4),
                                                         "hand_set": round(float(hand), 4), "n": len(qis)}
            print(f"  {name:20s} learned {learned:.3f}  hand-set (cos + 0.25 share + 0.15 cue) {hand:.3f}  (n={len(qis)})")
    srows_of: dict[int, list[int]] = {}
    for row, qi in enumerate(sowner):
        srows_of.setdefault(qi, []).append(row)
    for qi, q in enumerate(questions):  # every sentence's held-out logit (or the final model's)
        if q.get("sentences"):
            ids = srows_of.get(qi)
            logits = soof[ids] if ids else sentence.logits([s.features for s in q["sentences"]])
            q["sentences"] = [replace(s, score=float(z)) for s, z in zip(q["sentences"], logits)]

    # 3. abstention: the question is answerable
    arows, ay, ag, aset, acell = [], [], [], [], []
    for q in questions:
        if not q["trace"] or q["item"].set.startswith("scifact"):
            continue
        arows.append(F.question_features(q["trace"].question, q["trace"].candidates, q["top"], q["sentences"]))
        ay.append(q["item"].answerable), ag.append(q["group"]), aset.append(q["item"].set)
        acell.append(f'{q["item"].set}/{q["item"].kind}')
    ax, ay = matrix(arows, ABSTAIN), np.array(ay)
    aset, acell = np.array(aset), np.array(acell)
    aw = np.ones(len(ay))  # every question alike (set weights here lost multihop-dev recall: 0.51 vs 0.76)
    aoof = out_of_fold(ax, ay, aw, np.array(ag))
    prob = 1 / (1 + np.exp(-aoof))
    # two operating points, for questions that name an outlet and for the others: for the first, in
    # every dev set and kind of question (MultiHop-RAG's inference, comparison, temporal; of 20 such
    # answerable questions or more) at most MAX_ABSTAIN of the answerable ones fall below it
    named = ax[:, ABSTAIN.index("outlet_named")] > 0

    def operating_point(kind) -> float:
        cuts = []
        for cell in set(acell):
            held = np.sort(prob[ay & (acell == cell) & kind])
            if len(held) >= 20:
                cuts.append(float(held[int(MAX_ABSTAIN * len(held))]))
        return min(cuts, default=0.0)

    # a question naming no outlet abstains when the model or the rule kept beside it (rag.answer.weak)
    # says so: its operating point adds at most MAX_ADDED of each dev set's answerable such questions
    rule = np.array([weak(r) for r in arows])

    def added_point() -> float:
        cuts = []
        for name in set(aset):
            kind = ay & (aset == name) & ~named
            held = np.sort(prob[kind & ~rule])
            if kind.sum() >= 20 and len(held):
                cuts.append(float(held[min(int(MAX_ADDED * kind.sum()), len(held) - 1)]))
        return min(cuts, default=0.0)

    threshold, threshold_named = added_point(), operating_point(named)
    if args.dump:  # the held-out probabilities and what the rule before issue 27 did, for a look at other cuts
        np.savez(args.dump, prob=prob, answerable=ay, set=aset, cell=acell, group=np.array(ag, dtype=str),
                 named=named, rule=rule, x=ax, features=np.array(ABSTAIN))
    cut = np.where(named, threshold_named, threshold)
    did_all = (prob < cut) | (rule & ~named)
    scaler, model = fit(ax, ay, aw)
    abstain = as_model("abstain", ABSTAIN, scaler, model, threshold)
    print(f"abstention, held-out, at thresholds {threshold:.3f} (or the rule) / {threshold_named:.3f} naming an "
          f"outlet (adding at most {MAX_ADDED:.0%} / at most {MAX_ABSTAIN:.0%} of answerable questions of each "
          "kind on each dev set of 20 or more):")
    for name in names:
        m = aset == name
        if not m.any():
            continue
        did = did_all[m]
        should = ~ay[m]
        precision = (did & should).sum() / did.sum() if did.sum() else float("nan")
        recall = (did & should).sum() / should.sum() if should.sum() else float("nan")
        wrong = (did & ~should).sum() / (~should).sum() if (~should).sum() else float("nan")
        held_out.setdefault(name, {})["abstention"] = {
            "precision": round(float(precision), 4), "recall": round(float(recall), 4),
            "answerable_abstained": round(float(wrong), 4), "unanswerable": int(should.sum())}
        print(f"  {name:20s} precision {precision:.3f}  recall {recall:.3f}  "
              f"answerable abstained {wrong:.3f}  ({int(should.sum())} unanswerable of {int(m.sum())})"
              + ("  [made: training data, not a dev figure]" if name in S.MADE else ""))

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[1]).stdout.strip()
    if LGBM:
        print("--lgbm: held-out figures only, nothing written")
        return 0
    models = Models(ranker, sentence, abstain, low_relevance)
    data = {
        "trained_by": "benchmarks/train_scoring.py", "commit": commit, "date": time.strftime("%Y-%m-%d"),
        "sets": names, "candidates": qa_settings.search.candidates, "held_out": held_out, "low_relevance": round(low_relevance, 6),
        "abstain_named": round(threshold_named, 6),
        "models": {m.name: m.to_dict() for m in (models.ranker, models.sentence, models.abstain)},
    }
    args.out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
