"""The newsroom page in a real browser (Playwright + Debian's chromium): compact sources
within the first screen, the article viewer behind a citation, filters, follow-ups,
uploads and removal, copy as Markdown, dark mode and a narrow screen; hostile file names
and article text stay text. docs/viewer.png is made here (`make screenshots`).
"""

from __future__ import annotations

import json

import httpx
import pytest

import ui.app
from conftest import HEALEY, free_port, picture, served_page
from test_browser import Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PWN = "window.__pwned=1"


@pytest.fixture(scope="module")
def served(bundled_qa):
    with served_page(bundled_qa, allow_upload=False) as url:
        yield bundled_qa, url


def open_page(browser, url: str, width: int = 1280, height: int = 800, **context) -> Page:
    page = Page.__new__(Page)
    page.context = browser.new_context(viewport={"width": width, "height": height}, **context)
    page.page = page.context.new_page()
    page.requests = []
    page.page.on("request", lambda request: page.requests.append(request.url))
    page.page.goto(url, wait_until="load", timeout=60_000)
    page.page.wait_for_selector("#question textarea", timeout=60_000)
    return page


def last_reply(page: Page):
    return page.page.locator("#chat .cqa-answer").last


def cited_sources(page: Page) -> list[str]:
    """The source names of the last reply's lines that hold the answer (a <mark>)."""
    return page.page.evaluate("""() => {
        const answers = document.querySelectorAll('#chat .cqa-answer');
        const box = answers[answers.length - 1].parentElement;
        return [...box.querySelectorAll('.cqa-source')].filter(li => li.querySelector('.cqa-snippet mark'))
            .map(li => li.querySelector('.cqa-meta').textContent.split(' · ')[0]); }""")


def viewer_mark(page: Page) -> tuple[str, str]:
    page.page.wait_for_selector("#cqa-viewer mark.cqa-span", timeout=30_000)
    page.page.wait_for_timeout(400)
    return (page.page.locator("#cqa-viewer mark.cqa-span").text_content(),
            page.page.locator("#cqa-viewer .cqa-hit").text_content())


def in_view(page: Page, selector: str) -> bool:
    return page.page.evaluate("""sel => { const e = document.querySelector(sel); if (!e) return false;
        const r = e.getBoundingClientRect(); return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight; }""",
                              selector)


def test_answer_and_sources_fit_the_first_screen_and_a_citation_opens_the_article(browser, served):
    qa, url = served
    answer = qa.ask(HEALEY)
    first = answer.passages[0]
    article = qa.document(first.doc_id)
    page = open_page(browser, url)
    try:
        page.ask(HEALEY, "#chat .cqa-answer", 1)
        page.page.wait_for_timeout(800)
        # every line of the reply visible at 1280x800 without scrolling the page or the chat
        box = page.page.evaluate("""() => {
            const answer = document.querySelector('#chat .cqa-answer');
            const lines = [...document.querySelectorAll('#chat .cqa-source')];
            let chat = answer; while (chat && !(chat.scrollHeight > chat.clientHeight + 1 &&
                ['auto', 'scroll'].includes(getComputedStyle(chat).overflowY))) chat = chat.parentElement;
            const view = chat ? chat.getBoundingClientRect() : {top: 0, bottom: window.innerHeight};
            const top = answer.getBoundingClientRect().top, bottom = lines[lines.length - 1].getBoundingClientRect().bottom;
            return {top, bottom, viewTop: Math.max(0, view.top), viewBottom: Math.min(window.innerHeight, view.bottom),
                    lines: lines.length, scrollY: window.scrollY}; }""")
        assert box["lines"] == len(answer.passages) == 5
        assert box["viewTop"] - 1 <= box["top"] and box["bottom"] <= box["viewBottom"] + 1, box
        # a source line: [n] title · meta · the highlighted sentence with a little context
        line = page.page.locator("#chat .cqa-source").first.inner_text()
        assert "Hegseth to Attend Ukraine Defense Group Only Virtually" in line
        assert "002_404fe9b87144756a.txt" in line and "John Healey, is now the chairman." in line
        # the full passage on demand
        passage = page.page.locator("#chat .cqa-source").first.locator(".cqa-passage")
        assert passage.evaluate("e => e.getBoundingClientRect().height") == 0
        page.page.locator("#chat .cqa-source .cqa-more").first.click()
        assert passage.evaluate("e => e.getBoundingClientRect().height") > 40

        # [1] in the answer opens the whole article, the passage marked at its offsets
        page.page.locator("#chat .cqa-answer sup").first.click()
        span, hit = viewer_mark(page)
        assert span == article.text[first.start:first.end] == first.text
        a, b = first.highlight
        assert hit == first.text[a:b] and hit.endswith("Britain’s defense secretary, John Healey, is now the chairman.")
        assert page.page.locator("#cqa-viewer .cqa-article-text").text_content() == article.text
        assert in_view(page, "#cqa-viewer .cqa-hit"), "the viewer is scrolled to the passage"
        shot = picture("viewer.png")
        page.page.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000

        # a source line's [n] does the same, for every source
        for p in answer.passages[1:]:
            page.page.locator(f"#chat .cqa-source.cqa-n-{p.n} .cqa-cite").click()
            page.page.wait_for_function("t => document.querySelector('#cqa-viewer mark.cqa-span')?.textContent === t",
                                        arg=p.text, timeout=30_000)
        assert page.foreign_requests() == [], page.foreign_requests()
    finally:
        page.close()


