"""Bringing a newsroom's website in (store.web, `corpus-qa ingest URL`), against a real
HTTP server on loopback serving a small site of 20 real BBC stories (tests/news_site.py):
article pages with navigation, bylines, related links and a footer; RSS and Atom feeds; a
sitemap index with a Google News sitemap; robots.txt; a 500, a binary page, a redirect.

The real model and a real Chroma index the articles; the server's log says what was
requested, when, and with which headers."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

import news_site
from news_site import site  # noqa: F401  (the fixture)
from conftest import EXE, cli_env, run_cli
from store import Document, Skipped, WebSettings
from store.web import Unchanged, WebProgress, crawl

FAST = WebSettings(delay=0, backoff=0.01)  # the loopback site is ours: no need to wait
FURNITURE = [*news_site.NAV, news_site.FOOTER, "Related stories"]


def run(items) -> tuple[dict[str, Document], dict[str, str], list]:
    """crawl's items: documents by source, skipped reasons by URL, the rest."""
    items = [i for i in items if not isinstance(i, WebProgress)]
    docs = {i.source: i for i in items if isinstance(i, Document)}
    skipped = {i.path: i.reason for i in items if isinstance(i, Skipped)}
    return docs, skipped, [i for i in items if not isinstance(i, (Document, Skipped))]


def article_requests(site) -> list[news_site.Hit]:
    return [h for h in site.requested("/news/") if h.path.split("?")[0] not in ("/news/broken.html", "/news/photo.html")]


def index_files(qa) -> dict[str, str]:
    root = Path(qa.index.where)
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_a_sitemap_brings_in_every_allowed_article_whole_with_its_metadata_and_a_rerun_writes_nothing(make_qa, site):
    qa = make_qa()
    site.log.clear()
    report = qa.ingest([site.url + "/sitemap.xml"], web=FAST)
    assert (report.added, report.updated) == (20, 0), report
    skipped = {s.path.removeprefix(site.url): s.reason for s in report.skipped}
    assert skipped == {"/news/photo.html": "not an HTML page (image/png)", "/news/broken.html": "HTTP 500",
                       "/private/embargoed.html": "disallowed by robots.txt"}, skipped
    assert site.requested("/private/") == [], "robots.txt disallows /private/: it must never be requested"
    assert [h.status for h in site.requested("/news/broken.html")] == [500] * 3, "two retries after a 500"

    docs = {d.source: d for d in qa.documents()}
    assert sorted(docs) == sorted(site.canonical(s) for s in site.stories.values())
    for story in site.stories.values():
        url = site.canonical(story)
        doc = docs[url]
        assert (doc.title, doc.published, doc.outlet, doc.url, doc.author) == (
            story.title, story.published, news_site.OUTLET, url, story.author), doc
        text = qa.document(url).text
        assert text.split("\n\n") == list(story.paragraphs), f"{url}: the story's own paragraphs, nothing else"
        others = [o.title for o in site.stories.values() if o is not story]
        leaked = [f for f in [*FURNITURE, *others, f"By {story.author}"] if f in text]
        assert not leaked, f"{url}: page furniture in the indexed text: {leaked}"
    moved = docs[site.url + f"/news/{news_site.MOVED}.html"]
    assert moved.extra["fetched_from"] == site.url + "/news/old-address.html", "reached through the redirect"

    # again: every article is asked for conditionally (its stored ETag), each answers 304, nothing is written
    before = index_files(qa)
    site.log.clear()
    again = qa.ingest([site.url + "/sitemap.xml"], web=FAST)
    assert (again.added, again.updated, again.unchanged, again.chunks) == (0, 0, 20, 0), again
    asked = [h for h in article_requests(site) if h.path != "/news/old-address.html"]
    assert len(asked) == 20 and all(h.status == 304 and h.headers.get("If-None-Match") for h in asked), \
        [(h.path, h.status) for h in asked]
    assert index_files(qa) == before, "a run that finds nothing new must write nothing"


