"""The encoder alone: torch (sentence-transformers' forward) against ONNX Runtime fp32 and int8.

    .venv/bin/python -m benchmarks.encoder [--quick] [--questions N] [--batches N] [--quality]

- import: a fresh process that imports store.embedder, loads the cached ONNX export and
  embeds one question: its wall time, and whether torch, transformers or
  sentence-transformers got imported (they must not be);
- questions: per-question latency (one text at a time; torch on 1 thread, the ONNX
  question session on 1 thread), the three encoders alternated question by question;
- batches: docs/s of encode_with_spans (what ingest calls) on batches of 32 SciFact
  chunks (chunk_text's defaults, title prefixed, about 100-200 tokens), torch
  (2 threads) against ONNX fp32 and int8 (one thread per core), alternated batch by batch;
- drift: cosine of int8 vectors to fp32 vectors on the questions and on 200 sentences;
- --quality: retrieval with fp32 against int8: SciFact test claims over the abstracts
  (nDCG@10, recall@100, brute force) and dev.jsonl questions over the bundled corpus's
  sentences (evidence hit@5).

The ONNX files are exported (first run) into --cache-dir, default ~/.cache/corpus-qa/onnx.
The machine is shared: the 1-minute load at start and end is printed with the figures.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ._common import REPO, SCIFACT, SHARED, footer, header, parser, percentile, summary_ms

IMPORT_PROBE = """
import sys, time
t = time.perf_counter()
from store.embedder import SentenceTransformerEmbedder
v = SentenceTransformerEmbedder(cache_dir={cache!r}).encode(["Who chairs the Ukraine Defense Contact Group?"])
took = time.perf_counter() - t
heavy = sorted(m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules)
print(f"{{took:.3f}} {{','.join(heavy) or '-'}}")
"""


def questions(n: int) -> list[str]:
    dev = [json.loads(line)["question"] for line in (SHARED / "qa" / "dev.jsonl").read_text().splitlines() if line.strip()]
    with open(SCIFACT / "queries.jsonl", encoding="utf-8") as f:
        claims = [json.loads(line)["text"] for line in f]
    return (dev + claims)[:n]


def scifact_chunks(n_docs: int) -> tuple[list[str], list[list[tuple[int, int]]]]:
    """Texts and sentence spans as ingest builds them, from the first n_docs abstracts."""
    from store import chunk_text, embedding_text

    texts, spans = [], []
    with open(SCIFACT / "corpus.jsonl", encoding="utf-8") as f:
        for _, line in zip(range(n_docs), f):
            r = json.loads(line)
            shift = len(embedding_text(r["title"], ""))
            for chunk in chunk_text(r["_id"], r["text"]):
                texts.append(embedding_text(r["title"], chunk.text))
                spans.append([(a - chunk.start + shift, b - chunk.start + shift) for a, b in chunk.sentences])
    return texts, spans


def import_probe(cache: Path, runs: int) -> None:
    env = {"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    took, heavy = [], set()
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", IMPORT_PROBE.format(cache=str(cache))], capture_output=True,
                             text=True, env=env, timeout=120, check=True).stdout.split()
        took.append(float(out[0]))
        heavy |= set(out[1].split(",")) - {"-"}
    print(f"question path, fresh process (import store.embedder + load the export + 1 question): "
          f"median {np.median(took):.2f} s of {runs} (min {min(took):.2f}); "
          f"torch/transformers/sentence-transformers imported: {sorted(heavy) or 'none'}")
    # the encoder's own imports, without store/__init__'s (chromadb, ...)
    code = "import onnxruntime, tokenizers, numpy"
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                         env=env, check=True).stderr
    total = sum(int(line.split("|")[0].split(":")[1]) for line in err.splitlines() if line.startswith("import time:")
                and line.split("|")[0].split(":")[1].strip().isdigit())
    print(f"python -X importtime -c '{code}': {total / 1e6:.2f} s (sum of self times)")


def question_latency(encoders: dict, texts: list[str]) -> None:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    times = {name: [] for name in encoders}
    try:
        for text in texts[:5]:
            for encode in encoders.values():
                encode([text])
        for k, text in enumerate(texts):
            names = list(encoders)
            for name in names[k % len(names):] + names[: k % len(names)]:  # rotate who goes first
                t = time.perf_counter()
                encoders[name]([text])
                times[name].append(time.perf_counter() - t)
    finally:
        torch.set_num_threads(threads)
    for name, seconds in times.items():
        print(f"  {name:<12} {summary_ms(seconds)}")


def batch_speed(embedders: dict, texts, spans, batches: int, batch: int = 32) -> None:
    done = {name: [0, 0.0] for name in embedders}
    for k in range(batches):
        at = (k * batch) % max(1, len(texts) - batch)
        part, part_spans = texts[at : at + batch], spans[at : at + batch]
        names = list(embedders)
        for name in names[k % len(names):] + names[: k % len(names)]:
            t = time.perf_counter()
            embedders[name].encode_with_spans(part, part_spans)
            done[name][0] += len(part)
            done[name][1] += time.perf_counter() - t
    for name, (n, seconds) in done.items():
        print(f"  {name:<12} {n / seconds:6.1f} docs/s  ({n} chunks in {seconds:.1f} s)")


def drift(fp32, int8, label: str, texts: list[str]) -> None:
    a, b = fp32.encode(texts), int8.encode(texts)
    cos = (a * b).sum(axis=1)
    print(f"  int8 vs fp32 cosine on {len(texts)} {label}: mean {cos.mean():.4f}  min {cos.min():.4f}  "
          f"p5 {np.percentile(cos, 5):.4f}  median {np.median(cos):.4f}")


def scifact_quality(encoders: dict, n_docs: int | None) -> None:
    with open(SCIFACT / "corpus.jsonl", encoding="utf-8") as f:
        docs = [json.loads(line) for line in f]
    qrels: dict[str, set[str]] = {}
    for line in (SCIFACT / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        q, d, score = line.split("\t")
        if int(score) > 0:
            qrels.setdefault(q, set()).add(d)
    if n_docs:  # every judged abstract, then others up to n_docs
        judged = set().union(*qrels.values())
        docs = [d for d in docs if d["_id"] in judged] + [d for d in docs if d["_id"] not in judged]
        docs = docs[: max(n_docs, len(judged))]
    with open(SCIFACT / "queries.jsonl", encoding="utf-8") as f:
        queries = {r["_id"]: r["text"] for r in map(json.loads, f) if r["_id"] in qrels}
    ids = [d["_id"] for d in docs]
    print(f"  SciFact: {len(queries)} test claims over {len(docs)} abstracts (title + text, truncated at 256 tokens)")
    for name, encoder in encoders.items():
        t = time.perf_counter()
        matrix = encoder.encode([f"{d['title']}\n{d['text']}" for d in docs])
        took = time.perf_counter() - t
        q_ids = list(queries)
        scores = encoder.encode([queries[q] for q in q_ids]) @ matrix.T
        ndcg, recall = [], []
        for q, row in zip(q_ids, scores):
            top = np.argsort(-row)[:100]
            gains = [1.0 if ids[j] in qrels[q] else 0.0 for j in top]
            dcg = sum(g / math.log2(r + 2) for r, g in enumerate(gains[:10]))
            ideal = sum(1 / math.log2(r + 2) for r in range(min(10, len(qrels[q]))))
            ndcg.append(dcg / ideal)
            recall.append(sum(gains) / len(qrels[q]))
        print(f"  {name:<6} nDCG@10 {np.mean(ndcg):.4f}  recall@100 {np.mean(recall):.4f}  "
              f"(corpus encoded in {took:.0f} s)")


def dev_quality(encoders: dict) -> None:
    from store import load, sentence_spans

    sentences = []
    for path in sorted((REPO / "corpus").iterdir()):
        text = load(path, path.name).text
        sentences += [(path.name, " ".join(text[a:b].split())) for a, b in sentence_spans(text)]
    rows = [json.loads(line) for line in (SHARED / "qa" / "dev.jsonl").read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("evidence")]
    print(f"  dev.jsonl: {len(rows)} questions with evidence over {len(sentences)} sentences of the bundled corpus")
    for name, encoder in encoders.items():
        matrix = encoder.encode([s for _, s in sentences])
        hits = 0
        for r in rows:
            top = np.argsort(-(encoder.encode([r["question"]])[0] @ matrix.T))[:5]
            evidence = [" ".join(e["text"].split()) for e in r["evidence"]]
            hits += any(sentences[j][1] in e or e in sentences[j][1] for j in top for e in evidence)
        print(f"  {name:<6} evidence sentence in the top 5: {hits}/{len(rows)}")


def main() -> None:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--questions", type=int, default=200)
    p.add_argument("--batches", type=int, default=12, help="batches of 32 chunks per encoder")
    p.add_argument("--cache-dir", default=None, help="the ONNX cache (default ~/.cache/corpus-qa/onnx)")
    p.add_argument("--quality", action="store_true", help="also SciFact and dev.jsonl retrieval, fp32 vs int8")
    p.add_argument("--scifact-docs", type=int, default=0, help="with --quality: at most this many abstracts (0: all)")
    args = p.parse_args()
    if args.quick:
        args.questions, args.batches = min(args.questions, 50), min(args.batches, 3)
    header("encoder", args)
    sys.path.insert(0, str(REPO))
    from store.embedder import DEFAULT_CACHE_DIR, SentenceTransformerEmbedder, _mean_pool, _session, _unit

    cache = Path(args.cache_dir or DEFAULT_CACHE_DIR).expanduser()
    fp32 = SentenceTransformerEmbedder(cache_dir=cache)
    int8 = SentenceTransformerEmbedder(cache_dir=cache, quantize=True)
    torch_side = SentenceTransformerEmbedder(cache_dir=cache, onnx_ingest=False)
    t = time.perf_counter()
    fp32.encode(["x"]), int8.encode(["x"])  # exports and quantises on the first run
    print(f"ONNX files ready in {time.perf_counter() - t:.1f} s: {fp32.onnx.model_file.name}, {int8.onnx.model_file.name}")

    def torch_encode(texts):
        tokens, mask, _ = torch_side._torch_token_vectors(list(texts))
        return _unit(_mean_pool(tokens, mask))

    import_probe(cache, runs=3 if args.quick else 5)

    texts = questions(args.questions)
    print(f"questions, one at a time ({len(texts)}: dev.jsonl then SciFact claims), 1 thread each:")
    question_latency({"torch": torch_encode, "onnx fp32": fp32.onnx.encode, "onnx int8": int8.onnx.encode}, texts)

    chunks, spans = scifact_chunks(300)
    lengths = [len(e.ids) for e in fp32.onnx.tokenizer.encode_batch(chunks)]
    print(f"ingest batches (encode_with_spans, 32 chunks; tokens a chunk: median {int(np.median(lengths))}, "
          f"p10 {int(percentile(lengths, 10))}, p90 {int(percentile(lengths, 90))}), 2 threads:")
    torch_side.model  # load it outside the timing
    one_thread = SentenceTransformerEmbedder(cache_dir=cache)  # fp32, its batch session on 1 thread
    one_thread.onnx._batch_session = _session(one_thread.onnx.model_file, threads=1)
    batch_speed({"torch": torch_side, "onnx fp32": fp32, "onnx fp32 1t": one_thread, "onnx int8": int8},
                chunks, spans, args.batches)

    sentences = sorted({chunk[a:b] for chunk, s in zip(chunks, spans) for a, b in s if b - a > 20})[:200]
    drift(fp32, int8, "questions", texts)
    drift(fp32, int8, "SciFact sentences", sentences)

    if args.quality:
        print("retrieval quality, fp32 against int8:")
        dev_quality({"fp32": fp32, "int8": int8})
        scifact_quality({"fp32": fp32, "int8": int8}, args.scifact_docs or None)
    footer()


if __name__ == "__main__":
    main()
