"""Questions in, cited answers out."""

from store import CorpusQAError, IngestReport, InputError, StoreError

from .answer import NO_ANSWER, Answer, AnswerSettings, Passage
from .qa import QA, Settings, Stats, bundled_corpus
from .retrieve import RetrievalSettings

__all__ = [
    "Answer", "AnswerSettings", "CorpusQAError", "IngestReport", "InputError", "NO_ANSWER",
    "Passage", "QA", "RetrievalSettings", "Settings", "Stats", "StoreError", "bundled_corpus",
]
