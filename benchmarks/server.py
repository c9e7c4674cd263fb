"""Server mode: the same figures against a real `chroma run` on 127.0.0.1 as embedded.

    .venv/bin/python -m benchmarks.server [--quick] [--docs 1000] [--questions 300] [--scale 100000,1000000]

In one run, side by side for the embedded store and a Chroma server started here on a
free loopback port (its data in a temporary folder):
1. ingest throughput: the first --docs SciFact abstracts through QA.ingest_documents
   (model included), chunks/s;
2. warm QA.ask latency on the bundled corpus, --questions varied questions, p50/p95;
3. with --scale N[,N...]: synthetic chunks with random unit vectors (benchmarks.scale's
   generator and the real write path) on the server, then ask latency without the query
   embedding, build time and disk. 1,000,000 chunks takes long: run it in the background.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ._common import footer, header, parser, summary_ms


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, folder: Path):
        self.folder, self.port = folder, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        exe = Path(sys.executable).parent / "chroma"
        self.log = open(folder / "chroma.log", "wb")
        self.proc = subprocess.Popen(
            [str(exe), "run", "--path", str(folder / "data"), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        )
        import chromadb
        from chromadb.config import Settings

        deadline = time.monotonic() + 60
        while True:
            try:
                chromadb.HttpClient(host="127.0.0.1", port=self.port, settings=Settings(anonymized_telemetry=False)).heartbeat()
                return
            except Exception:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise SystemExit(f"chroma run did not start; see {folder / 'chroma.log'}")
                time.sleep(0.3)

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return next(int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:"))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def open_qa(kind: str, work: Path, server: Server, collection: str, embedder):
    from rag import QA
    from store import Index

    if kind == "embedded":
        return QA(Index.open(path=work / f"embedded-{collection}"), embedder)
    return QA(Index.open(url=server.url, collection=collection, cache=work / f"cache-{collection}"), embedder)


def ingest_figures(kind, work, server, embedder, records) -> str:
    import store

    qa = open_qa(kind, work, server, "scifact", embedder)
    docs = [store.from_record(i, t, x) for i, t, x in records]
    start = time.perf_counter()
    report = qa.ingest_documents(docs)
    seconds = time.perf_counter() - start
    return f"{kind:>8}: {len(docs)} abstracts, {report.chunks} chunks in {seconds:.1f} s = {report.chunks / seconds:.1f} chunks/s"


def latency_figures(kind, work, server, embedder, n) -> str:
    from rag import bundled_corpus

    from .latency import bundled_questions

    qa = open_qa(kind, work, server, "bundled", embedder)
    qa.ingest([bundled_corpus()])
    questions = bundled_questions(qa, n)
    for q in questions[:5]:
        qa.ask(q)
    seconds = []
    for q in questions:
        start = time.perf_counter()
        qa.ask(q)
        seconds.append(time.perf_counter() - start)
    return f"{kind:>8}: QA.ask warm, bundled corpus, {summary_ms(seconds)}"


def scale_figures(size: int, work: Path, server: Server, questions: int) -> str:
    from store import Index

    from .scale import VOCAB, ask_seconds, make_word, synthetic_docs, unit

    rng = np.random.default_rng(1)
    lexicon = [make_word(i) for i in range(VOCAB)]
    index = Index.open(url=server.url, collection=f"scale-{size}", cache=work / f"cache-scale-{size}")
    index.touch()
    written = docs = 0
    start = time.perf_counter()
    while written < size:
        rows = []
        for doc, chunks in synthetic_docs(rng, lexicon, docs, 200):
            if written >= size:
                break
            chunks = chunks[: size - written]
            spans = sorted({s for c in chunks for s in c.sentences})
            rows.append((doc, chunks, unit(rng, len(chunks)), dict(zip(spans, unit(rng, len(spans))))))
            written += len(chunks)
            docs += 1
        index.add_many(rows)
    writes = time.perf_counter() - start
    index.touch()
    start = time.perf_counter()
    index.keyword_index()
    keyword = time.perf_counter() - start
    seconds = ask_seconds(index, lexicon, rng, questions)
    disk = sum(f.stat().st_size for f in (server.folder / "data").rglob("*") if f.is_file()) / 2**20
    return (f"  server, {size:,} chunks: writes {writes:.0f} s, keyword index {keyword:.1f} s, "
            f"server data {disk:,.0f} MB, server peak RSS {server.rss_mb():,.0f} MB; "
            f"ask without query embedding {summary_ms(seconds)}")


def main() -> int:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--docs", type=int, default=None, help="SciFact abstracts to ingest (default 1000; --quick 200)")
    p.add_argument("--questions", type=int, default=None, help="questions per latency run (default 300; --quick 100)")
    p.add_argument("--scale", default="", help="comma-separated synthetic chunk counts on the server, e.g. 100000,1000000")
    p.add_argument("--root", default=None, help="work folder (default: a temporary one, deleted at the end)")
    args = p.parse_args()
    docs = args.docs or (200 if args.quick else 1000)
    n = args.questions or (100 if args.quick else 300)
    header("server", args)

    from store import SentenceTransformerEmbedder

    from .ingest import read_records

    work = Path(args.root or tempfile.mkdtemp(prefix="corpus-qa-server-"))
    work.mkdir(parents=True, exist_ok=True)
    server = Server(work)
    try:
        embedder = SentenceTransformerEmbedder()
        embedder.encode(["warm up"])
        records = read_records(docs)
        print("ingest throughput (model included):")
        for kind in ("embedded", "server"):
            print(ingest_figures(kind, work, server, embedder, records), flush=True)
        print("question latency:")
        for kind in ("embedded", "server"):
            print(latency_figures(kind, work, server, embedder, n), flush=True)
        for size in [int(s) for s in args.scale.split(",") if s.strip()]:
            print(scale_figures(size, work, server, n), flush=True)
    finally:
        server.stop()
        if not args.root:
            shutil.rmtree(work, ignore_errors=True)
    footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
