"""Stage 2: Question -> Found, the candidate chunks of two searches under the filters.

    query vector -> Chroma top-N chunks (cosine)   \\  union, with every chunk's stored
    query text   -> BM25 top-N chunks (stemmed)    /   vector and its sentences'

A follow-up's own words get a dense search of their own; each outlet or period the
question names (rag.reading) gets a dense and a keyword search restricted to it (top
NAMED), unless the user set filters. The keyword search runs beside the query's
embedding, in worker threads (Chroma and numpy release the GIL: on two cores a
question's searches overlap). Filters
restrict every search before its top N is taken (a Chroma `where`; a document set on
the keyword side). Nothing is scored here: rag.features turns what was found into features.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from store import Filters, Index, KeywordIndex

from .reading import Reading
from .types import Found, Question

NAMED = 10  # how many each search restricted to a named outlet or date proposes
MAX_NAMED = 6  # at most this many such searches a question
PERIOD_IDS = 1000  # a named period admitting at most this many documents is searched by their ids


@dataclass(frozen=True)
class SearchSettings:
    # how many each of the searches proposes: with 40, every dev set and MultiHop-RAG's test
    # split stay within noise of 50 (the models were fitted on pools of 50; 30 lost recall@10
    # on MultiHop-RAG test), with a fifth fewer candidates to read and weigh (RESULTS.md)
    candidates: int = 40
    parallel: bool = True  # the searches in two threads beside the embedding (False: one after another)

    def __post_init__(self):
        if self.candidates < 1:
            raise ValueError(f"candidates must be at least 1, got {self.candidates}")


def search(
    index: Index, question: Question, keywords: KeywordIndex | None, embed: Callable[[list[str]], np.ndarray],
    n: int, settings: SearchSettings = SearchSettings(),
) -> Found:
    """The union of the searches' top n for `question`. `keywords`: the index's keyword
    index as this question sees it (None while a large one is built in the background:
    no keyword search). `embed`: texts -> unit vectors (run while the keyword search goes on)."""
    where, allowed = None, None
    filters = question.filters
    if filters is not None:
        matching = [d.id for d in index.matching(filters)]
        if not matching:
            return _nothing(index, question, embed)
        where = filters.where(matching if filters.needs_ids else None)
        allowed = matching
    query = question.query
    submit = _threads().submit if settings.parallel else _Done
    keyword_search = (lambda text, top, docs: keywords.search(text, top, docs)) if keywords else (lambda *_: [])
    keyword_job = submit(keyword_search, query.keywords, n, allowed)
    named = [] if where is not None else _named_filters(question.reading)
    named_docs = [_documents_of(index, f) for f in named]  # from the index's catalogue, in memory
    named_keyword = [submit(keyword_search, query.keywords, NAMED, docs) for docs in named_docs]
    texts = [query.text, question.text, *query.said] if query.follow_up else [query.text]
    vectors = np.asarray(embed(texts), dtype=np.float32)
    vector, own, said = vectors[0], vectors[min(1, len(texts) - 1)], vectors[2:]
    dense = index.nearest(vector, n, where)
    own_dense = index.nearest(own, n, where) if query.follow_up else []  # a follow-up's own subject too
    keyword = keyword_job.result()
    named_hits: dict[str, int] = {}  # chunk id -> its best rank in a search of what the question names
    for f, docs, job in zip(named, named_docs, named_keyword):
        dense_named = index.nearest(vector, NAMED, _named_where(f, docs)) if docs else []
        for ranking in (dense_named, [h.id for h in job.result()]):
            for r, i in enumerate(ranking):
                named_hits[i] = min(named_hits.get(i, r), r)

    ranks = {name: {i: r for r, i in enumerate(ids)} for name, ids in (
        ("dense", dense), ("keyword", [h.id for h in keyword]), ("own", own_dense))}
    ranks["named"] = named_hits
    ids = list(dict.fromkeys(dense + [h.id for h in keyword] + own_dense + list(named_hits)))
    chunks, stored, sentence_vectors = index.chunks_and_vectors(ids)
    ids = [i for i in ids if i in stored]
    matrix = np.stack([stored[i] for i in ids]) if ids else np.zeros((0, len(vector)), np.float32)
    return Found(
        vector, own, said, tuple(chunks[i] for i in ids), matrix, sentence_vectors, ranks,
        {h.id: h.score for h in keyword}, keywords_building=index.keywords.building,
    )


def _nothing(index: Index, question: Question, embed) -> Found:
    """What a search under filters that match no document finds: nothing (and no embedding)."""
    empty = np.zeros(0, np.float32)
    return Found(empty, empty, np.zeros((0, 0), np.float32), (), np.zeros((0, 0), np.float32), {}, {}, {},
                 no_documents=True, keywords_building=index.keywords.building)


def _named_filters(reading: Reading) -> list[Filters]:
    """One search per outlet and per period the question names."""
    named = [Filters(outlets=(o,)) for o in reading.outlets] + [Filters(since=a, until=b) for a, b in reading.dates]
    return named[:MAX_NAMED]


def _documents_of(index: Index, f: Filters) -> list[str]:
    return [d.id for d in index.matching(f)]


def _named_where(f: Filters, docs: list[str]) -> dict | None:
    """The Chroma `where` of a named outlet's or period's dense search. A period that
    admits at most PERIOD_IDS documents is said as their ids: the same chunks, but Chroma
    filters a range of `day` slowly (MultiHop-RAG: 22-28 ms a period search, 6.5-7.8 ms
    by its documents' ids, the same ten chunks each time; RESULTS.md)."""
    if (f.since or f.until) and len(docs) <= PERIOD_IDS:
        return Filters().where(docs)
    return f.where()


_THREADS: ThreadPoolExecutor | None = None
_THREADS_LOCK = threading.Lock()


def _threads() -> ThreadPoolExecutor:
    """Two worker threads for the searches, started by the first question."""
    global _THREADS
    with _THREADS_LOCK:
        if _THREADS is None:
            _THREADS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="corpus-qa-search")
        return _THREADS


class _Done:
    """A job run at once in this thread, with a Future's result()."""

    def __init__(self, fn, *args):
        self.value = fn(*args)

    def result(self):
        return self.value
