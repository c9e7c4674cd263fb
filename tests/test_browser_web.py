"""The page's "Add from URL" in a real browser (Playwright driving Debian's chromium),
against the loopback news site of tests/news_site.py: a feed's articles are indexed and
listed when the operator allowed private addresses; without that, the same URL is refused
and the site sees no request."""

from __future__ import annotations

import pytest

import news_site
from news_site import site  # noqa: F401  (the fixture)
import ui.app
from conftest import free_port
from store import WebSettings

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def add_from_url(browser, app_url: str, url: str) -> tuple[str, str]:
    """Type `url` into "Add from URL" and wait for its result row; (result text, documents list text)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(app_url, wait_until="load", timeout=60_000)
        page.get_by_role("tab", name="Documents").click()
        box = page.locator("#cqa-url textarea, #cqa-url input").first
        box.fill(url)
        page.locator("#cqa-url-add").click()
        page.wait_for_selector("#cqa-url-result tbody tr", timeout=120_000)
        page.wait_for_timeout(500)  # the documents list is refreshed in the same event
        return page.inner_text("#cqa-url-result"), page.inner_text("#cqa-doclist")
    finally:
        context.close()


def test_add_from_url_indexes_a_feed_and_refuses_a_private_address_unless_allowed(browser, make_qa, site):
    feed = site.url + "/feeds/atom.xml"
    port = free_port()
    app = ui.app.launch(make_qa(), host="127.0.0.1", port=port, block=False, allow_private_urls=True,
                        web=WebSettings(delay=0.05))
    try:
        site.log.clear()
        result, listing = add_from_url(browser, f"http://127.0.0.1:{port}/", feed)
        assert "8 added" in result, result
        latest = sorted(site.stories.values(), key=lambda s: s.published)[-9:-1]  # the feed's 8 (not the moved one)
        missing = [s.title for s in latest if s.title not in listing]
        assert not missing, f"not listed after Add from URL: {missing}\n{listing[:1500]}"
        assert "BBC News" in listing
    finally:
        app.close()

    port = free_port()
    app = ui.app.launch(make_qa(), host="127.0.0.1", port=port, block=False)  # no --allow-private-urls
    try:
        site.log.clear()
        result, listing = add_from_url(browser, f"http://127.0.0.1:{port}/", feed)
        assert "refused" in result and "loopback, private or link-local" in result, result
        assert "--allow-private-urls" in result, result
        assert site.log == [], f"the server fetched from a private address: {[h.path for h in site.log]}"
        assert "The index is empty" in listing, listing[:500]
    finally:
        app.close()
