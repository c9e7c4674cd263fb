"""Scale: synthetic corpora of 10k, 100k (and with --full 1M) chunks in the embedded store.

    .venv/bin/python -m benchmarks.scale [--quick] [--full] [--sizes 10000,100000] [--root /tmp/corpus-qa-scale]

Synthetic articles (30 sentences of Zipf-distributed made-up words each) are chunked
by the real chunker and written by the real write path (Index.add_many: chunks with
their sentences' vectors packed), with random unit vectors (dim 384) instead of the model's:
model speed is measured by benchmarks.ingest. Then the keyword index is built from
the collection, as ingest does. Reported per size: build time (writes, keyword index),
vectors stored, disk, peak RSS; then QA.ask latency without the query embedding (a
random unit query vector; BM25, the dense queries, features, ranking, sentence scoring included).

Each size is built in a fresh folder under --root (deleted at the end unless --keep)
and measured in a fresh process, so peak RSS is per size. The 1M build holds about 4M
vectors and takes long: run it in the background (nohup ... > log &).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ._common import footer, header, parser, peak_rss_mb, percentile, rss_mb, summary_ms

DIM = 384
VOCAB = 50_000
SENTENCES_PER_DOC = 30


def words(rng: np.random.Generator, n: int) -> np.ndarray:
    ranks = np.minimum(rng.zipf(1.2, n), VOCAB) - 1
    return ranks


def make_word(i: int) -> str:
    letters = "etaoinshrdlucmfwypvbgkqjxz"
    out, i = [], i + 27
    while i:
        i, r = divmod(i, 26)
        out.append(letters[r])
    return "".join(out)


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM), dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def synthetic_docs(rng, lexicon, first: int, count: int):
    from store import chunk_text
    from store.documents import Document

    out = []
    for d in range(first, first + count):
        sentences = []
        for _ in range(SENTENCES_PER_DOC):
            ws = [lexicon[i] for i in words(rng, int(rng.integers(8, 20)))]
            sentences.append(" ".join(ws).capitalize() + ".")
        text = " ".join(sentences)
        doc_id = f"{d:032x}"
        doc = Document(doc_id, f"synthetic/{d}.txt", "", f"Synthetic article {d}", text)
        out.append((doc, chunk_text(doc_id, text)))
    return out


def build(folder: Path, chunks_wanted: int, seed: int = 1) -> dict:
    from store import Index

    rng = np.random.default_rng(seed)
    lexicon = [make_word(i) for i in range(VOCAB)]
    index = Index.open(path=folder)
    index.touch()
    written = sentences = docs = 0
    start = time.perf_counter()
    last = start
    while written < chunks_wanted:
        batch = synthetic_docs(rng, lexicon, docs, 200)
        rows = []
        for doc, chunks in batch:
            if written >= chunks_wanted:
                break
            chunks = chunks[: chunks_wanted - written]
            spans = sorted({s for c in chunks for s in c.sentences})
            vectors = unit(rng, len(spans))
            rows.append((doc, chunks, unit(rng, len(chunks)), dict(zip(spans, vectors))))
            written += len(chunks)
            sentences += len(spans)
            docs += 1
        index.add_many(rows)
        if time.perf_counter() - last > 60:
            last = time.perf_counter()
            print(f"    ... {written:,} chunks written in {last - start:.0f} s", file=sys.stderr, flush=True)
    writes = time.perf_counter() - start
    index.touch()
    t = time.perf_counter()
    keyword = index.keyword_index()
    keyword_s = time.perf_counter() - t
    return {"chunks": index.count(), "sentences": sentences, "docs": docs, "writes_s": writes, "keyword_s": keyword_s,
            "keyword_ids": len(keyword.ids), "lexicon_seed": seed}


class FixedVector:
    """An Embedder that returns a given vector: ask without the query embedding."""

    name = "synthetic"

    def __init__(self):
        self.vector = None

    def encode(self, texts):
        return self.vector[None, :]


def ask_seconds(index, lexicon: list[str], rng: np.random.Generator, questions: int, warm: int = 5) -> list[float]:
    """Seconds of each of `questions` QA.ask calls without the query embedding (random
    words of the lexicon, a random unit vector), after `warm` untimed ones."""
    from rag import QA

    embedder = FixedVector()
    qa = QA(index, embedder)
    asks = [(" ".join(lexicon[i] for i in words(rng, 6)), unit(rng, 1)[0]) for _ in range(questions + warm)]
    seconds = []
    for n, (q, v) in enumerate(asks):
        embedder.vector = v
        t = time.perf_counter()
        qa.ask(q)
        if n >= warm:
            seconds.append(time.perf_counter() - t)
    return seconds


def measure(folder: Path, questions: int) -> dict:
    from rag import QA
    from store import Index

    rng = np.random.default_rng(99)
    lexicon = [make_word(i) for i in range(VOCAB)]
    t = time.perf_counter()
    embedder = FixedVector()
    qa = QA(Index.open(path=folder), embedder)
    open_s = time.perf_counter() - t
    asks = [(" ".join(lexicon[i] for i in words(rng, 6)), unit(rng, 1)[0]) for _ in range(questions + 5)]
    t = time.perf_counter()
    embedder.vector = asks[0][1]
    qa.ask(asks[0][0])
    first_s = time.perf_counter() - t
    for q, v in asks[1:5]:
        embedder.vector = v
        qa.ask(q)
    seconds = []
    for q, v in asks[5:]:
        embedder.vector = v
        start = time.perf_counter()
        qa.ask(q)
        seconds.append(time.perf_counter() - start)
    return {"open_s": open_s, "first_ask_s": first_s, "seconds": seconds, "rss_mb": rss_mb()}


def disk_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def child(args) -> int:
    """One size, in this process: build, then measure; prints one JSON line."""
    folder = Path(args.root) / f"n{args.child}"
    shutil.rmtree(folder, ignore_errors=True)
    built = build(folder, args.child)
    built["build_peak_rss_mb"] = peak_rss_mb()
    measured = measure(folder, args.questions)
    built.update(measured, disk_mb=disk_mb(folder), peak_rss_mb=peak_rss_mb())
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(built))
    return 0


def main() -> int:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--full", action="store_true", help="also 1,000,000 chunks (long: run it in the background)")
    p.add_argument("--sizes", help="comma-separated chunk counts (overrides --quick/--full)")
    p.add_argument("--questions", type=int, default=200)
    p.add_argument("--root", default="/tmp/corpus-qa-scale", help="where the indexes are built (needs ~25 GB for 1M)")
    p.add_argument("--keep", action="store_true", help="keep the built indexes")
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else (
        [10_000] if args.quick else [10_000, 100_000] + ([1_000_000] if args.full else []))
    header("scale", args)
    print(f"disk free under {args.root}: {shutil.disk_usage(Path(args.root).parent).free / 2**30:.0f} GB")
    results = []
    for n in sizes:
        cmd = [sys.executable, "-m", "benchmarks.scale", "--child", str(n), "--root", args.root,
               "--questions", str(args.questions)] + (["--keep"] if args.keep else [])
        start = time.perf_counter()
        done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)  # progress lines go to stderr as they come
        if done.returncode:
            raise SystemExit(f"size {n} failed (exit {done.returncode})")
        r = json.loads(done.stdout.strip().splitlines()[-1])
        r["wall_s"] = time.perf_counter() - start
        results.append(r)
        s = r["seconds"]
        print(f"{r['chunks']:>9,} chunks ({r['sentences']:,} sentence vectors, {r['docs']:,} docs): "
              f"build {r['writes_s'] + r['keyword_s']:.0f} s (Chroma writes {r['writes_s']:.0f} s = "
              f"{r['chunks'] / r['writes_s']:.0f} chunks/s, keyword index {r['keyword_s']:.0f} s); "
              f"disk {r['disk_mb']:.0f} MB; peak RSS {r['peak_rss_mb']:.0f} MB (build {r['build_peak_rss_mb']:.0f} MB)")
        print(f"    ask without query embedding: {summary_ms(s)}   target p50 <= 100 ms: "
              f"{'met' if percentile(s, 50) <= 0.1 else 'NOT met'}; open {r['open_s']:.1f} s, "
              f"first ask {r['first_ask_s']:.1f} s, RSS after asks {r['rss_mb']:.0f} MB", flush=True)
    footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
