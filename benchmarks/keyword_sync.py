"""Keyword sync: how soon a second process's keyword index sees a write, at 100k (1M) chunks.

    .venv/bin/python -m benchmarks.keyword_sync [--chunks 100000] [--root /tmp/corpus-qa-kwsync] [--keep]

Synthetic documents (7 chunks of 60-140 Zipf-distributed made-up words each, synthetic
unit vectors, no sentence vectors: they play no part in the keyword side and would
quadruple the build) are written through the real `Index.add_many` into an embedded
Chroma under --root (kept, and reused by a later run with the same --chunks). Then, in
a fresh process (as a page is), with its `Index` open and its keyword index current:

- cold: `keyword_index()` with no saved copy (a full rebuild from the collection),
  with a saved copy of the same stamp (load + check), its memory (matrices, arrays, ids);
- the change-set read alone: ids-only pages of the documents collection;
- add: a writer *subprocess* ingests one new document through `Index.add_many` + the
  stamps an ingest writes; measured from the writer's end (its final stamp) to the first
  `refresh()` + keyword search of this process that finds the document;
- remove: the same for `delete_document` of it (until the search no longer finds it);
- search p50/p95 of 200 queries of 2-6 Zipf words, before and after the updates;
- the updated index ranks as one rebuilt from scratch (checked on those queries).

Every figure is printed with the 1-minute load average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ._common import footer, header, load1, parser, percentile, rss_mb
from .scale import VOCAB, make_word  # the same made-up words as the scale benchmark

DIM = 384
CHUNKS_PER_DOC = 7
MARK = "quokkafluxmarker"


def lexicon() -> list[str]:
    return [make_word(i) for i in range(VOCAB)]


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM), dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def synthetic_rows(rng, words: list[str], first: int, count: int, extra: str = ""):
    """`count` documents numbered from `first`: (Document, chunks, chunk vectors, {})."""
    from store.chunking import Chunk
    from store.documents import Document

    rows = []
    for d in range(first, first + count):
        doc_id = f"{d:032x}"
        texts = []
        for _ in range(CHUNKS_PER_DOC):
            ranks = np.minimum(rng.zipf(1.2, int(rng.integers(60, 140))), VOCAB) - 1
            texts.append(" ".join(words[r] for r in ranks) + ".")
        if extra:
            texts[-1] += " " + extra
        text, chunks, at = " ".join(texts), [], 0
        for i, t in enumerate(texts):
            chunks.append(Chunk(f"{doc_id}-{i:03d}", doc_id, i, at, at + len(t), t, ()))
            at += len(t) + 1
        doc = Document(doc_id, f"synthetic/{d}.txt", "", f"Synthetic article {d}", text)
        rows.append((doc, chunks, unit(rng, len(chunks)), {}))
    return rows


def build(folder: Path, chunks: int) -> None:
    from store import Index

    index = Index.open(path=folder)
    have = index.count()
    if have >= chunks:
        print(f"reusing {folder}: {have:,} chunks", file=sys.stderr)
        return
    rng = np.random.default_rng(have + 1)
    words = lexicon()
    docs = have // CHUNKS_PER_DOC
    index.touch(pending=True)
    start = last = time.perf_counter()
    while docs * CHUNKS_PER_DOC < chunks:
        n = min(200, chunks // CHUNKS_PER_DOC - docs) or 1
        index.add_many(synthetic_rows(rng, words, docs, n))
        docs += n
        if time.perf_counter() - last > 60:
            last = time.perf_counter()
            print(f"    ... {docs * CHUNKS_PER_DOC:,} chunks in {last - start:.0f} s (load {load1():.2f})",
                  file=sys.stderr, flush=True)
    index.touch()
    print(f"built {index.count():,} chunks ({docs:,} documents) in {time.perf_counter() - start:.0f} s "
          f"(load {load1():.2f})", file=sys.stderr, flush=True)


def writer(folder: str, action: str, number: int) -> int:
    """The other process: add document `number` (with the marker word) or remove it, as an
    ingest does (pending stamp, writes, final stamp); prints the time of its final stamp."""
    from store import Index

    index = Index.open(path=folder)
    index.touch(pending=True)
    if action == "add":
        rng = np.random.default_rng(number)
        index.add_many(synthetic_rows(rng, lexicon(), number, 1, extra=f"{MARK}{make_word(number)}"))
    else:
        index.delete_document(f"{number:032x}")
    index.touch()
    print(json.dumps({"done": time.time()}), flush=True)
    return 0


def mb_of(index) -> float:
    return index.memory_bytes() / 2**20


def queries(n: int, seed: int = 7) -> list[str]:
    rng = np.random.default_rng(seed)
    words = lexicon()
    return [" ".join(words[r] for r in np.minimum(rng.zipf(1.3, int(rng.integers(2, 7))), VOCAB) - 1)
            for _ in range(n)]


def search_times(index, qs: list[str]) -> list[float]:
    out = []
    for q in qs[:5]:
        index.search(q, 50)
    for q in qs:
        t = time.perf_counter()
        index.search(q, 50)
        out.append(time.perf_counter() - t)
    return out


def ms(seconds: list[float]) -> str:
    return f"p50 {percentile(seconds, 50) * 1000:.2f} ms, p95 {percentile(seconds, 95) * 1000:.2f} ms"


def wait_for(index, query: str, doc_id: str, present: bool, done: float, limit: float = 600.0) -> tuple[float, int]:
    """Poll as a page answering questions would: refresh() + keyword search, until the
    document is (or is no longer) found. Returns (seconds after the writer's end, polls)."""
    polls = 0
    while True:
        polls += 1
        t = time.time()
        index.refresh()
        t2 = time.time()
        found = any(h.id.startswith(doc_id) for h in index.keyword(query, 10))
        if found == present:
            print(f"    (last poll: refresh() {t2 - t:.2f} s, keyword sync + search {time.time() - t2:.2f} s)")
            return time.time() - done, polls
        if time.time() - done > limit:
            raise SystemExit(f"not seen within {limit} s")
        time.sleep(0.05)


def run_writer(folder: Path, action: str, number: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-m", "benchmarks.keyword_sync", "--writer", action, "--number", str(number),
                          "--root", str(folder)], check=True, stdout=subprocess.PIPE, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])["done"]