def test_feeds_and_a_home_page_bounded_by_since_and_limit(site):
    site.log.clear()
    docs, skipped, _ = run(crawl([site.url + "/feeds/rss.xml"], FAST, since="2005-03-12", limit=3))
    newest = sorted((s for s in site.stories.values() if s.slug != news_site.MOVED), key=lambda s: s.published)[-3:]
    assert sorted(docs) == sorted(site.canonical(s) for s in newest), "the 3 newest of the feed, canonical URLs"
    assert skipped == {}
    assert all("other.example" not in h.path for h in site.log) and len(article_requests(site)) == 3

    docs, _, _ = run(crawl([site.url + "/feeds/rss.xml"], FAST, since="2005-03-16"))
    assert sorted(d.published for d in docs.values()) == ["2005-03-16", "2005-03-17", "2005-03-18", "2005-03-19"]

    docs, skipped, _ = run(crawl([site.url + "/feeds/atom.xml"], FAST))
    assert len(docs) == 8 and all(d.outlet == news_site.OUTLET and d.published for d in docs.values()), docs.keys()

    # the home page: its Atom feed and robots.txt's sitemap; everything allowed, once each
    site.log.clear()
    docs, skipped, _ = run(crawl([site.url + "/"], FAST))
    assert sorted(docs) == sorted(site.canonical(s) for s in site.stories.values())
    assert set(skipped) == {site.url + p for p in ("/news/photo.html", "/news/broken.html", "/private/embargoed.html")}
    assert site.requested("/private/") == []


def test_the_crawl_delay_holds_between_requests_to_one_host(site):
    site.log.clear()
    docs, _, _ = run(crawl([site.url + "/feeds/rss.xml"], WebSettings(delay=0.4), limit=3))
    assert len(docs) == 3
    times = [h.at for h in site.log]
    assert len(times) == 5, [h.path for h in site.log]  # robots.txt, the feed, 3 articles
    gaps = [round(b - a, 3) for a, b in zip(times, times[1:])]
    assert min(gaps) >= 0.38, f"requests closer than the 0.4 s delay: {gaps}"
    assert all(h.headers.get("User-Agent", "").startswith("corpus-qa/") for h in site.log)


def test_private_addresses_are_refused_unless_allowed_and_pages_over_the_limit_are_skipped(site):
    site.log.clear()
    docs, skipped, _ = run(crawl([site.url + "/feeds/rss.xml"], WebSettings(delay=0, allow_private=False)))
    assert docs == {} and list(skipped) == [site.url + "/feeds/rss.xml"]
    reason = skipped[site.url + "/feeds/rss.xml"]
    assert reason.startswith("refused: 127.0.0.1 is at 127.0.0.1, a loopback, private or link-local address"), reason
    assert "--allow-private-urls" in reason and site.log == [], "nothing may reach the private address"

    article = site.url + "/news/business-001.html"
    docs, skipped, _ = run(crawl([article], WebSettings(delay=0, max_bytes=2000)))
    assert docs == {} and skipped[article].startswith("too big: "), skipped


def test_cli_ingests_urls_names_each_skipped_page_and_a_rerun_sends_conditional_requests(site, tmp_path):
    article = site.url + "/news/business-001.html"
    cmd = [EXE, "--index", str(tmp_path / "index"), "ingest", article, site.url + "/sitemap.xml", "--delay", "0",
           "--limit", "5", "--json"]
    site.log.clear()
    first = subprocess.run(cmd, capture_output=True, text=True, env=cli_env(), timeout=300)
    assert first.returncode == 1, first.stderr  # some pages were skipped
    counts = json.loads(first.stdout)
    # the 5 newest of the sitemap: 3 bad pages, the redirect to tech-010, tech-009; and the article given
    assert (counts["added"], counts["fetched"]) == (3, 6), counts  # 200s: article, 2 sitemaps, photo, 2 articles
    lines = [line for line in first.stderr.splitlines() if line.startswith("corpus-qa: skipped")]
    assert lines == [f"corpus-qa: skipped {site.url}/news/photo.html: not an HTML page (image/png)",
                     f"corpus-qa: skipped {site.url}/news/broken.html: HTTP 500",
                     f"corpus-qa: skipped {site.url}/private/embargoed.html: disallowed by robots.txt"], first.stderr

    site.log.clear()
    second = subprocess.run(cmd[:-1], capture_output=True, text=True, env=cli_env(), timeout=300)
    assert second.returncode == 1, second.stderr  # the 500 is a passing failure: it fails every run it happens
    assert "added 0, updated 0, unchanged 3" in second.stdout and "nothing new, nothing written" in second.stdout
    assert "skipped 1 (listed above); still skipped 2 as before" in second.stdout, second.stdout
    asked = {(h.path, h.status) for h in article_requests(site) if h.path != "/news/old-address.html"}
    assert asked == {("/news/business-001.html", 304), ("/news/tech-009.html", 304), ("/news/tech-010.html", 304)}, \
        asked
    assert all(h.headers.get("If-None-Match") for h in article_requests(site) if h.status == 304), \
        "the stored ETag goes with each request"


