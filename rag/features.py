"""Stage 3: every named feature the learned models weigh (rag.scoring), built here and
only here. Each is a plain number a test can check on one example; none decides anything
on its own. The name tuples RANKER, SENTENCE and ABSTAIN are what benchmarks/train_scoring.py
fits and what rag/weights.json must name, no more and no fewer.

Candidate chunk (the ranker; `candidates`):
    dense, dense_own   cosine of the chunk to the query (a follow-up's carries the last
                       turn) and to the question's own words
    dense_top          dense minus the best candidate's dense
    keyword            BM25 over the question's best BM25 (0: not among the keyword top N)
    rr_dense, rr_keyword, rr_own, rr_named   1 / (1 + rank) in each search
                       (0: absent; own: a follow-up's own words, else the dense search;
                       named: the searches restricted to an outlet or period the question names)
    share, title_share the part of the question's IDF weight the chunk (title and text) and
                       its title hold
    doc_dense, doc_chunks  the best dense of the chunk's article among the candidates, and how
                       many of its chunks are candidates (at most 5, over 5)
    follow_up, prev_doc  a follow-up question; the chunk's article was cited by the last turn
    sent_max, sent_share_max  the best exact cosine of any of its sentences, and the best
                       share of the question's IDF weight any one sentence holds
    cue_asked, cue_offer   the question's form asks for a kind of answer (rag.cues), and a
                       sentence of the chunk holds one
    outlet_named, outlet_match, date_named, date_match, recency   what rag.reading read, and
                       whether the chunk's article is of a named outlet / period (recency:
                       for "latest", 1 for the newest candidate, less by 1/30 a day)

Sentence of a top passage (the answer's choice; `sentences`):
    cos, cos_own       cosine to the query and to the question's own words
    share              the part of the question's IDF weight it holds
    cue, cue_missing   it holds the kind of answer the question's form asks for; the question
                       asks for a kind and it holds none
    passage, first_passage  its passage's ranker logit; its passage is ranked first
    position           where it stands in its passage (0 first, 1 last)
    length             log(1 + characters)
    said               its best cosine to what the last turn answered
    prev_doc           its article was cited by the last turn
    month_missing      the question names a month and the sentence does not (a month's number
                       asked, not the year's)
    prev_cue           the sentence before it, in its passage, holds the kind of answer asked for
    names_share        the share of the question's names and numbers (name_terms) that it holds
    cos_unnamed, share_unnamed  cos and share again for a question that names nothing (most
                       follow-ups: "What charges was he facing?"), 0 otherwise: slopes of their own
    cos_follow, cos_own_follow, share_follow, cue_follow  the same for a follow-up turn, 0 otherwise

Question (abstention; `question_features`, over every candidate found, the top k and their
sentences):
    outlet_named, date_named   the question names an outlet, a period
    cue_sentence, cue_share    the best sentence logit and term share among the sentences
                       that hold the kind of answer asked for (all sentences when none is asked)
    top_passage, second_passage, top_sentence  the two best ranker logits, the best sentence logit
    top_share          the part of the question's IDF weight the best sentence holds
    best_cos, best_share, top_dense  the best sentence cosine to the question's own words and
                       share, the best passage cosine to them
    unmatched_idf      the IDF of the rarest question term no top sentence holds, over the
                       rarest possible
    missing_all        the same over every candidate (titles and texts)
    name_missing       the IDF (over the rarest possible) of the rarest of the question's names
                       and numbers (capitalised words not opening a sentence, words with a
                       digit) that no candidate holds but some indexed chunk does (the
                       searches missed it)
    name_unknown       one of those no indexed chunk holds at all ("Fitbit" in the BBC archive):
                       the IDF such a term has (about the log of the archive's size), 0 when
                       none: a name five articles lack says less than one 2,000 lack
    name_apart         one of the question's names of several words ("21st Century Fox") has
                       words no one candidate holds together (names_apart)
    top_names          the share of the question's names the first passage holds (1: none named)
    required_missing   a money/date/count/quantity question whose three best sentences hold none
    relevance          the best sentence's cos + a quarter of its share (the hand-set rule's
                       signal before issue 27, now a feature)
    required_missing_relevant  required_missing among the three most relevant sentences
    year_gap           how far the question's year lies from every year the candidates mention
                       or were published in (years, at most 10, over 10; 0: no year named)
    year_idf           the IDF of the question's year as a term, over the rarest possible (a
                       year the archive seldom speaks of)
    period_uncovered   it names a period no dated article falls in, times the share of the
                       index's articles that are dated (an undated archive: 0)
    follow_up          the question leans on an earlier turn
    top_passage_named, top_sentence_named, best_cos_named, unmatched_idf_named   the same
                       times outlet_named: a question naming outlets has slopes of its own
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date

import numpy as np

from store import sentence_id
from store.keyword import term_set, terms

from .cues import Cue, holds, offers
from .reading import plain
from .types import Candidate, Found, Question, Sentence

RANKER = ("dense", "dense_own", "dense_top", "keyword", "rr_dense", "rr_keyword", "rr_own", "share", "title_share", "doc_dense", "doc_chunks", "follow_up", "prev_doc",
          "sent_max", "sent_share_max", "cue_asked", "cue_offer", "rr_named", "outlet_named", "outlet_match",
          "date_named", "date_match", "recency")
SENTENCE = ("cos", "cos_own", "share", "cue", "cue_missing", "passage", "first_passage", "position", "length",
            "said", "prev_doc", "month_missing", "prev_cue", "names_share", "cos_unnamed", "share_unnamed",
            "cos_follow", "cos_own_follow", "share_follow", "cue_follow")
ABSTAIN = ("outlet_named", "date_named", "cue_sentence", "cue_share", "top_passage", "second_passage",
           "top_sentence", "top_share", "best_cos", "best_share", "top_dense", "unmatched_idf", "missing_all",
           "name_missing", "name_unknown", "name_apart", "top_names", "required_missing", "relevance", "required_missing_relevant",
           "year_gap", "year_idf", "period_uncovered", "follow_up",
           "top_passage_named", "top_sentence_named", "best_cos_named", "unmatched_idf_named")


def candidates(question: Question, found: Found) -> list[Candidate]:
    """Every chunk found, with its ranker features (RANKER), in the order found."""
    match = Matcher(question.terms)
    asked = question.terms
    reading, query, cue = question.reading, question.query, question.cue
    chunks = found.chunks
    cos, cos_own = found.vectors @ found.vector, found.vectors @ found.own
    rank_of = found.ranks
    keyword_top = max(found.keyword_scores.values(), default=0.0) or 1.0
    best_dense = float(cos.max()) if len(chunks) else 0.0
    doc_dense: dict[str, float] = {}
    doc_chunks: dict[str, int] = {}
    for chunk, c in zip(chunks, cos):
        doc_dense[chunk.doc_id] = max(doc_dense.get(chunk.doc_id, -1.0), float(c))
        doc_chunks[chunk.doc_id] = doc_chunks.get(chunk.doc_id, 0) + 1
    newest = max((chunk.published or "" for chunk in chunks), default="")
    weight = sum(asked.values())
    stored = [[v for span in chunk.sentences if (v := found.sentence_vectors.get(sentence_id(chunk.doc_id, span))) is not None]
              for chunk in chunks]  # each chunk's sentence vectors: their cosines in one product, split by chunk
    every = [v for vs in stored for v in vs]
    sentence_cos = np.split(np.stack(every) @ found.vector if every else np.zeros(0, np.float32),
                            np.cumsum([len(vs) for vs in stored])[:-1])
    out = []
    for j, chunk in enumerate(chunks):
        i = chunk.id
        texts = [chunk.text[a - chunk.start : b - chunk.start] for a, b in chunk.sentences]
        held = [match.held(t) for t in texts]
        features = {
            "cue_asked": float(cue is not None),
            "cue_offer": float(cue is not None and any(offers(cue, t) for t in texts)),
            "sent_max": float(sentence_cos[j].max()) if len(sentence_cos[j]) else float(cos[j]),
            "sent_share_max": max((share(asked, h, weight) for h in held), default=0.0),
            "dense": float(cos[j]), "dense_own": float(cos_own[j]), "dense_top": float(cos[j]) - best_dense,
            "keyword": found.keyword_scores.get(i, 0.0) / keyword_top,
            "rr_dense": reciprocal_rank(rank_of["dense"].get(i)),
            "rr_keyword": reciprocal_rank(rank_of["keyword"].get(i)),
            "rr_own": reciprocal_rank(rank_of["own" if query.follow_up else "dense"].get(i)),
            "share": share(asked, covers := match.held(chunk.title).union(*held), weight),
            "title_share": share(asked, match.held(chunk.title), weight),
            "doc_dense": doc_dense[chunk.doc_id], "doc_chunks": min(doc_chunks[chunk.doc_id], 5) / 5,
            "follow_up": float(query.follow_up), "prev_doc": float(chunk.doc_id in query.prefer),
            "rr_named": reciprocal_rank(rank_of["named"].get(i)),
            "outlet_named": float(bool(reading.outlets)), "outlet_match": float(chunk.outlet in reading.outlets),
            "date_named": float(bool(reading.dates)), "date_match": float(reading.date_match(chunk.published)),
            "recency": recency(chunk.published, newest) if reading.latest else 0.0,
        }
        out.append(Candidate(chunk, 0.0, float(cos[j]), found.keyword_scores.get(i), features, covers))
    return out


def sentences(question: Question, found: Found, ranked: Sequence[Candidate], passages: int) -> list[Sentence]:
    """Every sentence of the first `passages` ranked candidates whose vector is stored, with
    its features (SENTENCE), best passage first and in passage order."""
    match = Matcher(question.terms)
    out = []
    months = _MONTH_WORD.findall(question.text.lower())
    names = set(name_terms(question))
    follow = float(question.query.follow_up)
    for i, cand in enumerate(ranked[:passages]):
        chunk = cand.chunk
        order = list(chunk.sentences)
        before = False  # the sentence before holds the kind of answer asked for
        for span in order:
            text = chunk.text[span[0] - chunk.start : span[1] - chunk.start]
            prev_cue, before = before, bool(question.cue and offers(question.cue, text))
            v = found.sentence_vectors.get(sentence_id(chunk.doc_id, span))
            if v is None:
                continue
            covers, lowered = match.held(text), text.lower()
            offered = before
            features = {
                "cos": float(v @ found.vector), "cos_own": float(v @ found.own), "share": share(question.terms, covers),
                "cue": float(offered), "cue_missing": float(bool(question.cue) and not offered),
                "passage": cand.score, "first_passage": float(i == 0),
                "position": order.index(span) / max(len(order) - 1, 1), "length": math.log1p(len(text)),
                "said": float(np.max(found.said @ v)) if len(found.said) else 0.0,
                "prev_doc": float(bool(cand.features.get("prev_doc"))),
                "month_missing": float(bool(months) and not any(m in lowered for m in months)),
                "prev_cue": float(prev_cue),
                "names_share": len(names & covers) / len(names) if names else 1.0,
            }
            features |= {  # a question that names nothing (most follow-ups) gets slopes of its own
                "cos_unnamed": 0.0 if names else features["cos"], "share_unnamed": 0.0 if names else features["share"],
            }
            features |= {  # a follow-up turn weighs them apart too
                "cos_follow": follow * features["cos"], "cos_own_follow": follow * features["cos_own"],
                "share_follow": follow * features["share"], "cue_follow": follow * features["cue"],
            }
            out.append(Sentence(i, span, text, features, covers))
    return out


def question_features(question: Question, candidates: Sequence[Candidate], ranked: Sequence[Candidate],
                      scored: Sequence[Sentence]) -> dict[str, float]:
    """How well the passages found answer the question (ABSTAIN): `candidates` every chunk
    the searches found, `ranked` the top k, `scored` the sentences of the first of them."""
    by_score = sorted(scored, key=lambda s: -s.score)
    held: set[str] = set()
    for s in scored:
        held |= s.covers
    scores = [c.score for c in ranked]
    relevance = [s.features["cos"] + 0.25 * s.features["share"] for s in scored]  # to the query
    cue = question.cue
    offering = [s for s in scored if s.features.get("cue")] if cue else list(scored)
    found = Matcher(question.terms)
    anywhere = held_anywhere(candidates, found)  # the question's terms some candidate (title or text) holds
    names = name_terms(question)
    missing = [t for t in names if t not in anywhere]
    unknown = [t for t in missing if unindexed(question, question.terms[t])]
    top_held = held_anywhere(ranked[:1], found)
    top_idf = question.max_idf or 1.0
    out = {
        "outlet_named": float(bool(question.reading.outlets)), "date_named": float(bool(question.reading.dates)),
        "cue_sentence": max((s.score for s in offering), default=-10.0),
        "cue_share": max((s.features["share"] for s in offering), default=0.0),
        "top_passage": scores[0] if scores else -10.0,
        "second_passage": scores[1] if len(scores) > 1 else -10.0,
        "top_sentence": by_score[0].score if by_score else -10.0,
        "top_share": by_score[0].features["share"] if by_score else 0.0,
        "best_cos": max((s.features["cos_own"] for s in scored), default=0.0),
        "best_share": max((s.features["share"] for s in scored), default=0.0),
        "top_dense": max((c.features.get("dense_own", 0.0) for c in ranked), default=0.0),
        "unmatched_idf": unmatched_idf(question.terms, held, question.max_idf),
        "missing_all": unmatched_idf(question.terms, anywhere, question.max_idf),
        "name_missing": max((question.terms[t] for t in missing if t not in unknown), default=0.0) / top_idf,
        "name_unknown": question.max_idf if unknown else 0.0,
        "name_apart": float(bool(names_apart(question, candidates))),
        "top_names": len(set(names) & top_held) / len(names) if names else 1.0,
        "required_missing": required_missing(cue, [s.text for s in by_score[:3]]),
        "relevance": max(relevance, default=0.0),
        "required_missing_relevant": required_missing(cue, [s.text for _, s in sorted(
            zip(relevance, scored), key=lambda x: -x[0])[:3]]),
        "year_gap": year_gap(question.text, [c.chunk for c in candidates]) / 10,
        "year_idf": max((question.terms.get(y, 0.0) for y in years_of(question.text)), default=0.0) / top_idf,
        "period_uncovered": float(question.reading.no_period) * question.dated,
        "follow_up": float(question.query.follow_up),
    }
    named = out["outlet_named"]
    out.update({f"{k}_named": out[k] * named for k in ("top_passage", "top_sentence", "best_cos", "unmatched_idf")})
    return out


PRONOUN = re.compile(r"\W*(?:he|she|it|they|his|her|its|their|this|these|those|we|i)\b", re.I)
_MONTH_WORD = re.compile(r"\b(?:january|february|march|april|may|june|july|august|september|october|november|"
                         r"december)\b(?=\s+(?:\d|alone|last|this|next|of|in|\?|$))|\b(?:january|february|"
                         r"march|april|june|july|august|september|october|november|december)\b")
_WORD = r"(?:[A-Z][\w’'.&-]*|[a-z]+[A-Z][\w’'.&-]*|[\w’'-]*\d[\w’'.,-]*)"  # capitalised, camel-cased ("iPad"), a digit
_NAME_WORD = re.compile(rf"(?<![\w’'-]){_WORD}")
_NAME_RUN = re.compile(rf"(?<![\w’'-]){_WORD}(?:[ \t]+{_WORD})+")  # "21st Century Fox", "2014 FIFA World Cup"
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")


def question_names(question: Question) -> list[str]:
    """The words of the question that name something: capitalised words other than the one
    opening a sentence, and words with a digit (numbers, years, "Half-Life 2"), as asked."""
    out = []
    text = question.query.text if question.query.follow_up else question.text  # a follow-up: with what it leans on
    for m in _NAME_WORD.finditer(text):
        if _opens_sentence(text, m.start(), m.group(0)):
            continue
        word = m.group(0).strip(".,’'-")
        if word and word not in out:
            out.append(word)
    return out


def _opens_sentence(text: str, start: int, word: str) -> bool:
    """Whether `word`, at `start` of `text`, is capitalised only because it opens a sentence."""
    before = text[:start].rstrip()
    return word[:1].isupper() and (not before or before[-1] in ".!?:\"'‘“(")


def name_terms(question: Question) -> list[str]:
    """The question's terms (stems, as question.terms holds them) that come from its names."""
    out = []
    for word in question_names(question):
        for t in terms(word):
            if t in question.terms and t not in out:
                out.append(t)
    return out


