"""What a question that names an outlet or a period costs in finding the documents to
search (store.Index.matching, which rag.search calls once per outlet and period named), at
100,000 documents: the catalogue built once per index version against testing every
document (Filters.matches), the path before issue 26.

    .venv/bin/python benchmarks/named_filters.py [--documents N]

Documents are made in memory (40 outlets, dates over 2020-2024); no Chroma is involved,
only the two ways of choosing among them. Each filter is timed as the median of 20 calls,
after the first (which builds the catalogue, timed apart).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from store import Filters  # noqa: E402
from store.index import Index, StoredDocument  # noqa: E402


class Listed(Index):
    """An Index whose documents are a list in memory (matching and its catalogue only)."""

    def __init__(self, docs: list[StoredDocument]):
        self.listed = docs
        self._catalogue_cache = None

    def documents(self) -> list[StoredDocument]:
        return self.listed


def made(n: int) -> list[StoredDocument]:
    rng = random.Random(0)
    outlets = [f"Outlet {i}" for i in range(40)]
    start = date(2020, 1, 1)
    return [StoredDocument(f"d{i}", f"s{i}", "", f"title {i}", (start + timedelta(days=rng.randrange(1826))).isoformat()
                           if rng.random() < 0.9 else None, rng.choice(outlets), None, None, 1, 1000, f"h{i}")
            for i in range(n)]


def median_ms(fn, repeat: int = 20) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--documents", type=int, default=100_000)
    args = p.parse_args()
    docs = made(args.documents)
    index = Listed(docs)
    t = time.perf_counter()
    index.matching(Filters(outlets=("Outlet 1",)))
    print(f"{args.documents:,} documents; the catalogue, built once per index version: "
          f"{1000 * (time.perf_counter() - t):.1f} ms")
    for f in (Filters(outlets=("outlet 7",)), Filters(since="2023-03-01", until="2023-03-31"),
              Filters(outlets=("Outlet 3",), since="2022-01-01", until="2022-12-31")):
        scan = [d for d in docs if f.matches(d)]
        assert index.matching(f) == scan, f.describe()
        print(f"  {f.describe():55s} {len(scan):6,} documents   every document tested "
              f"{median_ms(lambda: [d for d in docs if f.matches(d)]):7.1f} ms   catalogue "
              f"{median_ms(lambda: index.matching(f)):6.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
