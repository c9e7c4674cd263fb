"""Dense + keyword candidates under the filters, ranked by the learned ranker.

    query vector -> Chroma top-N chunks (cosine)            \\
    query vector -> Chroma top-N sentences -> their chunk     > union -> features (rag.features)
    query text   -> BM25 top-N chunks (stemmed)             /        -> ranker (rag.scoring) -> top k

The keyword search runs beside the query's embedding and the sentence search beside
the chunk search, in two worker threads (Chroma and numpy release the GIL: on two cores
a question's three searches overlap). Filters restrict all three before their top N is
taken (a Chroma `where`; a document set on the keyword side). Every candidate's exact
cosine comes from its stored vector. Overlapping chunks of one article, and chunks whose
text another already shown has (copies of an article), are folded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np

from store import Filters, Index, StoredChunk, sentence_id

from .conversation import Query
from .cues import cue_of, offers
from .features import Matcher, question_terms, reciprocal_rank, share
from .reading import Reading
from .scoring import Model


@dataclass(frozen=True)
class RetrievalSettings:
    candidates: int = 50  # how many each of the three searches proposes
    parallel: bool = True  # the searches in two threads beside the embedding (False: one after another)

    def __post_init__(self):
        if self.candidates < 1:
            raise ValueError(f"candidates must be at least 1, got {self.candidates}")


@dataclass(frozen=True)
class Candidate:
    chunk: StoredChunk
    score: float  # the ranker's logit (0 before ranking)
    dense: float | None  # cosine similarity to the query
    keyword: float | None  # BM25 score, when the keyword search proposed it
    features: dict[str, float] = field(default_factory=dict, compare=False, repr=False)  # rag.features


@dataclass(frozen=True)
class Pool:
    """Everything one question's retrieval found, before ranking."""

    vector: np.ndarray  # the query's (a follow-up's carries the last turn)
    own: np.ndarray  # the question's own words'
    said: np.ndarray  # (n, dim): what the last turn answered (a follow-up asks for something else)
    asked: dict[str, float]  # the question's terms and their IDF
    max_idf: float  # the IDF of a term no chunk holds
    candidates: list[Candidate]
    reading: Reading = Reading()  # what the question names (outlets, dates)
    sentence_vectors: dict[str, np.ndarray] = field(default_factory=dict)  # of every candidate's sentences, by id
    match: Matcher | None = None  # the question's terms matched in texts, remembered


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="corpus-qa-search")
        return _POOL


def gather(
    index: Index, question: str, query: Query, embed: Callable[[list[str]], np.ndarray], n: int,
    settings: RetrievalSettings = RetrievalSettings(), filters: Filters | None = None,
    reading: Reading = Reading(),
) -> Pool | None:
    """The union of the three searches' top n, each candidate with its features. None when
    the filters match no document. `embed`: texts -> unit vectors (run while the keyword
    search goes on). `reading`: the outlets and dates the question names; unless the user
    set filters, each gets a dense and a keyword search of its own (top NAMED), so the
    articles it names are among the candidates, and features say which candidates match."""
    where, allowed = None, None
    if filters is not None and not filters.empty:
        matching = [d.id for d in index.matching(filters)]
        if not matching:
            return None
        where = filters.where(matching if filters.needs_ids else None)
        allowed = matching
    submit = _pool().submit if settings.parallel else _Done
    keyword_job = submit(index.keyword, query.keywords, n, allowed)
    named = [] if where is not None else _named_filters(reading)
    named_keyword = [submit(_named_keyword, index, query.keywords, f) for f in named]
    texts = [query.text, question, *query.said] if query.follow_up else [query.text]
    vectors = np.asarray(embed(texts), dtype=np.float32)
    vector, own, said = vectors[0], vectors[min(1, len(texts) - 1)], vectors[2:]
    sentence_job = submit(index.dense_sentences, vector, n, where)
    dense = index.dense(vector, n, where)
    own_dense = index.dense(own, n, where) if query.follow_up else []  # a follow-up's own subject too
    sentences = sentence_job.result()
    keyword = keyword_job.result()
    named_hits: dict[str, int] = {}  # chunk id -> its best rank in a search of what the question names
    for f, job in zip(named, named_keyword):
        found = index.dense(vector, NAMED, f.where())
        for ranking in ([c.id for c, _ in found], [h.id for h in job.result()]):
            for r, i in enumerate(ranking):
                named_hits[i] = min(named_hits.get(i, r), r)

    rank_of = {name: {i: r for r, i in enumerate(ids)} for name, ids in (
        ("dense", [c.id for c, _ in dense]), ("sentence", [i for i, _ in sentences]),
        ("keyword", [h.id for h in keyword]), ("own", [c.id for c, _ in own_dense]))}
    ids = list(dict.fromkeys([c.id for c, _ in dense] + [i for i, _ in sentences] + [h.id for h in keyword]
                             + [c.id for c, _ in own_dense] + list(named_hits)))
    chunks, stored = index.chunks_and_vectors(ids)
    ids = [i for i in ids if i in stored]
    matrix = np.stack([stored[i] for i in ids]) if ids else np.zeros((0, len(vector)), np.float32)
    cos, cos_own = matrix @ vector, matrix @ own

    keyword_index = index.keyword_index(wait=False)  # None while it is built: every word weighs the same
    asked = question_terms(question, keyword_index.idf if keyword_index else None)
    match = Matcher(asked)
    max_idf = keyword_index.idf("\x00") if keyword_index else 1.0
    sentence_of = dict(sentences)
    sentence_floor = min(sentence_of.values(), default=0.0)
    keyword_of = {h.id: h.score for h in keyword}
    keyword_top = max(keyword_of.values(), default=0.0) or 1.0
    best_dense = float(cos.max()) if len(ids) else 0.0
    doc_dense: dict[str, float] = {}
    doc_chunks: dict[str, int] = {}
    for i, c in zip(ids, cos):
        d = chunks[i].doc_id
        doc_dense[d] = max(doc_dense.get(d, -1.0), float(c))
        doc_chunks[d] = doc_chunks.get(d, 0) + 1
    # every sentence of every candidate: its exact cosine and the share of the question it holds
    sentence_ids = {i: [sentence_id(chunks[i].doc_id, span) for span in chunks[i].sentences] for i in ids}
    sentence_vectors = index.sentence_vectors(list(dict.fromkeys(x for v in sentence_ids.values() for x in v)))
    newest = max((chunks[i].published or "" for i in ids), default="")
    cue = cue_of(question)
    out = []
    for j, i in enumerate(ids):
        chunk = chunks[i]
        held = [v for x in sentence_ids[i] if (v := sentence_vectors.get(x)) is not None]
        texts = [chunk.text[a - chunk.start : b - chunk.start] for a, b in chunk.sentences]
        features = {
            "cue_asked": float(cue is not None),
            "cue_offer": float(cue is not None and any(offers(cue, t) for t in texts)),
            "sent_max": float(max(np.stack(held) @ vector)) if held else float(cos[j]),
            "sent_share_max": max((share(asked, match(match.terms(t))) for t in texts), default=0.0),
            "dense": float(cos[j]), "dense_own": float(cos_own[j]), "dense_top": float(cos[j]) - best_dense,
            "sentence": sentence_of.get(i, sentence_floor), "keyword": keyword_of.get(i, 0.0) / keyword_top,
            "rr_dense": reciprocal_rank(rank_of["dense"].get(i)),
            "rr_sentence": reciprocal_rank(rank_of["sentence"].get(i)),
            "rr_keyword": reciprocal_rank(rank_of["keyword"].get(i)),
            "rr_own": reciprocal_rank(rank_of["own" if query.follow_up else "dense"].get(i)),
            "share": share(asked, match(match.terms(chunk.title).union(*(match.terms(t) for t in texts)))),
            "title_share": share(asked, match(match.terms(chunk.title))),
            "doc_dense": doc_dense[chunk.doc_id], "doc_chunks": min(doc_chunks[chunk.doc_id], 5) / 5,
            "follow_up": float(query.follow_up), "prev_doc": float(chunk.doc_id in query.prefer),
            "rr_named": reciprocal_rank(named_hits.get(i)),
            "outlet_named": float(bool(reading.outlets)), "outlet_match": float(chunk.outlet in reading.outlets),
            "date_named": float(bool(reading.dates)), "date_match": float(reading.date_match(chunk.published)),
            "recency": _recency(chunk.published, newest) if reading.latest else 0.0,
        }
        out.append(Candidate(chunk, 0.0, float(cos[j]), keyword_of.get(i), features))
    return Pool(vector, own, said, asked, max_idf, out, reading, sentence_vectors, match)


