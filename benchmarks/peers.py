"""The "30-line script" peer of issues 19 and 21: what a plain hybrid retriever gets on the same text.

Fixed windows over each article's text (1,000 characters with 200 overlap, or 190 words),
MiniLM (store.SentenceTransformerEmbedder, the model corpus-qa uses; cosine) and bm25s
(PyStemmer English stems, English stop words out) over the same windows, reciprocal rank
fusion (k=60) of the two top-100 lists; the top 10 windows are its answer. No title prefix,
no sentence ranking, no abstention. The articles are read back from the corpus-qa index
(QA.document(id).text), so both systems see the same cleaned text. The window embeddings
are cached as .npy files under INDEXES/peers/ (named by a digest of the model and the
windows), built once and reused.

    score(indexes, items) -> per-question records in quality.py's format, so that
    quality.report and quality.paired work on them.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

sys.path.insert(1, str(Path(__file__).resolve().parent))  # sets.py, quality.py
import sets as S  # noqa: E402

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Windows:
    """How articles are cut: `size` characters (or words, when `words`); each window
    starts `size - overlap` after the one before."""

    size: int = 1000
    overlap: int = 200
    words: bool = False

    def __post_init__(self):
        if not 0 <= self.overlap < self.size:
            raise ValueError(f"need 0 <= overlap < size, got size {self.size}, overlap {self.overlap}")

    @property
    def label(self) -> str:
        return f"{self.size}{'w' if self.words else 'c'}{self.overlap}"


CHARS = Windows(1000, 200)  # issue 19's script
WORDS = Windows(190, 0, words=True)  # issue 21's script


@dataclass(frozen=True)
class Window:
    """One retrieved window; `n` is its rank (1-based), as sets.hits and quality.record read it."""

    n: int
    source: str
    text: str


@dataclass(frozen=True)
class PeerAnswer:
    """What quality.record reads of an answer: the peer never abstains and writes no text."""

    question: str
    passages: tuple[Window, ...]
    text: str = ""
    abstained: bool = False


def cut(text: str, windows: Windows = CHARS) -> list[str]:
    """The windows of one text, as slices of it (so a fact inside the text stays inside a window)."""
    step = windows.size - windows.overlap
    if not windows.words:
        return [w for i in range(0, max(len(text) - windows.overlap, 1), step) if (w := text[i:i + windows.size])]
    spans = [m.span() for m in re.finditer(r"\S+", text)]
    return [text[spans[i][0]:spans[min(i + windows.size, len(spans)) - 1][1]]
            for i in range(0, max(len(spans) - windows.overlap, 1), step) if spans]


def rrf(*rankings: Sequence[int], k: int = 60) -> list[int]:
    """Reciprocal rank fusion: each item scores the sum of 1 / (k + rank) over the rankings
    that hold it (rank from 1); best first, ties in order of first appearance."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, i in enumerate(ranking, 1):
            scores[i] = scores.get(i, 0.0) + 1 / (k + rank)
    return sorted(scores, key=lambda i: -scores[i])


class Peer:
    """The peer's index over one corpus of (source, text) documents: windows, their unit
    vectors (cached under `cache_dir` when given) and a bm25s index."""

    def __init__(self, docs: Iterable[tuple[str, str]], embedder, *, windows: Windows = CHARS,
                 cache_dir: Path | None = None):
        import bm25s
        import Stemmer

        self.windows = [(source, w) for source, text in docs for w in cut(text, windows)]
        texts = [w for _, w in self.windows]
        self.embedder = embedder
        self._stemmer = Stemmer.Stemmer("english")
        self._bm25 = bm25s.BM25()
        self._bm25.index(self._tokens(texts), show_progress=False)
        self.vectors = self._vectors(texts, windows, cache_dir)

    def _tokens(self, texts: list[str]):
        import bm25s

        return bm25s.tokenize(texts, stopwords="en", stemmer=self._stemmer, show_progress=False)

    def _vectors(self, texts: list[str], windows: Windows, cache_dir: Path | None) -> np.ndarray:
        if cache_dir is None:
            return np.asarray(self.embedder.encode(texts), dtype=np.float32)
        digest = hashlib.sha256("\0".join([self.embedder.name, windows.label] + texts).encode()).hexdigest()[:16]
        path = Path(cache_dir) / f"{windows.label}-{digest}.npy"
        if path.exists():
            return np.load(path)
        log.info("embedding %d windows into %s", len(texts), path)
        vectors = np.asarray(self.embedder.encode(texts), dtype=np.float32)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.npy")
        np.save(partial, vectors)
        partial.replace(path)
        return vectors

    def search(self, questions: Sequence[str], *, k: int = 10, depth: int = 100, rrf_k: int = 60) -> list[list[Window]]:
        """The top k windows per question: RRF of the top `depth` by cosine and by BM25
        (windows BM25 scores 0 are left out of its list)."""
        depth = min(depth, len(self.windows))
        dense = np.asarray(self.embedder.encode(list(questions)), dtype=np.float32) @ self.vectors.T
        keyword, scores = self._bm25.retrieve(self._tokens(list(questions)), k=depth, show_progress=False)
        out = []
        for q in range(len(questions)):
            by_cosine = np.argsort(-dense[q], kind="stable")[:depth].tolist()
            by_bm25 = [int(i) for i, s in zip(keyword[q], scores[q]) if s > 0]
            top = rrf(by_cosine, by_bm25, k=rrf_k)[:k]
            out.append([Window(n, *self.windows[i]) for n, i in enumerate(top, 1)])
        return out


def index_of(set_name: str) -> str:
    return "multihop" if set_name.startswith("multihop") else S.SETS[set_name][0]


def score(indexes: Path, items: Sequence[S.Item], *, windows: Windows = CHARS, embedder=None,
          k: int = 10) -> list[dict]:
    """Per-question records (quality.record's format; `correct` is always False: the peer
    writes no answer) for `items` of any sets, each searched in its set's corpus."""
    import quality

    if embedder is None:
        from store import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder()
    by_index: dict[str, list[S.Item]] = {}
    for item in items:
        by_index.setdefault(index_of(item.set), []).append(item)
    out = []
    for name, group in by_index.items():
        qa = S.open_index(name, indexes, embedder)
        docs = [(d.source, qa.document(d.id).text) for d in qa.documents()]
        peer = Peer(docs, embedder, windows=windows, cache_dir=Path(indexes) / "peers" / name)
        found = peer.search([i.question for i in group], k=k)
        out += [{**quality.record(item, PeerAnswer(item.question, tuple(ws))), "correct": False}
                for item, ws in zip(group, found)]
    return out
