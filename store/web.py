"""URLs, feeds, sitemaps and home pages -> Documents, then indexed like files.

A URL given is read by what it serves: an RSS or Atom feed or a sitemap (index) lists
articles (with their dates: pubDate, updated, lastmod, news:publication_date); a site's
home page (path "/") is searched for feeds (trafilatura's `feeds.determine_feed`) and
robots.txt's `Sitemap:` lines; any other HTML page is an article. Articles are extracted
as .html files are (store.documents: trafilatura's text and metadata, then the cleaner);
a Document's id and source are its canonical URL.

Keeping current without downloading again: each document keeps the page's ETag,
Last-Modified and its sitemap/feed date in `extra`; the next run asks for every article a
listing names with a conditional request (If-None-Match, If-Modified-Since: a 304 costs no
download) and lets the content hash catch the rest. A listing's date is not trusted to
say an article is unchanged: an RSS pubDate stays as it was when the story is edited, and
so, on many sites, does a sitemap's lastmod. Documents are indexed in batches as they
arrive, so an interrupted run keeps what it indexed and a re-run goes on from there.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urljoin, urlsplit

from .documents import Document, Skipped, _finish, normalize_date, prepare
from .embedder import Embedder
from .errors import CorpusQAError, InputError
from .fetch import FetchError, Fetcher, Page, WebSettings, check_url, site_of
from .index import Index, StoredDocument
from .ingest import ChunkingOptions, IngestReport, ingest_documents

logger = logging.getLogger(__name__)

__all__ = ["Entry", "WebProgress", "WebSettings", "add_reports", "crawl", "ingest_urls", "is_url", "read_listing"]

MAX_SITEMAPS = 50  # sitemaps read from one index (nested ones included)
XML_TYPES = ("xml", "rss", "atom")


@dataclass(frozen=True)
class Entry:
    """An article a feed or sitemap lists: its URL, publication date and last change."""

    url: str
    published: str | None = None  # ISO date
    modified: str | None = None  # as the listing gives it (lastmod, updated): compared, not parsed


@dataclass(frozen=True)
class Unchanged:
    """An article already indexed as it is now (a conditional request answered 304)."""

    url: str


@dataclass(frozen=True)
class WebProgress:
    """Counts so far: pages fetched (200), documents indexed, pages skipped, unchanged."""

    fetched: int
    indexed: int
    skipped: int
    unchanged: int
    total: int  # articles found so far
    url: str = ""


def is_url(value: object) -> bool:
    return isinstance(value, str) and value.strip().lower().startswith(("http://", "https://"))


# -- listings ---------------------------------------------------------------------------
def _tag(element: ET.Element) -> str:
    return element.tag.rsplit("}", 1)[-1].lower() if isinstance(element.tag, str) else ""


def _child(element: ET.Element, *names: str) -> str | None:
    for child in element:
        if _tag(child) in names and (child.text or "").strip():
            return child.text.strip()
    return None


def _date(value: str | None) -> str | None:
    """An ISO date from a feed's or sitemap's date (RFC 822 or ISO 8601); None if unreadable."""
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).date().isoformat()
    except (TypeError, ValueError, IndexError):
        pass
    try:
        return normalize_date(value)
    except InputError:
        return None


def read_listing(body: bytes, base: str) -> tuple[str, list[Entry], list[str]] | None:
    """(kind, entries, child sitemaps) of a feed or sitemap; None when `body` is neither.
    kind: "feed" or "sitemap"."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    kind = _tag(root)
    if kind in ("rss", "rdf"):
        items = [e for e in root.iter() if _tag(e) == "item"]
        entries = [Entry(urljoin(base, link), _date(_child(i, "pubdate", "date")), _child(i, "pubdate", "date"))
                   for i in items if (link := _child(i, "link") or _permalink(i))]
        return "feed", entries, []
    if kind == "feed":
        entries = []
        for item in (e for e in root if _tag(e) == "entry"):
            links = [link for link in item
                     if _tag(link) == "link" and link.get("rel", "alternate") == "alternate" and link.get("href")]
            if links:
                updated = _child(item, "updated", "published")
                entries.append(Entry(urljoin(base, links[0].get("href")), _date(_child(item, "published", "updated")),
                                     updated))
        return "feed", entries, []
    if kind == "urlset":
        entries = []
        for item in (e for e in root if _tag(e) == "url"):
            loc = _child(item, "loc")
            news = next((n for n in item.iter() if _tag(n) == "news" and len(n)), None)
            published = _date(_child(news, "publication_date")) if news is not None else None
            lastmod = _child(item, "lastmod")
            if loc:
                entries.append(Entry(urljoin(base, loc), published or _date(lastmod), lastmod))
        return "sitemap", entries, []
    if kind == "sitemapindex":
        children = [urljoin(base, loc) for e in root if _tag(e) == "sitemap" and (loc := _child(e, "loc"))]
        return "sitemap", [], children
    return None


