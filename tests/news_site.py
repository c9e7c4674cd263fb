"""A small news site on a loopback HTTP server, built at test time from real BBC stories
(../shared/benchmarks/bbc-news, read in place): article pages with <meta> dates, bylines,
navigation, related links and a footer; an RSS feed, an Atom feed, a sitemap index with
a Google News sitemap, a robots.txt that disallows /private/, a page that fails (500), a
binary page, a redirect. ETag/Last-Modified and conditional requests as a real server does.

The server logs every request (time, path, status, request headers) so tests can say
what was fetched, when, and what was never asked for.
"""

from __future__ import annotations

import hashlib
import html
import threading
import time
from dataclasses import dataclass, field
from email.utils import format_datetime
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BBC = REPO.parent / "shared" / "benchmarks" / "bbc-news" / "articles"
OUTLET = "BBC News"
STORIES = [("business", n) for n in range(1, 11)] + [("tech", n) for n in range(1, 11)]
MOVED = "tech-010"  # reachable only through the redirect /news/old-address.html
NAV = ["Home", "UK Politics", "Business Desk", "Technology Desk", "Entertainment & Arts", "Contact the newsroom"]
FIRST, LAST = ("Alice", "Brian", "Chloe", "Dev", "Erin"), ("Morgan", "Okafor", "Lindqvist", "Tanaka")
FOOTER = "Copyright 2005 the BBC. Terms of use and privacy policy."


@dataclass(frozen=True)
class Story:
    slug: str
    title: str
    paragraphs: tuple[str, ...]
    published: str  # ISO date
    author: str

    @property
    def path(self) -> str:
        return f"/news/{self.slug}.html"


@dataclass
class Hit:
    at: float
    path: str
    status: int
    headers: dict[str, str]


@dataclass
class Site:
    url: str
    stories: dict[str, Story]
    log: list[Hit] = field(default_factory=list)
    pages: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # path -> (content type, body)
    broken: int = 500  # what /news/broken.html answers

    def take_down(self, slug: str) -> str:
        """Remove a story's page (it answers 404 from now on); its listings still name it."""
        del self.pages[self.stories[slug].path]
        return self.url + self.stories[slug].path

    def edit(self, slug: str, old: str, new: str) -> Story:
        """Edit a story in place, as a newsroom corrects one: its page changes (and so its
        ETag); its feed and sitemap entries, pubDate and lastmod included, do not."""
        story = self.stories[slug]
        if not any(old in p for p in story.paragraphs):
            raise ValueError(f"{old!r} is not in {slug}")
        edited = Story(story.slug, story.title, tuple(p.replace(old, new) for p in story.paragraphs),
                       story.published, story.author)
        self.stories[slug] = edited
        self.pages[edited.path] = ("text/html; charset=utf-8", _article(self, edited).encode())
        return edited

    def requested(self, path_prefix: str) -> list[Hit]:
        return [h for h in self.log if h.path.startswith(path_prefix)]

    def canonical(self, story: Story) -> str:
        return self.url + story.path


def load_stories() -> list[Story]:
    stories = []
    for i, (category, n) in enumerate(STORIES):
        lines = (BBC / category / f"{n:03d}.txt").read_text(encoding="utf-8").split("\n")
        paragraphs = tuple(p.strip() for p in "\n".join(lines[2:]).split("\n\n") if p.strip())
        author = f"{FIRST[i % len(FIRST)]} {LAST[i // len(FIRST)]}"
        stories.append(Story(f"{category}-{n:03d}", lines[0].strip(), paragraphs, f"2005-03-{i + 1:02d}", author))
    return stories


def _article(site: Site, story: Story) -> str:
    esc = html.escape
    others = [s for s in site.stories.values() if s.slug != story.slug][:4]
    related = "".join(f'<li><a href="{o.path}">{esc(o.title)}</a></li>' for o in others)
    nav = "".join(f'<li><a href="/{n.lower().split()[0]}/">{esc(n)}</a></li>' for n in NAV)
    body = "".join(f"<p>{esc(p)}</p>" for p in story.paragraphs)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{esc(story.title)} - {OUTLET}</title>
