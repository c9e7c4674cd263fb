"""Stage 5: the ranked passages and their scored sentences -> Answer: the answer sentence
cited, or an abstention, decided here and only here.

The passages come ranked by the learned ranker, every sentence of the first few scored
by the learned sentence model (rag.scoring over rag.features). Whether the corpus answers
at all is decided by the learned abstention model (rag.features.ABSTAIN: how well the
best passages and sentences match, the question's names and numbers that no passage
found holds, a year far from every year they speak of, a period no dated article covers
in a dated archive ...): the question abstains when its probability of being answered is
below the operating point of its kind, each chosen on dev. A question that names an
outlet: at most 2 % of such answerable questions of each kind fall below it. Any other: the model
abstains beside the rule it was meant to replace (`weak`: no sentence relevant enough, or
none of the three most relevant holding the amount, date or count asked for), which finds
what the model does not, questions whose topic the archive covers but whose detail it
lacks; its operating point adds at most 2 % of answerable questions to the rule's
(benchmarks/RESULTS.md). An abstention says why in one line of its notes (the name the
archive lacks, the years the passages speak of, the kind of answer none holds). A
question about a period no article is from, over an archive whose every article is dated,
is not answered either (with undated articles, that is only a feature: they may answer).
A question whose filters match no document is not answered either. The answer is
the best sentence, followed by `[n]` where passages[n-1] holds it, and a second sentence
when it scores nearly as well and holds question words the first lacks (the other half of
a two-part question). Passages keep the ranker's order; each shows the ranker's
probability that it holds the answer, and is marked low relevance under an abstention or
below the ranker's floor. Notes say how the question was read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from store import StoredDocument

from .cues import new_name
from .features import PRONOUN, missing_names, names_apart, question_features, spoken_years, years_of
from .scoring import Models
from .types import Answer, Candidate, Found, Passage, Question, Sentence

NO_ANSWER = "The corpus does not answer this question."
MAX_ANSWER_CHARS = 400
KEYWORDS_BUILDING = ("The keyword index of this collection is being built in the background: this answer comes "
                     "from vector search alone (exact names and rare words may rank lower until it is ready).")


@dataclass(frozen=True)
class AnswerSettings:
    max_sentences: int = 2
    passages: int = 5  # answer sentences come from this many top passages
    second_margin: float = 1.0  # a second sentence joins when its logit is within this of the best and adds question words
    floor: float = 0.35  # `weak`: no sentence's relevance reaches this

    def __post_init__(self):
        if self.passages < 1 or self.max_sentences < 1:
            raise ValueError("passages and max_sentences must be at least 1")



def compose(
    question: Question, found: Found, candidates: Sequence[Candidate], ranked: Sequence[Candidate],
    sentences: Sequence[Sentence], models: Models, settings: AnswerSettings = AnswerSettings(),
    documents: Mapping[str, StoredDocument] | None = None,
) -> Answer:
    """The answer to `question` from its `ranked` passages (the top k of the `candidates`
    the searches found) and the scored `sentences` of the first of them; or the abstention,
    with the passages marked low relevance. `documents` (by id) name each passage's
    article's copies and near-copies (Passage.also_in)."""
    documents = documents or {}
    if found.no_documents:
        return Answer(question.text, f"No indexed document matches the filters ({question.filters.describe()}).",
                      True, ())
    asked = question_features(question, candidates, ranked, sentences)
    reading = question.reading
    chance = float(models.abstain.probabilities([asked])[0])
    cut = models.abstain_named if reading.outlets else models.abstain_threshold
    abstained = chance < cut or not sentences or (not reading.outlets and weak(asked, settings.floor))
    # a period no article is from, in an archive whose every article is dated: nothing can answer
    # (with undated articles it is only a feature: they may, rag.features period_uncovered)
    abstained = abstained or (reading.no_period and question.dated >= 1.0 and not reading.outlets)
    notes = ((KEYWORDS_BUILDING,) if found.keywords_building else ()) + (
        (reading.describe(),) if not reading.empty else ())
    if abstained and not (reading.no_period and asked["period_uncovered"] >= 0.5):  # else the reading says why
        notes += (why(question, asked, candidates, chance, cut),)
    best = sorted(sentences, key=lambda s: -s.score)
    chosen: list[Sentence] = []
    if not abstained:
        chosen.append(best[0])
        for s in best[1:]:
            if len(chosen) >= settings.max_sentences or s.score < best[0].score - settings.second_margin:
                break
            covered = frozenset().union(*(c.covers for c in chosen))
            if not s.covers - covered or any(s.span == c.span for c in chosen):
                continue
            cand = ranked[s.passage]
            if cand.features.get("follow_up") and not cand.features.get("prev_doc") and \
                    cand.chunk.doc_id != ranked[chosen[0].passage].chunk.doc_id:
                continue  # a follow-up's second sentence comes from its own article or the conversation's
            mates = [c for c in chosen if c.passage == s.passage]
            if mates and not _adjacent(ranked[s.passage].chunk, mates[0].span, s.span):
                continue  # one passage shows one contiguous answer span
            chosen.append(s)
    # per cited passage, its answer span: one sentence, or two adjacent ones of a paragraph
    cited: dict[int, tuple[int, int]] = {}
    for s in chosen:
        a, b = cited.get(s.passage, s.span)
        cited[s.passage] = (min(a, s.span[0]), max(b, s.span[1]))
    if chosen:  # "He founded Argonaut ...": the sentence that names him comes first
        first = chosen[0]
        start = antecedent(question, ranked[first.passage].chunk, first)
        if start is not None:
            a, b = cited[first.passage]
            cited[first.passage] = (min(a, start), b)

    passages = []
    for i, cand in enumerate(ranked):
        c = cand.chunk
        probability = 1.0 / (1.0 + np.exp(-cand.score))
        span = cited.get(i)
        highlight = (span[0] - c.start, span[1] - c.start) if span else None
        passages.append(
            Passage(i + 1, c.source, c.title, c.text, c.start, c.end, round(float(probability), 4), highlight,
                    bool(abstained or probability < models.low_relevance), c.doc_id, c.published, c.outlet, c.url,
                    doc.also_in if (doc := documents.get(c.doc_id)) else ())
        )
    if abstained:
        return Answer(question.text, NO_ANSWER, True, tuple(passages), notes)
    parts = []
    budget = MAX_ANSWER_CHARS
    for i, (a, b) in cited.items():  # in the order chosen: the best sentence's passage first
        c = ranked[i].chunk
        sentence = " ".join(c.text[a - c.start : b - c.start].split())  # an antecedent may end a paragraph before
        marker = f" [{i + 1}]"
        room = budget - len(marker) - (1 if parts else 0)
        if parts and len(sentence) > room:
            break  # a second part is shown whole or not at all
        if len(sentence) > room:
            sentence = sentence[: room - 1].rstrip() + "…"
        parts.append(sentence + marker)
        budget -= len(parts[-1]) + 1
    return Answer(question.text, " ".join(parts), False, tuple(passages), notes)