def measure(folder: Path) -> None:
    from store import Index
    from store.keyword import KeywordIndex

    index = Index.open(path=folder)
    n_docs = len(index.document_ids())
    kw_dir = folder / "keyword" / index.name
    shutil.rmtree(kw_dir, ignore_errors=True)
    base = rss_mb()
    t = time.perf_counter()
    current = index.keyword_index()
    print(f"rebuild from the collection ({len(current.ids):,} chunks, {n_docs:,} documents): "
          f"{time.perf_counter() - t:.1f} s (load {load1():.2f})")
    print(f"keyword side in memory: {mb_of(current):.0f} MB counted (arrays, matrices, ids); process RSS "
          f"+{rss_mb() - base:.0f} MB over the open Index (load {load1():.2f})")
    t = time.perf_counter()
    loaded = KeywordIndex.load(kw_dir)
    print(f"load of the saved copy: {time.perf_counter() - t:.2f} s, "
          f"{sum(f.stat().st_size for f in kw_dir.rglob('*') if f.is_file()) / 2**20:.0f} MB on disk "
          f"(load {load1():.2f})")
    assert loaded is not None and sorted(loaded.ids) == sorted(current.ids)
    del loaded
    for _ in range(2):
        t = time.perf_counter()
        ids = index.document_ids()
        print(f"change-set read (ids-only pages of {len(ids):,} document records): "
              f"{time.perf_counter() - t:.2f} s (load {load1():.2f})")
    t = time.perf_counter()
    chunk_ids = sum(1 for _ in index._all(index._chunks, with_ids=True))
    print(f"for scale: ids-only pages of all {chunk_ids:,} chunk ids: {time.perf_counter() - t:.2f} s "
          f"(load {load1():.2f})")

    qs = queries(200)
    before = search_times(current, qs)
    print(f"keyword search, 200 queries, top 50: {ms(before)} (load {load1():.2f})")

    rebuilds = index.keywords.rebuilds
    number = 10**9 + int(time.time()) % 10**6
    query = f"{MARK}{make_word(number)}"
    for round_ in range(3):
        done = run_writer(folder, "add", number + round_)
        seconds, polls = wait_for(index, f"{MARK}{make_word(number + round_)}", f"{number + round_:032x}", True, done)
        print(f"add one document (7 chunks) in another process -> found by this one's keyword search: "
              f"{seconds:.2f} s after the writer's final stamp ({polls} polls of 50 ms; load {load1():.2f})")
    for round_ in range(3):
        done = run_writer(folder, "remove", number + round_)
        seconds, polls = wait_for(index, f"{MARK}{make_word(number + round_)}", f"{number + round_:032x}", False, done)
        print(f"remove it in another process -> gone from this one's keyword search: {seconds:.2f} s "
              f"({polls} polls; load {load1():.2f})")
    assert index.keywords.rebuilds == rebuilds, "an update rebuilt the keyword index"
    updated = index.keyword_index()
    after = search_times(updated, qs)
    print(f"keyword search after the updates: {ms(after)} (load {load1():.2f}); "
          f"{len(updated.segments)} segments, {updated.memory_bytes() / 2**20:.0f} MB")

    rows = sorted(r[:3] for r in index.chunk_rows(index.document_ids()))
    fresh = KeywordIndex.build([r[0] for r in rows], [r[1] for r in rows], "check", [r[2] for r in rows])
    same = all(updated.search(q, 50) == fresh.search(q, 50) for q in qs)
    print(f"updated in place ranks as rebuilt from scratch on the 200 queries (ids and scores): {same}")
    del query