<meta property="og:site_name" content="{OUTLET}"><meta property="og:title" content="{esc(story.title)}">
<meta property="og:type" content="article"><meta name="author" content="{esc(story.author)}">
<meta property="article:published_time" content="{story.published}T09:30:00+00:00">
<link rel="canonical" href="{site.canonical(story)}">
<link rel="alternate" type="application/rss+xml" title="Top stories" href="/feeds/rss.xml">
</head><body><header><a href="/">{OUTLET}</a><nav><ul>{nav}</ul></nav></header>
<main><article><h1>{esc(story.title)}</h1>
<p class="byline">By <span class="author">{esc(story.author)}</span> · <time datetime="{story.published}">{story.published}</time></p>
{body}</article>
<aside class="related"><h2>Related stories</h2><ul>{related}</ul></aside></main>
<footer><p>{FOOTER}</p></footer></body></html>"""


def _rfc822(iso: str) -> str:
    return format_datetime(datetime.fromisoformat(iso).replace(hour=9, minute=30, tzinfo=timezone.utc))


def _feeds(site: Site) -> dict[str, str]:
    esc = html.escape
    listed = [s for s in sorted(site.stories.values(), key=lambda s: s.published, reverse=True) if s.slug != MOVED]
    latest = listed[:8]
    items = "".join(f"<item><title>{esc(s.title)}</title><link>{site.url}{s.path}?at_medium=RSS</link>"
                    f"<pubDate>{_rfc822(s.published)}</pubDate><description>{esc(s.paragraphs[0])}</description></item>"
                    for s in latest)
    rss = (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{OUTLET}</title>'
           f"<link>{site.url}/</link><description>Top stories</description>{items}"
           f"<item><title>Elsewhere</title><link>http://other.example/news/1.html</link></item></channel></rss>")
    entries = "".join(f'<entry><title>{esc(s.title)}</title><link rel="alternate" href="{s.path}"/>'
                      f"<id>{site.url}{s.path}</id><published>{s.published}T09:30:00Z</published>"
                      f"<updated>{s.published}T09:30:00Z</updated></entry>" for s in latest)
    atom = (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" xml:base="{site.url}/">'
            f'<title>{OUTLET}</title><link rel="self" href="/feeds/atom.xml"/><updated>2005-03-20T00:00:00Z</updated>'
            f"{entries}</feed>")
    urls = [(s.path, s.published) for s in listed] + [
        ("/news/old-address.html", "2005-03-20"), ("/private/embargoed.html", "2005-03-21"),
        ("/news/broken.html", "2005-03-22"), ("/news/photo.html", "2005-03-23")]
    news = "".join(f"<url><loc>{site.url}{p}</loc><lastmod>{d}T10:00:00Z</lastmod><news:news><news:publication>"
                   f"<news:name>{OUTLET}</news:name><news:language>en</news:language></news:publication>"
                   f"<news:publication_date>{d}T09:30:00Z</news:publication_date><news:title>t</news:title>"
                   "</news:news></url>" for p, d in urls)
    sitemap_news = ('<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
                    f'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{news}</urlset>')
    index = ('<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
             f"<sitemap><loc>{site.url}/sitemaps/news.xml</loc></sitemap></sitemapindex>")
    robots = f"User-agent: *\nDisallow: /private/\n\nSitemap: {site.url}/sitemap.xml\n"
    home = (f'<!doctype html><html><head><title>{OUTLET}</title><link rel="alternate" type="application/atom+xml" '
            f'href="/feeds/atom.xml"></head><body><h1>{OUTLET}</h1><ul>'
            + "".join(f'<li><a href="{s.path}">{esc(s.title)}</a></li>' for s in latest) + "</ul></body></html>")
    return {"/feeds/rss.xml": rss, "/feeds/atom.xml": atom, "/sitemaps/news.xml": sitemap_news,
            "/sitemap.xml": index, "/robots.txt": robots, "/": home}


CONTENT_TYPES = {".xml": "application/xml", ".txt": "text/plain; charset=utf-8"}


def serve(stories: list[Story] | None = None):
    """Start the site on 127.0.0.1 (a free port); returns (Site, stop)."""
    site = Site("", {})
    pages = site.pages
    modified = format_datetime(datetime(2005, 3, 24, tzinfo=timezone.utc), usegmt=True)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # the Site's log, not stderr
            pass

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            status, ctype, body, extra = 404, "text/plain", b"not found", {}
            if path == "/news/broken.html":
                status, body = site.broken, b"broken"
                if status >= 500:  # retry at once: a CLI run (backoff 1 s, then 2 s) need not wait 3 s
                    extra = {"Retry-After": "0"}
            elif path == "/news/old-address.html":
                status, body, extra = 301, b"", {"Location": f"/news/{MOVED}.html"}
            elif path == "/news/photo.html":
                status, ctype, body = 200, "image/png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(2000)
            elif path in pages:
                status, (ctype, body) = 200, pages[path]
            if status == 200:
                tag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                extra = {"ETag": tag, "Last-Modified": modified}
                if self.headers.get("If-None-Match") == tag:
                    status, body = 304, b""
            site.log.append(Hit(time.monotonic(), self.path, status, dict(self.headers.items())))
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    site.url = f"http://127.0.0.1:{server.server_address[1]}"
    site.stories = {s.slug: s for s in (stories or load_stories())}
    for story in site.stories.values():
        pages[story.path] = ("text/html; charset=utf-8", _article(site, story).encode())
    pages["/private/embargoed.html"] = ("text/html; charset=utf-8", _article(site, Story(
        "embargoed", "Embargoed story", ("This page must never be fetched.",), "2005-03-21", "Nobody")).encode())
    for path, text in _feeds(site).items():
        ctype = "text/html; charset=utf-8" if path == "/" else CONTENT_TYPES[Path(path).suffix]
        pages[path] = (ctype, text.encode())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        server.server_close()

    return site, stop


@pytest.fixture(scope="module")
def site():
    """The site, served for one test module; its log is the tests' to clear."""
    served, stop = serve()
    try:
        yield served
    finally:
        stop()
