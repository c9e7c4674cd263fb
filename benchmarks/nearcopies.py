"""Near-copies on the BBC archive: how many pairs each Jaccard threshold folds, whether
the LSH bands find them, and a sample to check by eye.

    .venv/bin/python -m benchmarks.nearcopies [--folder DIR] [--threshold T] [--sample 30] [--show N]

The archive is read and cleaned as `corpus-qa ingest` reads it (store.load_paths). Every
pair's exact Jaccard of word 5-gram sets (store.nearcopies.shingles) comes from one
sparse matrix product (brute force, all 2.5 million pairs); beside it, the pairs the
MinHash LSH bands make candidates (store.nearcopies.bands), so the bands' recall at the
threshold is measured, not assumed. Prints the pairs per Jaccard band (byte-identical
copies apart), the pairs and groups folded at the threshold, and `--sample` pairs drawn
at random (seed 29) from the folded non-identical pairs with their word differences,
for a hand check (benchmarks/RESULTS.md says how they were judged).
"""

from __future__ import annotations

import difflib
import random
import time
from pathlib import Path

import numpy as np

from ._common import SHARED, footer, header, parser

BINS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def _diff(a: str, b: str, width: int = 600) -> str:
    """The words that differ between two texts, as -old +new runs."""
    wa, wb = a.split(), b.split()
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, wa, wb, autojunk=False).get_opcodes():
        if op != "equal":
            out.append(f"[-{' '.join(wa[i1:i2])[:120]}-][+{' '.join(wb[j1:j2])[:120]}+]")
    text = " ".join(out)
    return text[:width] + (" ..." if len(text) > width else "")


def main() -> int:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--folder", default=str(SHARED / "benchmarks" / "bbc-news" / "articles"))
    p.add_argument("--threshold", type=float, default=None, help="default: store.nearcopies.THRESHOLD")
    p.add_argument("--sample", type=int, default=30)
    p.add_argument("--show", type=int, default=0, help="also print the N least similar folded pairs")
    args = p.parse_args()
    header("nearcopies", args)
    from scipy import sparse

    from store import load_paths
    from store.nearcopies import BANDS, ROWS, THRESHOLD, bands, shingles

    threshold = THRESHOLD if args.threshold is None else args.threshold
    t0 = time.perf_counter()
    docs = load_paths([args.folder]).documents
    t1 = time.perf_counter()
    grams = [shingles(d.title, d.text) for d in docs]
    t2 = time.perf_counter()
    signatures = [bands(g) for g in grams]
    t3 = time.perf_counter()
    print(f"{len(docs)} documents from {args.folder}: read and cleaned {t1 - t0:.1f} s, shingles {t2 - t1:.1f} s, "
          f"MinHash bands {t3 - t2:.1f} s ({BANDS} bands of {ROWS} rows)")

    vocab: dict[str, int] = {}
    rows, cols = [], []
    for i, g in enumerate(grams):
        for s in g:
            rows.append(i)
            cols.append(vocab.setdefault(s, len(vocab)))
    m = sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(docs), len(vocab)))
    inter = (m @ m.T).tocoo()
    sizes = np.asarray(m.sum(axis=1)).ravel()
    keep = inter.row < inter.col
    a, b, n = inter.row[keep], inter.col[keep], inter.data[keep]
    jac = n / (sizes[a] + sizes[b] - n)
    identical = np.array([docs[i].content == docs[j].content for i, j in zip(a, b)], dtype=bool)
    print(f"brute force: {len(docs) * (len(docs) - 1) // 2:,} pairs, {len(a):,} share a 5-gram "
          f"({time.perf_counter() - t3:.1f} s)")

    print("\n| Jaccard | pairs (byte-identical copies apart) | of which the LSH bands propose |")
    print("| --- | --- | --- |")
    banded = np.array([any(x == y for x, y in zip(signatures[i], signatures[j])) for i, j in zip(a, b)], dtype=bool)
    for lo, hi in zip(BINS, BINS[1:] + (1.01,)):
        sel = (jac >= lo) & (jac < hi) & ~identical
        label = f"{lo:.1f}-{hi:.1f}" if hi <= 1.0 else "1.0 (same words, not byte-identical)"
        print(f"| {label} | {int(sel.sum())} | {int((sel & banded).sum())} |")
    print(f"byte-identical pairs (already folded as copies): {int(identical.sum())}")

    folded = (jac >= threshold) & ~identical
    pairs = sorted(zip(jac[folded], a[folded], b[folded]), key=lambda t: (-t[0], t[1], t[2]))
    found = int((folded & banded).sum())
    print(f"\nthreshold {threshold}: {len(pairs)} near-copy pairs beyond the byte-identical ones "
          f"(LSH bands propose {found} of them: recall {found / max(len(pairs), 1):.3f})")
    parent = list(range(len(docs)))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(a[(jac >= threshold) | identical], b[(jac >= threshold) | identical]):
        parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(docs)):
        groups.setdefault(root(i), []).append(i)
    multi = [g for g in groups.values() if len(g) > 1]
    print(f"groups of more than one document (copies and near-copies): {len(multi)}, holding "
          f"{sum(len(g) for g in multi)} documents; largest {max((len(g) for g in multi), default=0)}")
    sources = [d.source for d in docs]

    rng = random.Random(29)
    sample = rng.sample(pairs, min(args.sample, len(pairs)))
    print(f"\nsample of {len(sample)} folded pairs (seed 29), for a check by eye:")
    for k, (j_, i, j) in enumerate(sorted(sample, key=lambda t: -t[0]), 1):
        di, dj = docs[i], docs[j]
        print(f"\n{k:2d}. {sources[i]} ~ {sources[j]}  J={j_:.3f}\n    {di.title!r} | {dj.title!r}\n"
              f"    diff: {_diff(di.title + ' ' + di.text, dj.title + ' ' + dj.text)}")
    if args.show:
        print(f"\nthe {args.show} least similar folded pairs:")
        for j_, i, j in pairs[-args.show:]:
            print(f"  {sources[i]} ~ {sources[j]}  J={j_:.3f}  {docs[i].title!r} | {docs[j].title!r}")
    near_miss = sorted(((float(x), int(i), int(j)) for x, i, j in zip(jac, a, b)
                        if threshold - 0.2 <= x < threshold), reverse=True)[:10]
    print("\nthe 10 most similar pairs below the threshold:")
    for j_, i, j in near_miss:
        print(f"  {sources[i]} ~ {sources[j]}  J={j_:.3f}  {docs[i].title!r} | {docs[j].title!r}")
    footer()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