NAMED = 10  # how many each search restricted to a named outlet or date proposes
MAX_NAMED = 6  # at most this many such searches a question


def _named_filters(reading: Reading) -> list[Filters]:
    """One search per outlet and per period the question names."""
    named = [Filters(outlets=(o,)) for o in reading.outlets] + [Filters(since=a, until=b) for a, b in reading.dates]
    return named[:MAX_NAMED]


def _named_keyword(index: Index, keywords: str, f: Filters):
    return index.keyword(keywords, NAMED, [d.id for d in index.matching(f)])


def _recency(published: str | None, newest: str) -> float:
    """1 for the newest candidate's day, falling by 1/30 a day before it (0 with no date)."""
    if not published or not newest:
        return 0.0
    days = (date.fromisoformat(newest[:10]) - date.fromisoformat(published[:10])).days
    return max(0.0, 1.0 - days / 30)


def rank(candidates: Sequence[Candidate], ranker: Model) -> list[Candidate]:
    """The candidates by the ranker's logit, best first (ties by chunk id)."""
    logits = ranker.logits([c.features for c in candidates])
    scored = [replace(c, score=float(s)) for c, s in zip(candidates, logits)]
    return sorted(scored, key=lambda c: (-c.score, c.chunk.id))


def top(ranked: Sequence[Candidate], k: int) -> list[Candidate]:
    """The first k of a ranking, skipping a chunk that overlaps one already taken from its
    article by more than half, or whose text one taken already has (a copy)."""
    picked: list[Candidate] = []
    of_doc: dict[str, list[StoredChunk]] = {}
    texts: set[str] = set()
    for cand in ranked:
        chunk = cand.chunk
        if chunk.text in texts or any(_overlaps(chunk, o) for o in of_doc.get(chunk.doc_id, ())):
            continue
        picked.append(cand)
        of_doc.setdefault(chunk.doc_id, []).append(chunk)
        texts.add(chunk.text)
        if len(picked) == k:
            break
    return picked


class _Done:
    """A job run at once in this thread, with a Future's result()."""

    def __init__(self, fn, *args):
        self.value = fn(*args)

    def result(self):
        return self.value


def _overlaps(a: StoredChunk, b: StoredChunk) -> bool:
    """Whether two chunks of one document share more than half of the shorter one."""
    if a.doc_id != b.doc_id:
        return False
    shared = min(a.end, b.end) - max(a.start, b.start)
    return shared > 0.5 * min(a.end - a.start, b.end - b.start)
