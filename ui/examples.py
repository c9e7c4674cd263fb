"""The example questions under the question box: made from the index the page serves,
never from another corpus (a BBC archive was offered questions about Ukraine).

The bundled sample corpus keeps its own curated questions; any other index gets one
question per picked article, built from its title, the articles spread evenly over the
list (newest first when dated), so the examples name stories the index holds."""

from __future__ import annotations

from rag import StoredDocument, bundled_corpus

from .render import _esc

SAMPLE_QUESTIONS = [
    "Who is now the chairman of the Ukraine Defense Contact Group?",
    "What kind of support did Trump say the U.S. might provide for Ukraine?",
    "Into which Baltic countries did Biden move U.S. troops?",
    "How many points did the peace plan reviewed in Geneva have?",
]
SHOWN = 4


def example_questions(docs: list[StoredDocument], count: int = SHOWN) -> list[str]:
    """Questions the index can answer: the curated ones over the sample corpus, else
    "What is the story behind “<title>”?" for `count` articles spread over the index."""
    if not docs:
        return []
    sample = {p.name for p in bundled_corpus().iterdir()}
    if all(d.source in sample for d in docs):
        return SAMPLE_QUESTIONS[:count]
    titled = [d for d in docs if d.title and len(d.title) <= 120]
    titled.sort(key=lambda d: d.source)
    titled.sort(key=lambda d: d.published or "", reverse=True)
    step = max(1, len(titled) // count)
    return [f"What is the story behind “{d.title}”?" for d in titled[::step][:count]]


def render_examples(questions: list[str]) -> str:
    """The examples as buttons: a click asks the question (ui/page.py's script)."""
    if not questions:
        return ""
    chips = "".join(f'<button type="button" class="cqa-example">{_esc(q)}</button>' for q in questions)
    return f'<div class="cqa-examples"><span class="cqa-meta">Try:</span> {chips}</div>'
