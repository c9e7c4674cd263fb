"""Score the sentences of the retrieved passages, pick the answer, cite it, or abstain.

A sentence's score is its cosine similarity to the question (vectors stored at ingest)
plus a little for the question's content words it contains. The answer is the best
sentence, followed by `[n]` where passages[n-1] holds it, and a second sentence from
another passage when it scores nearly as well. When no sentence clears the relevance
floor, the answer says the corpus does not answer, and the passages are marked low.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from store import Index, sentence_id
from store.keyword import terms

from .retrieve import Candidate

NO_ANSWER = "The corpus does not answer this question."
MAX_ANSWER_CHARS = 400


@dataclass(frozen=True)
class AnswerSettings:
    floor: float = 0.35  # best sentence score below this: abstain
    keyword_weight: float = 0.25  # weight of the share of question words a sentence holds
    second_margin: float = 0.04  # a second sentence joins when within this of the best
    max_sentences: int = 2
    passages: int = 5  # answer sentences come from this many top passages

    def __post_init__(self):
        if not -1.0 <= self.floor <= 2.0:
            raise ValueError(f"floor must be between -1 and 2, got {self.floor}")


@dataclass(frozen=True)
class Passage:
    """One cited passage: `text == cleaned article[start:end]`."""

    n: int
    source: str
    title: str
    text: str
    start: int
    end: int
    score: float  # relevance: the best score of its sentences
    highlight: tuple[int, int] | None  # the answer sentence's span inside `text`
    low_relevance: bool


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    abstained: bool
    passages: tuple[Passage, ...]


@dataclass(frozen=True)
class _Sentence:
    passage: int  # index into candidates
    span: tuple[int, int]  # absolute, in the article
    score: float


def compose(
    index: Index, question: str, vector: np.ndarray, candidates: list[Candidate], settings: AnswerSettings
) -> Answer:
    sentences = score_sentences(index, question, vector, candidates, settings)
    best_of: dict[int, _Sentence] = {}
    for s in sentences:
        if s.passage not in best_of or s.score > best_of[s.passage].score:
            best_of[s.passage] = s
    ranked = sorted(sentences, key=lambda s: -s.score)
    abstained = not ranked or ranked[0].score < settings.floor

    chosen: list[_Sentence] = []
    if not abstained:
        chosen.append(ranked[0])
        for s in ranked[1:]:
            if len(chosen) >= settings.max_sentences or s.score < ranked[0].score - settings.second_margin:
                break
            if all(s.passage != c.passage and s.span != c.span for c in chosen):
                chosen.append(s)

    passages = []
    for i, cand in enumerate(candidates):
        c = cand.chunk
        best = best_of.get(i)
        score = best.score if best else 0.0
        mine = [s for s in chosen if s.passage == i]
        highlight = (mine[0].span[0] - c.start, mine[0].span[1] - c.start) if mine else None
        passages.append(
            Passage(i + 1, c.source, c.title, c.text, c.start, c.end, round(score, 4), highlight, score < settings.floor)
        )
    if abstained:
        return Answer(question, NO_ANSWER, True, tuple(passages))
    parts = []
    budget = MAX_ANSWER_CHARS
    for s in chosen:
        c = candidates[s.passage].chunk
        sentence = c.text[s.span[0] - c.start : s.span[1] - c.start]
        marker = f" [{s.passage + 1}]"
        room = budget - len(marker) - (1 if parts else 0)
        if room < 40 and parts:
            break
        if len(sentence) > room:
            sentence = sentence[: room - 1].rstrip() + "…"
        parts.append(sentence + marker)
        budget -= len(parts[-1]) + 1
    return Answer(question, " ".join(parts), False, tuple(passages))


def score_sentences(
    index: Index, question: str, vector: np.ndarray, candidates: list[Candidate], settings: AnswerSettings
) -> list[_Sentence]:
    spans = [(i, span) for i, cand in enumerate(candidates[: settings.passages]) for span in cand.chunk.sentences]
    ids = [sentence_id(candidates[i].chunk.doc_id, span) for i, span in spans]
    vectors = index.sentence_vectors(list(dict.fromkeys(ids)))
    asked = set(terms(question))
    out = []
    for (i, span), sid in zip(spans, ids):
        v = vectors.get(sid)
        if v is None:
            continue
        chunk = candidates[i].chunk
        words = set(terms(chunk.text[span[0] - chunk.start : span[1] - chunk.start]))
        overlap = len(asked & words) / len(asked) if asked else 0.0
        out.append(_Sentence(i, span, float(v @ vector) + settings.keyword_weight * overlap))
    return out
