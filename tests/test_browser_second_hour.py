"""The page at 1280 and 400 px (issue 29, point 5), in a real browser (Playwright driving
Debian's chromium), over a small real index of BBC tech stories (`near_qa`): the buttons
beside the question box keep their label on one line; at 400 px the box's placeholder is
whole and the example questions are in sight on an empty chat; a reply's aria-label is
its text, not its HTML; "Add from URL" results wrap inside their column."""

from __future__ import annotations

import pytest

import store
from conftest import picture, served_page
from test_browser_features import open_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

QUESTION = "How much was the market for full-track music downloads worth in 2004?"
WIDTHS = ((1280, 800), (400, 800))


@pytest.fixture(scope="module")
def near_page(near_qa):
    with served_page(near_qa, allow_upload=False) as url:
        yield near_qa, url


def one_line(page, selector: str) -> dict:
    """A button's label: on one line (its height is one line's) and not cut (scrollWidth)."""
    return page.page.evaluate("""sel => { const b = document.querySelector(sel);
        const r = b.getBoundingClientRect(), line = parseFloat(getComputedStyle(b).lineHeight) || 20;
        const range = document.createRange(); range.selectNodeContents(b);
        const lines = new Set([...range.getClientRects()].map(x => Math.round(x.top))).size;
        return {lines, cut: b.scrollWidth > b.clientWidth + 1, height: r.height}; }""", selector)


@pytest.mark.parametrize("width, height", WIDTHS)
def test_the_question_row_fits_and_an_empty_chat_leaves_the_examples_in_sight(browser, near_page, width, height):
    _, url = near_page
    page = open_page(browser, url, width=width, height=height)
    try:
        page.page.wait_for_selector(".cqa-example", timeout=60_000)
        for button in ("#ask", "#cqa-new-chat"):
            shape = one_line(page, button)
            assert shape["lines"] == 1 and not shape["cut"], f"{button} at {width} px: {shape}"
        fits = page.page.evaluate("""() => { const t = document.querySelector('#question textarea');
            const s = getComputedStyle(t), c = document.createElement('canvas').getContext('2d');
            c.font = s.fontSize + ' ' + s.fontFamily;
            const room = t.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
            return {need: c.measureText(t.placeholder).width, room}; }""")
        assert fits["need"] <= fits["room"], f"the placeholder is cut at {width} px: {fits}"
        last = page.page.evaluate("""() => { const e = [...document.querySelectorAll('.cqa-example')].pop();
            return e.getBoundingClientRect().bottom; }""")
        assert last <= height, f"at {width} px the last example question is at {last:.0f} px, below the first screen"
        page.page.screenshot(path=str(picture(f"page-empty-{width}.png")))
    finally:
        page.close()


@pytest.mark.parametrize("width, height", WIDTHS)
def test_a_reply_is_labelled_with_its_text_not_its_html(browser, near_page, width, height):
    qa, url = near_page
    expected = qa.ask(QUESTION).text
    page = open_page(browser, url, width=width, height=height)
    try:
        page.ask(QUESTION, "#chat .cqa-answer", 1)
        page.page.wait_for_timeout(500)
        labels = page.page.evaluate("""() => [...document.querySelectorAll('#chat [aria-label]')]
            .map(e => e.getAttribute('aria-label')).filter(l => / message: /.test(l))""")
        bot = [label for label in labels if label.startswith("bot's message: ")]
        assert len(bot) == 1 and "<" not in bot[0] and "class=" not in bot[0], labels
        assert bot[0].startswith("bot's message: " + expected.split(" [")[0]), (bot[0][:200], expected)
        assert f"user's message: {QUESTION}" in labels, labels
    finally:
        page.close()


LONG = "http://127.0.0.1:9/news/2005/03/24/" + "a" * 90 + "-the-longest-address-of-an-article-there-is.html"


@pytest.mark.parametrize("width, height", WIDTHS)
def test_add_from_url_results_wrap_inside_their_column(browser, make_qa, width, height):
    # no retries or delay: the refused address fails at once (the layout is what is tested)
    with served_page(make_qa(), allow_private_urls=True, web=store.WebSettings(delay=0, retries=0)) as url:
        page = open_page(browser, url, width=width, height=height)
        page.page.get_by_role("tab", name="Documents").click()
        page.page.locator("#cqa-url textarea, #cqa-url input").first.fill(LONG)
        page.page.locator("#cqa-url-add").click()
        page.page.wait_for_selector("#cqa-url-result tbody tr", timeout=120_000)
        text = page.page.inner_text("#cqa-url-result")
        assert "cannot connect" in text and text.count(LONG) == 1, f"the URL is named once, in its column: {text}"
        sizes = page.page.evaluate("""() => { const t = document.querySelector('#cqa-url-result table');
            const box = document.querySelector('#cqa-url-result').getBoundingClientRect();
            const cells = [...t.querySelectorAll('td, th')];
            return {right: t.getBoundingClientRect().right, edge: box.right, page: document.documentElement.clientWidth,
                    cut: cells.filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.textContent.slice(0, 40))}; }""")
        assert sizes["right"] <= sizes["edge"] + 1 and sizes["right"] <= sizes["page"], sizes
        assert sizes["cut"] == [], f"cells whose text runs out of them at {width} px: {sizes['cut']}"
        page.close()


PAIR = {"tech/064.txt", "tech/338.txt"}


@pytest.mark.parametrize("width, height", WIDTHS)
def test_a_near_copy_is_one_source_that_says_where_else_it_is(browser, near_page, width, height):
    """064 and 338 ("Looks and music to drive mobiles", a figure corrected) were [1] and [2]:
    now one source line, "also in" the other; Copy as Markdown says so too."""
    qa, url = near_page
    page = open_page(browser, url, width=width, height=height, permissions=["clipboard-read", "clipboard-write"])
    try:
        page.ask(QUESTION, "#chat .cqa-answer", 1)
        page.page.wait_for_timeout(500)
        lines = page.page.evaluate("""() => [...document.querySelectorAll('#chat .cqa-source')].map(li => ({
            meta: li.querySelector('.cqa-meta').textContent, also: li.querySelector('.cqa-also-in')?.textContent}))""")
        of_pair = [line for line in lines if line["meta"].split(" ")[0] in PAIR]
        assert len({line["meta"].split(" ")[0] for line in of_pair}) == 1, lines
        source = of_pair[0]["meta"].split(" ")[0]
        assert of_pair[0]["also"] == f"· also in: {(PAIR - {source}).pop()}", of_pair[0]
        visible = page.page.locator("#chat .cqa-also-in").first
        assert visible.is_visible() and visible.bounding_box()["x"] + visible.bounding_box()["width"] <= width
        page.page.screenshot(path=str(picture(f"near-copy-{width}.png")))
        page.page.locator("#chat .cqa-copy").first.click()
        page.page.wait_for_function("() => document.querySelector('#chat .cqa-copy').textContent === 'Copied'")
        markdown = page.page.evaluate("navigator.clipboard.readText()")
        assert f"(also in: {(PAIR - {source}).pop()})" in markdown and "“" in markdown, markdown
    finally:
        page.close()
