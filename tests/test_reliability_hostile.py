"""Hostile documents and questions in a real browser (Playwright + Debian's chromium).

Articles (.txt, .md, .html) full of script tags, event handlers, javascript: and markdown
links, tracking images, stylesheets, meta refresh, LaTeX and template syntax, and a very
long line, are indexed and cited; the page shows them as text, runs nothing (no
`window.__pwned`, no dialog), creates no active element from them, and requests nothing
from any host but the local server (every other request is recorded and aborted). The
same for questions holding such text.
"""

from __future__ import annotations

import time
from urllib.parse import urlparse

import pytest

import rag
import store
import ui.app
from conftest import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PWN = "window.__pwned=1"

# Each payload is quoted inside a sentence, so it lands in a cited passage.
PAYLOADS = [
    f"<script>{PWN}</script>",
    f'<img src=x onerror="{PWN}">',
    f'<svg onload="{PWN}"></svg>',
    f'<iframe src="javascript:{PWN}"></iframe>',
    f'<a href="javascript:{PWN}">click here</a>',
    f"[click me](javascript:{PWN})",
    "![pixel](http://evil.example/pixel.png)",
    '<img src="http://evil.example/track.png">',
    '<link rel="stylesheet" href="http://evil.example/x.css">',
    "<style>@import url(http://evil.example/y.css);</style>",
    '<meta http-equiv="refresh" content="0;url=http://evil.example/">',
    '<base href="http://evil.example/">',
    f"$$\\href{{javascript:{PWN}}}{{x}}$$",
    f"</div></li></ol></div><script>{PWN}</script>",
    f"{{{{constructor.constructor('{PWN}')()}}}}",
    "<http://evil.example/auto>",
]
TXT = "Harbour Institute Publishes a Catalogue of Web Attacks\n" + " ".join(
    f"The harbour institute catalogue lists attack number {i} as {p} in its report." for i, p in enumerate(PAYLOADS)
) + "\n"
LONG_LINE = "Glacier survey " + "ice " * 20_000 + "ends here."  # one 80,000-character sentence
MD = (
    "# Orchard Festival Warns About Malicious Links\n\n"
    f"The orchard festival newsletter warned about a link [win a prize](javascript:{PWN}) sent to visitors.\n\n"
    "It also warned about an image ![free cider](http://evil.example/cider.png) in spam mail.\n\n"
    f"Organisers said the script <script>{PWN}</script> was removed from the festival website.\n\n"
    f"{LONG_LINE}\n"
)
HTML = (
    "<html><head><title>Glacier Museum Shows Old Browser Exploits</title>"
    f"<script>{PWN}</script><link rel='stylesheet' href='http://evil.example/z.css'></head><body>"
    "<h1>Glacier Museum Shows Old Browser Exploits</h1>"
    "<p>The glacier museum opened an exhibition of old browser exploits on Saturday in the valley town.</p>"
    f"<p>One display shows the text &lt;script&gt;{PWN}&lt;/script&gt; printed on a large banner.</p>"
    f"<p>Another display shows an image tag <img src='http://evil.example/m.png' onerror='{PWN}'> behind glass.</p>"
    f"<p>Curators said that visitors can read the exhibition catalogue on paper only, never online.</p>"
    "</body></html>"
)
QUESTIONS = {
    "catalogue.txt": "Which attacks does the harbour institute catalogue list?",
    "festival.md": "What did the orchard festival newsletter warn about?",
    "museum.html": "What does the glacier museum exhibition show?",
}
HOSTILE_QUESTION = "What is " + " or ".join(PAYLOADS) + "?"


@pytest.fixture(scope="module")
def served(tmp_path_factory, embedder):
    folder = tmp_path_factory.mktemp("hostile") / "articles"
    folder.mkdir()
    (folder / "catalogue.txt").write_text(TXT, encoding="utf-8")
    (folder / "festival.md").write_text(MD, encoding="utf-8")
    (folder / "museum.html").write_text(HTML, encoding="utf-8")
    qa = rag.QA(store.Index.open(path=tmp_path_factory.mktemp("hostile-index") / "index"), embedder)
    assert qa.ingest([folder]).added == 3
    port = free_port()
    app = ui.app.launch(qa, host="127.0.0.1", port=port, block=False)
    try:
        yield qa, f"http://127.0.0.1:{port}/"
    finally:
        app.close()