def copy_markdown(page: Page, nth: int = 0) -> str:
    """Click the nth reply's "Copy as Markdown" and read the clipboard."""
    copy = page.page.locator("#chat .cqa-copy").nth(nth)
    copy.click()
    page.page.wait_for_function("e => e.textContent === 'Copied'", arg=copy.element_handle())
    return page.page.evaluate("navigator.clipboard.readText()")


def contrast_of(page: Page, selector: str) -> float:
    """WCAG contrast of the first `selector`'s text on its (nearest opaque) background."""
    return page.page.evaluate("""sel => {
        const rgb = s => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
        const lum = c => { const [r, g, b] = c.map(v => { v /= 255; return v <= .03928 ? v / 12.92 : ((v + .055) / 1.055) ** 2.4; });
                           return .2126 * r + .7152 * g + .0722 * b; };
        const bg = e => { for (; e; e = e.parentElement) { const c = getComputedStyle(e).backgroundColor;
                           if (c && !c.endsWith(', 0)') && c !== 'transparent') return rgb(c); } return [255, 255, 255]; };
        const e = document.querySelector(sel);
        const a = lum(rgb(getComputedStyle(e).color)), b = lum(bg(e));
        return (Math.max(a, b) + .05) / (Math.min(a, b) + .05); }""", selector)


def test_copy_as_markdown_puts_answer_and_numbered_sources_on_the_clipboard(browser, served):
    qa, url = served
    page = open_page(browser, url, permissions=["clipboard-read", "clipboard-write"])
    try:
        page.ask(HEALEY, "#chat .cqa-answer", 1)
        lines = copy_markdown(page).splitlines()
        assert lines[0] == f"**Q:** {HEALEY}"
        assert "John Healey, is now the chairman. [1]" in lines[2]
        assert lines[4:6] == ["Sources:", ""]
        quoted = qa.ask(HEALEY).passages[0]
        sentence = " ".join(quoted.text[quoted.highlight[0]:quoted.highlight[1]].split())
        assert lines[6] == (f"- [1] “{sentence}” — *Hegseth to Attend Ukraine Defense Group Only Virtually*, "
                            "`002_404fe9b87144756a.txt`"), lines[6]
    finally:
        page.close()


def test_dark_mode_and_a_narrow_screen_stay_legible(browser, served, tmp_path):
    qa, url = served
    page = open_page(browser, url + "?__theme=dark")
    try:
        page.ask(HEALEY, "#chat .cqa-answer", 1)
        colors = {"dark": page.page.evaluate("document.body.classList.contains('dark') || !!document.querySelector('.dark')"),
                  **{name: contrast_of(page, f"#chat {sel}") for name, sel in
                     (("answer", ".cqa-answer"), ("snippet", ".cqa-snippet"), ("mark", ".cqa-snippet mark"))}}
        assert colors["dark"], colors
        assert min(colors["answer"], colors["snippet"], colors["mark"]) >= 4.5, colors
        page.page.locator("#chat .cqa-answer sup").first.click()
        viewer_mark(page)
        page.page.screenshot(path=str(tmp_path / "dark.png"))
    finally:
        page.close()

    page = open_page(browser, url, width=400, height=800)
    try:
        page.ask(HEALEY, "#chat .cqa-answer", 1)
        width = page.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 401, f"the page is {width} px wide on a 400 px screen"
        page.page.locator("#chat .cqa-source .cqa-cite").first.click()
        viewer_mark(page)
        page.page.wait_for_timeout(500)
        assert in_view(page, "#cqa-viewer .cqa-hit"), "the viewer (under the chat) is brought into sight"
        page.page.screenshot(path=str(tmp_path / "narrow.png"))
    finally:
        page.close()


# -- an index of its own: follow-ups, filters, uploads -------------------------------

