"""1,000,000 chunks on a Chroma server (or embedded), built over as many runs as it takes, then measured.

    .venv/bin/python -m benchmarks.million [--root /tmp/corpus-qa-million] [--chunks 1000000]
        [--for SECONDS] [--measure] [--questions 200] [--embedded] [--repair | --list]

Each run starts `chroma run` on a free 127.0.0.1 port over ROOT/data (kept between runs),
counts the complete documents already there (the `-documents` collection: a document
is complete once its record is written) and goes on writing synthetic articles from
there through the real write path (`Index.add_many`: chunks with their sentences' vectors, records) until
the index holds --chunks chunks or --for seconds have passed; then it stops the server
cleanly. Articles are made from benchmarks.scale's generator, 200 to a batch, each batch
seeded by its first article's number, so a resumed run writes what an unbroken one would
(a batch cut short is written again: upserts). Random unit vectors stand in for the
model's. Every batch appends a line to ROOT/progress.jsonl (run, time, documents,
chunks, the server's RSS, the 1-min load): the build's history across runs.

Once the index is full (or with --measure at any size), the run measures, as a process
with no saved keyword copy: the first question (answered by the vector searches while
the keyword index is built in the background), the time until that build is done and
the client's RSS, then --questions asks without the query
embedding (p50/p95; BM25, both dense queries, fusion, sentence scoring), server data on
disk, and the server's peak RSS in this run. `--embedded` does the same in an embedded
Chroma under ROOT/embedded (the RSS figures are then this process's). `--list` only
times the document list (every record's metadata) read by offset pages and by ids,
alternated; `--repair` only times the repair after a writer is killed mid-write.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import uuid
from pathlib import Path

import numpy as np

from ._common import footer, header, load1, parser, peak_rss_mb, rss_mb, summary_ms
from .scale import VOCAB, ask_seconds, make_word, synthetic_docs, unit
from .server import Server

BATCH = 200
COLLECTION = "million"


def server_rss_mb(server: Server | None, field: str = "VmRSS:") -> float:
    """The server's RSS (or, embedded, this process's)."""
    status = Path(f"/proc/{server.proc.pid if server else 'self'}/status").read_text()
    return next(int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith(field))


def batch_rows(lexicon: list[str], first: int) -> list:
    rng = np.random.default_rng((1, first))
    rows = []
    for doc, chunks in synthetic_docs(rng, lexicon, first, BATCH):
        spans = sorted({s for c in chunks for s in c.sentences})
        rows.append((doc, chunks, unit(rng, len(chunks)), dict(zip(spans, unit(rng, len(spans))))))
    return rows


def build(index, server: Server | None, root: Path, lexicon: list[str], target: int, budget: float, run: str) -> dict:
    done = index._docs.count() // BATCH * BATCH  # complete documents, rounded down to a batch
    chunks = index.count()
    start = time.monotonic()
    first_chunks, last_print = chunks, start
    with open(root / ("progress.jsonl" if server else "progress-embedded.jsonl"), "a") as log:
        while chunks < target and time.monotonic() - start < budget:
            index.touch(pending=True)
            index.add_many(batch_rows(lexicon, done))
            done += BATCH
            chunks = index.count()
            row = {"run": run, "t": round(time.time()), "docs": done, "chunks": chunks,
                   "server_rss_mb": round(server_rss_mb(server)), "load1": load1()}
            log.write(json.dumps(row) + "\n")
            log.flush()
            if time.monotonic() - last_print > 60:
                last_print = time.monotonic()
                rate = (chunks - first_chunks) / (last_print - start)
                print(f"    ... {chunks:,} chunks ({done:,} documents), {rate:.0f} chunks/s this run, "
                      f"server RSS {row['server_rss_mb']:,} MB, load {row['load1']:.1f}", file=sys.stderr, flush=True)
    index.touch()
    seconds = time.monotonic() - start
    return {"docs": done, "chunks": chunks, "written": chunks - first_chunks, "seconds": seconds}


def cold(server: Server | None, root: Path):
    """The collection opened as a new process with no saved keyword copy opens it."""
    from store import Index

    if server is None:
        shutil.rmtree(root / "embedded" / "keyword", ignore_errors=True)
        return Index.open(path=root / "embedded", collection=COLLECTION)
    shutil.rmtree(root / "cold-cache", ignore_errors=True)
    return Index.open(url=server.url, collection=COLLECTION, cache=root / "cold-cache")


def measure(server: Server | None, root: Path, lexicon: list[str], questions: int) -> str:
    index = cold(server, root)
    t = time.perf_counter()  # Chroma's first queries after its start load the vector indexes
    for n in (1, 2):
        index.dense(unit(np.random.default_rng(n), 1)[0], 10)
    loaded = time.perf_counter() - t
    t = time.perf_counter()
    first = ask_seconds(index, lexicon, np.random.default_rng(98), 1, warm=0)[0]
    building = index.keywords.building
    index.keyword_index()  # waits for the rebuild the first question started
    keyword_s = time.perf_counter() - t
    seconds = ask_seconds(index, lexicon, np.random.default_rng(99), questions)
    data = server.folder / "data" if server else Path(index.where)
    disk = sum(f.stat().st_size for f in data.rglob("*") if f.is_file()) / 2**20
    return (f"measured at {index.count():,} chunks: the vector indexes loaded by the first queries in {loaded:.1f} s; "
            f"then the first question of a process with no keyword copy answered in {first:.2f} s "
            f"({'by the vector searches while the keyword index was built' if building else 'after a keyword build'}); "
            f"keyword index built from the collection {keyword_s:.1f} s after it was asked "
            f"(client RSS after {rss_mb():,.0f} MB, peak {peak_rss_mb():,.0f} MB); ask without query embedding "
            f"{summary_ms(seconds)}; server data {disk:,.0f} MB; server peak RSS this run "
            f"{server_rss_mb(server, 'VmHWM:'):,.0f} MB")


WRITER = """
import sys, numpy as np
from pathlib import Path
sys.path.insert(0, sys.argv[4])
from benchmarks.million import batch_rows, COLLECTION
from benchmarks.scale import VOCAB, make_word
from store import Index
index = Index.open(url=sys.argv[1], collection=COLLECTION, cache=Path(sys.argv[2]))
lexicon = [make_word(i) for i in range(VOCAB)]
first = int(sys.argv[3])
rows = [r for at in range(first, first + 2000, 200) for r in batch_rows(lexicon, at)]
print("writing", flush=True)
index.add_many(rows)
"""


def repair(server: Server, root: Path, after: float = 20.0) -> str:
    """A writer process killed in the middle of one add_many of 2,000 new documents, then
    the repair an ingest runs first (drop_orphans), timed; the collection is then as before."""
    import signal
    import subprocess

    from store import Index

    index = Index.open(url=server.url, collection=COLLECTION, cache=root / "cache")
    before = index.count()
    first = index._docs.count() // BATCH * BATCH + 10_000 * BATCH  # documents no build writes
    index.touch(pending=True)
    proc = subprocess.Popen([sys.executable, "-c", WRITER, server.url, str(root / "cache"), str(first),
                             str(Path(__file__).resolve().parent.parent)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    time.sleep(after)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    left = index.count() - before
    announced = len(index._writing.get(include=[])["ids"])
    t = time.perf_counter()
    dropped = index.drop_orphans()
    seconds = time.perf_counter() - t
    index.touch()
    return (f"repair after a writer was killed {after:.0f} s into writing 2,000 documents: {announced} announced, "
            f"{left:,} orphan chunks left, {dropped} orphan documents dropped in "
            f"{seconds:.1f} s; chunks now {index.count():,} (before {before:,})")


def list_reads(index, rounds: int = 3) -> str:
    """The document list (Index.documents: every record's metadata) read both ways,
    alternated: offset pages of PAGE records, and ids first (one ids-only page) then by id."""
    ways = {
        "offset pages": lambda: sum(1 for _ in index._all(index._docs, "metadatas", with_ids=True)),
        "ids, then by id": lambda: sum(1 for _ in index._records(index.document_ids(), "metadatas")),
    }
    times: dict[str, list[float]] = {w: [] for w in ways}
    for _ in range(rounds):
        for way, read in ways.items():
            t = time.perf_counter()
            n = read()
            times[way].append(time.perf_counter() - t)
    return f"document list of {n:,} records, {rounds} rounds alternated: " + "; ".join(
        f"{way} {' / '.join(f'{s:.2f}' for s in ts)} s" for way, ts in times.items())


def main() -> int:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--root", default="/tmp/corpus-qa-million", help="kept between runs (needs ~15 GB)")
    p.add_argument("--chunks", type=int, default=1_000_000)
    p.add_argument("--for", dest="budget", type=float, default=float("inf"), metavar="SECONDS",
                   help="stop writing after this long (the next run goes on)")
    p.add_argument("--measure", action="store_true", help="measure at the current size even when not full")
    p.add_argument("--questions", type=int, default=200)
    p.add_argument("--repair", action="store_true",
                   help="only measure the repair after a writer is killed mid-write (server; marks the collection journaled)")
    p.add_argument("--list", action="store_true",
                   help="only time the document list read by offset pages and by ids, alternated")
    p.add_argument("--embedded", action="store_true",
                   help="build in an embedded Chroma under ROOT/embedded instead of on a server")
    args = p.parse_args()
    header("million", args)
    from store import Index

    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    lexicon = [make_word(i) for i in range(VOCAB)]
    run = uuid.uuid4().hex[:8]
    server = None if args.embedded else Server(root)
    try:
        index = (Index.open(path=root / "embedded", collection=COLLECTION) if server is None
                 else Index.open(url=server.url, collection=COLLECTION, cache=root / "cache"))
        if args.list:
            print(list_reads(index), flush=True)
            return 0
        if args.repair:
            from store.index import JOURNAL_KEY

            index._chunks.modify(metadata={**(index._chunks.metadata or {}), JOURNAL_KEY: 1})
            print(repair(server, root), flush=True)
            return 0
        before = index.count()
        print(f"run {run}: the server holds {before:,} chunks; writing up to {args.chunks:,}", flush=True)
        b = build(index, server, root, lexicon, args.chunks, args.budget, run)
        if b["written"]:
            print(f"wrote {b['written']:,} chunks in {b['seconds']:.0f} s ({b['written'] / b['seconds']:.0f} chunks/s); "
                  f"now {b['chunks']:,} chunks, {b['docs']:,} documents", flush=True)
        if b["chunks"] >= args.chunks or args.measure:
            print(measure(server, root, lexicon, args.questions), flush=True)
        else:
            print(f"not full yet ({b['chunks']:,} of {args.chunks:,}): run again to go on", flush=True)
    finally:
        if server is not None:
            server.stop()
        footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
