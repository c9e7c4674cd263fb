"""Stage 1: a question, with its conversation and the index's catalogue -> Question.

Everything later stages want to know about the question's words is read here, once:

    check_question   empty or too long: one line naming the fix
    conversation     a follow-up ("Who handed the leadership to him?") carries the turn it
                     leans on into the query (rag.conversation)
    terms            its stemmed terms, each weighted by its IDF in the keyword index
    cue              the kind of answer its form asks for: a count, a date, a person ... (rag.cues)
    reading          the outlets the index holds and the dates or periods it names (rag.reading)
"""

from __future__ import annotations

from collections.abc import Sequence

from store import Filters, InputError, KeywordIndex
from store.keyword import terms

from .conversation import resolve
from .cues import cue_of
from .reading import Reading, outlet_places, read
from .types import Answer, Question

MAX_QUESTION_CHARS = 2000


def analyse(
    text: str,
    history: Sequence[str | Answer] = (),
    outlets: Sequence[str] = (),
    published: Sequence[str] = (),
    keywords: KeywordIndex | None = None,
    filters: Filters | None = None,
    documents: int = 0,
) -> Question:
    """The question `text`, asked after `history` (earlier questions or their Answers,
    oldest first), over an index holding `outlets` and articles published on the sorted
    ISO dates `published` (of its `documents` articles), whose keyword index `keywords`
    gives each term's IDF (None while it is built: every term weighs 1)."""
    text = check_question(text)
    idf = keywords.idf if keywords else None
    return Question(
        text=text,
        query=resolve(text, list(history)),
        terms={t: (idf(t) if idf else 1.0) for t in set(terms(text))},
        max_idf=idf("\x00") if idf else 1.0,
        cue=cue_of(text),
        reading=read(text, outlets, published[-1] if published else None, published)
        if outlets or published else Reading(unchecked=outlet_places(text)),
        filters=filters if filters is not None and not filters.empty else None,
        dated=min(1.0, len(published) / documents) if documents else 0.0,
    )


def check_question(question: str) -> str:
    """The question trimmed; an empty or over-long one raises InputError naming the fix."""
    if not isinstance(question, str) or not question.strip():
        raise InputError("empty question: type a question, e.g. 'Who chairs the Ukraine Defense Contact Group?'")
    question = question.strip()
    if len(question) > MAX_QUESTION_CHARS:
        raise InputError(
            f"question too long: {len(question):,} characters (limit {MAX_QUESTION_CHARS:,}); ask it in fewer words"
        )
    return question
