"""The Gradio page, served for real on loopback and driven through gradio_client; and
render_answer's escaping of hostile article text."""

from __future__ import annotations

import dataclasses

import os

import pytest

import rag
import ui.app
import ui.render
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
    assert reply.startswith('<div class="cqa-answer">'), reply[:300]
    assert "Britain’s defense secretary, John Healey, is now the chairman. <sup><b>[1]</b></sup></div>" in reply, \
        reply[:400]
    assert "cqa-abstain" not in reply
    assert '<div class="cqa-meta">Sources</div>' in reply
    assert '<li value="1" class="cqa-source cqa-n-1"><span class="cqa-cite cqa-ref-' in reply
    assert "<strong class=\"cqa-title\">Hegseth to Attend Ukraine Defense Group Only Virtually</strong>" in reply
    assert "002_404fe9b87144756a.txt" in reply
    assert "Britain’s defense secretary, John Healey, is now the chairman.</mark>" in reply


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
    assert '<li value="1" class="cqa-source cqa-n-1 cqa-low">' in html
    assert "· low relevance" in html
    assert "<mark>" not in html and "<script>" not in html


def test_render_answer_exact_html_of_a_small_answer():
    passage = rag.Passage(1, "news/a.txt", "A & B", "One. Two.", 0, 9, 0.9, (5, 9), False, doc_id="ab12cd34ef",
                          published="2025-02-11", outlet="The <Times>")
    html = ui.app.render_answer(rag.Answer("q", "Two. [1]", False, (passage,)))
    assert html == (
        '<div class="cqa-answer">Two. <sup><b>[1]</b></sup></div>'
        '<div class="cqa-meta">Sources</div><ol class="cqa-sources">'
        '<li value="1" class="cqa-source cqa-n-1"><span class="cqa-cite cqa-ref-ab12cd34ef-0-9-5-9" role="button" '
        'tabindex="0" title="Open the article at this passage">&#91;1&#93;</span> <strong class="cqa-title">A &amp; B</strong> '
        '<span class="cqa-meta">news/a.txt · The &lt;Times&gt; · 2025-02-11</span> '
        '<span class="cqa-snippet">One. <mark>Two.</mark></span> '
        '<span class="cqa-more" role="button" tabindex="0">passage</span>'
        '<div class="cqa-passage"><div class="cqa-meta">chars 0–9 · score 0.90</div>One. <mark>Two.</mark></div>'
        '</li></ol>'
        '<div class="cqa-tools"><span class="cqa-copy" role="button" tabindex="0" '
        'title="Copy the answer and its sources as Markdown">Copy as Markdown</span>'
        '<div class="cqa-md">**Q:** q&#10;&#10;Two. &#91;1&#93;&#10;&#10;Sources:&#10;&#10;'
        '- &#91;1&#93; “Two.” — *A &amp; B*, The \\&lt;Times\\&gt;, 2025-02-11, `news/a.txt`</div></div>'
    )


def test_render_answer_shows_its_notes_escaped_under_the_answer():
    passage = rag.Passage(1, "news/a.txt", "A", "One. Two.", 0, 9, 0.9, (5, 9), False)
    html = ui.app.render_answer(rag.Answer("q", "Two. [1]", False, (passage,), notes=("Vectors <only>.",)))
    assert html.startswith('<div class="cqa-answer">Two. <sup><b>[1]</b></sup></div>'
                           '<div class="cqa-note">Vectors &lt;only&gt;.</div><div class="cqa-meta">Sources</div>')


def test_a_source_line_is_one_short_line_and_the_full_passage_is_kept():
    long = ("Word " * 60) + "The answer sentence is here. " + ("Tail " * 60)
    a = long.index("The answer")
    p = rag.Passage(1, "x.txt", "T", long, 100, 100 + len(long), 0.8, (a, a + len("The answer sentence is here.")),
                    False, doc_id="0123456789abcdef")
    html = ui.app.render_answer(rag.Answer("q", "The answer sentence is here. [1]", False, (p,)))
    snippet = html.split('<span class="cqa-snippet">')[1].split("</span>")[0]
    assert "<mark>The answer sentence is here.</mark>" in snippet
    assert len(snippet) < 200 and snippet.startswith("…") and snippet.endswith("…"), snippet
    assert html.count("Word ") >= 60, "the full passage is on the page (shown on demand)"
    assert f"cqa-ref-0123456789abcdef-100-{100 + len(long)}-{100 + a}-{100 + a + 28}" in html


