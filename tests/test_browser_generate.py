"""Written answers on the page in a real browser (Playwright, Debian's chromium), written by
the real llama.cpp server with Gemma 3 270M: the reply streams (the sentence being written
shows, each completed sentence gets its check mark or is struck apart), the extractive
answer and sources stay, Copy as Markdown holds only supported sentences, and Stop ends
the writing. Makes the README's docs/written.png (`make screenshots`)."""

from __future__ import annotations

import pytest

import ui.app
from conftest import HEALEY, free_port, picture

pytestmark = [pytest.mark.browser, pytest.mark.slow]



@pytest.fixture(scope="module")
def served(written_qa):
    port = free_port()
    app = ui.app.launch(written_qa, host="127.0.0.1", port=port, block=False)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()


@pytest.fixture
def page(browser, served):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(served, wait_until="load", timeout=60_000)
    page.wait_for_selector("#question textarea", timeout=60_000)
    yield page
    context.close()


def ask(page, question: str) -> None:
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")


def test_the_written_answer_streams_and_each_sentence_is_marked(page):
    ask(page, HEALEY)
    page.wait_for_selector("#chat .cqa-pending", timeout=120_000)  # seen while it is written
    page.wait_for_selector("#chat .cqa-copy", timeout=180_000)  # the copy tool comes when it is done
    chat = page.locator("#chat")
    assert chat.locator(".cqa-pending").count() == 0
    kept, struck = chat.locator(".cqa-ok"), chat.locator(".cqa-unsupported li")
    assert kept.count() + struck.count() >= 1, page.inner_text("#chat")
    assert all("✓" in kept.nth(i).inner_text() for i in range(kept.count()))
    for i in range(struck.count()):
        assert "not in the cited passage" in struck.nth(i).inner_text(), struck.nth(i).inner_text()
    assert "Healey" in chat.locator(".cqa-extractive").inner_text()  # the extractive answer stays
    assert chat.locator(".cqa-sources li").count() >= 3
    markdown = chat.locator(".cqa-md").first.text_content().split("Sources:")[0]  # the question and the answer
    for i in range(kept.count()):
        assert kept.nth(i).inner_text().replace("✓", "").split("[")[0].strip()[:40] in markdown, markdown
    for i in range(struck.count()):
        assert chat.locator(".cqa-unsupported s").nth(i).inner_text().split("[")[0].strip()[:40] not in markdown
    page.screenshot(path=str(picture("written.png")), full_page=False)


def test_stop_ends_the_writing_and_keeps_what_was_checked(page):
    # the question of the test above: the server still holds its prompt and writes at once (a
    # prompt it has not just read takes it most of a minute on a busy 2-core machine, and Stop
    # shows with the model's first words)
    ask(page, HEALEY)
    page.wait_for_selector("#chat .cqa-pending", timeout=120_000)
    page.click("#cqa-stop")
    page.wait_for_function("() => document.querySelector('#chat').innerText.includes('(stopped')", timeout=120_000)
    page.wait_for_timeout(3000)  # nothing more arrives after Stop (and the reply's event ends)
    text = page.inner_text("#chat")
    assert "(stopped: the rest was not written)" in text, text
    assert page.locator("#chat .cqa-copy").count() == 0, text
    ask(page, HEALEY)  # the page still answers
    page.wait_for_selector("#chat .cqa-copy", timeout=180_000)
    assert "Healey" in page.locator("#chat .cqa-extractive").last.inner_text()