def _permalink(item: ET.Element) -> str | None:
    for child in item:
        if _tag(child) == "guid" and child.get("isPermaLink", "true") == "true" and is_url(child.text or ""):
            return child.text.strip()
    return None


def _is_xml(page: Page) -> bool:
    head = page.body[:200].lstrip().lower()
    if "html" in page.content_type:  # XHTML is a page, not a listing
        return False
    return any(t in page.content_type for t in XML_TYPES) or head.startswith((b"<?xml", b"<rss", b"<feed", b"<urlset"))


def _is_html(page: Page) -> bool:
    if "html" in page.content_type:
        return True
    head = page.body[:1024].lstrip().lower()
    return not page.content_type.strip() and head.startswith((b"<!doctype html", b"<html"))


def _skip(url: str, err: FetchError) -> Skipped:
    return Skipped(url, str(err), transient=err.transient)


def _decode(page: Page) -> str:
    from trafilatura.utils import decode_file

    return decode_file(page.body)


# -- the crawl ----------------------------------------------------------------------------
class _Crawl:
    """One run: finds the articles the URLs name, then fetches and extracts them."""

    def __init__(self, settings: WebSettings, since: str | None, limit: int | None,
                 known: dict[str, StoredDocument], fetcher: Fetcher | None = None):
        self.settings = settings
        self.since = since
        self.limit = limit
        self.known = known
        self.fetcher = fetcher or Fetcher(settings)
        self.fetched = 0
        self.skipped: list[Skipped] = []
        self.ignored = 0  # links to other sites, or older than `since`

    def get(self, url: str, headers: dict[str, str] | None = None) -> Page:
        page = self.fetcher.get(url, headers)
        if page.status == 200:
            self.fetched += 1
        return page

    def articles(self, urls: Sequence[str]) -> list[tuple[Entry, Page | None]]:
        """The articles `urls` name, newest first within each listing, with the page
        when the URL given was the article itself (fetched already)."""
        found: dict[str, tuple[Entry, Page | None]] = {}
        for url in urls:
            try:
                page = self.get(url, self._validators(url))  # an article indexed before may answer 304
            except FetchError as err:
                self.skipped.append(_skip(url, err))
                continue
            listed = None if page.status == 304 else self._listing(url, page)
            if listed is None:  # an article page
                found.setdefault(page.url, (Entry(page.url), page))
                continue
            for entry in self._bounded(url, listed):
                found.setdefault(entry.url, (entry, None))
        return list(found.values())

    def _listing(self, url: str, page: Page) -> list[Entry] | None:
        """A feed's, sitemap's or home page's entries; None for an article page."""
        if _is_xml(page):
            return self._read(url, page, depth=0, seen=set())
        if not _is_html(page):
            return None  # the article step says why it is not one
        if urlsplit(page.final_url).path not in ("", "/"):
            return None
        return self._home(page)

    def _read(self, url: str, page: Page, depth: int, seen: set[str]) -> list[Entry]:
        listing = read_listing(page.body, page.final_url)
        if listing is None:
            self.skipped.append(Skipped(url, "XML, but neither an RSS/Atom feed nor a sitemap"))
            return []
        _, entries, children = listing
        for child in children:
            if child in seen or len(seen) >= MAX_SITEMAPS or depth > 3 or not self._on_site(url, child):
                continue
            seen.add(child)
            try:
                entries += self._read(child, self.get(child), depth + 1, seen)
            except FetchError as err:
                self.skipped.append(_skip(child, err))
        return entries

    def _home(self, page: Page) -> list[Entry]:
        """A home page's articles: from its feeds and robots.txt's sitemaps."""
        from trafilatura.feeds import FeedParameters, determine_feed

        base = page.final_url
        listings = list(self.fetcher.robots(base).site_maps() or [])
        listings += determine_feed(_decode(page), FeedParameters(base, urlsplit(base).hostname or "", base))
        entries: list[Entry] = []
        for url in dict.fromkeys(listings):
            if not self._on_site(base, url):
                continue
            try:
                found = self.get(url)
            except FetchError as err:
                self.skipped.append(_skip(url, err))
                continue
            entries += self._read(url, found, 0, set()) if _is_xml(found) else []
        if not listings:
            self.skipped.append(Skipped(page.url, "a home page without a feed or sitemap (give article, feed or "
                                                  "sitemap URLs)"))
        return entries

    def _on_site(self, base: str, url: str) -> bool:
        if not self.settings.same_site or site_of(url) == site_of(base):
            return True
        self.ignored += 1
        logger.info("%s is on another site than %s: left out (--any-site follows it)", url, base)
        return False

    def _bounded(self, base: str, entries: list[Entry]) -> list[Entry]:
        """The listing's entries on the site, published since `since`, newest first, at most `limit`."""
        kept = [e for e in dict((e.url, e) for e in entries if self._on_site(base, e.url)).values()]
        if self.since:
            older = [e for e in kept if e.published and e.published < self.since]
            self.ignored += len(older)
            kept = [e for e in kept if e not in older]
        kept.sort(key=lambda e: e.published or "", reverse=True)
        return kept[: self.limit] if self.limit else kept

    def _validators(self, url: str) -> dict[str, str]:
        """Conditional-request headers for a URL indexed before (its ETag, Last-Modified)."""
        stored = self.known.get(url)
        old = stored.extra if stored else {}
        pairs = {"If-None-Match": old.get("etag"), "If-Modified-Since": old.get("last_modified")}
        return {k: v for k, v in pairs.items() if v}

    def document(self, entry: Entry, page: Page | None) -> Document | Skipped | Unchanged | None:
        """The entry's article as a Document (None: older than `since`), or why not."""
        if page is None:
            try:
                page = self.get(entry.url, self._validators(entry.url))
            except FetchError as err:
                return _skip(entry.url, err)
        if page.status == 304:
            return Unchanged(entry.url)
        if not _is_html(page) or b"\x00" in page.body[:8192]:
            return Skipped(entry.url, f"not an HTML page ({page.content_type or 'no content type'})")
        text, meta = prepare(_decode(page), ".html", where=entry.url)
        canonical = meta.get("url")
        if not (canonical and is_url(canonical) and site_of(canonical) == site_of(page.final_url)):
            canonical = page.final_url
        meta["url"] = canonical
        meta.setdefault("published", entry.published)
        extra = {"etag": page.etag, "last_modified": page.last_modified, "listed": entry.modified,
                 "fetched_from": entry.url if entry.url != canonical else None}
        meta.update({k: v for k, v in extra.items() if v})
        doc = _finish(text, {k: v for k, v in meta.items() if v is not None}, canonical, "", frozenset())
        if not doc.text.strip():
            return Skipped(entry.url, "no article text after extraction (empty, or only page furniture)")
        if self.since and doc.published and doc.published < self.since:
            self.ignored += 1
            return None
        return doc


