"""Named features of (question, candidate), (question, sentence) and (question, answer):
what the learned models of rag.scoring weigh. Each is a plain number a test can check on
one example; none decides anything on its own.

Candidate chunk (the ranker; computed in rag.retrieve.gather):
    dense, dense_own   cosine of the chunk to the query (a follow-up's carries the last
                       turn) and to the question's own words
    dense_top          dense minus the best candidate's dense
    sentence           the chunk's best sentence cosine in the sentence search (its lower
                       bound when no sentence of it is among the top N)
    sent_max, sent_share_max  the best exact cosine of any of its sentences, and the best
                       share of the question's IDF weight any one sentence holds
    keyword            BM25 over the question's best BM25 (0: not among the keyword top N)
    rr_dense, rr_sentence, rr_keyword, rr_own, rr_named   1 / (1 + rank) in each search
                       (0: absent; own: a follow-up's own words; named: the searches
                       restricted to an outlet or period the question names)
    share, title_share the part of the question's IDF weight the chunk (title and text) and
                       its title hold
    doc_dense, doc_chunks  the best dense of the chunk's article among the candidates, and how
                       many of its chunks are candidates
    cue_asked, cue_offer   the question's form asks for a kind of answer (rag.cues), and a
                       sentence of the chunk holds one
    follow_up, prev_doc  a follow-up question; the chunk's article was cited by the last turn
    outlet_named, outlet_match, date_named, date_match, recency   what rag.reading read, and
                       whether the chunk's article is of a named outlet / period (recency:
                       for "latest", 1 for the newest candidate, less by 1/30 a day)

Sentence (the answer's choice):
    cos, cos_own, share, cue (holds the kind of answer the question's form asks for),
    cue_missing (the question asks for a kind it lacks), passage (its passage's ranker
    logit), first_passage, position (within its chunk, 0-1), length (log characters),
    said (max cosine to what the last turn answered), prev_doc

Question (abstention; rag.answer.question_features):
    cue_sentence, cue_share (the best sentence logit and term share among the sentences that
    hold the kind of answer asked for), top_passage, second_passage, top_sentence, best_cos,
    best_share, top_dense,
    unmatched_idf (the rarest question term no top passage holds, over the rarest possible),
    required_missing (a money/date/count/quantity question whose three best sentences hold none)
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from store.keyword import terms

from .cues import Cue, holds, offers


def question_terms(question: str, idf) -> dict[str, float]:
    """The question's stemmed terms, each weighted by its IDF (`idf(term)`; 1 when None)."""
    return {t: (idf(t) if idf else 1.0) for t in set(terms(question))}


def matched(asked: dict[str, float], held: Iterable[str]) -> frozenset[str]:
    """The question's terms a text holds: the same stem, or one stem of five letters or
    more that begins the other ("chair" / "chairman", "ukrain" / "ukrainian", which
    Snowball stems apart)."""
    return frozenset(t for t in asked if any(_same_word(t, h) for h in held))


def _same_word(term: str, held: str) -> bool:
    """A question term and a held term are one word: the same stem, or one stem of five
    letters or more that begins the other."""
    return term == held or (len(term) >= 5 and (held.startswith(term) or (len(held) >= 5 and term.startswith(held))))


class Matcher:
    """`matched` for one question over many texts, each held term looked at once: a
    question's candidates hold some thousands of distinct terms and tens of thousands of
    occurrences."""

    def __init__(self, asked: dict[str, float]):
        self.asked = asked
        self._of: dict[str, frozenset[str]] = {}  # held term -> the question's terms it matches
        self._terms: dict[str, frozenset[str]] = {}  # text -> its terms

    def terms(self, text: str) -> frozenset[str]:
        got = self._terms.get(text)
        if got is None:
            got = self._terms[text] = frozenset(terms(text))
        return got

    def __call__(self, held) -> frozenset[str]:
        out: set[str] = set()
        for h in held:
            hits = self._of.get(h)
            if hits is None:
                hits = self._of[h] = matched(self.asked, (h,))
            out |= hits
        return frozenset(out)


def share(asked: dict[str, float], covers: frozenset[str]) -> float:
    """The part of the question's weight (each term's IDF) that a text holds."""
    total = sum(asked.values())
    return sum(asked[t] for t in covers) / total if total else 0.0


def reciprocal_rank(rank: int | None) -> float:
    return 0.0 if rank is None else 1.0 / (1.0 + rank)


def sentence_features(
    cos: float, cos_own: float, asked: dict[str, float], text: str, cue: Cue | None, passage_logit: float,
    passage_rank: int, position: float, said: float, prev_doc: bool, match: Matcher | None = None,
) -> tuple[dict[str, float], frozenset[str]]:
    """A sentence's features, and the question terms it holds."""
    match = match or Matcher(asked)
    covers = match(match.terms(text))
    offered = bool(cue and offers(cue, text))
    return {
        "cos": cos, "cos_own": cos_own, "share": share(asked, covers),
        "cue": float(offered), "cue_missing": float(bool(cue) and not offered),
        "passage": passage_logit, "first_passage": float(passage_rank == 0), "position": position,
        "length": math.log1p(len(text)), "said": said, "prev_doc": float(prev_doc),
    }, covers


def unmatched_idf(asked: dict[str, float], held: set[str], max_idf: float) -> float:
    """The IDF of the rarest question term that no text in `held` holds, over `max_idf`
    (0 when every term is held): a question naming something the top passages never
    mention ("Qatar") is seldom answered by them."""
    missing = set(asked) - matched(asked, held)
    return max((asked[t] for t in missing), default=0.0) / max_idf if max_idf else 0.0


def required_missing(cue: Cue | None, texts: list[str]) -> float:
    """1 when the question's form demands a thing of a kind (rag.cues.required) and none of
    `texts` holds one."""
    if cue is None or cue.kind not in ("money", "date", "count", "quantity"):
        return 0.0
    return float(not any(holds(cue, t) for t in texts))
