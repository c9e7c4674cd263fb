"""The Gradio page, served for real on loopback and driven through gradio_client; and
render_answer's escaping of hostile article text."""

from __future__ import annotations

import os

import pytest

import rag
import ui.app
from conftest import HEALEY, free_port

slow = pytest.mark.slow  # the tests that serve the page (model, server)


@pytest.fixture(scope="module")
def server(bundled_qa):
    port = free_port()
    app = ui.app.launch(bundled_qa, host="127.0.0.1", port=port, block=False)
    try:
        yield app, f"http://127.0.0.1:{port}/"
    finally:
        app.close()


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server[1], verbose=False)


def text_of(message: dict) -> str:
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


def ask(client, question: str, history=None) -> tuple[str, list[dict]]:
    box, history = client.predict(question, history or [], api_name="/ask")
    assert box == "", "the question box is cleared after asking"
    assert history[-1]["role"] == "assistant" and history[-2]["role"] == "user"
    return text_of(history[-1]), history


@slow
def test_the_app_exposes_one_ask_endpoint(client):
    api = client.view_api(return_format="dict", print_info=False)
    assert list(api["named_endpoints"]) == ["/ask"], list(api["named_endpoints"])
    params = [p["parameter_name"] for p in api["named_endpoints"]["/ask"]["parameters"]]
    assert params == ["question", "history"]


@slow
def test_answer_reply_shows_citation_source_and_highlight(client):
    reply, history = ask(client, HEALEY)
    assert len(history) == 2
    assert text_of(history[0]) == HEALEY
    assert reply.startswith('<div class="cqa-answer">Britain’s defense secretary, John Healey, is now the chairman. '
                            "<sup><b>[1]</b></sup>"), reply[:300]
    assert "cqa-abstain" not in reply
    assert '<div class="cqa-meta">Sources</div>' in reply
    assert '<li value="1" class="cqa-source"><strong>Hegseth to Attend Ukraine Defense Group Only Virtually</strong>' in reply
    assert "corpus/002_404fe9b87144756a.txt" in reply
    assert "<mark>Britain’s defense secretary, John Healey, is now the chairman.</mark>" in reply


@slow
def test_history_is_kept_across_questions(client):
    _, history = ask(client, HEALEY)
    reply, history = ask(client, "Into which Baltic countries did Biden move U.S. troops?", history)
    assert len(history) == 4
    assert "Estonia" in reply and "<sup><b>[1]</b></sup>" in reply


@slow
def test_abstention_reply_looks_different(client):
    reply, _ = ask(client, "Which singer launched a candle called Burn the Baggage?")
    assert reply.startswith('<div class="cqa-answer cqa-abstain"><strong>No answer in the corpus.</strong> '
                            "The corpus does not answer this question.</div>"), reply[:300]
    assert "Closest passages (low relevance)" in reply
    assert "low relevance" in reply and "cqa-low" in reply
    assert "<mark>" not in reply
    assert "Burn the Baggage" not in reply.split("</div>", 1)[1], "furniture shown as a source"


@slow
@pytest.mark.parametrize(
    "question, message",
    [
        ("", "empty question: type a question, e.g. &#x27;Who chairs the Ukraine Defense Contact Group?&#x27;"),
        ("   ", "empty question: type a question"),
        ("x" * 100_000, "question too long: 100,000 characters (limit 2,000); ask it in fewer words"),
    ],
    ids=["empty", "whitespace", "100000-chars"],
)
def test_bad_question_yields_a_visible_error(client, question, message):
    reply, _ = ask(client, question)
    assert reply.startswith('<div class="cqa-error"><strong>Cannot answer:</strong> '), reply[:200]
    assert message in reply, reply[:300]


@slow
def test_the_page_is_served_with_analytics_off(server):
    app, url = server
    assert app.analytics_enabled is False
    assert os.environ.get("GRADIO_ANALYTICS_ENABLED") == "False"
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as response:
        page = response.read().decode("utf-8", "replace")
    assert response.status == 200
    assert "<title>corpus-qa</title>" in page or "corpus-qa" in page
    for cdn in ("fonts.googleapis.com", "fonts.gstatic.com", "cdn.jsdelivr.net", "unpkg.com", "cdnjs.cloudflare.com"):
        assert cdn not in page, f"the page references {cdn}"


# -- render_answer ------------------------------------------------------------------

HOSTILE = "Before. <script>alert(1)</script> and <img src=x onerror=alert(1)> after."


def hostile_answer(abstained: bool = False) -> rag.Answer:
    start = HOSTILE.index("<script>")
    end = HOSTILE.index(" and")
    passage = rag.Passage(
        n=1, source="evil/<b>x</b>.txt", title="<script>t()</script> Title", text=HOSTILE, start=10,
        end=10 + len(HOSTILE), score=0.5, highlight=None if abstained else (start, end), low_relevance=abstained,
    )
    text = rag.NO_ANSWER if abstained else "<script>alert(1)</script> [1]"
    return rag.Answer("q <script>", text, abstained, (passage,))


def test_render_answer_escapes_every_piece_of_document_text():
    html = ui.app.render_answer(hostile_answer())
    assert "<script>" not in html and "<img" not in html and "<b>x</b>" not in html, html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<mark>&lt;script&gt;alert(1)&lt;/script&gt;</mark>" in html
    assert "&lt;script&gt;t()&lt;/script&gt; Title" in html
    assert "evil/&lt;b&gt;x&lt;/b&gt;.txt" in html
    assert html.startswith('<div class="cqa-answer">&lt;script&gt;alert(1)&lt;/script&gt; <sup><b>[1]</b></sup></div>')


def test_render_answer_of_an_abstention():
    html = ui.app.render_answer(hostile_answer(abstained=True))
    assert html.startswith('<div class="cqa-answer cqa-abstain"><strong>No answer in the corpus.</strong> '
                           "The corpus does not answer this question.</div>")
    assert '<li value="1" class="cqa-source cqa-low">' in html
    assert "· low relevance" in html
    assert "<mark>" not in html and "<script>" not in html


def test_render_answer_exact_html_of_a_small_answer():
    passage = rag.Passage(1, "news/a.txt", "A & B", "One. Two.", 0, 9, 0.9, (5, 9), False)
    html = ui.app.render_answer(rag.Answer("q", "Two. [1]", False, (passage,)))
    assert html == (
        '<div class="cqa-answer">Two. <sup><b>[1]</b></sup></div>'
        '<div class="cqa-meta">Sources</div><ol class="cqa-sources">'
        '<li value="1" class="cqa-source"><strong>A &amp; B</strong> '
        '<span class="cqa-meta">news/a.txt · chars 0–9 · score 0.90</span>'
        '<div class="cqa-passage">One. <mark>Two.</mark></div></li></ol>'
    )
