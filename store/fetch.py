"""A polite, guarded HTTP client for store.web: robots.txt, a delay per host, timeouts,
retries with backoff, a size limit, redirects checked hop by hop, and (on request) no
connection to loopback, private or link-local addresses.

Why not trafilatura's `fetch_response`: it sends no request headers of ours (no
If-None-Match / If-Modified-Since, so no conditional requests), follows redirects
inside urllib3 (no robots.txt or same-site check per hop), falls back to unverified TLS
by default, waits between requests only in its buffered downloads, and returns None
without saying why a page failed. This client is urllib3 (trafilatura's own HTTP
library) with those pieces, and its address guard is the same idea as trafilatura's:
the peer address is checked after the socket connects, so DNS rebinding cannot slip past.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit
from .errors import InputError

logger = logging.getLogger(__name__)

AGENT = "corpus-qa"  # the token robots.txt rules name
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
MAX_WAIT = 60.0  # cap on a Retry-After or a robots.txt Crawl-delay, seconds


def default_user_agent() -> str:
    """corpus-qa/VERSION and what it does: a site's operator can see who asks and why."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("corpus-qa")
    except PackageNotFoundError:
        release = "0"
    return f"{AGENT}/{release} (news archive indexer; honours robots.txt)"


@dataclass(frozen=True)
class WebSettings:
    """How corpus-qa fetches from the web. Every politeness and safety rule is here.

    delay: seconds between two requests to one host (robots.txt's Crawl-delay wins when
    longer); retries: more attempts after a connection error or a 429/5xx answer, waiting
    backoff, 2 x backoff, ... seconds (or the server's Retry-After); max_bytes: a page
    larger than this is skipped; same_site: links and redirects stay on the host of the
    URL given; allow_private: connections to loopback, private and link-local addresses
    are allowed (the CLI: yes, it is the operator's own machine; the page: only with
    `serve --allow-private-urls`)."""

    user_agent: str = field(default_factory=default_user_agent)
    delay: float = 1.0
    timeout: float = 20.0
    retries: int = 2
    backoff: float = 1.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    same_site: bool = True
    allow_private: bool = True

    def __post_init__(self) -> None:
        for name in ("delay", "backoff"):
            if getattr(self, name) < 0:
                raise InputError(f"{name} must be 0 or more seconds, got {getattr(self, name)}")
        if self.timeout <= 0:
            raise InputError(f"timeout must be more than 0 seconds, got {self.timeout}")
        if self.retries < 0 or self.max_redirects < 0:
            raise InputError(f"retries and max_redirects must be 0 or more, got {self.retries}, {self.max_redirects}")
        if self.max_bytes < 1:
            raise InputError(f"max_bytes must be at least 1, got {self.max_bytes}")


@dataclass(frozen=True)
class Page:
    """A response: 200 with its body, or 304 (not modified) without one."""

    url: str  # the URL asked for
    final_url: str  # after redirects
    status: int
    content_type: str
    body: bytes
    etag: str | None = None
    last_modified: str | None = None


class FetchError(Exception):
    """A URL that could not be fetched; the message is the reason, one line. `transient`:
    the reason may pass by itself (no connection, a 5xx or 429 after the retries, a
    download cut off); otherwise it lasts until the site changes (a 404, robots.txt, ...)."""

    def __init__(self, message: str, transient: bool = False):
        super().__init__(message)
        self.transient = transient


def check_url(url: str) -> str:
    """`url` if it is an absolute http(s) URL with a host; InputError otherwise."""
    url = str(url).strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"not a web address: {url!r}; give an http:// or https:// URL")
    return url


def site_of(url: str) -> tuple[str, int | None]:
    """The host (without 'www.') and port: two URLs with the same one are the same site."""
    parts = urlsplit(url)
    return (parts.hostname or "").removeprefix("www."), parts.port


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return (getattr(ip, "ipv4_mapped", None) or ip).is_global


@functools.cache
def _guarded_pools() -> dict[str, type]:
    """urllib3 pool classes whose connections refuse a peer that is not a public address
    (built on first use: importing store loads no urllib3)."""
    import urllib3

    class Refused(urllib3.exceptions.NewConnectionError):
        """The peer is a loopback, private or link-local address and those are not allowed."""

    class GuardedHTTP(urllib3.connection.HTTPConnection):
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            peer = sock.getpeername()[0]
            if not _public(peer):
                sock.close()
                raise Refused(self, f"{self.host} is at {peer}")
            return sock

    class GuardedHTTPS(GuardedHTTP, urllib3.connection.HTTPSConnection):
        pass

    http = type("GuardedPool", (urllib3.HTTPConnectionPool,), {"ConnectionCls": GuardedHTTP})
    https = type("GuardedHTTPSPool", (urllib3.HTTPSConnectionPool,), {"ConnectionCls": GuardedHTTPS})
    return {"http": http, "https": https, "refused": Refused}


