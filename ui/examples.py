"""The example questions under the question box: made from the index the page serves,
never from another corpus (a BBC archive was offered questions about Ukraine), and only
questions the index answers well.

The bundled sample corpus keeps its own curated questions. Any other index gets one
question per picked article, built from its title ("What is the story behind “…”?"),
the articles spread evenly over the list (newest first when dated), one per article
(copies and near-copies are one article). Each is asked before it is offered: it is kept
only when the answer quotes the article's lead (its first paragraph), not a side sentence
of it or another story (`answers_from_lead`). The examples are worked out once per index
version (the page caches them)."""

from __future__ import annotations

from collections.abc import Callable

from rag import QA, Answer, StoredDocument, bundled_corpus

from .render import _esc, cited_numbers

SAMPLE_QUESTIONS = [
    "Who is now the chairman of the Ukraine Defense Contact Group?",
    "What kind of support did Trump say the U.S. might provide for Ukraine?",
    "Into which Baltic countries did Biden move U.S. troops?",
    "How many points did the peace plan reviewed in Geneva have?",
]
SHOWN = 4
TRIES = 3  # articles tried per example shown, at most


def question_for(doc: StoredDocument) -> str:
    return f"What is the story behind “{doc.title}”?"


def example_questions(docs: list[StoredDocument], count: int = SHOWN,
                      check: Callable[[str, StoredDocument], bool] | None = None) -> list[str]:
    """Questions the index can answer: the curated ones over the sample corpus, else one
    per article for `count` articles spread over the index. `check(question, doc)`: keep
    only the questions it passes (at most TRIES x count articles are tried)."""
    if not docs:
        return []
    sample = {p.name for p in bundled_corpus().iterdir()}
    if all(d.source in sample for d in docs):
        return SAMPLE_QUESTIONS[:count]
    titled = [d for d in docs if d.title and len(d.title) <= 120]
    titled.sort(key=lambda d: d.source)
    titled.sort(key=lambda d: d.published or "", reverse=True)
    step = max(1, len(titled) // (count * TRIES))
    # spread over the index; each article once, whatever copies and near-copies it has
    picked, groups = [], set()
    for d in titled[::step] + titled:
        if d.group not in groups:
            groups.add(d.group)
            picked.append(d)
        if len(picked) >= count * TRIES:
            break
    out: list[str] = []
    for d in picked:
        question = question_for(d)
        if check is None or check(question, d):
            out.append(question)
            if len(out) == count:
                break
    return out


def answers_from_lead(qa: QA) -> Callable[[str, StoredDocument], bool]:
    """A check for `example_questions`: the answer's first cited sentence is in the
    article's lead (its first paragraph), in the article or one of its copies and
    near-copies."""
    def check(question: str, doc: StoredDocument) -> bool:
        answer = qa.ask(question)
        return quotes_lead(answer, doc, lambda doc_id: qa.document(doc_id).text)

    return check


def quotes_lead(answer: Answer, doc: StoredDocument, text_of: Callable[[str], str]) -> bool:
    """Whether the answer's first cited sentence is in the lead of `doc` (or of the copy or
    near-copy its passage comes from); `text_of(doc_id)`: an article's cleaned text."""
    cited = cited_numbers(answer)
    if answer.abstained or not cited:
        return False
    p = answer.passages[cited[0] - 1]
    if p.source != doc.source and p.source not in doc.also_in:
        return False
    body = text_of(p.doc_id)
    lead = body.find("\n\n")
    lead = len(body) if lead < 0 else lead
    return p.start + p.highlight[0] < lead


def render_examples(questions: list[str]) -> str:
    """The examples as buttons: a click asks the question (ui/page.py's script)."""
    if not questions:
        return ""
    chips = "".join(f'<button type="button" class="cqa-example">{_esc(q)}</button>' for q in questions)
    return f'<div class="cqa-examples"><span class="cqa-meta">Try:</span> {chips}</div>'