ARTICLES = {
    "rowing.txt": ("Harbour Rowing Club Gets a New Chair",
                   "Peter Holm now chairs the harbour rowing club after a vote of its members. "
                   "Maria Lind handed the leadership to him in March, after ten years in charge."),
    "chess.txt": ("Valley Chess Society Changes Hands",
                  "Tomas Berg now chairs the valley chess society, which meets in the old library. "
                  "Anna Vik passed the society's leadership on to Berg in May, having led it since 2015."),
}
RECORDS = [
    {"id": "ferry-gazette", "title": "Island Ferry Fares Rise",
     "text": "The island ferry company raised its fares by ten percent on Monday. Commuters protested at the pier.",
     "outlet": "Harbour Gazette", "published": "2023-03-01"},
    {"id": "ferry-times", "title": "Ferry Fares Going Up Again",
     "text": "The island ferry company raised its fares by twelve percent this week. Commuters were angry again.",
     "outlet": "Valley Times", "published": "2024-06-10"},
]
FARES = "By how much did the island ferry company raise its fares?"


@pytest.fixture
def own(make_qa, tmp_path):
    folder = tmp_path / "club"
    folder.mkdir()
    for name, (title, text) in ARTICLES.items():
        (folder / name).write_text(f"{title}\n\n{text}\n", encoding="utf-8")
    records = tmp_path / "ferry.jsonl"
    records.write_text("".join(json.dumps(r) + "\n" for r in RECORDS), encoding="utf-8")
    qa = make_qa()
    assert qa.ingest([folder]).added == 2
    assert qa.ingest_jsonl(records).added == 2
    port = free_port()
    app = ui.app.launch(qa, host="127.0.0.1", port=port, block=False)  # loopback: uploads on
    try:
        yield qa, f"http://127.0.0.1:{port}/"
    finally:
        app.close()


def test_a_follow_up_is_answered_from_the_article_of_the_chat(browser, own):
    qa, url = own
    alone = qa.ask("Who handed the leadership to him?")
    assert alone.passages[0].source.endswith("rowing.txt"), "without the chat, the other article answers"
    page = open_page(browser, url)
    try:
        page.ask("Who chairs the valley chess society now?", "#chat .cqa-answer", 1)
        assert cited_sources(page) == ["chess.txt"]
        page.ask("Who handed the leadership to him?", "#chat .cqa-answer", 2)
        assert "Anna Vik" in last_reply(page).inner_text(), last_reply(page).inner_text()
        assert cited_sources(page) == ["chess.txt"]
        # New chat: the same question stands alone again
        page.page.locator("#cqa-new-chat").click()
        page.page.wait_for_function("() => document.querySelectorAll('#chat .cqa-answer').length === 0")
        page.ask("Who handed the leadership to him?", "#chat .cqa-answer", 1)
        assert "Maria Lind" in last_reply(page).inner_text()
    finally:
        page.close()


def fill(page: Page, selector: str, value: str) -> None:
    box = page.page.locator(f"{selector} textarea, {selector} input").first
    box.fill(value)
    box.press("Enter")


def test_filters_change_which_article_is_cited_and_show_above_the_box(browser, own):
    qa, url = own
    page = open_page(browser, url)
    try:
        assert not page.page.locator("#cqa-filter-badge .cqa-filters").count()
        page.page.get_by_role("tab", name="Filters").click()
        fill(page, "#cqa-outlets", "Valley Times")
        page.page.wait_for_selector("#cqa-filter-badge .cqa-filters", timeout=20_000)
        assert "outlet Valley Times" in page.page.inner_text("#cqa-filter-badge")
        page.ask(FARES, "#chat .cqa-answer", 1)
        assert cited_sources(page) == ["ferry-times"] and "twelve" in last_reply(page).inner_text()

        page.page.locator("#cqa-clear").click()
        page.page.wait_for_function("() => !document.querySelector('#cqa-filter-badge .cqa-filters')")
        fill(page, "#cqa-until", "2023-12-31")
        page.page.wait_for_function("() => document.querySelector('#cqa-filter-badge')?.innerText.includes('until 2023-12-31')")
        page.ask(FARES, "#chat .cqa-answer", 2)
        assert cited_sources(page) == ["ferry-gazette"] and "ten percent" in last_reply(page).inner_text()

        fill(page, "#cqa-since", "not a date")
        page.page.wait_for_selector("#cqa-filter-badge .cqa-filters-bad", timeout=20_000)
        page.ask(FARES, "#chat .cqa-error", 1)
        assert "bad since date" in page.page.locator("#chat .cqa-error").last.inner_text()
    finally:
        page.close()