def test_a_repeated_article_names_its_title_and_the_source_it_repeats():
    ps = tuple(rag.Passage(n, "s.txt" if n != 2 else "t.txt", "Title" if n != 2 else "Other", f"Sentence {n}.",
                           n * 10, n * 10 + 12, 0.5, None, False, doc_id=("ab" if n != 2 else "cd") * 8)
               for n in (1, 2, 3))
    html = ui.app.render_answer(rag.Answer("q", rag.NO_ANSWER, True, ps))
    assert "same article" not in html and html.count('<strong class="cqa-title">Title</strong>') == 2
    assert html.count('<span class="cqa-again">also from &#91;1&#93;:</span>') == 1  # [3], after [2] of another story
    assert html.count("<span class=\"cqa-meta\">s.txt") == 2  # one per source (benchmarks/load.py parses them)


def test_answer_markdown_lists_numbered_sources_and_escapes_markdown():
    p = rag.Passage(1, "n/a.txt", "![x](http://evil.example/p.png) Title", "Alpha beta.", 10, 21, 0.9, (0, 11), False,
                    doc_id="ab" * 8, published="2024-05-01", outlet="Daily", url="https://example.org/a")
    other = rag.Passage(2, "n/b.txt", "Gamma", "Gamma delta.", 0, 12, 0.4, None, False, doc_id="cd" * 8,
                        also_in=("n/c.txt", "n/d.txt"))
    md = ui.render.answer_markdown(rag.Answer("Who?", "Alpha beta. [1]", False, (p, other)))
    assert md.splitlines() == [
        "**Q:** Who?", "", "Alpha beta. [1]", "", "Sources:", "",
        "- [1] “Alpha beta.” — *\\!\\[x\\]\\(http://evil.example/p.png\\) Title*, Daily, 2024-05-01, "
        "<https://example.org/a>",
        "", "Other passages:", "",
        "- [2] *Gamma*, `n/b.txt` (also in: n/c.txt, n/d.txt)",
    ], md


def test_article_viewer_marks_the_span_and_escapes_everything():
    text = "Intro <script>x()</script>. The cited sentence. ${window.__pwned=1} end."
    start = text.index("The cited")
    article = rag.Article(id="ab" * 8, source="<b>s</b>.txt", path="", title="<img src=x onerror=y()>", published=None,
                          outlet="O", url="javascript:alert(1)", author=None, chunks=1, chars=len(text), content="",
                          text=text)
    html = ui.render.render_article(article, start, start + 19, start, start + 19)
    assert '<mark class="cqa-span"><b class="cqa-hit">The cited sentence.</b></mark>' in html
    assert "<script>" not in html and "<img" not in html and "<b>s</b>" not in html and "javascript:" not in html
    assert "&lt;script&gt;x()&lt;/script&gt;" in html
    assert ui.render.render_article(article, 5, 10_000).count("<mark") == 0  # offsets past the end: no mark


def test_uploads_are_allowed_only_where_the_brief_says():
    assert ui.app.uploads_allowed("127.0.0.1", None, None) is True
    assert ui.app.uploads_allowed("::1", None, None) is True
    assert ui.app.uploads_allowed("0.0.0.0", None, None) is False
    assert ui.app.uploads_allowed("0.0.0.0", [("a", "b")], None) is True
    assert ui.app.uploads_allowed("0.0.0.0", None, True) is True
    assert ui.app.uploads_allowed("127.0.0.1", None, False) is False


def test_filters_from_the_panel():
    assert ui.app.make_filters([], "", "", []) is None
    f = ui.app.make_filters(["BBC"], "2024-01-01", "", ["ab" * 8])
    assert f.outlets == ("BBC",) and str(f.since) == "2024-01-01" and f.documents == ("ab" * 8,)
    with pytest.raises(rag.InputError, match="bad since date"):
        ui.app.make_filters([], "yesterday", "", [])


def test_uploads_go_through_the_cli_checks_and_report_per_file(make_qa, tmp_path):
    import ui.documents

    qa = make_qa()
    up = tmp_path / "upload"
    up.mkdir()
    files = {"good.md": "---\ntitle: Good One\noutlet: Daily\ndate: 2024-01-02\n---\n"
                        "The good article has a real body of text about the harbour and its boats.\n\n"
                        "It has a second paragraph too, with more words about the harbour in it.\n",
             "notes.pdf": "%PDF-1.4", "empty.txt": "   \n"}
    paths = []
    for i, (name, text) in enumerate(files.items()):
        (up / str(i)).mkdir()
        (up / str(i) / name).write_text(text, encoding="utf-8")
        paths.append(str(up / str(i) / name))
    (up / "3").mkdir()
    (up / "3" / "bad.txt").write_bytes(b"\xff\xfe\x00 not utf-8 \xff")
    paths.append(str(up / "3" / "bad.txt"))
    html, changed = ui.documents.ingest_uploads(qa, paths)
    assert changed, html
    rows = html.split("<tr")[2:]
    assert "good.md" in rows[0] and "<td>1 document: 1 added, 1 chunk</td>" in rows[0] and "cqa-ok" in rows[0], rows[0]
    assert "notes.pdf" in rows[1] and "refused: unsupported file type .pdf" in rows[1]
    assert "empty.txt" in rows[2] and "refused" in rows[2] and str(up) not in html, html
    assert "bad.txt" in rows[3] and "refused" in rows[3]
    assert [(d.source, d.outlet, d.published) for d in qa.documents()] == [("good.md", "Daily", "2024-01-02")]
    assert not any(os.path.exists(p) for p in paths), "uploaded copies are deleted"
    many = ui.documents.ingest_uploads(qa, [str(tmp_path / f"{i}.txt") for i in range(21)])[0]
    assert "Too many files: 21 at once (limit 20)" in many


