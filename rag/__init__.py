"""Questions in, cited answers out."""

from store import (Article, CorpusQAError, Filters, IngestReport, InputError, Skipped, StoredDocument, StoreError,
                   WebSettings, text_matches)

from .answer import NO_ANSWER, AnswerSettings
from .qa import QA, Settings, Stats, Trace, UnknownDocument, bundled_corpus
from .question import check_question
from .search import SearchSettings
from .types import PASSAGE_FIELDS, Answer, Passage, answer_dict, passage_dict

__all__ = [
    "Answer", "AnswerSettings", "Article", "CorpusQAError", "Filters", "IngestReport", "InputError", "NO_ANSWER",
    "PASSAGE_FIELDS", "Passage", "QA", "SearchSettings", "Settings", "Skipped", "Stats", "StoreError",
    "StoredDocument", "Trace", "UnknownDocument", "WebSettings", "answer_dict", "bundled_corpus", "check_question", "passage_dict",
    "text_matches",
]
