"""The keyword (BM25) index: derived from the Chroma collection, saved beside it, updated in place.

The index keeps term frequencies, not scores: term-major sparse matrices (scipy CSR, one
row of postings per term) in a few segments, and per chunk its length, its document and
whether it is still alive. BM25's global statistics (number of chunks, document
frequencies, average length) are applied when a query is scored, so adding a document
appends a segment and removing one clears its chunks' bits, and the scores are exactly
those of an index built from scratch over the same chunks (bm25s's "lucene" BM25, which
this replaced: bm25s stores scores with the idf baked in and cannot be appended to).

`KeywordSync` keeps one in step with the collection. When the collection's version stamp
moves, it reads the ids of the complete documents (the documents collection: a record is
written last by an ingest and deleted first by a removal), fetches the chunks of the
documents it does not hold and drops those it holds that are gone. It rebuilds from the
complete documents only when it holds nothing usable or something does not add up (a
large rebuild asked for by a question runs in the background: KeywordSync).
Each chunk's document id is kept beside it, so a search can be restricted to some
documents (the filters) before its top n is taken.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import logging
import os
import queue
import re
import shutil
import threading
from collections import OrderedDict
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)
_WORD = re.compile(r"(?u)\b\w\w+\b")
# bm25s's English list (33 words) plus question words and auxiliaries: they carry no topic.
_STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then "
    "there these they this to was will with what which who whom whose when where why how did do "
    "does done has have had been being were am i you he she we its his her our your my me him "
    "them us from about can could would should may might shall than so also any some all".split()
)
FORMAT = "corpus-qa-bm25-tf-1"  # what a saved copy holds; another value: rebuild


@functools.lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


WEIGHT_CACHE = 4_000_000  # postings whose weights a view keeps (8 bytes each: at most 32 MB)


def terms(text: str) -> list[str]:
    """The stemmed content words of `text`, as the keyword index sees them."""
    words = [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]
    return _stemmer().stemWords(words)


@functools.lru_cache(maxsize=1 << 16)
def term_set(text: str) -> frozenset[str]:
    """The distinct terms of `text`, kept for the next calls: a question's candidate
    sentences recur in the next question's. 65,536 texts kept, ~1.2 KB each (up to ~80 MB):
    over bbc-dev's 200 questions, 9 ms a question less than keeping 4,096 (RESULTS.md)."""
    return frozenset(terms(text))


@dataclass(frozen=True)
class KeywordHit:
    id: str
    score: float


K1, B = 0.9, 0.4  # BM25 term saturation and length normalisation (Anserini's defaults; bm25s's
# own, 1.5 and 0.75, were 0.005 lower on SciFact train: benchmarks/RESULTS.md)
_MERGE_RATIO = 4  # a segment is merged into the one before it once it is >= 1/4 of its size
_BUILD_BATCH = 50_000  # chunks tokenized into one segment at a time by a build
BACKGROUND_OVER = 50_000  # chunks: a question does not wait for a rebuild of more than this
_COMPACT_DEAD = 0.25  # positions of removed chunks are dropped once they are a quarter of all


def _idf(n: int, df: int | np.ndarray):
    return np.log(1 + (n - df + 0.5) / (df + 0.5))


class _Segment:
    """Postings of some consecutive positions: row t of `matrix` (terms x all positions,
    CSR) holds the positions of the chunks with term t and its count in each. Never
    changed once made, so every view that shares it reads it without a lock."""

    __slots__ = ("matrix", "start", "end")

    def __init__(self, matrix, start: int, end: int):  # a scipy CSR matrix, or a loaded copy's _Csr
        self.matrix, self.start, self.end = matrix, start, end

    @property
    def n_terms(self) -> int:
        return self.matrix.shape[0]

    @property
    def nnz(self) -> int:
        return int(self.matrix.nnz)

    def postings(self, term: int) -> tuple[np.ndarray, np.ndarray] | None:
        if term >= self.matrix.shape[0]:
            return None
        lo, hi = self.matrix.indptr[term], self.matrix.indptr[term + 1]
        if lo == hi:
            return None
        return self.matrix.indices[lo:hi], self.matrix.data[lo:hi]