def names_apart(question: Question, candidates: Sequence[Candidate]) -> list[str]:
    """The question's names of several words ("21st Century Fox", "2014 FIFA World Cup")
    whose words no one candidate holds together, though each may be somewhere: the archive
    speaks of Fox and of the 21st century, never of the company. An outlet the reading
    read, or a date, is left to the reading's features."""
    read = {plain(o) for o in question.reading.outlets}
    runs = []
    for m in _NAME_RUN.finditer(question.text):
        words = m.group(0).split()
        if _opens_sentence(question.text, m.start(), words[0]):
            words = words[1:]
        run = re.sub(r"[’']s$", "", " ".join(words).strip(".,’'-"))
        stems = frozenset(t for t in terms(run) if t in question.terms)
        if len(words) >= 2 and len(stems) >= 2 and not _MONTH_WORD.search(run.lower()) and plain(run) not in read:
            runs.append((run, stems))
    if not runs:
        return []
    match = Matcher(question.terms)
    held = [_held(c, match) for c in candidates]
    return [run for run, stems in runs if not any(stems <= h for h in held)]


def _held(candidate: Candidate, match: Matcher) -> frozenset[str]:
    """The question's terms a candidate holds in its title or text."""
    return candidate.covers if candidate.covers is not None else \
        match.held(candidate.chunk.title) | match.held(candidate.chunk.text)