def check_web(urls: Iterable[str], since: str | None = None, limit: int | None = None) -> tuple[list[str], str | None]:
    """The URLs and `since` (an ISO date) checked before anything is fetched: InputError naming the bad one."""
    urls = [check_url(u) for u in urls]
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be at least 1, got {limit}")
    return urls, (normalize_date(since, "--since") if since else None)


def crawl(
    urls: Iterable[str],
    settings: WebSettings | None = None,
    since: str | None = None,
    limit: int | None = None,
    known: dict[str, StoredDocument] | None = None,
    fetcher: Fetcher | None = None,
) -> Iterator[Document | Skipped | Unchanged | WebProgress]:
    """Fetch what `urls` name and yield, for each article, a Document, a Skipped (with
    the reason) or an Unchanged; a WebProgress after each. `known`: stored documents by
    the URL they were fetched from (their ETag and listing date make re-runs cheap)."""
    urls, since = check_web(urls, since, limit)
    run = _Crawl(settings or WebSettings(), since, limit, known or {}, fetcher)
    found = run.articles(urls)
    yield from run.skipped
    counts = {"indexed": 0, "skipped": len(run.skipped), "unchanged": 0}
    yield WebProgress(run.fetched, total=len(found), **counts)
    seen: set[str] = set()
    for entry, page in found:
        item = run.document(entry, page)
        if isinstance(item, Document):
            if item.source in seen:  # two URLs, one canonical article
                item = None
            else:
                seen.add(item.source)
                counts["indexed"] += 1
        elif isinstance(item, Skipped):
            counts["skipped"] += 1
        elif isinstance(item, Unchanged):
            counts["unchanged"] += 1
        if item is not None:
            yield item
        yield WebProgress(run.fetched, total=len(found), url=entry.url, **counts)


