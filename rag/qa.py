"""QA: the facade. Open an index, ingest files, ask questions, read stats."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from store import (
    ChunkingOptions,
    Document,
    Embedder,
    Index,
    IngestReport,
    InputError,
    SentenceTransformerEmbedder,
    ingest_documents,
    load_paths,
)

from .answer import Answer, AnswerSettings, compose
from .retrieve import Candidate, RetrievalSettings, retrieve

logger = logging.getLogger(__name__)
MAX_QUESTION_CHARS = 2000
DEFAULT_INDEX = ".corpus-qa"


def bundled_corpus() -> Path:
    """The five news articles shipped with corpus-qa (in the wheel, or in the checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "store" / "corpus", here.parent / "corpus"):
        if candidate.is_dir():
            return candidate
    raise InputError("the bundled corpus is missing from this installation; reinstall corpus-qa")


@dataclass(frozen=True)
class Stats:
    documents: int
    chunks: int
    model: str
    index: str  # folder or server URL
    collection: str


@dataclass(frozen=True)
class Settings:
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    answer: AnswerSettings = field(default_factory=AnswerSettings)
    chunking: ChunkingOptions = field(default_factory=ChunkingOptions)


class QA:
    """Ask a corpus questions and get cited, extractive answers.

    >>> qa = QA.open()                       # ./.corpus-qa, the bundled model
    >>> qa.ingest(["~/articles"])            # IngestReport(added=..., ...)
    >>> qa.ask("Who chairs the Ukraine Defense Contact Group?").text
    """

    def __init__(self, index: Index, embedder: Embedder, settings: Settings | None = None):
        self.index = index
        self.embedder = embedder
        self.settings = settings or Settings()

    @classmethod
    def open(
        cls,
        index: str | Path | None = None,
        model: str | None = None,
        chroma_url: str | None = None,
        collection: str | None = None,
        token: str | None = None,
        settings: Settings | None = None,
    ) -> QA:
        """Open (or create) an index: embedded in folder `index`, or the collection on the
        Chroma server at `chroma_url`. Loads no model yet.

        Arguments left out come from the environment, as for the CLI: CORPUS_QA_INDEX
        (default ./.corpus-qa), CORPUS_QA_MODEL, CORPUS_QA_CHROMA_URL,
        CORPUS_QA_COLLECTION (default "corpus") and CORPUS_QA_CHROMA_TOKEN.
        """
        env = os.environ.get
        index = index or env("CORPUS_QA_INDEX") or None
        chroma_url = chroma_url or env("CORPUS_QA_CHROMA_URL") or None
        store = Index.open(
            path=None if chroma_url else (index or DEFAULT_INDEX),
            url=chroma_url,
            collection=collection or env("CORPUS_QA_COLLECTION") or "corpus",
            token=token or env("CORPUS_QA_CHROMA_TOKEN") or None,
            cache=Path(index) / "cache" if (chroma_url and index) else None,
        )
        return cls(store, SentenceTransformerEmbedder(model or env("CORPUS_QA_MODEL") or None), settings)

    def ingest(
        self,
        paths: Iterable[str | Path],
        prune: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> IngestReport:
        """Index the articles under `paths` (files or folders). Every file is read and
        checked before anything is written, so a bad file changes nothing."""
        documents = load_paths(paths)
        return ingest_documents(
            self.index, self.embedder, documents, prune=prune, chunking=self.settings.chunking, progress=progress
        )

    def ingest_documents(
        self,
        documents: Iterable[Document],
        prune: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> IngestReport:
        """Index documents given as records (see store.from_record) rather than files:
        the same chunking, embedding and idempotence as `ingest`."""
        return ingest_documents(
            self.index, self.embedder, list(documents), prune=prune, chunking=self.settings.chunking,
            progress=progress,
        )

    def ensure_corpus(self, progress: Callable[[int, int], None] | None = None) -> IngestReport | None:
        """Index the bundled corpus when the index is empty."""
        if self.index.count():
            return None
        return self.ingest([bundled_corpus()], progress=progress)

    def ask(self, question: str, k: int = 5) -> Answer:
        question = check_question(question)
        vector, candidates = self.retrieve(question, k)
        return compose(self.index, question, vector, candidates, self.settings.answer)

    def retrieve(self, question: str, k: int = 5) -> tuple[np.ndarray, list[Candidate]]:
        """The question's vector and its k best chunks: the retrieval `ask` answers from
        (and the evaluation measures)."""
        question = check_question(question)
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}")
        vector = self.embedder.encode([question])[0]
        self.index.refresh()  # documents another process (a corpus-qa ingest) added since
        return vector, retrieve(self.index, question, vector, k, self.settings.retrieval)

    def stats(self) -> Stats:
        return Stats(
            documents=len(self.index.documents()),
            chunks=self.index.count(),
            model=self.embedder.name,
            index=self.index.where,
            collection=self.index.name,
        )


def check_question(question: str) -> str:
    if not isinstance(question, str) or not question.strip():
        raise InputError("empty question: type a question, e.g. 'Who chairs the Ukraine Defense Contact Group?'")
    question = question.strip()
    if len(question) > MAX_QUESTION_CHARS:
        raise InputError(
            f"question too long: {len(question):,} characters (limit {MAX_QUESTION_CHARS:,}); ask it in fewer words"
        )
    return question
