"""Ingestion throughput on SciFact's abstracts: our pipeline vs a bare SentenceTransformer.encode.

    .venv/bin/python -m benchmarks.ingest [--quick] [--docs N]

Ours: `ingest_documents`, the code QA.ingest runs (chunking, one forward pass per chunk
giving chunk and sentence vectors, Chroma writes, the keyword index), into an embedded
Chroma in a temporary folder. Bare: `SentenceTransformer.encode` of the very same chunk
texts (title + chunk, as embedded), batch size 32, same model object, same process.
Both in chunks/s and tokens/s (tokens as the model sees them, truncated at its limit).
The model is loaded and warmed before either is timed. Target: ours >= 0.9 x bare.

The abstracts are split into --rounds parts; each part is encoded bare and ingested by
ours, alternating which goes first, and the times are summed: on a shared CPU the load
drifts, and alternating keeps it from favouring either side.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ._common import SCIFACT, footer, header, load1, parser


def read_records(limit: int | None) -> list[tuple[str, str, str]]:
    out = []
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                d = json.loads(line)
                out.append((str(d["_id"]), d.get("title") or "", d.get("text") or ""))
            if limit and len(out) >= limit:
                break
    return out


def documents(records, work: Path):
    """Documents the way a user's ingest gets them: store.from_record when the store has
    it, otherwise one .txt file per record (title line, then text) through load_paths."""
    import store

    if hasattr(store, "from_record"):
        return [store.from_record(i, t, x) for i, t, x in records], "store.from_record"
    folder = work / "scifact-txt"
    folder.mkdir()
    for i, title, text in records:
        (folder / f"{i}.txt").write_text(f"{title}\n\n{text}\n", encoding="utf-8")
    return store.load_paths([folder]), ".txt files + store.load_paths"


class Timer:
    """Wraps a callable and adds up the seconds spent in it."""

    def __init__(self, fn):
        self.fn, self.seconds, self.calls = fn, 0.0, 0

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start
            self.calls += 1


def cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--docs", type=int, default=None, help="only the first N abstracts (default: all 5,183)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--rounds", type=int, default=4, help="alternate bare and ours over this many parts")
    args = p.parse_args()
    limit = args.docs or (800 if args.quick else None)
    header("ingest", args)

    import store
    from store import ChunkingOptions, Index, SentenceTransformerEmbedder, chunk_text, embedding_text, ingest_documents

    work = Path(tempfile.mkdtemp(prefix="cqa-ingest-"))
    try:
        records = read_records(limit)
        t = time.perf_counter()
        docs, how = documents(records, work)
        load_s = time.perf_counter() - t
        chunking = ChunkingOptions()
        texts_of = [[embedding_text(d.title, c.text) for c in chunk_text(d.id, d.text, **vars(chunking))] for d in docs]
        texts = [t for ts in texts_of for t in ts]

        embedder = SentenceTransformerEmbedder(batch_size=args.batch_size)
        model = embedder.model
        model.encode(texts[:64], batch_size=args.batch_size)  # warm up both paths
        embedder.encode_with_spans(texts[:64], [[(0, len(x))] for x in texts[:64]])
        tokens = sum(min(len(ids), model.max_seq_length) for ids in model.tokenizer(texts, truncation=False)["input_ids"])
        print(f"SciFact: {len(docs)} abstracts -> {len(texts)} chunks, {tokens:,} tokens "
              f"({tokens / len(texts):.0f} per chunk); documents built with {how} in {load_s:.1f} s (not timed below)")

        index = Index.open(path=work / "index")
        index.add_many = add = Timer(index.add_many)
        embedder.encode_with_spans = encode = Timer(embedder.encode_with_spans)
        index.keyword_index = kw = Timer(index.keyword_index)
        bare = ours = bare_cpu = ours_cpu = 0.0
        step = -(-len(docs) // args.rounds)
        for r, at in enumerate(range(0, len(docs), step)):
            part = docs[at : at + step]
            part_texts = [t for ts in texts_of[at : at + step] for t in ts]
            for side in (("bare", "ours") if r % 2 == 0 else ("ours", "bare")):
                t, c = time.perf_counter(), cpu_seconds()
                if side == "bare":
                    model.encode(part_texts, batch_size=args.batch_size, convert_to_numpy=True, normalize_embeddings=True)
                    bare += time.perf_counter() - t
                    bare_cpu += cpu_seconds() - c
                else:
                    report = ingest_documents(index, embedder, part, chunking=chunking)
                    ours += time.perf_counter() - t
                    ours_cpu += cpu_seconds() - c
                    assert report.chunks == len(part_texts), (report, len(part_texts))
            print(f"  round {r + 1}: {len(part_texts)} chunks; so far bare {bare:.0f} s, ours {ours:.0f} s; "
                  f"1-min load {load1():.2f}", file=sys.stderr, flush=True)
        assert index.count() == len(texts), (index.count(), len(texts))

        print(f"bare SentenceTransformer.encode  {bare:7.1f} s  {len(texts) / bare:7.1f} chunks/s  {tokens / bare:8.0f} tokens/s")
        print(f"ours (ingest_documents)          {ours:7.1f} s  {len(texts) / ours:7.1f} chunks/s  {tokens / ours:8.0f} tokens/s")
        print(f"ours / bare throughput: {bare / ours:.2f} x   (target >= 0.90 x)")
        print(f"CPU seconds (user+sys, all threads of this process): bare {bare_cpu:.1f} s, ours {ours_cpu:.1f} s, "
              f"ratio {bare_cpu / ours_cpu:.2f} x  (less sensitive to other processes than the wall clock)")
        rest = ours - encode.seconds - kw.seconds
        print(f"ours, where the time went: encode_with_spans {encode.seconds:.1f} s ({encode.calls} calls), "
              f"Chroma writes (writer thread, overlapping) {add.seconds:.1f} s ({add.calls} calls), "
              f"keyword index {kw.seconds:.1f} s, other (waiting for writes, chunking, bookkeeping) {rest:.1f} s")
        print(f"store: {store.__name__}; batch size {args.batch_size}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