def held_anywhere(candidates: Sequence[Candidate], match: Matcher) -> frozenset[str]:
    """The question's terms some candidate holds in its title or text: what `candidates`
    kept (Candidate.covers), or matched again for one made without it."""
    return frozenset().union(*(_held(c, match) for c in candidates))


def unindexed(question: Question, idf: float) -> bool:
    """Whether a question term of this IDF is in no indexed chunk (the IDF of an unseen term)."""
    return question.max_idf > 1.0 and idf >= question.max_idf - 1e-9


def missing_names(question: Question, candidates: Sequence[Candidate]) -> list[tuple[str, bool]]:
    """The question's names (as asked) that no candidate holds, rarest first, each with
    whether the index holds it anywhere: the reason an abstention gives."""
    anywhere = held_anywhere(candidates, Matcher(question.terms))
    out = []
    for word in question_names(question):
        stems = [t for t in terms(word) if t in question.terms]
        gone = [t for t in stems if t not in anywhere]
        if gone:
            idf = max(question.terms[t] for t in gone)
            out.append((idf, word, unindexed(question, idf)))
    return [(w, unknown) for _, w, unknown in sorted(out, key=lambda x: -x[0])]


def years_of(text: str) -> list[str]:
    return list(dict.fromkeys(_YEAR.findall(text)))