def weak(asked: Mapping[str, float], floor: float = 0.35) -> bool:
    """The rule kept beside the model for a question naming no outlet: no sentence's
    relevance (cos + a quarter of its share) reaches `floor`, or none of the three most
    relevant holds the amount, date or count the question asks for."""
    return asked["relevance"] < floor or bool(asked["required_missing_relevant"])


_KINDS = {"money": "amount of money", "date": "date", "count": "number", "quantity": "figure",
          "person": "name", "name": "name", "list": "list of names"}


def why(question: Question, asked: Mapping[str, float], candidates: Sequence[Candidate], chance: float,
        cut: float) -> str:
    """One line saying why the question is not answered: the name the archive lacks, the
    years the passages found speak of, the kind of answer none holds, or the model's chance."""
    if not candidates:
        return "No passage was found: the index holds none."
    gone = missing_names(question, candidates)
    unknown = [w for w, never in gone if never]
    if unknown:
        return f"The archive never mentions {unknown[0]!r}."
    if gone and asked["name_missing"] >= 0.5:
        return f"No passage found mentions {gone[0][0]!r}."
    apart = names_apart(question, candidates) if asked["name_apart"] else []
    if apart:
        return f"No passage found speaks of {apart[0]!r}."
    span = spoken_years([c.chunk for c in candidates])
    if asked["year_gap"] >= 0.3 and span:
        asked_years = ", ".join(years_of(question.text))
        said = str(span[0]) if span[0] == span[1] else f"{span[0]}-{span[1]}"
        return f"The passages found speak of {said}, not {asked_years}."
    if (asked["required_missing"] or asked["required_missing_relevant"]) and question.cue:
        return f"No passage found gives the {_KINDS.get(question.cue.kind, 'answer')} the question asks for."
    if chance >= cut:  # the rule's call (weak), not the model's
        return "No passage found is close enough to the question to answer it."
    return (f"No passage found holds what the question asks for (the chance that one answers it: {chance:.2f}, "
            f"below {cut:.2f}).")