@pytest.mark.parametrize("args, message", [
    (["ftp://example.org/feed.xml"], "not a web address: 'ftp://example.org/feed.xml'"),
    (["http://"], "not a web address: 'http://'; give an http:// or https:// URL"),
    (["http://example.org/", "--limit", "0"], "--limit must be at least 1, got 0"),
    (["http://example.org/", "--since", "soon"], "--since: published date 'soon' is not a date"),
    (["http://example.org/", "--delay", "-1"], "delay must be 0 or more seconds, got -1.0"),
    (["http://example.org/", "--every", "5s"], "bad --every '5s': give an interval of at least a minute"),
])
def test_bad_web_options_are_one_line_errors(tmp_path, args, message):
    out = run_cli(["--index", str(tmp_path / "i"), "ingest", *args])
    assert out.returncode == 2 and out.stderr.startswith("corpus-qa: error: ") and message in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and not (tmp_path / "i").exists(), out.stderr


def test_add_from_url_takes_only_web_addresses_never_a_server_file(make_qa, tmp_path):
    from ui.documents import ingest_from_urls

    secret = tmp_path / "secret.txt"
    secret.write_text("Server secrets\n\nThe database password is hunter2, and it must never be indexed.\n")
    qa = make_qa()
    result, changed = ingest_from_urls(qa, f"{secret} file://{secret}", WebSettings(allow_private=False))
    assert not changed and qa.documents() == [], result
    assert result.count("refused: not a web address") == 2, result


def test_an_interrupted_run_keeps_its_finished_batches_and_the_next_run_goes_on_from_there(make_qa, site):
    from store import ingest_urls

    qa = make_qa()

    def stop_after_eight(p):
        if p.indexed == 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest_urls(qa.index, qa.embedder, [site.url + "/sitemap.xml"], FAST, progress=stop_after_eight, batch=5)
    kept = {d.source for d in qa.documents()}
    assert len(kept) == 5, f"the first batch of 5 is indexed, the 3 after it are not: {sorted(kept)}"

    site.log.clear()
    report = ingest_urls(qa.index, qa.embedder, [site.url + "/sitemap.xml"], FAST, batch=5)
    assert (report.added, report.unchanged) == (15, 5), report
    fetched_again = {site.url + h.path for h in article_requests(site) if h.status != 304} & kept
    assert not fetched_again, f"indexed before the interruption, downloaded again: {fetched_again}"


def test_an_article_edited_on_the_site_is_read_again_from_its_feed_and_the_summary_says_updated(tmp_path):
    """The newsroom corrects a story; its feed entry (pubDate) stays as it was. The next
    run of `corpus-qa ingest FEED` asks for every article conditionally: the edited one
    answers 200 with its new text and replaces the old one, the others answer 304."""
    served, stop = news_site.serve()
    try:
        feed = served.url + "/feeds/rss.xml"
        cmd = ["--index", str(tmp_path / "index"), "ingest", feed, "--delay", "0"]
        first = run_cli(cmd)
        assert first.returncode == 0 and "added 8, updated 0" in first.stdout, first.stdout + first.stderr
        url = served.canonical(served.edit("tech-009", "Sony Walkman at number three", "Sony Walkman at number four"))
        served.log.clear()
        second = run_cli(cmd)
        assert second.returncode == 0, second.stderr
        assert "added 0, updated 1, unchanged 7" in second.stdout and "nothing new" not in second.stdout, second.stdout
        statuses = sorted(h.status for h in article_requests(served))
        assert statuses == [200] + [304] * 7, statuses
        shown = run_cli(["--index", str(tmp_path / "index"), "show", url, "--text-only"])
        assert "Sony Walkman at number four" in shown.stdout and "number three" not in shown.stdout, shown.stdout[:500]
        listed = run_cli(["--index", str(tmp_path / "index"), "documents", "--json"])
        assert sum(json.loads(line)["source"] == url for line in listed.stdout.splitlines()) == 1, \
            "the edit replaces the old version: one document"
    finally:
        stop()