def test_upload_list_answer_remove_and_hostile_names_stay_text(browser, own, tmp_path):
    qa, url = own
    folder = tmp_path / "up"
    folder.mkdir()
    # Gradio drops "<" and ">" from uploaded names; entities and markdown must show as typed
    hostile_name = f"&lt;img src=x onerror={PWN}&gt; [a](javascript:{PWN}) $$x$$.txt"
    (folder / "lighthouse.txt").write_text(
        "Lighthouse Keeper Counts the Steps\n\nMargaret Olsen climbed all 217 steps of the lighthouse tower every "
        "morning for thirty years.\n", encoding="utf-8")
    (folder / hostile_name).write_text(
        f"Glassworks <script>{PWN}</script> Report\n\nThe glassworks in the valley printed <script>{PWN}</script> "
        f"on its furnace manual, and ${{{PWN}}} in the margin.\n", encoding="utf-8")
    page = open_page(browser, url)
    try:
        page.page.get_by_role("tab", name="Documents").click()
        page.page.wait_for_selector("#cqa-doclist .cqa-doc", timeout=20_000)
        assert page.page.locator("#cqa-doclist .cqa-doc").count() == 4
        page.page.set_input_files("#cqa-upload input[type=file]",
                                  [str(folder / n) for n in ("lighthouse.txt", hostile_name)])
        page.page.wait_for_selector("#cqa-upload-result tr.cqa-ok", timeout=120_000)
        page.page.wait_for_function("() => document.querySelectorAll('#cqa-upload-result tbody tr').length === 2")
        rows = page.page.locator("#cqa-upload-result tbody tr").all_inner_texts()
        assert any(r.startswith("lighthouse.txt") and "1 added" in r for r in rows), rows
        stored = next(d.source for d in qa.documents() if "onerror" in d.source)  # as Gradio kept the name
        assert stored.startswith("&lt;img src=x onerror=") and "[a](" in stored, stored
        assert any(r.startswith(stored) and "1 added" in r for r in rows), rows
        listing = page.page.inner_text("#cqa-doclist")
        assert "Lighthouse Keeper Counts the Steps" in listing and "6 documents" in listing
        assert stored in listing and f"<script>{PWN}</script>" in listing
        assert [d.source for d in qa.documents() if d.source == "lighthouse.txt"] == ["lighthouse.txt"]

        page.ask("How many steps did Margaret Olsen climb in the lighthouse tower?", "#chat .cqa-answer", 1)
        assert cited_sources(page) == ["lighthouse.txt"] and "217" in last_reply(page).inner_text()

        # the hostile article in the viewer: its text shows, nothing runs
        page.page.locator("#cqa-doclist .cqa-doc-open", has_text="Glassworks").click()
        page.page.wait_for_selector("#cqa-viewer .cqa-article-text", timeout=30_000)
        shown = page.page.inner_text("#cqa-viewer")
        assert f"<script>{PWN}</script>" in shown and f"${{{PWN}}}" in shown and stored in shown
        assert page.page.evaluate("typeof window.__pwned") == "undefined"
        assert page.page.locator("#cqa-viewer script, #cqa-viewer img, #cqa-doclist img, #cqa-upload-result img").count() == 0

        # remove: asked first, then gone from the list and from answers
        page.page.get_by_role("tab", name="Documents").click()
        row = page.page.locator("#cqa-doclist .cqa-doc", has_text="Lighthouse Keeper")
        row.locator(".cqa-doc-remove").click()
        page.page.wait_for_selector("#cqa-confirm-row:visible", timeout=20_000)
        assert "Lighthouse Keeper Counts the Steps" in page.page.inner_text("#cqa-confirm-row")
        page.page.locator("#cqa-confirm").click()
        page.page.wait_for_function("() => !document.querySelector('#cqa-doclist').innerText.includes('Lighthouse')",
                                    timeout=30_000)
        assert "Removed Lighthouse Keeper Counts the Steps" in page.page.inner_text("#cqa-doc-notice")
        assert "lighthouse.txt" not in [d.source for d in qa.documents()]
        page.ask("How many steps did Margaret Olsen climb in the lighthouse tower?", "#chat .cqa-answer", 2)
        assert "lighthouse.txt" not in cited_sources(page)
        assert page.foreign_requests() == []
        assert page.page.evaluate("typeof window.__pwned") == "undefined"
    finally:
        page.close()


def test_the_upload_route_passes_only_when_uploads_are_on(served, own):
    _, closed = served  # allow_upload=False
    _, open_ = own  # loopback default: on
    files = {"files": ("a.txt", b"Title\n\nText.", "text/plain")}
    with httpx.Client(timeout=30) as c:
        assert c.post(closed + "gradio_api/upload", files=files).status_code == 404
        r = c.post(open_ + "gradio_api/upload", files=files)
        assert r.status_code == 200 and r.json()[0].endswith("a.txt"), r.text[:200]
        for route in ("upload", "gradio_api/upload/x", "gradio_api/process_recording"):
            assert c.post(open_ + route, files=files).status_code == 404, route
        big = {"files": ("big.txt", b"x" * (ui.app.MAX_UPLOAD_MB * 1024 * 1024 + 10), "text/plain")}
        assert c.post(open_ + "gradio_api/upload", files=big).status_code == 413
    page_closed = httpx.get(closed, timeout=30).text
    assert "Uploading and removing documents are off" in page_closed
