"""Evaluation on question sets and conversations (../shared/qa format), through QA.ask:
the path users take.

Metrics follow ../shared/qa/README.md: evidence hit@k and MRR@10 over passages of at
most 1,000 characters; answer accuracy (answer of at most 400 characters holding an
expected word, citing a passage of the right article); abstention precision/recall.
An evidence `doc` ("business/040.txt", "002_x.txt") names the end of a passage's source.
Conversations ({"id", "turns": [...]}) are asked turn by turn, each with the earlier
Answers as history; their turns are reported as `first` and `follow-up`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from store import InputError

from .answer import Answer
from .qa import QA

MAX_PASSAGE_CHARS = 1000
MAX_ANSWER_CHARS = 400
UNANSWERABLE = ("none", "boilerplate")


@dataclass(frozen=True)
class Question:
    id: str
    kind: str
    question: str
    answers: tuple[str, ...]
    evidence: tuple[tuple[str, str], ...]  # (file name, verbatim text)

    @property
    def answerable(self) -> bool:
        return self.kind not in UNANSWERABLE


@dataclass(frozen=True)
class Judgement:
    id: str
    kind: str
    rank: int | None  # 1-based rank of the first passage holding evidence
    correct: bool  # answer accuracy
    abstained: bool
    answer: str


def load_questions(path: str | Path) -> list[Question] | list[list[Question]]:
    """A question set, or (a file of {"id", "turns"} objects) a list of conversations,
    each a list of turns."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"no question file at {path}: pass a .jsonl file in the format of qa/README.md")
    out: list = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            if "turns" in d:
                turns = [parse_question({"id": f"{d['id']}.{i}", **t}) for i, t in enumerate(d["turns"], 1)]
                out.append([Question(q.id, "first" if i == 0 else "follow-up", q.question, q.answers, q.evidence)
                            for i, q in enumerate(turns)])
            else:
                out.append(parse_question(d))
        except (ValueError, KeyError, TypeError) as err:
            raise InputError(f"{path}:{n}: not a question object ({err}); see qa/README.md for the format") from None
    if out and any(isinstance(x, list) for x in out) and not all(isinstance(x, list) for x in out):
        raise InputError(f"{path} mixes questions and conversations; keep them in separate files")
    return out


def parse_question(d: dict) -> Question:
    """One question object of the qa/README.md format."""
    return Question(
        str(d["id"]), d.get("kind", "fact"), d["question"], tuple(d.get("answers", [])),
        tuple((e["doc"], e["text"]) for e in d.get("evidence", [])),
    )


def _collapse(text: str) -> str:
    return " ".join(text.split())


def judge(q: Question, answer: Answer) -> Judgement:
    rank = None
    evidence = [(doc, _collapse(text)) for doc, text in q.evidence]
    for p in answer.passages[:10]:
        if len(p.text) > MAX_PASSAGE_CHARS:
            continue
        text = _collapse(p.text)
        if any(_of_doc(p, doc) and ev in text for doc, ev in evidence):
            rank = p.n
            break
    cited = {int(n) for n in _markers(answer.text)}
    right_docs = {doc for doc, _ in q.evidence}
    cites_right = any(
        0 < n <= len(answer.passages) and any(_of_doc(answer.passages[n - 1], d) for d in right_docs)
        for n in cited
    )
    shown = answer.text[:MAX_ANSWER_CHARS].lower()
    correct = (
        not answer.abstained and cites_right and any(a.lower() in shown for a in q.answers)
        if q.answerable
        else answer.abstained
    )
    return Judgement(q.id, q.kind, rank, correct, answer.abstained, answer.text)


def _same_doc(source: str, doc: str) -> bool:
    """Whether a passage's source is the evidence's doc: equal, or ending with '/' + doc."""
    return source == doc or source.endswith("/" + doc)


def _of_doc(p, doc: str) -> bool:
    """Whether a passage comes from the evidence's doc: its own source, or one of the copies
    and near-copies its passage stands for (Passage.also_in; the text is checked apart)."""
    return any(_same_doc(source, doc) for source in (p.source, *getattr(p, "also_in", ())))


def _markers(text: str) -> list[str]:
    import re

    return re.findall(r"\[(\d+)\]", text)


def summarize(judgements: list[Judgement]) -> dict:
    """Overall and per-kind metrics."""

    def block(js: list[Judgement]) -> dict:
        answerable = [j for j in js if j.kind not in UNANSWERABLE]
        out: dict = {"questions": len(js)}
        if answerable:
            n = len(answerable)
            for k in (1, 3, 5):
                out[f"hit@{k}"] = round(sum(j.rank is not None and j.rank <= k for j in answerable) / n, 4)
            out["mrr@10"] = round(sum(1 / j.rank for j in answerable if j.rank and j.rank <= 10) / n, 4)
        out["answer_accuracy"] = round(sum(j.correct for j in js) / len(js), 4) if js else 0.0
        should = [j for j in js if j.kind in UNANSWERABLE]
        did = [j for j in js if j.abstained]
        right = [j for j in did if j.kind in UNANSWERABLE]
        out["abstention_precision"] = round(len(right) / len(did), 4) if did else None
        out["abstention_recall"] = round(len(right) / len(should), 4) if should else None
        return out

    kinds = defaultdict(list)
    for j in judgements:
        kinds[j.kind].append(j)
    return {"overall": block(judgements), "by_kind": {k: block(v) for k, v in sorted(kinds.items())}}


def evaluate_questions(qa: QA, questions: list[Question], k: int = 10) -> tuple[dict, list[Judgement]]:
    judgements = [judge(q, qa.ask(q.question, k=k)) for q in questions]
    return summarize(judgements), judgements


def evaluate_conversations(qa: QA, conversations: list[list[Question]], k: int = 10) -> tuple[dict, list[Judgement]]:
    """Each turn asked after the earlier ones of its conversation (their Answers as history)."""
    judgements = []
    for turns in conversations:
        history = []
        for q in turns:
            answer = qa.ask(q.question, k=k, history=history)
            history.append(answer)
            judgements.append(judge(q, answer))
    return summarize(judgements), judgements


def evaluate(qa: QA, loaded: list, k: int = 10) -> tuple[dict, list[Judgement]]:
    """What `load_questions` read: a question set, or conversations turn by turn."""
    if loaded and isinstance(loaded[0], list):
        return evaluate_conversations(qa, loaded, k)
    return evaluate_questions(qa, loaded, k)
