"""Questions in, cited answers out."""

from store import (Article, CorpusQAError, Filters, IngestReport, InputError, Skipped, StoredDocument, StoreError,
                   WebSettings, text_matches)

from .answer import NO_ANSWER, AnswerSettings
from .claims import check
from .generate import LLM, LLMError
from .qa import QA, Settings, Stats, Trace, UnknownDocument, bundled_corpus, open_embedder
from .question import check_question
from .search import SearchSettings
from .types import PASSAGE_FIELDS, Answer, CheckedSentence, Passage, Written, answer_dict, passage_dict, sentence_dict

__all__ = [
    "Answer", "AnswerSettings", "Article", "CheckedSentence", "CorpusQAError", "Filters", "IngestReport", "InputError",
    "LLM", "LLMError", "NO_ANSWER", "PASSAGE_FIELDS", "Passage", "QA", "SearchSettings", "Settings", "Skipped",
    "Stats", "StoreError", "StoredDocument", "Trace", "UnknownDocument", "WebSettings", "Written", "answer_dict",
    "bundled_corpus", "check", "check_question", "open_embedder", "passage_dict", "sentence_dict", "text_matches",
]
