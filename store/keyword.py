"""The keyword (BM25) index: derived from the Chroma collection, saved beside it.

It is rebuilt from the collection whenever the collection's version stamp differs
from the one it was built for, so it never answers from stale chunks.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import shutil
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


class KeywordIndex:
    """bm25s over chunk texts (title + text): stop words out, Snowball stemming."""

    def __init__(self, ids: list[str], retriever, version: str):
        self.ids = ids
        self.version = version
        self._retriever = retriever

    @classmethod
    def build(cls, ids: list[str], texts: list[str], version: str) -> KeywordIndex:
        import bm25s

        retriever = bm25s.BM25()
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
        """Write to a temporary folder, then swap it in: a reader never sees half an index."""
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self.ids:
            self._retriever.save(str(tmp / "bm25"))
        (tmp / "meta.json").write_text(json.dumps({"version": self.version, "ids": self.ids}))
        old = folder.with_name(folder.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> KeywordIndex | None:
        """The saved index, or None when there is none or it cannot be read."""
        import bm25s

        try:
            meta = json.loads((folder / "meta.json").read_text())
            retriever = bm25s.BM25.load(str(folder / "bm25")) if meta["ids"] else bm25s.BM25()
            return cls(meta["ids"], retriever, meta["version"])
        except (OSError, ValueError, KeyError) as err:
            logger.info("keyword index at %s unreadable (%s); it will be rebuilt", folder, err)
            return None