def test_documents_list_is_escaped_and_searchable():
    import ui.documents

    docs = [rag.StoredDocument(id="ab" * 8, source="<b>x</b>.txt", path="", title="<script>t()</script>", published=None,
                               outlet="O&O", url=None, author=None, chunks=3, chars=10, content=""),
            rag.StoredDocument(id="cd" * 8, source="y.txt", path="", title="Ferry fares", published="2024-01-01",
                               outlet="Times", url=None, author=None, chunks=2, chars=10, content="")]
    html = ui.documents.render_documents(docs, removable=True)
    assert "<script>" not in html and "<b>x</b>" not in html and "&lt;script&gt;t()&lt;/script&gt;" in html
    assert "2 documents · 5 chunks" in html and html.count("cqa-doc-remove") == 2
    one = dataclasses.replace(docs[1], chunks=1)
    assert "1 document · 1 chunk<" in ui.documents.render_documents([one]), "one, not 1 documents or 1 chunks"
    found = ui.documents.render_documents(docs, "ferry times")
    assert "1 of 2 documents" in found and "Ferry fares" in found and "t()" not in found and "cqa-doc-remove" not in found


def test_example_questions_are_answered_from_the_lead_of_distinct_articles(near_qa):
    """Today's bug: an example answered with a side sentence of its story ("What is the
    story behind “Looks and music to drive mobiles”?" quoted its 13th sentence), and an
    article with a copy offered twice. Each example offered now quotes its article's lead."""
    from ui.examples import answers_from_lead, example_questions, question_for, quotes_lead

    docs = near_qa.documents()
    by_question = {question_for(d): d for d in docs}
    offered = example_questions(docs, check=answers_from_lead(near_qa))
    assert len(offered) == 4, offered
    assert len({by_question[q].group for q in offered}) == 4, f"an article offered twice: {offered}"
    for q in offered:
        answer = near_qa.ask(q)
        assert quotes_lead(answer, by_question[q], lambda i: near_qa.document(i).text), (q, answer.text)
    side = question_for(next(d for d in docs if d.source == "tech/064.txt"))
    assert not quotes_lead(near_qa.ask(side), by_question[side], lambda i: near_qa.document(i).text)
    assert side not in offered


def test_a_passage_of_a_near_copy_reads_as_the_same_source():
    """Two passages of one article under two names (a near-copy): the second says "also
    from [1]", as a second passage of the same file does, and both name the other file."""
    a = rag.Passage(1, "tech/064.txt", "Looks and music", "One. Two.", 0, 9, 0.9, (5, 9), False, doc_id="ab" * 8,
                    also_in=("tech/338.txt",))
    b = rag.Passage(2, "tech/338.txt", "Looks and music", "Three.", 20, 26, 0.5, None, False, doc_id="cd" * 8,
                    also_in=("tech/064.txt",))
    c = rag.Passage(3, "tech/065.txt", "Yahoo", "Four.", 0, 5, 0.4, None, False, doc_id="ef" * 8)
    html = ui.app.render_answer(rag.Answer("q", "Two. [1]", False, (a, b, c)))
    items = [item.split("</li>")[0] for item in html.split("<li ")[1:]]
    assert "also from &#91;1&#93;" not in items[0] and "· also in: tech/338.txt" in items[0], items[0]
    assert '<span class="cqa-again">also from &#91;1&#93;:</span>' in items[1] and "also in: tech/064.txt" in items[1]
    assert "cqa-again" not in items[2] and "also in" not in items[2], items[2]


def test_the_documents_list_marks_copies_and_near_copies(near_qa):
    """Today's bug: exact copies listed as two identical rows with no marker."""
    import ui.documents

    html = ui.documents.render_documents(near_qa.documents(), "digital guru")
    rows = [row.split("</tr>")[0] for row in html.split('<tr class="cqa-doc">')[1:]]
    assert len(rows) == 2 and "· copy of tech/063.txt" in rows[0] and "· copy of tech/004.txt" in rows[1], rows
    html = ui.documents.render_documents(near_qa.documents(), "looks and music")
    assert "· near-copy of tech/338.txt" in html and "· near-copy of tech/064.txt" in html, html