# -- indexing -----------------------------------------------------------------------------
def add_reports(a: IngestReport, b: IngestReport) -> IngestReport:
    """Two reports' counts summed (the skipped lists joined)."""
    counts = {f: getattr(a, f) + getattr(b, f) for f in ("added", "updated", "unchanged", "removed", "chunks",
                                                          "copies", "fetched")}
    return IngestReport(**counts, skipped=a.skipped + b.skipped)


def known_documents(index: Index) -> dict[str, StoredDocument]:
    """Stored documents by every URL they were fetched from or are known by."""
    known: dict[str, StoredDocument] = {}
    for doc in index.documents():
        for url in (doc.source, doc.url, doc.extra.get("fetched_from")):
            if is_url(url):
                known.setdefault(url, doc)
    return known


def ingest_urls(
    index: Index,
    embedder: Embedder,
    urls: Iterable[str],
    settings: WebSettings | None = None,
    since: str | None = None,
    limit: int | None = None,
    chunking: ChunkingOptions = ChunkingOptions(),
    progress: Callable[[WebProgress], None] | None = None,
    batch: int = 16,
) -> IngestReport:
    """Index the articles `urls` name (pages, feeds, sitemaps, home pages), `batch`
    documents at a time. Nothing is written when nothing is new or changed."""
    report = IngestReport(0, 0, 0, 0, 0)
    pending: list[Document] = []
    last: WebProgress | None = None

    def flush() -> None:
        nonlocal report, pending
        if pending:
            report = add_reports(report, ingest_documents(index, embedder, pending, chunking=chunking))
            pending = []

    unchanged, skipped, reached = 0, [], set()
    for item in crawl(urls, settings, since=since, limit=limit, known=known_documents(index)):
        if isinstance(item, Document):
            pending.append(item)
            reached.update((item.source, item.extra.get("fetched_from")))
            if len(pending) >= batch:
                flush()
        elif isinstance(item, Skipped):
            skipped.append(item)
        elif isinstance(item, Unchanged):
            unchanged += 1
            reached.add(item.url)
        elif isinstance(item, WebProgress):
            last = item
            if progress:
                progress(item)
    flush()
    fetched = last.fetched if last else 0
    skipped = remember_skips(index, skipped, reached)
    return replace(report, unchanged=report.unchanged + unchanged, skipped=tuple(skipped), fetched=fetched)


MAX_REMEMBERED = 10_000  # web skips kept in the index (the oldest go first)


def remember_skips(index: Index, skipped: Sequence[Skipped], reached: set[str],
                   today: str | None = None) -> list[Skipped]:
    """The run's skipped pages, each one an earlier run reported already for the same
    lasting reason marked `known` (the day it was first reported): a scheduled run
    reports it again but does not fail for it. A page skipped for a lasting reason is
    remembered in the index; one that was `reached` this time (indexed or unchanged) is
    forgotten; a passing reason (no connection, HTTP 5xx or 429) is never remembered."""
    memory = index.web_skips()
    before = dict(memory)
    today = today or dt.date.today().isoformat()
    out = []
    for s in skipped:
        old = memory.get(s.path)
        if s.transient:
            out.append(s)
        elif old and old.get("reason") == s.reason:
            out.append(replace(s, known=old.get("since") or today))
        else:
            memory[s.path] = {"reason": s.reason, "since": today}
            out.append(s)
    for url in reached:
        memory.pop(url, None)
    if len(memory) > MAX_REMEMBERED:
        memory = dict(sorted(memory.items(), key=lambda kv: kv[1].get("since", ""))[-MAX_REMEMBERED:])
    if memory != before:
        try:
            with index.writing():
                index.set_web_skips(memory)
        except CorpusQAError as err:  # another writer: the next run remembers them
            logger.warning("could not remember the skipped pages in the index (%s)", err)
    return out
