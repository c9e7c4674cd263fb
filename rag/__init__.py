"""Questions in, cited answers out."""

from store import (Article, CorpusQAError, Filters, IngestReport, InputError, Skipped, StoredDocument, StoreError,
                   WebSettings, text_matches)

from .answer import NO_ANSWER, Answer, AnswerSettings, Passage
from .qa import QA, Settings, Stats, bundled_corpus
from .retrieve import RetrievalSettings

__all__ = [
    "Answer", "AnswerSettings", "Article", "CorpusQAError", "Filters", "IngestReport", "InputError", "NO_ANSWER",
    "Passage", "QA", "RetrievalSettings", "Settings", "Skipped", "Stats", "StoreError", "StoredDocument",
    "WebSettings", "bundled_corpus", "text_matches",
]
