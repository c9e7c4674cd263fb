"""A follow-up question and the earlier turns of its conversation -> what retrieval looks for.

No model rewrites the question. A follow-up leans on the turn before it: a pronoun
("Who handed the leadership to him?"), a demonstrative ("What did that plan prohibit?"),
an ellipsis ("And how many ...?"), or a question too short to stand alone. For such a
question the previous turn's question and cited answer sentence are carried into
retrieval, and the articles that answer cited are marked; the learned ranker and sentence
model weigh that mark against the question's own words (rag.features), so that a question
naming a new subject of its own is not dragged back:

    Query(text=what is embedded, keywords=what BM25 searches, prefer={doc ids}, said=...)

A question that stands alone (no such cue) is searched as it is: history changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from store.keyword import terms

from .types import Answer, Query

# words that point back at something said before
_ANAPHORA = re.compile(
    r"\b(?:he|she|him|her|his|hers|they|them|their|theirs|it|its|then|the (?:same|latter|former))\b"
    # a demonstrative before a noun ("that plan", "those moves"), not "said that the ..."
    r"|\b(?:this|these|those)\s+[a-z]"
    r"|(?:^|\b(?:about|of|in|on|for|from|with|by|at|to|did|does|do|is|was|were|are|has|have|had)\s+)that\s+(?!the\b|a\b|an\b)[a-z]+\s"
    r"|\bthere\s*\?",
    re.I,
)
_ELLIPSIS = re.compile(r"^\W*(?:and|but|also|what about|how about|what else|anything else)\b", re.I)
_NAME = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][\w’'-]+(?:\s+[A-Z][\w’'-]+)*")


def is_follow_up(question: str) -> bool:
    """Whether the question leans on an earlier turn: an opening 'and ...', or, in a
    question that names no one and nothing of its own, a pronoun or demonstrative or
    fewer than three content words. A pronoun beside a name points at that name
    ("By how much did Qantas reduce its costs?"): such a question stands alone."""
    if _ELLIPSIS.search(question):
        return True
    if _NAME.search(question):
        return False
    return bool(_ANAPHORA.search(question)) or len(set(terms(question))) < 3


def resolve(question: str, history: Sequence[str | Answer] = ()) -> Query:
    """The retrieval query for `question`, asked after `history` (earlier questions, as
    strings, or their Answers; oldest first)."""
    if not history or not is_follow_up(question):
        return Query(question, question)
    last = history[-1]
    previous = last.question if isinstance(last, Answer) else str(last)
    context = [previous]
    prefer: set[str] = set()
    said: tuple[str, ...] = ()
    if isinstance(last, Answer) and not last.abstained:
        said = (_answer_sentences(last),)
        context.append(said[0])
        for p in last.passages:
            if p.highlight and getattr(p, "doc_id", None):
                prefer.add(p.doc_id)
    # a second turn back, when the last one leaned on it too ("What did he say must happen
    # first?" then "How many recruits ...?"): its subject is still the conversation's
    if len(history) > 1 and is_follow_up(previous):
        before = history[-2]
        context.append(before.question if isinstance(before, Answer) else str(before))
    carried = " ".join(c for c in context if c)
    return Query(f"{carried}\n{question}", f"{question} {carried}", frozenset(prefer), follow_up=True, said=said)


def _answer_sentences(answer: Answer) -> str:
    """The answer's own sentences, without its [n] markers."""
    return re.sub(r"\s*\[\d+\]", "", answer.text).strip()