def _sparse():
    """scipy.sparse, imported when an index is built, updated or merged: a question
    answered from a saved copy never needs it (0.2 s of a cold start)."""
    import scipy.sparse

    return scipy.sparse


class _Csr:
    """A loaded copy's term-major matrix as its three arrays (what a search reads);
    `scipy()` makes the scipy matrix that updates and merges work on."""

    __slots__ = ("data", "indices", "indptr", "shape")

    def __init__(self, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, shape: tuple[int, int]):
        self.data, self.indices, self.indptr, self.shape = data, indices, indptr, shape

    @property
    def nnz(self) -> int:
        return len(self.data)

    def scipy(self):
        return _sparse().csr_matrix((self.data, self.indices, self.indptr), shape=self.shape)


def _scipy(matrix):
    return matrix.scipy() if isinstance(matrix, _Csr) else matrix


def _segment(token_ids: list[list[int]], start: int, n_terms: int) -> tuple[_Segment, np.ndarray]:
    """A segment for chunks at positions start.. from their term ids; and their lengths
    (an empty chunk counts one token, as bm25s counted its placeholder)."""
    counts_per_chunk = np.fromiter((len(t) for t in token_ids), dtype=np.int64, count=len(token_ids))
    end = start + len(token_ids)
    flat = np.fromiter(itertools.chain.from_iterable(token_ids), dtype=np.int64, count=int(counts_per_chunk.sum()))
    positions = np.repeat(np.arange(start, end, dtype=np.int64), counts_per_chunk)
    keys, counts = np.unique(positions * max(n_terms, 1) + flat, return_counts=True)
    matrix = _sparse().csr_matrix(
        (np.minimum(counts, np.iinfo(np.uint16).max).astype(np.uint16),
         ((keys % max(n_terms, 1)).astype(np.int32), (keys // max(n_terms, 1)).astype(np.int32))),
        shape=(n_terms, end), dtype=np.uint16,
    )
    matrix.sort_indices()
    return _Segment(matrix, start, end), np.maximum(counts_per_chunk, 1).astype(np.int32)


def _merge(segments: list[_Segment], n_terms: int) -> _Segment:
    """One segment holding the postings of consecutive `segments` (their positions do not overlap)."""
    end = max(s.end for s in segments)
    total = None
    for s in segments:
        m = _scipy(s.matrix).copy()
        m.resize((n_terms, end))
        total = m if total is None else total + m
    total = _sparse().csr_matrix(total, dtype=np.uint16)
    total.sort_indices()
    return _Segment(total, min(s.start for s in segments), end)


class KeywordIndex:
    """BM25 over chunk texts (title + text): stop words out, Snowball stemming.

    A view: what `search` and `idf` read is never changed after it is made; `updated`
    returns a new view that shares the unchanged parts. Positions of removed chunks stay
    (dead) until a compaction drops them."""

    def __init__(self, version: str, vocab: dict[str, int], n_terms: int, segments: tuple[_Segment, ...],
                 ids: list[str], doc_ids: list[str], lengths: np.ndarray, alive: np.ndarray,
                 doc_code: np.ndarray, codes: dict[str, int], documents: dict[str, int]):
        self.version = version
        self._vocab, self._n_terms = vocab, n_terms  # vocab: shared, only ever added to
        self.segments = segments
        self._size = len(lengths)  # positions in use; the shared id lists may be longer
        self._all_ids, self._all_doc_ids = ids, doc_ids  # by position, shared, only ever appended to
        self._lengths, self._alive, self._doc_code = lengths, alive, doc_code
        self._codes = codes  # document id -> code, shared, only ever added to
        self.documents = documents  # document id -> its chunks held (0: a document without text)
        self.n = int(alive.sum())
        total = int(lengths[alive].sum(dtype=np.int64))
        self.avgdl = total / self.n if self.n else 1.0
        # the length part of BM25's denominator, per position (float32, as bm25s scored)
        self._norm = (K1 * (1 - B + B * lengths.astype(np.float64) / self.avgdl)).astype(np.float32)
        self._alive_ids: list[str] | None = None
        # a term's (positions, BM25 weights) in this view, for the next question that asks it
        self._weights: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._weights_held = 0  # postings in _weights
        self._weights_lock = threading.Lock()

    # -- making -----------------------------------------------------------------------
    @classmethod
    def build(cls, ids: list[str], texts: list[str], version: str, doc_ids: list[str] | None = None,
              documents: Iterable[str] = ()) -> KeywordIndex:
        """An index of chunks `ids` with `texts` (of documents `doc_ids`); `documents`:
        documents held that have no chunk."""
        doc_ids = list(doc_ids) if doc_ids is not None else [""] * len(ids)
        view = cls(version, {}, 0, (), [], [], np.zeros(0, np.int32), np.zeros(0, bool), np.zeros(0, np.int32), {}, {})
        rows = list(zip(ids, texts, doc_ids))
        for at in range(0, len(rows), _BUILD_BATCH):  # in batches: a segment each, merged as they grow
            view = view.updated(version, add=rows[at : at + _BUILD_BATCH])
        return view.updated(version, documents=documents) if documents else view

    def updated(self, version: str, add: list[tuple[str, str, str]] = (), remove: Iterable[str] = (),
                documents: Iterable[str] = ()) -> KeywordIndex:
        """A new view: this one less the chunks of documents `remove`, plus chunks `add`
        ((chunk id, text, document id) of documents not held), plus `documents` (held,
        no chunks). This view is not changed."""
        remove = [d for d in remove if d in self.documents]
        held = dict(self.documents)
        alive = self._alive
        if remove:
            codes = np.asarray([self._codes[d] for d in remove], dtype=np.int32)
            alive = alive & ~np.isin(self._doc_code, codes)
            for d in remove:
                del held[d]
        vocab = self._vocab
        ids, doc_ids = self._all_ids, self._all_doc_ids
        if len(ids) > self._size:  # a newer view (or a failed update) appended to the shared lists
            ids, doc_ids = ids[: self._size], doc_ids[: self._size]
        segments = list(self.segments)
        lengths, doc_code = self._lengths, self._doc_code
        if add:
            tokens = [[vocab.setdefault(t, len(vocab)) for t in terms(text)] for _, text, _ in add]
            segment, new_lengths = _segment(tokens, self._size, len(vocab))
            new_codes = np.fromiter((self._codes.setdefault(d, len(self._codes)) for _, _, d in add),
                                    dtype=np.int32, count=len(add))
            ids += [r[0] for r in add]
            doc_ids += [r[2] for r in add]
            for _, _, d in add:
                held[d] = held.get(d, 0) + 1
            lengths = np.concatenate([lengths, new_lengths])
            doc_code = np.concatenate([doc_code, new_codes])
            alive = np.concatenate([alive, np.ones(len(add), dtype=bool)])
            segments.append(segment)
            while len(segments) > 1 and segments[-1].nnz * _MERGE_RATIO >= segments[-2].nnz:
                segments[-2:] = [_merge(segments[-2:], len(vocab))]
        for d in documents:
            held.setdefault(d, 0)
        view = KeywordIndex(version, vocab, len(vocab), tuple(segments), ids, doc_ids, lengths, alive, doc_code,
                            self._codes, held)
        dead = len(alive) - view.n
        if dead and dead >= _COMPACT_DEAD * len(alive):
            view = view.compacted()
        return view

    def compacted(self) -> KeywordIndex:
        """The same index without the positions of removed chunks, in one segment."""
        if len(self.segments) <= 1 and self.n == self._size:
            return self
        keep = np.flatnonzero(self._alive)
        if self.n == self._size:
            merged = _merge(list(self.segments), self._n_terms)
            return KeywordIndex(self.version, self._vocab, self._n_terms, (merged,), self._all_ids, self._all_doc_ids,
                                self._lengths, self._alive, self._doc_code, self._codes, dict(self.documents))
        if self.segments:
            merged = _merge(list(self.segments), self._n_terms).matrix if len(self.segments) > 1 else self.segments[0].matrix
            matrix = _sparse().csr_matrix(_scipy(merged)[:, keep], dtype=np.uint16)
            matrix.sort_indices()
            segments = (_Segment(matrix, 0, len(keep)),) if len(keep) else ()
        else:
            segments = ()
        ids = [self._all_ids[p] for p in keep]
        doc_ids = [self._all_doc_ids[p] for p in keep]
        return KeywordIndex(self.version, self._vocab, self._n_terms, segments, ids, doc_ids, self._lengths[keep],
                            np.ones(len(keep), dtype=bool), self._doc_code[keep], self._codes, dict(self.documents))

    def with_version(self, version: str) -> KeywordIndex:
        view = KeywordIndex.__new__(KeywordIndex)
        view.__dict__.update(self.__dict__)
        view.version = version
        return view

    # -- reading ----------------------------------------------------------------------
    @property
    def ids(self) -> list[str]:
        """The chunk ids held."""
        if self._alive_ids is None:
            self._alive_ids = [self._all_ids[p] for p in np.flatnonzero(self._alive)]
        return self._alive_ids

    @property
    def doc_ids(self) -> list[str]:
        return [self._all_doc_ids[p] for p in np.flatnonzero(self._alive)]

    def _postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """Positions of the live chunks holding `term`, and its count in each."""
        code = self._vocab.get(term)
        parts = [] if code is None or code >= self._n_terms else [p for s in self.segments if (p := s.postings(code))]
        if not parts:
            return np.zeros(0, np.int32), np.zeros(0, np.uint16)
        positions = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
        counts = np.concatenate([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
        if self.n < self._size:  # some positions are of removed chunks
            live = np.take(self._alive, positions)
            if not live.all():
                positions, counts = positions[live], counts[live]
        return positions, counts

    def idf(self, term: str) -> float:
        """BM25's inverse document frequency of a (stemmed) term; a term no chunk holds
        gets the highest."""
        return float(_idf(self.n, len(self._postings(term)[0])))

    def search(self, query: str, n: int, documents: Collection[str] | None = None) -> list[KeywordHit]:
        """The top n chunks by BM25; `documents`: only chunks of these document ids.
        Equal scores are ordered by chunk id, so every build of the same chunks ranks alike."""
        if not self.n or n < 1:
            return []
        scores = None
        for term in terms(query):  # a repeated query word counts once per occurrence (as bm25s did)
            positions, w = self._term_weights(term)
            if len(positions):
                if scores is None:
                    scores = np.zeros(self._size, dtype=np.float32)
                np.add.at(scores, positions, w)
        if scores is None:
            return []
        if documents is not None:
            codes = [self._codes[d] for d in documents if d in self._codes]
            if not codes:
                return []
            scores[~np.isin(self._doc_code, np.asarray(codes, dtype=np.int32))] = 0.0
        hits = np.flatnonzero(scores > 0)
        if len(hits) > n:
            kth = np.partition(scores[hits], len(hits) - n)[len(hits) - n]
            hits = hits[scores[hits] >= kth]  # the top n and every chunk tied with the last
        ranked = sorted(((-scores[p], self._all_ids[p]) for p in hits))[:n]
        return [KeywordHit(i, float(-s)) for s, i in ranked]

    def _term_weights(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """The live positions holding `term` and its BM25 weight at each, kept for the next
        questions (up to WEIGHT_CACHE postings per view, least recently asked dropped first):
        common terms cost most to weigh and are asked most."""
        with self._weights_lock:
            got = self._weights.get(term)
            if got is not None:
                self._weights.move_to_end(term)
                return got
        positions, counts = self._postings(term)
        if len(positions):
            tf = counts.astype(np.float32)
            tf /= tf + np.take(self._norm, positions)  # np.take and np.add.at: 3x faster than [] here
            tf *= np.float32(_idf(self.n, len(positions)))
            got = (positions, tf)
        else:
            got = (positions, np.zeros(0, np.float32))
        with self._weights_lock:
            if term not in self._weights and len(positions) <= WEIGHT_CACHE:
                self._weights[term] = got
                self._weights_held += len(positions)
                while self._weights_held > WEIGHT_CACHE:
                    _, (dropped, _) = self._weights.popitem(last=False)
                    self._weights_held -= len(dropped)
        return got

    def memory_bytes(self) -> int:
        """What the arrays and matrices of this view hold, and (roughly) its id strings."""
        arrays = sum(s.matrix.data.nbytes + s.matrix.indices.nbytes + s.matrix.indptr.nbytes for s in self.segments)
        arrays += self._lengths.nbytes + self._alive.nbytes + self._doc_code.nbytes + self._norm.nbytes
        arrays += 8 * self._weights_held
        strings = 8 * len(self._all_ids) * 2 + sum(49 + len(i) for i in self._all_ids[:1000]) * len(self._all_ids) / max(
            1, min(1000, len(self._all_ids))) * 2
        return int(arrays + strings + 100 * (len(self._vocab) + len(self._codes) + len(self.documents)))

    # -- saving -----------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        """Write the index to a new folder under `folder`, then `meta.json` (the version,
        the ids, a digest of them and the name of that folder) with one atomic rename.
        Saved copies are never changed, so a reader in another thread or process never
        sees half an index or a mix of two saves."""
        view = self.compacted()
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{self.version[:24]}-{uuid.uuid4().hex[:8]}"
        tmp = folder / f".{name}.tmp"
        (tmp / "bm25").mkdir(parents=True)
        matrix = view.segments[0].matrix if view.segments else _Csr(
            np.zeros(0, np.uint16), np.zeros(0, np.int32), np.zeros(view._n_terms + 1, np.int32), (view._n_terms, 0))
        for key, array in (("data", matrix.data), ("indices", matrix.indices), ("indptr", matrix.indptr),
                           ("lengths", view._lengths)):
            np.save(tmp / "bm25" / f"{key}.npy", array)
        vocab = sorted(self._vocab, key=self._vocab.__getitem__)[: view._n_terms]
        (tmp / "bm25" / "vocab.json").write_text(json.dumps(vocab))
        (tmp / "bm25" / "params.index.json").write_text(json.dumps({"k1": K1, "b": B, "method": "lucene",
                                                                     "format": FORMAT}))
        ids, doc_ids = view.ids, view.doc_ids
        empty = sorted(d for d, count in view.documents.items() if not count)
        tmp.rename(folder / name)
        meta = folder / f".meta.{name}"
        # the version first: the sync reads it from the file's first bytes
        meta.write_text(json.dumps({"version": self.version, "format": FORMAT, "copy": name,
                                    "digest": _digest(ids, doc_ids, empty, len(matrix.data)), "empty": empty,
                                    "ids": ids, "doc_ids": doc_ids}))
        os.replace(meta, folder / "meta.json")
        _drop_old_copies(folder, keep=name)

    @classmethod
    def load(cls, folder: Path) -> KeywordIndex | None:
        """The saved index, or None when there is none or it cannot be used as it is.

        It is a cache of the collection: whatever is wrong with it (missing, cut short,
        garbage, from another version of corpus-qa), the answer is to rebuild it."""
        try:
            meta = json.loads((folder / "meta.json").read_text())
            ids, version, name, doc_ids, empty = meta["ids"], meta["version"], meta["copy"], meta["doc_ids"], meta["empty"]
            if meta.get("format") != FORMAT:
                raise ValueError(f"format {meta.get('format')!r}, not {FORMAT}")
            if (not isinstance(version, str) or not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)
                    or not isinstance(doc_ids, list) or len(doc_ids) != len(ids)
                    or not all(isinstance(d, str) for d in doc_ids) or not isinstance(empty, list)):
                raise ValueError("meta.json holds the wrong types")
            if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
                raise ValueError(f"bad copy name {name!r}")
            where = folder / name / "bm25"
            params = json.loads((where / "params.index.json").read_text())
            if (params.get("k1"), params.get("b")) != (K1, B):  # saved with other parameters
                raise ValueError(f"built with k1={params.get('k1')}, b={params.get('b')}")
            data, indices, indptr, lengths = (np.load(where / f"{k}.npy", allow_pickle=False)
                                              for k in ("data", "indices", "indptr", "lengths"))
            vocab_list = json.loads((where / "vocab.json").read_text())
            if meta.get("digest") != _digest(ids, doc_ids, empty, len(data)):
                raise ValueError("the ids do not match their digest")
            n, n_terms = len(ids), len(vocab_list)
            if (lengths.shape != (n,) or indptr.shape != (n_terms + 1,) or data.shape != indices.shape
                    or (n and int(lengths.min()) < 1) or int(indptr[0]) != 0 or int(indptr[-1]) != len(data)
                    or np.any(np.diff(indptr) < 0) or (len(indices) and (int(indices.min()) < 0 or int(indices.max()) >= n))):
                raise ValueError(f"matrices do not fit {n} chunks and {n_terms} terms")
            matrix = _Csr(data.astype(np.uint16, copy=False), indices.astype(np.int32, copy=False), indptr, (n_terms, n))
            vocab = {t: i for i, t in enumerate(vocab_list)}
            if len(vocab) != n_terms:
                raise ValueError("repeated terms")
            codes: dict[str, int] = {}
            doc_code = np.fromiter((codes.setdefault(d, len(codes)) for d in doc_ids), dtype=np.int32, count=n)
            documents = Counter(doc_ids)
            for d in empty:
                documents.setdefault(d, 0)
            segments = (_Segment(matrix, 0, n),) if n else ()
            return cls(version, vocab, n_terms, segments, list(ids), list(doc_ids), lengths.astype(np.int32),
                       np.ones(n, dtype=bool), doc_code, codes, dict(documents))
        except Exception as err:  # noqa: BLE001 - a cache: any failure means rebuild
            logger.info("keyword index at %s unusable (%s: %s); it will be rebuilt", folder, type(err).__name__, err)
            return None


def _digest(ids: list[str], doc_ids: list[str], empty: list[str], nnz: int) -> str:
    h = hashlib.sha256(f"{FORMAT}\x00{nnz}\x00".encode())
    for part in (ids, doc_ids, empty):
        h.update("\x00".join(part).encode())
        h.update(b"\x01")
    return h.hexdigest()


def saved_version(folder: Path) -> str | None:
    """The version stamp of the copy saved in `folder` (from meta.json's first bytes), or None."""
    try:
        with open(folder / "meta.json", "rb") as f:
            head = f.read(512).decode("utf-8", "replace")
    except OSError:
        return None
    found = re.match(r'\{"version": ("(?:[^"\\]|\\.)*")', head)
    return json.loads(found.group(1)) if found else None


def _drop_old_copies(folder: Path, keep: str, grace: float = 60.0) -> None:
    """Remove copies other than `keep` once they are `grace` seconds old (a reader may
    still be loading a younger one), and what an earlier layout or a killed save left."""
    now = time.time()
    for entry in folder.iterdir():
        if entry.name in (keep, "meta.json"):
            continue
        try:
            if now - entry.stat().st_mtime < grace and entry.name != "bm25":  # bm25: the old layout
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        except OSError:
            continue


class KeywordSync:
    """The keyword index of one collection, as it is now: held, loaded from `folder`,
    brought up to date in place, or rebuilt.

    `version()` reads the collection's stamp; `documents()` the ids of its complete
    documents (its document records); `chunks(doc_ids)` the (chunk id, text, document id,
    the document's chunk count) of those documents (a rebuild reads every complete
    document's chunks so; `count()` is the collection's number of chunks).

    When the stamp moves, the held index (or the saved copy, in a new process) is brought
    up to date with the change set: documents with a record that it does not hold are
    added (their chunks fetched), documents it holds without a record are dropped. By the
    write protocol (a record is written after its chunks and deleted before them) that is
    the collection's set of complete documents whatever the stamp, pending ones included;
    orphan chunks (a write cut short) are left out until an ingest drops them. It rebuilds
    when there is nothing to start from (no usable saved copy: missing, damaged, another
    format or other BM25 parameters), when fetched chunks do not add up to their
    document's count, or when most documents are new. An index for a pending stamp (a
    write under way or cut short) is not saved.

    One thread updates; the others wait for it. A search in flight keeps the view it
    started with (views are never changed). A rebuild of more than `background_over`
    chunks (`count()`) asked for with `current(wait=False)` (a question's path) runs in a
    thread of its own: until it is done, `current(wait=False)` returns the last view held,
    or None (the question is answered without the keyword side) and `building` is true;
    `current()` waits for it. `current(save_later=True)` (a question's
    path) saves the new copy in a thread of its own instead of before answering (0.2 s at
    100,000 chunks); the process waits for that thread before it exits. `rebuilds`,
    `updates` and `loads` count what it did."""

    def __init__(self, folder: Path | None, version: Callable[[], str], documents: Callable[[], Iterable[str]],
                 chunks: Callable[[list[str]], Iterable[tuple[str, str, str, int]]], pending: str = "pending-",
                 count: Callable[[], int] | None = None, background_over: int = BACKGROUND_OVER):
        self.folder = folder
        self._version, self._documents, self._chunks = version, documents, chunks
        self._count, self.background_over = count, background_over
        self._pending = pending
        self._index: KeywordIndex | None = None
        self._lock = threading.Lock()
        self._saving = threading.Lock()
        self._saver: threading.Thread | None = None
        self._builder: threading.Thread | None = None
        self.building = False  # a rebuild runs in the background: questions are answered without it
        self.rebuilds = self.updates = self.loads = 0

    def current(self, save_later: bool = False, wait: bool = True) -> KeywordIndex | None:
        while True:
            version = self._version()
            index = self._index
            if index is not None and index.version == version:
                return index
            builder = self._builder
            if builder is not None and builder.is_alive():
                if not wait:
                    return index  # the last view held (or None) until the rebuild is done
                builder.join()
                continue
            with self._lock:
                if self._builder is not builder:  # one started while this thread waited for the lock
                    continue
                return self._bring_up_to_date(version, save_later, wait)

    def _bring_up_to_date(self, version: str, save_later: bool, wait: bool) -> KeywordIndex | None:
        index = self._index
        if index is not None and index.version == version:
            return index
        rebuilt = False
        if index is None and self.folder:
            index = KeywordIndex.load(self.folder)
            self.loads += index is not None
        if index is not None:
            try:
                index = self._update(index, version)
            except Exception as err:  # noqa: BLE001 - rebuild instead
                logger.warning("could not update the keyword index in place (%s: %s); rebuilding it",
                               type(err).__name__, err)
                index = None
        if index is None:
            if not wait and self._count is not None and self._count() > self.background_over:
                logger.info("building the keyword index in the background; until then questions are answered "
                            "without it")
                self._builder = threading.Thread(target=self._build_in_background, args=(version,),
                                                 name="corpus-qa-keyword-build", daemon=True)
                self.building = True
                self._builder.start()
                return self._index
            index, rebuilt = self._rebuild(version), True
        self._index = index
        if self.folder and not version.startswith(self._pending) and (rebuilt or saved_version(self.folder) != version):
            if save_later:  # not a daemon: an exiting process finishes the save first
                self._saver = threading.Thread(target=self._save, args=(index, rebuilt), name="corpus-qa-keyword-save")
                self._saver.start()
            else:
                self._save(index, rebuilt)
        return index

    def _build_in_background(self, version: str) -> None:
        try:
            index = self._rebuild(version)
        except Exception as err:  # noqa: BLE001 - the next question tries again
            logger.warning("could not build the keyword index (%s: %s); questions are answered without it",
                           type(err).__name__, err)
            self.building = False
            return
        with self._lock:
            self._index = index  # no other thread updates while this one runs
            self.building = False
        if self.folder and not version.startswith(self._pending):
            self._save(index, rebuilt=True)

    def after_write(self) -> None:
        """After this process wrote to the collection: the keyword index brought up to date
        (and saved), unless that means rebuilding more than `background_over` chunks with
        nothing held or saved to start from; that is left to the next question's process."""
        if (self._index is None and self._count is not None and not (self.folder and saved_version(self.folder))
                and self._count() > self.background_over):
            return
        self.current()

    def wait_saved(self) -> None:
        """Return once a save started by `current(save_later=True)` is done."""
        saver = self._saver
        if saver is not None:
            saver.join()

    def _save(self, index: KeywordIndex, rebuilt: bool) -> None:
        with self._saving:
            if self._index is not index or (not rebuilt and saved_version(self.folder) == index.version):
                return  # a newer one is held (it saves itself), or this one is saved already
            try:
                index.save(self.folder)
            except OSError as err:
                logger.warning("could not save the keyword index to %s: %s", self.folder, err)

    def _update(self, index: KeywordIndex, version: str) -> KeywordIndex | None:
        """`index` brought to the collection's complete documents, or None (rebuild)."""
        complete = set(self._documents())
        added = sorted(complete.difference(index.documents))
        removed = [d for d in index.documents if d not in complete]
        if len(added) > max(1000, len(complete) // 2):
            logger.info("%d of %d documents are new to the keyword index: rebuilding it", len(added), len(complete))
            return None
        rows, counts = [], Counter()
        expected: dict[str, int] = {}
        if added:
            for chunk_id, text, doc_id, n_chunks in self._chunks(added):
                rows.append((chunk_id, text, doc_id))
                counts[doc_id] += 1
                expected[doc_id] = n_chunks
            wrong = [d for d in expected if counts[d] != expected[d]]
            if wrong:
                logger.info("document %s has %d chunks, its records say %d: rebuilding the keyword index",
                            wrong[0], counts[wrong[0]], expected[wrong[0]])
                return None
            rows.sort()  # by id, as a rebuild orders them
        if not added and not removed:
            return index.with_version(version)
        self.updates += 1
        logger.info("keyword index: %d documents added (%d chunks), %d removed", len(added), len(rows), len(removed))
        return index.updated(version, add=rows, remove=removed, documents=[d for d in added if not counts[d]])

    def _rebuild(self, version: str) -> KeywordIndex:
        logger.info("rebuilding the keyword index from the collection")
        self.rebuilds += 1
        complete = sorted(set(self._documents()))
        # the chunks of the complete documents (orphans left out), a segment per batch,
        # the next batch fetched while this one is tokenized (the server works meanwhile);
        # their order does not matter: equal scores rank by chunk id
        view = KeywordIndex.build([], [], version)
        for rows in _batches_ahead(self._chunks(complete), _BUILD_BATCH):
            view = view.updated(version, add=[(chunk_id, text, doc_id) for chunk_id, text, doc_id, _ in rows])
        return view.updated(version, documents=complete)  # documents without text are held too


def _batches_ahead(items: Iterable, size: int) -> Iterator[list]:
    """`items` in lists of `size`, the next list gathered in a thread while this one is used."""
    ahead: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def hand(item) -> bool:  # False: the reader has stopped
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def gather():
        try:
            for batch in iter(lambda: list(itertools.islice(it, size)), []):
                if not hand(batch):
                    return
            hand(None)
        except BaseException as err:  # noqa: BLE001 - raised in the reader
            hand(err)

    it = iter(items)
    threading.Thread(target=gather, name="corpus-qa-keyword-fetch", daemon=True).start()
    try:
        while (got := ahead.get()) is not None:
            if isinstance(got, BaseException):
                raise got
            yield got
    finally:
        stop.set()
