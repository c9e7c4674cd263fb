"""Dense + keyword candidates under the filters, fused into one ranking of chunks.

    query vector -> Chroma top-N chunks (cosine)        \\
    query vector -> Chroma top-N sentences -> their chunk  > fuse (normalised scores or RRF)
    query text   -> BM25 top-N chunks (stemmed)          /     -> top-k, no near-duplicates

The keyword search runs beside the query's embedding and the sentence search beside
the chunk search, in two worker threads (Chroma and numpy release the GIL: on two cores
a question's three searches overlap). Filters restrict all three before their top N is taken (a Chroma `where`; a document set
on the keyword side). A follow-up's earlier articles get a bonus (rag.conversation).
Overlapping chunks of one article, and chunks whose text another already shown has
(copies of an article), are folded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from store import Filters, Index, StoredChunk


@dataclass(frozen=True)
class RetrievalSettings:
    candidates: int = 50  # how many each retriever proposes
    fusion: str = "linear"  # "linear" (min-max scaled scores) or "rrf"; chosen on SciFact train + dev.jsonl
    rrf_k: int = 60
    dense_weight: float = 1.0  # weight of each ranking in the fusion (benchmarks/RESULTS.md: variants)
    sentence_weight: float = 1.0
    keyword_weight: float = 1.5
    parallel: bool = True  # the searches in two threads beside the embedding (False: one after another)

    def __post_init__(self):
        if self.candidates < 1:
            raise ValueError(f"candidates must be at least 1, got {self.candidates}")
        if self.fusion not in ("rrf", "linear"):
            raise ValueError(f"fusion must be 'rrf' or 'linear', got {self.fusion!r}")
        if min(self.dense_weight, self.sentence_weight, self.keyword_weight) < 0:
            raise ValueError("fusion weights must not be negative")


@dataclass(frozen=True)
class Candidate:
    chunk: StoredChunk
    score: float  # fused
    dense: float | None  # cosine similarity, when the dense retriever proposed it
    keyword: float | None  # BM25 score, when the keyword retriever proposed it


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="corpus-qa-search")
        return _POOL


def retrieve(
    index: Index, query: str, vector: np.ndarray | Callable[[], np.ndarray], k: int,
    settings: RetrievalSettings = RetrievalSettings(), filters: Filters | None = None,
    prefer: dict[str, float] | None = None,
) -> list[Candidate]:
    """The k best chunks for the query, best first; overlapping neighbours and repeated
    texts are folded. `vector`: the query's unit vector, or a function that makes it (run
    while the keyword search goes on). `prefer`: document id -> bonus added to its
    chunks' fused score."""
    n = max(settings.candidates, k)
    where, allowed = None, None
    if filters is not None and not filters.empty:
        matching = [d.id for d in index.matching(filters)]
        if not matching:
            return []
        where = filters.where(matching if filters.needs_ids else None)
        allowed = matching
    submit = _pool().submit if settings.parallel else _Done
    keyword_job = submit(index.keyword, query, n, allowed) if settings.keyword_weight else None
    vector = vector() if callable(vector) else vector
    sentence_job = submit(index.dense_sentences, vector, n, where) if settings.sentence_weight else None
    dense = index.dense(vector, n, where) if settings.dense_weight else []
    sentences = sentence_job.result() if sentence_job else []
    keyword = keyword_job.result() if keyword_job else []
    fused = fuse(
        [
            (settings.dense_weight, [(c.id, s) for c, s in dense]),
            (settings.sentence_weight, sentences),
            (settings.keyword_weight, [(h.id, h.score) for h in keyword]),
        ],
        settings,
    )
    chunks = {c.id: c for c, _ in dense}
    chunks.update(index.chunks([i for i, _ in fused[: 3 * k] if i not in chunks]))
    if prefer:
        fused = sorted(
            ((i, s + (prefer.get(chunks[i].doc_id, 0.0) if i in chunks else 0.0)) for i, s in fused),
            key=lambda item: (-item[1], item[0]),
        )
    dense_of = {c.id: s for c, s in dense}
    keyword_of = {h.id: h.score for h in keyword}
    picked: list[Candidate] = []
    of_doc: dict[str, list[StoredChunk]] = {}
    texts: set[str] = set()
    for chunk_id, score in fused:
        chunk = chunks.get(chunk_id)
        if chunk is None or chunk.text in texts or any(_overlaps(chunk, o) for o in of_doc.get(chunk.doc_id, ())):
            continue
        picked.append(Candidate(chunk, score, dense_of.get(chunk_id), keyword_of.get(chunk_id)))
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


def fuse(rankings: list[tuple[float, list[tuple[str, float]]]], settings: RetrievalSettings) -> list[tuple[str, float]]:
    """Ids by fused score, best first. Each ranking is (weight, [(id, score), ...] best first).

    rrf: sum of weight / (rrf_k + rank). linear: weighted sum of scores min-max scaled
    within each ranking (absent from a ranking: 0).
    """
    scores: dict[str, float] = {}
    for weight, ranking in rankings:
        if not ranking or not weight:
            continue
        if settings.fusion == "rrf":
            for rank, (i, _) in enumerate(ranking):
                scores[i] = scores.get(i, 0.0) + weight / (settings.rrf_k + rank + 1)
        else:
            values = [v for _, v in ranking]
            low, span = min(values), (max(values) - min(values)) or 1.0
            for i, v in ranking:
                scores[i] = scores.get(i, 0.0) + weight * (v - low) / span
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def _overlaps(a: StoredChunk, b: StoredChunk) -> bool:
    """Whether two chunks of one document share more than half of the shorter one."""
    if a.doc_id != b.doc_id:
        return False
    shared = min(a.end, b.end) - max(a.start, b.start)
    return shared > 0.5 * min(a.end - a.start, b.end - b.start)
