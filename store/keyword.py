"""The keyword (BM25) index: derived from the Chroma collection, saved beside it.

`KeywordSync` keeps one in step with the collection: it is rebuilt from the collection
whenever the collection's version stamp differs from the one it was built for, so it
never answers from stale chunks. Each chunk's document id is kept beside it, so a
search can be restricted to some documents (the filters) before its top n is taken.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable
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


@functools.lru_cache(maxsize=1)
def _bm25s():
    """bm25s, imported once; it sets its logger to DEBUG when imported, which would print
    each index build: its level is handed back to the application's logging setup."""
    import bm25s

    if logging.getLogger("bm25s").level == logging.DEBUG:
        logging.getLogger("bm25s").setLevel(logging.NOTSET)
    return bm25s


@functools.lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def terms(text: str) -> list[str]:
    """The stemmed content words of `text`, as the keyword index sees them."""
    words = [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]
    return _stemmer().stemWords(words)


@dataclass(frozen=True)
class KeywordHit:
    id: str
    score: float


K1, B = 0.9, 0.4  # BM25 term saturation and length normalisation (Anserini's defaults; bm25s's
# own, 1.5 and 0.75, were 0.005 lower on SciFact train: benchmarks/RESULTS.md)


class KeywordIndex:
    """bm25s over chunk texts (title + text): stop words out, Snowball stemming."""

    def __init__(self, ids: list[str], retriever, version: str, doc_ids: list[str] | None = None):
        self.ids = ids
        self.version = version
        self.doc_ids = list(doc_ids) if doc_ids is not None else [""] * len(ids)
        self._retriever = retriever
        codes: dict[str, int] = {}
        self._doc_code = np.fromiter((codes.setdefault(d, len(codes)) for d in self.doc_ids), dtype=np.int64,
                                     count=len(self.doc_ids))
        self._codes = codes

    @classmethod
    def build(cls, ids: list[str], texts: list[str], version: str, doc_ids: list[str] | None = None) -> KeywordIndex:
        retriever = _bm25s().BM25(k1=K1, b=B)
        if texts:
            retriever.index([terms(t) or [""] for t in texts], show_progress=False)
        return cls(list(ids), retriever, version, doc_ids)

    def idf(self, term: str) -> float:
        """BM25's inverse document frequency of a (stemmed) term; a term no chunk holds
        gets the highest."""
        if getattr(self, "_df", None) is None:
            indptr = np.asarray(self._retriever.scores.get("indptr", [0])) if self.ids else np.zeros(1)
            self._df = np.diff(indptr)
        n = len(self.ids)
        code = self._retriever.vocab_dict.get(term) if self.ids else None
        df = int(self._df[code]) if code is not None and code < len(self._df) else 0
        return float(np.log(1 + (n - df + 0.5) / (df + 0.5)))

    def search(self, query: str, n: int, documents: Collection[str] | None = None) -> list[KeywordHit]:
        """The top n chunks by BM25; `documents`: only chunks of these document ids."""
        if not self.ids:
            return []
        vocab = self._retriever.vocab_dict
        known = [t for t in terms(query) if t in vocab]
        if not known:
            return []
        mask = None
        if documents is not None:
            codes = [self._codes[d] for d in documents if d in self._codes]
            if not codes:
                return []
            mask = np.isin(self._doc_code, np.asarray(codes, dtype=np.int64)).astype(np.float32)
        docs, scores = self._retriever.retrieve(
            [known], k=min(n, len(self.ids)), show_progress=False, n_threads=0, weight_mask=mask
        )
        return [KeywordHit(self.ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]

    def save(self, folder: Path) -> None:
        """Write the BM25 matrices to a new folder under `folder`, then `meta.json` (the
        version, the ids and the name of that folder) with one atomic rename. Saved
        matrices are never changed, so a reader in another thread or process never sees
        half an index or a mix of two saves (the page and an ingest saving at once used
        to swap one folder under each other)."""
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{self.version[:24]}-{uuid.uuid4().hex[:8]}"
        tmp = folder / f".{name}.tmp"
        tmp.mkdir()
        if self.ids:
            self._retriever.save(str(tmp / "bm25"))
        tmp.rename(folder / name)
        meta = folder / f".meta.{name}"
        meta.write_text(json.dumps({"version": self.version, "ids": self.ids, "doc_ids": self.doc_ids, "copy": name}))
        os.replace(meta, folder / "meta.json")
        _drop_old_copies(folder, keep=name)

    @classmethod
    def load(cls, folder: Path) -> KeywordIndex | None:
        """The saved index, or None when there is none or it cannot be used as it is.

        It is a cache of the collection: whatever is wrong with it (missing, cut short,
        garbage, from another version of corpus-qa), the answer is to rebuild it."""
        bm25s = _bm25s()
        try:
            meta = json.loads((folder / "meta.json").read_text())
            ids, version, name, doc_ids = meta["ids"], meta["version"], meta["copy"], meta["doc_ids"]
            if (not isinstance(version, str) or not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)
                    or not isinstance(doc_ids, list) or len(doc_ids) != len(ids)):
                raise ValueError("meta.json holds the wrong types")
            if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
                raise ValueError(f"bad copy name {name!r}")
            retriever = bm25s.BM25.load(str(folder / name / "bm25")) if ids else bm25s.BM25()
            if ids and int(retriever.scores["num_docs"]) != len(ids):
                raise ValueError(f"{retriever.scores['num_docs']} documents for {len(ids)} ids")
            if ids and (retriever.k1, retriever.b) != (K1, B):  # saved with other parameters
                raise ValueError(f"built with k1={retriever.k1}, b={retriever.b}")
            return cls(ids, retriever, version, doc_ids)
        except Exception as err:  # noqa: BLE001 - a cache: any failure means rebuild
            logger.info("keyword index at %s unusable (%s: %s); it will be rebuilt", folder, type(err).__name__, err)
            return None


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
    """The keyword index of one collection, as it is now: loaded from `folder`, or rebuilt.

    `version()` reads the collection's stamp, `ids()` its chunk ids and `rows()` its
    (chunk id, text, document id) triples. A saved index is used only when it carries the
    collection's stamp and exactly the collection's chunk ids (a stamp left by a killed
    ingest may not match what was written under it). One built during a write (a pending
    stamp) is not saved."""

    def __init__(self, folder: Path | None, version: Callable[[], str], ids: Callable[[], Iterable[str]],
                 rows: Callable[[], Iterable[tuple[str, str, str]]], pending: str = "pending-"):
        self.folder = folder
        self._version, self._ids, self._rows = version, ids, rows
        self._pending = pending
        self._index: KeywordIndex | None = None
        self._lock = threading.Lock()  # one thread rebuilds; the others wait for it

    def current(self) -> KeywordIndex:
        version = self._version()
        if self._index is not None and self._index.version == version:
            return self._index
        with self._lock:
            if self._index is not None and self._index.version == version:
                return self._index
            saved = KeywordIndex.load(self.folder) if self.folder else None
            if saved is not None and saved.version == version:
                if sorted(saved.ids) == sorted(self._ids()):
                    self._index = saved
                    return saved
            logger.info("rebuilding the keyword index from the collection")
            rows = sorted(self._rows())  # by id: chunks with equal BM25 scores rank the same in every build
            index = KeywordIndex.build([r[0] for r in rows], [r[1] for r in rows], version, [r[2] for r in rows])
            if self.folder and not version.startswith(self._pending):
                try:
                    index.save(self.folder)
                except OSError as err:
                    logger.warning("could not save the keyword index to %s: %s", self.folder, err)
            self._index = index
            return index
