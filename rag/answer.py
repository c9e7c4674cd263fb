"""Choose the answer sentence from the top passages, cite it, or abstain.

The passages come ranked by the learned ranker (rag.retrieve). Every sentence of the
first few is scored by the learned sentence model (rag.scoring) over its features
(rag.features: cosine to the question and to its own words, the share of the question's
terms it holds, whether it holds the kind of answer the question's form asks for, its
passage's rank, what the last turn already said, ...). Whether the corpus answers at
all: for a question that names an outlet, the learned abstention model (its threshold
chosen on dev so that at most 3 % of such answerable questions abstain); for any other,
the rule it was meant to replace (no sentence relevant enough, or none of the three most
relevant holding the amount, date or count the question asks for), which abstained
better on bbc-dev than the model at any threshold. The answer is the best
sentence, followed by `[n]` where passages[n-1] holds it, and a second sentence when it
scores nearly as well and holds question words the first lacks (the other half of a
two-part question). Passages keep the ranker's order; each shows the ranker's
probability that it holds the answer, and is marked low relevance under an abstention or
below the ranker's floor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from store import sentence_id

from .cues import cue_of
from .features import required_missing, sentence_features, unmatched_idf
from .scoring import Models

if TYPE_CHECKING:
    from .retrieve import Candidate, Pool

NO_ANSWER = "The corpus does not answer this question."
MAX_ANSWER_CHARS = 400


@dataclass(frozen=True)
class AnswerSettings:
    max_sentences: int = 2
    passages: int = 5  # answer sentences come from this many top passages
    second_margin: float = 1.0  # a second sentence joins when its logit is within this of the best and adds question words
    floor: float = 0.35  # a question naming no outlet: abstain when no sentence's relevance reaches this

    def __post_init__(self):
        if self.passages < 1 or self.max_sentences < 1:
            raise ValueError("passages and max_sentences must be at least 1")


@dataclass(frozen=True)
class Passage:
    """One cited passage: `text == cleaned article[start:end]`."""

    n: int
    source: str
    title: str
    text: str
    start: int
    end: int
    score: float  # the ranker's probability that the passage holds the answer
    highlight: tuple[int, int] | None  # the answer sentence's span inside `text`
    low_relevance: bool
    doc_id: str = ""  # the article (QA.document(doc_id) gives its whole text)
    published: str | None = None  # ISO date, when the article says
    outlet: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    abstained: bool
    passages: tuple[Passage, ...]
    notes: tuple[str, ...] = ()  # how this answer was made, when not as usual (e.g. without the keyword side)


@dataclass(frozen=True)
class ScoredSentence:
    passage: int  # index into the ranked candidates
    span: tuple[int, int]  # absolute, in the article
    text: str
    features: dict[str, float]
    covers: frozenset[str]  # the question's terms it holds
    score: float = 0.0  # the sentence model's logit


def compose(
    question: str, pool: Pool, candidates: list[Candidate], models: Models, settings: AnswerSettings = AnswerSettings(),
) -> Answer:
    sentences = score_sentences(question, pool, candidates, models, settings)
    asked = question_features(question, pool, candidates, sentences)
    if pool.reading.outlets:  # the learned model: its operating point holds 3 % on multihop-dev
        abstained = float(models.abstain.probabilities([asked])[0]) < models.abstain_named
    else:  # the rule it was to replace: on bbc-dev the model, at any threshold, abstained less well (RESULTS.md)
        abstained = asked["relevance"] < settings.floor or bool(asked["required_missing_relevant"])
    abstained = abstained or not sentences
    # a question about a time the index holds no article from (rag.reading) is not answered
    abstained = abstained or (pool.reading.no_period and not pool.reading.outlets)
    ranked = sorted(sentences, key=lambda s: -s.score)
    chosen: list[ScoredSentence] = []
    if not abstained:
        chosen.append(ranked[0])
        for s in ranked[1:]:
            if len(chosen) >= settings.max_sentences or s.score < ranked[0].score - settings.second_margin:
                break
            covered = frozenset().union(*(c.covers for c in chosen))
            if not s.covers - covered or any(s.span == c.span for c in chosen):
                continue
            cand = candidates[s.passage]
            if cand.features.get("follow_up") and not cand.features.get("prev_doc") and \
                    cand.chunk.doc_id != candidates[chosen[0].passage].chunk.doc_id:
                continue  # a follow-up's second sentence comes from its own article or the conversation's
            mates = [c for c in chosen if c.passage == s.passage]
            if mates and not _adjacent(candidates[s.passage].chunk, mates[0].span, s.span):
                continue  # one passage shows one contiguous answer span
            chosen.append(s)
    # per cited passage, its answer span: one sentence, or two adjacent ones of a paragraph
    cited: dict[int, tuple[int, int]] = {}
    for s in chosen:
        a, b = cited.get(s.passage, s.span)
        cited[s.passage] = (min(a, s.span[0]), max(b, s.span[1]))

    passages = []
    for i, cand in enumerate(candidates):
        c = cand.chunk
        probability = 1.0 / (1.0 + np.exp(-cand.score))
        span = cited.get(i)
        highlight = (span[0] - c.start, span[1] - c.start) if span else None
        passages.append(
            Passage(i + 1, c.source, c.title, c.text, c.start, c.end, round(float(probability), 4), highlight,
                    bool(abstained or probability < models.low_relevance), c.doc_id, c.published, c.outlet, c.url)
        )
    if abstained:
        return Answer(question, NO_ANSWER, True, tuple(passages))
    parts = []
    budget = MAX_ANSWER_CHARS
    for i, (a, b) in cited.items():  # in the order chosen: the best sentence's passage first
        c = candidates[i].chunk
        sentence = c.text[a - c.start : b - c.start]
        marker = f" [{i + 1}]"
        room = budget - len(marker) - (1 if parts else 0)
        if parts and len(sentence) > room:
            break  # a second part is shown whole or not at all
        if len(sentence) > room:
            sentence = sentence[: room - 1].rstrip() + "…"
        parts.append(sentence + marker)
        budget -= len(parts[-1]) + 1
    return Answer(question, " ".join(parts), False, tuple(passages))


def score_sentences(
    question: str, pool: Pool, candidates: Sequence[Candidate], models: Models | None,
    settings: AnswerSettings = AnswerSettings(),
) -> list[ScoredSentence]:
    """Every sentence of the first `settings.passages` candidates with its features, and
    its logit under `models.sentence` (0 without models: training computes features only)."""
    spans = [(i, span) for i, cand in enumerate(candidates[: settings.passages]) for span in cand.chunk.sentences]
    ids = [sentence_id(candidates[i].chunk.doc_id, span) for i, span in spans]
    vectors = pool.sentence_vectors  # every candidate's, read with the candidates
    cue = cue_of(question)
    out = []
    for (i, span), sid in zip(spans, ids):
        v = vectors.get(sid)
        if v is None:
            continue
        chunk = candidates[i].chunk
        text = chunk.text[span[0] - chunk.start : span[1] - chunk.start]
        order = list(chunk.sentences)
        said = float(np.max(pool.said @ v)) if len(pool.said) else 0.0
        features, covers = sentence_features(
            float(v @ pool.vector), float(v @ pool.own), pool.asked, text, cue, candidates[i].score, i,
            order.index(span) / max(len(order) - 1, 1), said, bool(candidates[i].features.get("prev_doc")), pool.match)
        out.append(ScoredSentence(i, span, text, features, covers))
    if models is not None and out:
        logits = models.sentence.logits([s.features for s in out])
        out = [ScoredSentence(s.passage, s.span, s.text, s.features, s.covers, float(z)) for s, z in zip(out, logits)]
    return out


def question_features(
    question: str, pool: Pool, candidates: Sequence[Candidate], sentences: Sequence[ScoredSentence],
) -> dict[str, float]:
    """What the abstention model reads: how well the best passages and sentences answer."""
    by_score = sorted(sentences, key=lambda s: -s.score)
    held: set[str] = set()
    for s in sentences:
        held |= s.covers
    scores = [c.score for c in candidates]
    relevance = [s.features["cos"] + 0.25 * s.features["share"] for s in sentences]  # to the query, as before
    cue = cue_of(question)
    offering = [s for s in sentences if s.features.get("cue")] if cue else list(sentences)
    out = {
        "outlet_named": float(bool(pool.reading.outlets)), "date_named": float(bool(pool.reading.dates)),
        "cue_sentence": max((s.score for s in offering), default=-10.0),
        "cue_share": max((s.features["share"] for s in offering), default=0.0),
        "top_passage": scores[0] if scores else -10.0,
        "second_passage": scores[1] if len(scores) > 1 else -10.0,
        "top_sentence": by_score[0].score if by_score else -10.0,
        "best_cos": max((s.features["cos_own"] for s in sentences), default=0.0),
        "best_share": max((s.features["share"] for s in sentences), default=0.0),
        "top_dense": max((c.features.get("dense_own", 0.0) for c in candidates), default=0.0),
        "unmatched_idf": unmatched_idf(pool.asked, held, pool.max_idf),
        "required_missing": required_missing(cue, [s.text for s in by_score[:3]]),
        # the two signals of the hand-set rule this model replaced, as features: the best relevance
        # (cosine + a quarter of the term share), and the answer kind missing from the 3 most relevant
        "relevance": max(relevance, default=0.0),
        "required_missing_relevant": required_missing(cue, [s.text for _, s in sorted(
            zip(relevance, sentences), key=lambda x: -x[0])[:3]]),
    }
    named = out["outlet_named"]  # a question naming outlets is another kind: its own slopes
    out.update({f"{k}_named": out[k] * named for k in ("top_passage", "top_sentence", "best_cos", "unmatched_idf")})
    return out


def _adjacent(chunk, first: tuple[int, int], second: tuple[int, int]) -> bool:
    """Whether two sentences of a chunk follow each other within one paragraph."""
    (a, b), (c, d) = sorted([first, second])
    order = list(chunk.sentences)
    if a == c or (c, d) not in order or (a, b) not in order or order.index((c, d)) != order.index((a, b)) + 1:
        return False
    return "\n" not in chunk.text[b - chunk.start : c - chunk.start]