class Fetcher:
    """GET pages under WebSettings. One per run: it remembers each host's last request
    and robots.txt. Safe to share between threads (one request at a time per host)."""

    def __init__(self, settings: WebSettings | None = None):
        self.settings = settings or WebSettings()
        self.requests = 0  # requests sent, robots.txt included
        self._pool = None
        self._last: dict[str, float] = {}
        self._robots: dict = {}  # origin -> urllib.robotparser.RobotFileParser
        self._lock = threading.Lock()

    @property
    def pool(self):
        """A urllib3 PoolManager (guarded unless private addresses are allowed), made on first use."""
        if self._pool is None:
            import urllib3

            pool = urllib3.PoolManager(num_pools=20)
            if not self.settings.allow_private:
                guarded = _guarded_pools()
                pool.pool_classes_by_scheme = {"http": guarded["http"], "https": guarded["https"]}
            self._pool = pool
        return self._pool

    def get(self, url: str, headers: dict[str, str] | None = None, robots: bool = True) -> Page:
        """The page at `url` (200 or, for a conditional request, 304). Redirects are
        followed one hop at a time, each hop checked like the first; FetchError names why not."""
        asked = url
        origin = site_of(url)
        for _ in range(self.settings.max_redirects + 1):
            if urlsplit(url).scheme not in ("http", "https"):
                raise FetchError(f"redirects to a non-web address ({url})")
            if self.settings.same_site and site_of(url) != origin:
                raise FetchError(f"redirects to another site ({url}); use --any-site to follow it")
            if robots and not self.allowed(url):
                raise FetchError(f"disallowed by robots.txt ({url})" if url != asked else "disallowed by robots.txt")
            try:
                response = self._request(url, headers or {})
                if response.status not in REDIRECT_STATUS:
                    return self._page(asked, url, response)
                location = response.headers.get("Location")
                response.release_conn()
            finally:
                self._done(url)
            if not location:
                raise FetchError(f"HTTP {response.status} without a Location")
            url = urljoin(url, location)
        raise FetchError(f"more than {self.settings.max_redirects} redirects")

    def allowed(self, url: str) -> bool:
        """Whether robots.txt of the URL's site lets corpus-qa fetch it."""
        return self.robots(url).can_fetch(AGENT, url)

    def robots(self, url: str):
        """The site's robots.txt as a urllib.robotparser.RobotFileParser, fetched once (a
        missing one allows everything; 401/403 forbids everything, as robotparser does)."""
        from urllib.robotparser import RobotFileParser

        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._robots:
            parser = RobotFileParser(origin + "/robots.txt")
            try:
                page = self.get(origin + "/robots.txt", robots=False)
                parser.parse(page.body.decode("utf-8", "replace").splitlines())
            except FetchError as err:
                status = str(err)
                if status.startswith(("HTTP 401", "HTTP 403")):
                    parser.disallow_all = True
                else:
                    parser.allow_all = True
                    logger.info("no robots.txt at %s (%s): everything allowed", origin, err)
            self._robots[origin] = parser
        return self._robots[origin]

    def _request(self, url: str, headers: dict[str, str]):
        import urllib3

        s = self.settings
        for attempt in range(s.retries + 1):
            self._wait(url)
            wait = s.backoff * 2**attempt
            try:
                response = self.pool.request("GET", url, headers={"User-Agent": s.user_agent, **headers},
                                             redirect=False, retries=False, timeout=s.timeout, preload_content=False)
            except _guarded_pools()["refused"] as err:
                raise FetchError(f"refused: {str(err).split(': ', 1)[-1]}, a loopback, private or link-local "
                                 "address (the operator may allow it: serve --allow-private-urls)") from None
            except urllib3.exceptions.HTTPError as err:
                if attempt == s.retries:
                    raise FetchError(f"cannot connect ({type(err).__name__}); check the address and that the site "
                                     "is up", transient=True) from None
            else:
                if response.status not in RETRY_STATUS or attempt == s.retries:
                    return response
                wait = _retry_after(response.headers.get("Retry-After"), wait)
                response.release_conn()
            logger.info("%s: attempt %d failed; trying again in %.1f s", url, attempt + 1, wait)
            time.sleep(wait)
        raise AssertionError("unreachable")

    def _wait(self, url: str) -> None:
        """Sleep until `delay` (or robots.txt's Crawl-delay) has passed since the host's last
        request began and its last response ended."""
        host = urlsplit(url).netloc
        parser = self._robots.get(f"{urlsplit(url).scheme}://{host}")
        crawl_delay = (parser.crawl_delay(AGENT) if parser else None) or 0
        delay = max(self.settings.delay, min(float(crawl_delay), MAX_WAIT))
        with self._lock:
            now = time.monotonic()
            start = max(now, self._last.get(host, -1e9) + delay)
            self._last[host] = start
            self.requests += 1
        if start > now:
            time.sleep(start - now)

    def _done(self, url: str) -> None:
        """The delay counts from the end of a response too: a slow answer is not followed at once."""
        host = urlsplit(url).netloc
        with self._lock:
            self._last[host] = max(self._last.get(host, -1e9), time.monotonic())

    def _page(self, asked: str, url: str, response) -> Page:
        import urllib3

        headers = response.headers
        try:
            if response.status not in (200, 304):
                raise FetchError(f"HTTP {response.status}", transient=response.status in RETRY_STATUS)
            limit = self.settings.max_bytes
            length = headers.get("Content-Length", "")
            if length.isdigit() and int(length) > limit:
                raise FetchError(f"too big: {int(length):,} bytes (limit {limit:,} per page)")
            body = bytearray()
            for chunk in response.stream(65536):
                body += chunk
                if len(body) > limit:
                    raise FetchError(f"too big: over {limit:,} bytes (limit {limit:,} per page)")
        except urllib3.exceptions.HTTPError as err:
            raise FetchError(f"the download broke off ({type(err).__name__})", transient=True) from None
        finally:
            response.release_conn()
        return Page(asked, url, response.status, headers.get("Content-Type", "").lower(), bytes(body),
                    headers.get("ETag"), headers.get("Last-Modified"))


def _retry_after(value: str | None, default: float) -> float:
    if value and value.strip().isdigit():
        return min(float(value), MAX_WAIT)
    return default