def test_a_scheduled_rerun_fails_only_for_new_or_passing_skips(make_qa):
    """A page skipped for a lasting reason (404, robots.txt, not HTML) fails the run that
    first meets it and is reported again, as known, by the runs after it; a new one fails
    again; a passing reason (HTTP 503) fails every run; a page that comes back is forgotten."""
    served, stop = news_site.serve()
    served.broken = 404
    try:
        qa = make_qa()
        sitemap = [served.url + "/sitemap.xml"]
        first = qa.ingest(sitemap, web=FAST)
        lasting = {served.url + p for p in ("/news/photo.html", "/news/broken.html", "/private/embargoed.html")}
        assert {s.path for s in first.failed} == lasting and not any(s.transient for s in first.skipped), first

        again = qa.ingest(sitemap, web=FAST)
        assert {s.path for s in again.skipped} == lasting and again.failed == (), again.skipped
        today = again.skipped[0].known
        assert today and all(s.known == today for s in again.skipped)

        gone = served.take_down("tech-009")
        third = qa.ingest(sitemap, web=FAST)
        assert [(s.path, s.reason) for s in third.failed] == [(gone, "HTTP 404")], third.failed
        assert qa.ingest(sitemap, web=FAST).failed == ()

        served.broken = 503
        for _ in range(2):
            run = qa.ingest(sitemap, web=FAST)
            assert [(s.path, s.reason, s.transient) for s in run.failed] == [
                (served.url + "/news/broken.html", "HTTP 503", True)], run.failed

        served.broken = 404
        served.pages[served.stories["tech-009"].path] = ("text/html; charset=utf-8", b"<html><body><p>" +
                                                        b"Back again. " * 40 + b"</p></body></html>")
        back = qa.ingest(sitemap, web=FAST)
        assert gone not in {s.path for s in back.skipped} and gone not in qa.index.web_skips()
        assert back.failed == (), back.failed  # broken.html: a 404 again, as first reported
    finally:
        stop()


def test_scheduled_cli_runs_exit_0_once_their_lasting_skips_are_known_and_1_for_a_new_one(tmp_path):
    """A cron job's view: the first run meets a 404, a robots.txt rule and a photo (exit 1,
    each named); the runs after it list them as still skipped and exit 0; a story taken
    down makes the next run exit 1 naming it alone."""
    served, stop = news_site.serve()
    served.broken = 404
    try:
        cmd = ["--index", str(tmp_path / "index"), "ingest", served.url + "/sitemap.xml", "--delay", "0",
               "--limit", "6"]

        def run():
            out = run_cli(cmd)
            lines = [line for line in out.stderr.splitlines() if line.startswith("corpus-qa: ")]
            return out.returncode, out.stdout, [line for line in lines if " skipped " in line]

        code, stdout, lines = run()
        assert code == 1 and "skipped 3 (listed above)" in stdout, (stdout, lines)
        assert sorted(lines) == sorted(f"corpus-qa: skipped {served.url}{p}: {r}" for p, r in (
            ("/news/photo.html", "not an HTML page (image/png)"), ("/news/broken.html", "HTTP 404"),
            ("/private/embargoed.html", "disallowed by robots.txt"))), lines

        code, stdout, lines = run()
        assert code == 0, (stdout, lines)
        assert "still skipped 3 as before (listed above)" in stdout and "skipped 3 (listed" not in stdout, stdout
        assert len(lines) == 3 and all(line.startswith("corpus-qa: still skipped ") and
                                       line.endswith("; not a failure)") for line in lines), lines

        gone = served.take_down("tech-009")
        code, stdout, lines = run()
        assert code == 1 and "skipped 1 (listed above); still skipped 3 as before" in stdout, (stdout, lines)
        assert f"corpus-qa: skipped {gone}: HTTP 404" in lines
        assert run()[0] == 0
    finally:
        stop()