def year_gap(question: str, chunks: Sequence) -> float:
    """How far (in years, at most 10) the year the question names lies from every year the
    passages found mention or were published in (the furthest of its years; 0 when it
    names none, 10 when the passages mention no year at all)."""
    asked = [int(y) for y in years_of(question)]
    if not asked:
        return 0.0
    seen = set(_years_in(chunks))
    if not seen:
        return 10.0
    return float(min(10, max(min(abs(y - s) for s in seen) for y in asked)))


def _years_in(chunks: Sequence) -> list[int]:
    """Every year the chunks mention, and the year each was published in."""
    return [int(y) for c in chunks for y in _YEAR.findall(c.text)] + [int(c.published[:4]) for c in chunks if c.published]


def spoken_years(chunks: Sequence) -> tuple[int, int] | None:
    """The span of years the passages mention most: the 10th to the 90th percentile of the
    years they mention or were published in (None when no year)."""
    seen = sorted(_years_in(chunks))
    if not seen:
        return None
    return seen[int(0.1 * (len(seen) - 1))], seen[int(0.9 * (len(seen) - 1))]


def matched(asked: Mapping[str, float], held: Iterable[str]) -> frozenset[str]:
    """The question's terms a text holds: the same stem, or one stem of five letters or
    more that begins the other ("chair" / "chairman", "ukrain" / "ukrainian", which
    Snowball stems apart)."""
    return frozenset(t for t in asked if any(_same_word(t, h) for h in held))


