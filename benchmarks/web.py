"""Pages per second from the web: `corpus-qa ingest URL` against the loopback news site of
tests/news_site.py (20 BBC stories from ../shared, served by a real HTTP server).

    .venv/bin/python -m benchmarks.web [--quick] [--rounds N] [--polite-pages N]

1. delay 0 (extraction cost): the sitemap index -> 20 articles, fetched and extracted
   (store.web.crawl: robots.txt, sitemaps, HTTP, trafilatura, the cleaner), --rounds times,
   each with a new client; then the same through ingest_urls into an embedded Chroma in a
   temporary folder (+ embedding and writes; the model is loaded and warmed first).
2. the default delay (WebSettings(), 1 s between requests to one host): the RSS feed with
   --polite-pages articles (robots.txt and the feed are requests too). This one measures
   the politeness, not the machine: about 1 page per second at best.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from ._common import REPO, footer, header, parser


def main() -> int:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5, help="crawls of the sitemap at delay 0 (default 5)")
    p.add_argument("--polite-pages", type=int, default=5, help="articles fetched with the default delay (default 5)")
    args = p.parse_args()
    if args.quick:
        args.rounds, args.polite_pages = 2, 3
    header("web", args)
    sys.path.insert(0, str(REPO / "tests"))
    import news_site

    import store
    from store.web import Document, WebProgress, crawl

    site, stop = news_site.serve()
    try:
        fast = store.WebSettings(delay=0, backoff=0.01)
        seconds, pages = 0.0, 0
        for _ in range(args.rounds):
            start = time.perf_counter()
            docs = [i for i in crawl([site.url + "/sitemap.xml"], fast) if isinstance(i, Document)]
            seconds += time.perf_counter() - start
            pages += len(docs)
        print(f"delay 0, fetch + extract: {pages} articles in {seconds:.2f} s = {pages / seconds:.1f} pages/s "
              f"({args.rounds} crawls of the sitemap index; each also reads robots.txt, 2 sitemaps, a 500 page "
              "retried twice, a binary page)")

        embedder = store.SentenceTransformerEmbedder()
        embedder.encode(["warm up"])
        with tempfile.TemporaryDirectory(prefix="corpus-qa-web-") as tmp:
            index = store.Index.open(path=Path(tmp) / "index")
            start = time.perf_counter()
            report = store.ingest_urls(index, embedder, [site.url + "/sitemap.xml"], fast)
            took = time.perf_counter() - start
        print(f"delay 0, fetch + extract + embed + write (ingest_urls): {report.added} articles, {report.chunks} chunks "
              f"in {took:.2f} s = {report.added / took:.1f} pages/s")

        polite = store.WebSettings()
        last = None
        start = time.perf_counter()
        for item in crawl([site.url + "/feeds/rss.xml"], polite, limit=args.polite_pages):
            if isinstance(item, WebProgress):
                last = item
        took = time.perf_counter() - start
        print(f"default delay ({polite.delay:g} s per host), fetch + extract: {last.indexed} articles in {took:.2f} s "
              f"= {last.indexed / took:.2f} pages/s ({last.indexed + 2} requests: robots.txt, the feed, the articles)")
    finally:
        stop()
    footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