def ids_read(n: int) -> None:
    """How long an ids-only read of `n` records takes (a scratch collection of `n` records
    with document metadata and 8-dimensional vectors: the read does not depend on them)."""
    import chromadb
    from chromadb.config import Settings

    path = Path("/tmp/corpus-qa-kwsync") / f"ids{n}"
    shutil.rmtree(path, ignore_errors=True)
    client = chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))
    col = client.get_or_create_collection("docs", embedding_function=None)
    rng = np.random.default_rng(0)
    step = client.get_max_batch_size()
    for at in range(0, n, step):
        k = min(step, n - at)
        col.add(ids=[f"{i:032x}" for i in range(at, at + k)], embeddings=rng.standard_normal((k, 8)).astype(np.float32),
                metadatas=[{"doc_id": f"{i:032x}", "source": f"s/{i}.txt", "n_chunks": 7} for i in range(at, at + k)])
    for page in (2000, 100_000):
        t, got = time.perf_counter(), 0
        while True:
            ids = col.get(include=[], limit=page, offset=got)["ids"]
            got += len(ids)
            if len(ids) < page:
                break
        print(f"ids-only read of {got:,} records in pages of {page:,}: {time.perf_counter() - t:.2f} s (load {load1():.2f})")
    shutil.rmtree(path, ignore_errors=True)