def _same_word(term: str, held: str) -> bool:
    """A question term and a held term are one word: the same stem, or one stem of five
    letters or more that begins the other."""
    return term == held or (len(term) >= 5 and (held.startswith(term) or (len(held) >= 5 and term.startswith(held))))


class Matcher:
    """`matched` for one question over many texts, by lookups: a text holds a question term
    as it is (a set intersection), or through a term sharing its first five letters with a
    question term of five or more letters, the only kind that can match other than exactly."""

    def __init__(self, asked: Mapping[str, float]):
        self.asked = asked
        self._terms = frozenset(asked)
        self._long = {t for t in asked if len(t) >= 5}
        self._begun: dict[str, set[str]] = {}  # a beginning of 5+ letters -> the long terms it begins
        for t in self._long:
            for end in range(5, len(t) + 1):
                self._begun.setdefault(t[:end], set()).add(t)
        self._of: dict[str, frozenset[str]] = {}  # such a held term -> the question's terms it matches
        self._held: dict[str, frozenset[str]] = {}  # text -> the question's terms it holds

    def _matched(self, h: str) -> frozenset[str]:
        """`matched(self.asked, (h,))` for a term sharing a long question term's first five letters."""
        out = set(self._begun.get(h, ()))  # h begins a long term (or is one)
        out.update(h[:end] for end in range(5, len(h) + 1) if h[:end] in self._long)  # one begins h
        if h in self.asked:
            out.add(h)
        return frozenset(out)

    def held(self, text: str) -> frozenset[str]:
        """The question's terms that `text` holds."""
        got = self._held.get(text)
        if got is None:
            have = term_set(text)
            got = have & self._terms
            near = [h for h in have if h[:5] in self._begun]
            if near:
                out = set(got)
                for h in near:
                    hits = self._of.get(h)
                    if hits is None:
                        hits = self._of[h] = self._matched(h)
                    out |= hits
                got = frozenset(out)
            self._held[text] = got
        return got


def share(asked: Mapping[str, float], covers: frozenset[str], total: float | None = None) -> float:
    """The part of the question's weight (each term's IDF) that a text holds (`total`:
    that weight, sum(asked.values()), when the caller has it)."""
    total = sum(asked.values()) if total is None else total
    return sum(asked[t] for t in covers) / total if total else 0.0


def reciprocal_rank(rank: int | None) -> float:
    return 0.0 if rank is None else 1.0 / (1.0 + rank)


def recency(published: str | None, newest: str) -> float:
    """1 for the newest candidate's day, falling by 1/30 a day before it (0 with no date)."""
    if not published or not newest:
        return 0.0
    days = (date.fromisoformat(newest[:10]) - date.fromisoformat(published[:10])).days
    return max(0.0, 1.0 - days / 30)


def unmatched_idf(asked: Mapping[str, float], held: set[str], max_idf: float) -> float:
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
