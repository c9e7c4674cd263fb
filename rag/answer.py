"""Score the sentences of the retrieved passages, pick the answer, cite it, or abstain.

A sentence's relevance is its cosine similarity to the question (vectors stored at ingest)
plus a little for the question's content words it contains; to choose the answer, a cue
for the kind of answer asked for is added (rag.cues: "how many X" prefers a sentence that
counts X, "when" one with a date, "who" one with a name, "which countries" a list, "how
quickly" a number, "which racecourse" a name). A follow-up's answer is chosen with its
own words too, from the last turn's articles, and not repeating what that turn said
(FollowUp). The top passages are shown best sentence first. The answer is the best sentence, followed by
`[n]` where passages[n-1] holds it, and a second sentence when it scores nearly as well
and holds question words the first lacks (the other half of a two-part question, or the
sentence that completes the first). When no sentence's relevance clears the floor, the
answer says the corpus does not answer, and the passages are marked low.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from store import Index, sentence_id
from store.keyword import terms

from .cues import cue_of, holds, offers, required
from .retrieve import Candidate

NO_ANSWER = "The corpus does not answer this question."
MAX_ANSWER_CHARS = 400


@dataclass(frozen=True)
class AnswerSettings:
    floor: float = 0.35  # best sentence score below this: abstain
    keyword_weight: float = 0.25  # weight of the share of question words a sentence holds
    second_margin: float = 0.2  # a second sentence joins when within this of the best and adds question words
    cue_weight: float = 0.15  # bonus for a sentence holding the kind of answer asked for (rag.cues)
    max_sentences: int = 2
    passages: int = 5  # answer sentences come from this many top passages
    required_within: int = 3  # a money/date/count question abstains unless one of this many top sentences holds one
    repeat_penalty: float = 0.3  # a follow-up's answer: minus this times its cosine to what the last turn said

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
class FollowUp:
    """A follow-up question's own vector (its retrieval vector carries the earlier turn),
    the articles the last turn cited and the vectors of what it answered: the answer is
    chosen by the mean of the two question vectors, from those articles rather than
    others, and away from what was already said."""

    own: np.ndarray
    said: np.ndarray  # (n, dim), may be empty
    prefer: dict[str, float] = field(default_factory=dict)  # the last turn's articles: doc id -> bonus


@dataclass(frozen=True)
class _Sentence:
    passage: int  # index into candidates
    span: tuple[int, int]  # absolute, in the article
    relevance: float  # cosine + keyword share: decides abstention
    score: float  # relevance + answer-type cue: decides which sentence answers
    covers: frozenset[str]  # the question's terms it holds


def compose(
    index: Index, question: str, vector: np.ndarray, candidates: list[Candidate], settings: AnswerSettings,
    follow_up: FollowUp | None = None,
) -> Answer:
    sentences = score_sentences(index, question, vector, candidates, settings, follow_up)
    candidates, sentences = _by_best_sentence(candidates, sentences)
    relevance: dict[int, float] = {}  # per passage, its most relevant sentence's
    for s in sentences:
        relevance[s.passage] = max(relevance.get(s.passage, s.relevance), s.relevance)
    ranked = sorted(sentences, key=lambda s: -s.score)
    abstained = not ranked or max(s.relevance for s in sentences) < settings.floor
    need = required(question)
    if need and not abstained:  # asked for money, a date or a count: the most relevant sentences must hold one
        top = sorted(sentences, key=lambda s: -s.relevance)[: settings.required_within]
        abstained = not any(holds(need, _text(candidates[s.passage].chunk, s.span)) for s in top)

    chosen: list[_Sentence] = []
    if not abstained:
        chosen.append(ranked[0])
        for s in ranked[1:]:
            if len(chosen) >= settings.max_sentences or s.score < ranked[0].score - settings.second_margin:
                break
            covered = frozenset().union(*(c.covers for c in chosen))
            if not s.covers - covered or any(s.span == c.span for c in chosen):
                continue
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
        score = relevance.get(i, 0.0)
        span = cited.get(i)
        highlight = (span[0] - c.start, span[1] - c.start) if span else None
        passages.append(
            Passage(i + 1, c.source, c.title, c.text, c.start, c.end, round(score, 4), highlight,
                    score < settings.floor, c.doc_id, c.published, c.outlet, c.url)
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


def _by_best_sentence(candidates: list[Candidate], sentences: list[_Sentence]):
    """The scored passages reordered by their best sentence (the rest keep their rank):
    a passage is as good as the best answer it holds."""
    best: dict[int, float] = {}
    for s in sentences:
        best[s.passage] = max(best.get(s.passage, s.score), s.score)
    order = sorted(best, key=lambda i: (-best[i], i)) + [i for i in range(len(candidates)) if i not in best]
    new_index = {old: new for new, old in enumerate(order)}
    return [candidates[i] for i in order], [replace(s, passage=new_index[s.passage]) for s in sentences]


def _text(chunk, span: tuple[int, int]) -> str:
    return chunk.text[span[0] - chunk.start : span[1] - chunk.start]


def _adjacent(chunk, first: tuple[int, int], second: tuple[int, int]) -> bool:
    """Whether two sentences of a chunk follow each other within one paragraph."""
    (a, b), (c, d) = sorted([first, second])
    order = list(chunk.sentences)
    if a == c or (c, d) not in order or (a, b) not in order or order.index((c, d)) != order.index((a, b)) + 1:
        return False
    return "\n" not in chunk.text[b - chunk.start : c - chunk.start]


def score_sentences(
    index: Index, question: str, vector: np.ndarray, candidates: list[Candidate], settings: AnswerSettings,
    follow_up: FollowUp | None = None,
) -> list[_Sentence]:
    spans = [(i, span) for i, cand in enumerate(candidates[: settings.passages]) for span in cand.chunk.sentences]
    ids = [sentence_id(candidates[i].chunk.doc_id, span) for i, span in spans]
    vectors = index.sentence_vectors(list(dict.fromkeys(ids)))
    keyword_index = index.keyword_index(wait=False)  # None while it is built: every word weighs the same
    asked = {t: keyword_index.idf(t) if keyword_index else 1.0 for t in set(terms(question))}
    cue = cue_of(question)
    out = []
    for (i, span), sid in zip(spans, ids):
        v = vectors.get(sid)
        if v is None:
            continue
        text = _text(candidates[i].chunk, span)
        covers = matched(asked, set(terms(text)))
        relevance = float(v @ vector) + settings.keyword_weight * share(asked, covers)
        score = relevance + (settings.cue_weight if cue and offers(cue, text) else 0.0)
        if follow_up is not None:
            score += float(v @ follow_up.own - v @ vector) / 2  # the mean of the two questions' cosines
            score += follow_up.prefer.get(candidates[i].chunk.doc_id, 0.0)
            if len(follow_up.said):
                score -= settings.repeat_penalty * float(np.max(follow_up.said @ v))
        out.append(_Sentence(i, span, relevance, score, covers))
    return out


def matched(asked: dict[str, float], held: set[str]) -> frozenset[str]:
    """The question's terms a sentence holds: the same stem, or one stem of five letters
    or more that begins the other ("chair" / "chairman", "ukrain" / "ukrainian", which
    Snowball stems apart)."""
    out = set(asked).intersection(held)
    for term in set(asked) - out:
        if len(term) >= 5 and any(h.startswith(term) or (len(h) >= 5 and term.startswith(h)) for h in held):
            out.add(term)
    return frozenset(out)


def share(asked: dict[str, float], covers: frozenset[str]) -> float:
    """The part of the question's weight (each term's IDF) that a sentence holds."""
    total = sum(asked.values())
    return sum(asked[t] for t in covers) / total if total else 0.0