def antecedent(question: Question, chunk, sentence: Sentence, back: int = 2) -> int | None:
    """Where the answer should start when its sentence opens with a pronoun and the question
    asks for a name (who, which, where): the start of the nearest of the `back`
    sentences before it in its passage that holds one, when the whole fits the answer's
    length (None: the sentence stands alone). News writing names a person in one paragraph
    and says "he" in the next, so a paragraph break does not stop it."""
    cue = question.cue
    if not cue or cue.kind not in ("person", "name", "list") or not PRONOUN.match(sentence.text):
        return None  # (a pronoun's sentence may name other things: "He founded Argonaut ... Starfox")
    order = list(chunk.sentences)
    if sentence.span not in order:
        return None
    at = order.index(sentence.span)
    for a, b in reversed(order[max(0, at - back):at]):
        if sentence.span[1] - a > MAX_ANSWER_CHARS:
            return None
        text = chunk.text[a - chunk.start : b - chunk.start]
        # a name of any kind for which/where ("On Tuesday Half-Life 2 dominated ...": not next to "game")
        if names_someone(text, question.text) if cue.kind == "person" else new_name(text, question.text):
            return a
    return None


_FULL_NAME = re.compile(r"(?<![\w’'-])[A-Z][a-z][\w’'-]*(?:\s+[A-Z][a-z][\w’'-]*)+")
_OPENERS = {"the", "a", "an", "on", "in", "at", "but", "and", "by", "for", "after", "before", "when", "while", "as",
            "mr", "mrs", "ms", "dr", "sir"}


def names_someone(sentence: str, question: str) -> bool:
    """Whether the sentence holds a full name (two or more capitalised words, wherever it
    stands, "Jez San is ...") none of whose words the question holds: an initialism ("OBE")
    or a lone capitalised word is not enough to stand for the "he" that follows."""
    asked = set(re.findall(r"[\w’'-]+", question.lower()))
    for m in _FULL_NAME.finditer(sentence):
        words = [w for w in m.group(0).split() if w.lower() not in _OPENERS]
        if len(words) >= 2 and not any(w.lower().rstrip("’'s") in asked or w.lower() in asked for w in words):
            return True
    return False


def _adjacent(chunk, first: tuple[int, int], second: tuple[int, int]) -> bool:
    """Whether two sentences of a chunk follow each other within one paragraph."""
    (a, b), (c, d) = sorted([first, second])
    order = list(chunk.sentences)
    if a == c or (c, d) not in order or (a, b) not in order or order.index((c, d)) != order.index((a, b)) + 1:
        return False
    return "\n" not in chunk.text[b - chunk.start : c - chunk.start]
