"""The chat page in a real browser: Playwright driving Debian's chromium (headless).

A question typed on the page gets an answer with a citation and its source; an
abstention looks different; hostile article text shows as text and runs nothing; and
the page fetches nothing from any host but the local server (no CDN fonts or scripts).
The screenshot of the page in the README is made here: docs/screenshot.png (`make screenshots`).
"""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

import ui.app
from conftest import HEALEY, free_port, picture

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LOCAL = {"127.0.0.1", "localhost", "::1", "[::1]"}


class Page:
    """A browser page on a served app, recording every request it makes."""

    def __init__(self, browser, url: str):
        self.context = browser.new_context(viewport={"width": 1280, "height": 800})
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.goto(url, wait_until="load", timeout=60_000)
        self.page.wait_for_selector("#question textarea", timeout=60_000)

    def ask(self, question: str, wait_for: str, count: int) -> None:
        box = self.page.locator("#question textarea")
        box.fill(question)
        box.press("Enter")
        self.page.wait_for_function(
            "([sel, n]) => document.querySelectorAll(sel).length >= n", arg=[wait_for, count], timeout=90_000
        )

    def chat_text(self) -> str:
        return self.page.inner_text("#chat")

    def foreign_requests(self) -> list[str]:
        return [u for u in self.requests if urlparse(u).scheme not in ("data", "blob") and urlparse(u).hostname not in LOCAL]

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def served(bundled_qa):
    port = free_port()
    app = ui.app.launch(bundled_qa, host="127.0.0.1", port=port, block=False)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()


def test_question_on_the_page_gets_a_cited_answer_and_nothing_leaves_the_machine(browser, served):
    page = Page(browser, served)
    try:
        assert "corpus-qa" in page.page.title()
        page.ask(HEALEY, "#chat .cqa-answer", 1)
        text = page.chat_text()
        assert "Healey" in text, text[:1000]
        assert "[1]" in text
        assert "002_404fe9b87144756a.txt" in text
        assert "Hegseth to Attend Ukraine Defense Group Only Virtually" in text
        mark = page.page.locator("#chat .cqa-snippet mark").first
        assert mark.inner_text().endswith("Britain’s defense secretary, John Healey, is now the chairman."), \
            mark.inner_text()
        assert page.page.locator("#chat .cqa-abstain").count() == 0

        # the chat scrolls to its end once rendered; show the answer and its first source
        page.page.wait_for_timeout(1000)
        page.page.evaluate(
            """() => document.querySelectorAll('#chat, #chat *').forEach(e => {
                   if (e.scrollHeight > e.clientHeight + 1) e.scrollTop = 0; })"""
        )
        page.page.wait_for_timeout(500)
        shot = picture("screenshot.png")
        page.page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000

        # an abstention renders differently
        page.ask("Which singer launched a candle called Burn the Baggage?", "#chat .cqa-abstain", 1)
        abstain = page.page.locator("#chat .cqa-abstain").first
        assert "No answer in the corpus." in abstain.inner_text()
        assert page.page.locator("#chat .cqa-low").count() >= 1
        background = abstain.evaluate("e => getComputedStyle(e).backgroundColor")
        plain = page.page.locator("#chat .cqa-answer:not(.cqa-abstain)").first.evaluate(
            "e => getComputedStyle(e).backgroundColor"
        )
        assert background != plain, f"an abstention should look different ({background} vs {plain})"

        # an empty question gets a visible message
        page.page.locator("#question textarea").fill("")
        page.page.locator("#ask").click()
        page.page.wait_for_selector("#chat .cqa-error", timeout=60_000)
        assert "empty question" in page.page.locator("#chat .cqa-error").first.inner_text()

        assert page.requests, "no requests were recorded"
        assert page.foreign_requests() == [], f"the page fetched from other hosts: {page.foreign_requests()}"
    finally:
        page.close()


HOSTILE_ARTICLE = (
    "Researchers Publish a Page of Attack Examples\n\n"
    "Security researchers at the harbour institute published a page of attack examples on Tuesday. "
    "The first example they quoted was <script>window.__pwned=1</script> inside an article. "
    "The second example was <img src=x onerror=\"window.__pwned=1\"> hidden in a caption.\n"
)


def test_hostile_article_text_is_shown_as_text_and_runs_nothing(browser, make_qa, tmp_path):
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "attacks.txt").write_text(HOSTILE_ARTICLE, encoding="utf-8")
    qa = make_qa()
    assert qa.ingest([folder]).added == 1
    port = free_port()
    app = ui.app.launch(qa, host="127.0.0.1", port=port, block=False)
    page = Page(browser, f"http://127.0.0.1:{port}/")
    try:
        page.ask("Which attack examples did the security researchers publish?", "#chat .cqa-answer", 1)
        text = page.chat_text()
        assert "attacks.txt" in text, text[:1000]
        assert "<script>window.__pwned=1</script>" in text, text[:1500]
        assert '<img src=x onerror="window.__pwned=1">' in text, text[:1500]
        assert page.page.evaluate("typeof window.__pwned") == "undefined"
        assert page.page.locator("#chat script").count() == 0
        assert page.page.locator("#chat img[src='x']").count() == 0
        assert page.foreign_requests() == []
    finally:
        page.close()
        app.close()
