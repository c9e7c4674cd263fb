"""The keyword (BM25) index: derived from the Chroma collection, saved beside it.

It is rebuilt from the collection whenever the collection's version stamp differs
from the one it was built for, so it never answers from stale chunks.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

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

    def __init__(self, ids: list[str], retriever, version: str):
        self.ids = ids
        self.version = version
        self._retriever = retriever

    @classmethod
    def build(cls, ids: list[str], texts: list[str], version: str) -> KeywordIndex:
        import bm25s

        retriever = bm25s.BM25(k1=K1, b=B)
        if texts:
            retriever.index([terms(t) or [""] for t in texts], show_progress=False)
        return cls(list(ids), retriever, version)

    def search(self, query: str, n: int) -> list[KeywordHit]:
        if not self.ids:
            return []
        vocab = self._retriever.vocab_dict
        known = [t for t in terms(query) if t in vocab]
        if not known:
            return []
        docs, scores = self._retriever.retrieve(
            [known], k=min(n, len(self.ids)), show_progress=False, n_threads=0
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
        meta.write_text(json.dumps({"version": self.version, "ids": self.ids, "copy": name}))
        os.replace(meta, folder / "meta.json")
        _drop_old_copies(folder, keep=name)

    @classmethod
    def load(cls, folder: Path) -> KeywordIndex | None:
        """The saved index, or None when there is none or it cannot be used as it is.

        It is a cache of the collection: whatever is wrong with it (missing, cut short,
        garbage, from another version of corpus-qa), the answer is to rebuild it."""
        import bm25s

        try:
            meta = json.loads((folder / "meta.json").read_text())
            ids, version, name = meta["ids"], meta["version"], meta["copy"]
            if not isinstance(version, str) or not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise ValueError("meta.json holds the wrong types")
            if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
                raise ValueError(f"bad copy name {name!r}")
            retriever = bm25s.BM25.load(str(folder / name / "bm25")) if ids else bm25s.BM25()
            if ids and int(retriever.scores["num_docs"]) != len(ids):
                raise ValueError(f"{retriever.scores['num_docs']} documents for {len(ids)} ids")
            if ids and (retriever.k1, retriever.b) != (K1, B):  # saved with other parameters
                raise ValueError(f"built with k1={retriever.k1}, b={retriever.b}")
            return cls(ids, retriever, version)
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
