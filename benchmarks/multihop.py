"""MultiHop-RAG (Tang & Yang, COLM 2024) through corpus-qa, scored by the paper's rules beside its Table 5.

    .venv/bin/python benchmarks/multihop.py [--split dev|test|both] [--quick] [--peers]
        [--indexes DIR] [--records OUT.jsonl]

Builds the index of the 609 articles once (sets.open_index("multihop"), reused after; the
data is read in place from ../shared/benchmarks/multihop-rag), asks every question of the
split through QA.ask(k=10), the path users take, and scores the top 10 passages by the
rules of that folder's README: Hits@10, Hits@4, Hits@1, MRR@10 and MAP@10 (the paper's
variant) and recall@10 (the share of all gold facts in the top 10) over the answerable
questions; the share of null questions and of answerable ones that abstained. Each figure
has a 95 % bootstrap interval (quality.bootstrap), per split, overall and by question type,
printed as Markdown tables under the published rows.

dev = the questions whose 0-based position is divisible by 4 (tune on these); test = the
others (report them, never tune on them). --quick: the first 100 questions of each split.

--peers also runs the 30-line script (peers.py: RRF of MiniLM and bm25s over 190-word
windows of the same cleaned texts) on the same questions, and prints the paired
difference corpus-qa - script (quality.paired) with its interval.

Run it as a file (not -m), like quality.py.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(1, str(Path(__file__).resolve().parent))  # sets.py, quality.py, peers.py
import quality as Q  # noqa: E402
import sets as S  # noqa: E402

METRICS = ("hits@10", "hits@4", "hits@1", "mrr@10", "map@10", "recall@10", "none_abstained",
           "answerable_abstained")
HEADS = ("Hits@10", "Hits@4", "Hits@1", "MRR@10", "MAP@10", "recall@10", "null abstained", "answerable abstained")
# The paper's Table 5 (v1): Hits@10, Hits@4, MRR@10, MAP@10; 256-token chunks, top 10 by cosine,
# "+ rerank": the top 20 reranked by bge-reranker-large. All 2,255 answerable questions.
PUBLISHED = (
    ("bge-large-en-v1.5", 0.6718, 0.5221, 0.4298, 0.3423),
    ("text-embedding-ada-002", 0.6381, 0.5040, 0.4203, 0.3431),
    ("voyage-02", 0.6506, 0.4619, 0.3934, 0.3143),
    ("bge-large-en-v1.5 + rerank", 0.7183, 0.6364, 0.5630, 0.4759),
    ("voyage-02 + rerank (best)", 0.7467, 0.6625, 0.5860, 0.4795),
)
QUICK = 100


def cell(records: list[dict], metric: str) -> str:
    """'mean [low, high]' over the questions the metric counts; '-' when it counts none."""
    values = [v for r in records if (v := Q.value(r, metric)) is not None]
    if not values:
        return "-"
    mean, lo, hi = Q.bootstrap(values)
    return f"{mean:.3f} [{lo:.3f}, {hi:.3f}]"


def table(system: str, records: list[dict], metrics: tuple[str, ...] = METRICS) -> list[str]:
    """Markdown rows: per split overall, then per question type (none where no metric counts)."""
    rows = []
    for name, rs in Q.groups(records).items():
        split, _, kind = name.partition(" ")
        label = f"{split.removeprefix('multihop-')} {kind.removesuffix('_query') or 'all'}"
        cells = [cell(rs, m) for m in metrics]
        if set(cells) != {"-"}:
            rows.append(f"| {system} | {label} (n={len(rs)}) | " + " | ".join(cells) + " |")
    return rows


def published() -> list[str]:
    out = []
    for name, hits10, hits4, mrr, ap in PUBLISHED:
        cells = (f"{hits10:.4f}", f"{hits4:.4f}", "-", f"{mrr:.4f}", f"{ap:.4f}", "-", "-", "-")
        out.append(f"| paper: {name} | all 2,255 answerable | " + " | ".join(cells) + " |")
    return out


def header(metrics: int = len(METRICS)) -> list[str]:
    return ["| system | split, type (questions) | " + " | ".join(HEADS[:metrics]) + " |",
            "| --- | --- |" + " --- |" * metrics]


def questions(split: str, quick: bool) -> list[S.Item]:
    out = []
    for name in (("dev", "test") if split == "both" else (split,)):
        items = S.multihop_items(name)
        out += items[:QUICK] if quick else items
    return out


def commit() -> str:
    run = subprocess.run(["git", "-C", str(S.REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return run.stdout.strip() or "?"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--split", choices=("dev", "test", "both"), default="both")
    p.add_argument("--quick", action="store_true", help=f"the first {QUICK} questions of each split")
    p.add_argument("--peers", action="store_true", help="also run the 30-line script (peers.py, 190-word windows)")
    p.add_argument("--indexes", type=Path, default=S.INDEXES, help="where the index is built once and kept")
    p.add_argument("--records", type=Path, help="write the per-question records here (JSON Lines)")
    args = p.parse_args()
    from store import SentenceTransformerEmbedder

    print(f"# multihop  {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC  commit {commit()}  split {args.split}"
          f"{'  --quick' if args.quick else ''}  1-min load {os.getloadavg()[0]:.2f}", flush=True)
    embedder = SentenceTransformerEmbedder()
    qa = S.open_index("multihop", args.indexes, embedder)
    items = questions(args.split, args.quick)
    started = time.monotonic()
    records = Q.ask_all(qa, items, k=10)
    print(f"# corpus-qa: {len(items)} questions in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    if args.records:
        args.records.write_text("".join(json.dumps(r) + "\n" for r in records))
    print("\n".join(["", *header(), *published(), *table("corpus-qa", records)]), flush=True)
    if args.peers:
        import peers

        started = time.monotonic()
        peer = peers.score(args.indexes, items, windows=peers.WORDS, embedder=embedder)
        print(f"# peer script: {len(items)} questions in {time.monotonic() - started:.0f} s", file=sys.stderr)
        print("\n".join(["", *header(6), *table("30-line script", peer, METRICS[:6])]))
        print("\nREV = the 30-line script (190-word windows, MiniLM + bm25s, RRF):")
        Q.paired(records, peer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