class Watched:
    """A page whose every request off 127.0.0.1 is recorded and aborted, and whose
    dialogs (alert, confirm) are recorded and dismissed."""

    def __init__(self, browser, url: str):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.foreign: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.context.route(lambda url: urlparse(url).hostname != "127.0.0.1" and urlparse(url).scheme not in ("data", "blob"),
                           lambda route: (self.foreign.append(route.request.url), route.abort()))
        self.page.goto(url, wait_until="load", timeout=60_000)
        self.page.wait_for_selector("#question textarea", timeout=60_000)

    def ask(self, question: str, replies: int) -> float:
        started = time.monotonic()
        box = self.page.locator("#question textarea")
        box.fill(question)
        box.press("Enter")
        self.page.wait_for_function("n => document.querySelectorAll('#chat .cqa-answer, #chat .cqa-error').length >= n",
                                    arg=replies, timeout=120_000)
        self.page.wait_for_timeout(500)  # let anything that would load or run do so
        return time.monotonic() - started

    def assert_inert(self) -> None:
        page = self.page
        assert page.evaluate("typeof window.__pwned") == "undefined", "a payload ran"
        assert self.dialogs == [], f"a dialog opened: {self.dialogs}"
        assert self.foreign == [], f"the page requested other hosts: {self.foreign}"
        # elements made from a payload (Gradio's own icons carry <style> and <svg>: not ours)
        active = page.eval_on_selector_all(
            "#chat script, #chat iframe, #chat svg, #chat object, #chat embed, #chat link, #chat style, "
            "#chat meta, #chat base, #chat img",
            "els => els.map(e => e.outerHTML).filter(h => /pwned|evil\\.example|javascript:/i.test(h))")
        assert active == [], f"elements made from payloads in the chat: {active}"
        handlers = page.eval_on_selector_all("#chat [onerror], #chat [onload], #chat [onclick]",
                                             "els => els.map(e => e.outerHTML.slice(0, 120))")
        assert handlers == [], f"inline event handlers in the chat: {handlers}"
        hrefs = page.eval_on_selector_all("#chat a[href]", "els => els.map(e => e.getAttribute('href'))")
        assert all(h.startswith(("http://", "https://")) for h in hrefs), f"links in the chat: {hrefs}"
        srcs = page.eval_on_selector_all("#chat img[src]", "els => els.map(e => e.src)")
        assert all(urlparse(s).hostname == "127.0.0.1" or s.startswith("data:") for s in srcs), srcs

    def close(self) -> None:
        self.context.close()


def test_hostile_articles_are_cited_and_shown_as_text(browser, served):
    qa, url = served
    page = Watched(browser, url)
    try:
        for n, (name, question) in enumerate(QUESTIONS.items(), 1):
            seconds = page.ask(question, n)
            last = page.page.locator("#chat .cqa-answer").nth(n - 1)
            text = page.page.inner_text("#chat")
            assert name in text, f"{name} is not cited: {text[-1500:]}"
            assert "[1]" in last.inner_text(), last.inner_text()
            assert seconds < 60, f"{name}: {seconds:.0f} s to answer and render"
        text = page.page.inner_text("#chat")
        for payload in PAYLOADS:
            assert payload in text, f"not shown as text: {payload}"
        assert "warned about a link win a prize sent to visitors" in text  # a markdown link in .md becomes its text
        assert f"&lt;script&gt;{PWN}&lt;/script&gt;" not in text, "entities must not show double-escaped"
        assert f"<script>{PWN}</script>" in text  # the museum banner's text, extracted from HTML
        page.assert_inert()
    finally:
        page.close()


def test_a_very_long_line_is_cited_and_the_page_stays_usable(browser, served):
    qa, url = served
    answer = qa.ask("How many times does the glacier survey say ice?")
    assert any(len(p.text) > 50_000 for p in answer.passages), [len(p.text) for p in answer.passages]
    page = Watched(browser, url)
    try:
        seconds = page.ask("How many times does the glacier survey say ice?", 1)
        assert seconds < 60, f"{seconds:.0f} s to show an 80,000-character passage"
        assert "ice ice ice" in page.page.inner_text("#chat")
        assert page.page.evaluate("1 + 1") == 2, "the page still responds"
        page.assert_inert()
    finally:
        page.close()


def test_a_hostile_question_is_shown_as_text(browser, served):
    qa, url = served
    assert len(HOSTILE_QUESTION) < 2000
    page = Watched(browser, url)
    try:
        page.ask(HOSTILE_QUESTION, 1)
        question_text = page.page.inner_text("#chat")
        for payload in PAYLOADS:
            assert payload in question_text, f"not shown as text: {payload}"
        page.assert_inert()
    finally:
        page.close()


def test_bracketed_numbers_in_an_article_are_not_citation_markers():
    """An abstract's own "[12]" must not become a superscript citation pointing nowhere
    (found by benchmarks/load.py on SciFact); the answer's markers still do."""
    text = "Mice lacking the gene lived longer [12]. Survival rose by a third [3]."
    passage = rag.Passage(1, "sci/1.txt", "Gene and lifespan", text, 0, len(text), 0.8, (0, 37), False)
    other = rag.Passage(2, "sci/2.txt", "Other", "Unrelated [1] text.", 0, 19, 0.1, None, True)
    reply = ui.app.render_answer(rag.Answer("q", "Mice lacking the gene lived longer [12]. [1]", False, (passage, other)))
    assert reply.startswith('<div class="cqa-answer">Mice lacking the gene lived longer &#91;12&#93;. '
                            "<sup><b>[1]</b></sup></div>"), reply[:200]
    assert reply.count("<sup>") == 1, reply
