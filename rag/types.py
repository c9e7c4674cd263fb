"""What each stage of a question's path hands the next, and what the caller gets back.

    Question   the question analysed once (rag.question): its words, the follow-up query,
               terms and IDF, the kind of answer it asks for, the outlets and dates it names
    Found      what the searches found (rag.search): candidate chunks, their vectors, each
               search's ranking
    Candidate  one candidate chunk with its features (rag.features) and ranker logit (rag.scoring)
    Sentence   one sentence of a top passage with its features and sentence-model logit
    Answer     the answer text with its [n] markers and the cited Passages (rag.answer)
    Written    optional: an answer a language model wrote from the passages (rag.generate),
               each sentence with the claim check's verdict (rag.claims: CheckedSentence)

A leaf: it imports only the store and the two small readers whose results a Question
holds (rag.cues, rag.reading). `answer_dict` is the one JSON form of an Answer, used by
the CLI's --json, the MCP server and the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from store import Filters, StoredChunk

from .cues import Cue
from .reading import Reading


@dataclass(frozen=True)
class Query:
    """What retrieval looks for: the question, or for a follow-up the question with the
    conversation it leans on (rag.conversation)."""

    text: str  # what is embedded
    keywords: str  # what the keyword index searches
    prefer: frozenset[str] = frozenset()  # the last turn's cited articles (doc ids): a ranker feature
    follow_up: bool = False
    said: tuple[str, ...] = ()  # what the last turn answered: a follow-up asks for something else


@dataclass(frozen=True)
class Question:
    """A question analysed once (rag.question.analyse); every later stage reads it."""

    text: str  # as asked, trimmed
    query: Query
    terms: Mapping[str, float]  # its stemmed terms, each weighted by its IDF (1 without a keyword index)
    max_idf: float  # the IDF of a term no chunk holds
    cue: Cue | None  # the kind of answer its form asks for (rag.cues)
    reading: Reading  # the outlets and dates it names (rag.reading)
    filters: Filters | None = None  # the user's filters: only matching documents are searched
    dated: float = 0.0  # the share of the index's articles that carry a publication date


@dataclass(frozen=True)
class Found:
    """What one question's searches found, before any feature: the union of the candidate
    chunks (in the order the searches proposed them) with their stored vectors, and each
    search's ranking."""

    vector: np.ndarray  # the query's (a follow-up's carries the last turn)
    own: np.ndarray  # the question's own words'
    said: np.ndarray  # (n, dim): what the last turn answered
    chunks: tuple[StoredChunk, ...]
    vectors: np.ndarray  # (len(chunks), dim): each chunk's stored vector
    sentence_vectors: Mapping[str, np.ndarray]  # every candidate's sentences', by sentence id
    ranks: Mapping[str, Mapping[str, int]]  # search ("dense", "keyword", "own", "named") -> chunk id -> rank
    keyword_scores: Mapping[str, float]  # chunk id -> BM25 score in the keyword search
    no_documents: bool = False  # the filters match no document: nothing was searched
    keywords_building: bool = False  # the keyword index is being built: the keyword search found nothing


@dataclass(frozen=True)
class Candidate:
    chunk: StoredChunk
    score: float  # the ranker's logit (0 before ranking)
    dense: float | None  # cosine similarity to the query
    keyword: float | None  # BM25 score, when the keyword search proposed it
    features: dict[str, float] = field(default_factory=dict, compare=False, repr=False)  # rag.features
    covers: frozenset[str] | None = field(default=None, compare=False, repr=False)  # the question's terms it holds


@dataclass(frozen=True)
class Sentence:
    """A sentence of one of the top passages, a possible answer."""

    passage: int  # index into the ranked candidates
    span: tuple[int, int]  # absolute, in the article
    text: str
    features: dict[str, float]
    covers: frozenset[str]  # the question's terms it holds
    score: float = 0.0  # the sentence model's logit


@dataclass(frozen=True)
class Passage:
    """One cited passage: `text == cleaned article[start:end]`."""

    n: int
    source: str
    title: str
    text: str
    start: int
    end: int
    score: float  # the ranker's probability that the passage holds the answer
    highlight: tuple[int, int] | None  # the answer sentence's span inside `text`
    low_relevance: bool
    doc_id: str = ""  # the article (QA.document(doc_id) gives its whole text)
    published: str | None = None  # ISO date, when the article says
    outlet: str | None = None
    url: str | None = None
    also_in: tuple[str, ...] = ()  # sources of the other documents holding this article: copies, near-copies