def engine_only(chunks: int, compare: bool = False) -> None:
    """The keyword side alone at `chunks` synthetic chunks (no Chroma: a 1M-chunk Chroma
    build takes about an hour here): build, memory, save, load, search, one update."""
    from store.keyword import KeywordIndex

    rng = np.random.default_rng(1)
    words = lexicon()
    rows = []
    for first in range(0, chunks // CHUNKS_PER_DOC, 1000):
        for doc, cs, _, _ in synthetic_rows(rng, words, first, min(1000, chunks // CHUNKS_PER_DOC - first)):
            rows += [(c.id, f"{doc.title}\n{c.text}", doc.id) for c in cs]
    rows.sort()
    base = rss_mb()
    t = time.perf_counter()
    index = KeywordIndex.build([r[0] for r in rows], [r[1] for r in rows], "v0", [r[2] for r in rows])
    print(f"engine only, {len(rows):,} chunks: build {time.perf_counter() - t:.0f} s, {index.memory_bytes() / 2**20:.0f} MB "
          f"counted, RSS +{rss_mb() - base:.0f} MB over the texts (load {load1():.2f})")
    qs = queries(200)
    print(f"  search, 200 queries, top 50: {ms(search_times(index, qs))} (load {load1():.2f})")
    if compare:  # bm25s (what the keyword side used before) on the same chunks and queries
        import bm25s
        from store.keyword import B, K1, terms

        t = time.perf_counter()
        reference = bm25s.BM25(k1=K1, b=B)
        reference.index([terms(r[1]) or [""] for r in rows], show_progress=False)
        build_s = time.perf_counter() - t
        vocab = reference.vocab_dict
        times = []
        for q in qs[:5] + qs:
            t = time.perf_counter()
            known = [w for w in terms(q) if w in vocab]
            if known:
                reference.retrieve([known], k=50, show_progress=False, n_threads=0)
            times.append(time.perf_counter() - t)
        print(f"  bm25s on the same chunks: build {build_s:.0f} s; retrieve top 50: {ms(times[5:])} (load {load1():.2f})")
        del reference
    del rows
    folder = Path("/tmp/corpus-qa-kwsync") / f"engine{chunks}"
    shutil.rmtree(folder, ignore_errors=True)
    t = time.perf_counter()
    index.save(folder)
    save_s = time.perf_counter() - t
    t = time.perf_counter()
    loaded = KeywordIndex.load(folder)
    print(f"  save {save_s:.1f} s, load {time.perf_counter() - t:.1f} s, "
          f"{sum(f.stat().st_size for f in folder.rglob('*') if f.is_file()) / 2**20:.0f} MB on disk (load {load1():.2f})")
    del loaded
    number = 10**9
    for _ in range(3):
        add = [(c.id, f"{d.title}\n{c.text}", d.id) for d, cs, _, _ in
               synthetic_rows(rng, words, number, 1, extra=f"{MARK}{make_word(number)}") for c in cs]
        t = time.perf_counter()
        index = index.updated(f"v{number}", add=sorted(add))
        add_s = time.perf_counter() - t
        assert index.search(f"{MARK}{make_word(number)}", 5)
        t = time.perf_counter()
        index = index.updated(f"r{number}", remove=[f"{number:032x}"])
        print(f"  apply one added document (7 chunks): {add_s * 1000:.0f} ms; one removed: "
              f"{(time.perf_counter() - t) * 1000:.0f} ms; {len(index.segments)} segments (load {load1():.2f})")
        number += 1
    print(f"  search after the updates: {ms(search_times(index, qs))} (load {load1():.2f})")
    shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--chunks", type=int, default=100_000)
    p.add_argument("--root", default="/tmp/corpus-qa-kwsync")
    p.add_argument("--build-only", action="store_true")
    p.add_argument("--engine-only", action="store_true", help="the keyword side alone (no Chroma) at --chunks")
    p.add_argument("--compare-bm25s", action="store_true", help="with --engine-only: time bm25s on the same chunks")
    p.add_argument("--ids-read", type=int, metavar="N", help="only time an ids-only read of N records")
    p.add_argument("--keep", action="store_true", help="keep the built index (it is reused by a later run)")
    p.add_argument("--writer", choices=["add", "remove"], help=argparse.SUPPRESS)
    p.add_argument("--number", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.writer:
        return writer(args.root, args.writer, args.number)
    folder = Path(args.root) / f"n{args.chunks}"
    header("keyword_sync", args)
    if args.ids_read:
        ids_read(args.ids_read)
        footer()
        return 0
    if args.engine_only:
        engine_only(args.chunks, args.compare_bm25s)
        footer()
        return 0
    t = time.perf_counter()
    build(folder, args.chunks)
    print(f"index of {args.chunks:,} chunks ready in {time.perf_counter() - t:.0f} s (load {load1():.2f})")
    if not args.build_only:
        measure(folder)
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