@dataclass(frozen=True)
class CheckedSentence:
    """A written sentence and the claim check's verdict (rag.claims). `cites` are after any
    correction; `reason` says why it is not supported, or which marker was corrected
    ("" when supported as written)."""

    text: str
    cites: tuple[int, ...]
    supported: bool
    reason: str = ""


@dataclass(frozen=True)
class Written:
    """An answer a language model wrote from the answer's passages (numbered as they are
    shown), sentence by sentence, each checked. While it is being written, `done` is
    False and `pending` holds the sentence not yet complete."""

    sentences: tuple[CheckedSentence, ...]
    model: str  # the model that wrote it, as the endpoint names it
    done: bool = True
    pending: str = ""

    @property
    def text(self) -> str:
        """The supported sentences with their markers: what is shown as the answer ("" when none)."""
        return " ".join(f"{s.text} {''.join(f'[{n}]' for n in s.cites)}" for s in self.sentences if s.supported)


@dataclass(frozen=True)
class Answer:
    question: str
    text: str  # the extractive answer
    abstained: bool
    passages: tuple[Passage, ...]
    notes: tuple[str, ...] = ()  # how this answer was made, when not as usual (e.g. without the keyword side)
    generated: Written | None = None  # asked for a written answer (QA.ask(generate=True)): what the model wrote

    @property
    def shown(self) -> str:
        """The answer a person is shown: the written answer's supported sentences, or when
        none (or none was asked for) the extractive answer."""
        return (self.generated.text if self.generated else "") or self.text


# What each field of a passage means, in every door's JSON (CLI --json, MCP, the page)
PASSAGE_FIELDS = {
    "n": "the number [n] that cites it in the answer",
    "source": "the article's source (file path relative to the folder ingested, or record id)",
    "title": "the article's title",
    "text": "the passage: the cleaned article's characters [start, end)",
    "start": "character offset of the passage in the cleaned article (corpus-qa show prints that text)",
    "end": "character offset of the passage's end in the cleaned article",
    "score": "the ranker's probability that the passage holds the answer (0-1)",
    "highlight": "the answer sentence's [start, end) inside `text`, or null when the answer does not cite it",
    "low_relevance": "true when the passage probably does not answer (below the ranker's floor, or under an abstention)",
    "doc_id": "the article's id (corpus-qa show ID, or the MCP show tool)",
    "published": "publication date, YYYY-MM-DD, when the article says",
    "outlet": "the outlet that published it, when known",
    "url": "the article's link, when known",
    "also_in": "sources of the other documents that hold the same article (exact copies, then near-copies: the "
               "same story with small edits); their passages are folded into this one",
}


def passage_dict(p: Passage) -> dict:
    """A passage as JSON: the fields of PASSAGE_FIELDS."""
    return {"n": p.n, "source": p.source, "title": p.title, "text": p.text, "start": p.start, "end": p.end,
            "score": p.score, "highlight": list(p.highlight) if p.highlight else None,
            "low_relevance": p.low_relevance, "doc_id": p.doc_id, "published": p.published, "outlet": p.outlet,
            "url": p.url, "also_in": list(p.also_in)}


def sentence_dict(s: CheckedSentence) -> dict:
    """A checked sentence as JSON: {text, cites, supported, reason}."""
    return {"text": s.text, "cites": list(s.cites), "supported": s.supported, "reason": s.reason}


def answer_dict(answer: Answer) -> dict:
    """An Answer as JSON: {question, answer, abstained, passages, notes}, and `generated`
    when a written answer was asked for: {text (its supported sentences, what is shown;
    "" when none: then `answer` is), model, sentences: [{text, cites, supported, reason}]}."""
    out = {"question": answer.question, "answer": answer.text, "abstained": answer.abstained,
           "passages": [passage_dict(p) for p in answer.passages], "notes": list(answer.notes)}
    if answer.generated is not None:
        g = answer.generated
        out["generated"] = {"text": g.text, "model": g.model, "sentences": [sentence_dict(s) for s in g.sentences]}
    return out
