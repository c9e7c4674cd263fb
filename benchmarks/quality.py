"""Retrieval quality of a configuration: dev.jsonl and SciFact (BEIR), through QA.

    .venv/bin/python -m benchmarks.quality [--dev] [--beir [DIR]] [--split train|test]
        [--chunking 700,4,1] [--fusion linear --weights 0.5,1,1.25 --rrf-k 60] [--index DIR]

Runs what `corpus-qa eval` runs (rag.evaluate, rag.beir: QA.ask and QA.retrieve, the
path of every question) with the retrieval and chunking given here instead of the
defaults, so variants can be compared without editing code. Each chunking gets its own
collections under --index (default /tmp/corpus-qa-quality): SciFact is embedded once per
chunking (tens of minutes on two busy cores, a few when quiet) and reused after that.

Prints one line of figures per run, and the same as JSON with --json.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

from ._common import SCIFACT, SHARED, footer, header, parser

DEV = SHARED / "qa" / "dev.jsonl"


def settings_from(args):
    from rag import AnswerSettings, Settings
    from store import ChunkingOptions

    retrieval = {}
    if args.fusion:
        retrieval["fusion"] = args.fusion
    if args.weights:
        dense, sentence, keyword = (float(w) for w in args.weights.split(","))
        retrieval.update(dense_weight=dense, sentence_weight=sentence, keyword_weight=keyword)
    if args.rrf_k is not None:
        retrieval["rrf_k"] = args.rrf_k
    if args.candidates is not None:
        retrieval["candidates"] = args.candidates
    defaults = Settings()
    chunking = defaults.chunking
    if args.chunking:
        max_chars, max_sentences, overlap = (int(x) for x in args.chunking.split(","))
        chunking = ChunkingOptions(max_chars, max_sentences, overlap)
    return Settings(
        retrieval=dataclasses.replace(defaults.retrieval, **retrieval),
        answer=AnswerSettings(),
        chunking=chunking,
    )


def run_dev(args, settings, embedder) -> dict:
    from rag import QA, bundled_corpus
    from rag.evaluate import evaluate_questions, load_questions
    from store import Index

    c = settings.chunking
    folder = Path(args.index) / f"dev-c{c.max_chars}-s{c.max_sentences}-o{c.overlap}"
    qa = QA(Index.open(path=folder), embedder, settings)
    qa.ingest([bundled_corpus()])
    metrics, judgements = evaluate_questions(qa, load_questions(args.dev_path))
    misses = [f"{j.id}(rank {j.rank}{', wrong answer' if not j.correct else ''})"
              for j in judgements if not j.correct or (j.rank is not None and j.rank > 1)
              or (j.rank is None and j.kind not in ("none", "boilerplate"))]
    o = metrics["overall"]
    print(f"dev.jsonl: hit@1 {o['hit@1']:.3f}  hit@3 {o['hit@3']:.3f}  hit@5 {o['hit@5']:.3f}  "
          f"MRR@10 {o['mrr@10']:.3f}  answer accuracy {o['answer_accuracy']:.3f}  "
          f"abstention P/R {o['abstention_precision']}/{o['abstention_recall']}  misses: {' '.join(misses) or '-'}",
          flush=True)
    return {"dev": metrics, "misses": misses}


def run_beir(args, settings, embedder) -> dict:
    from rag import QA
    from rag.beir import collection_name, evaluate_beir, index_beir, load_beir
    from store import Index

    beir = load_beir(args.beir, args.split)
    index = Index.open(path=Path(args.index) / "beir", collection=collection_name(beir.name, settings.chunking))
    qa = QA(index, embedder, settings)
    started = time.perf_counter()
    report = index_beir(qa, beir)
    if report.chunks:
        print(f"indexed {report.added + report.updated} documents, {report.chunks} chunks in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
    result = evaluate_beir(qa, beir)
    m = result.metrics
    print(f"{result.dataset} {result.split} ({result.queries} queries, {result.collection}): "
          f"nDCG@10 {m['ndcg@10']:.4f}  Recall@100 {m['recall@100']:.4f}  ({result.seconds:.0f} s)", flush=True)
    return {"beir": dataclasses.asdict(result)}


def main() -> int:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--dev", dest="dev_path", nargs="?", const=str(DEV), metavar="JSONL",
                   help=f"evaluate a question set (default {DEV})")
    p.add_argument("--beir", nargs="?", const=str(SCIFACT), metavar="DIR",
                   help=f"evaluate a BEIR folder (default {SCIFACT})")
    p.add_argument("--split", default="train", help="BEIR split (default train: settings are chosen on train)")
    p.add_argument("--chunking", metavar="MAX_CHARS,MAX_SENTENCES,OVERLAP")
    p.add_argument("--fusion", choices=["rrf", "linear"])
    p.add_argument("--weights", metavar="DENSE,SENTENCE,KEYWORD", help="fusion weights of the three rankings")
    p.add_argument("--rrf-k", type=int)
    p.add_argument("--candidates", type=int, help="how many each ranking proposes (at least k)")
    p.add_argument("--index", default="/tmp/corpus-qa-quality", help="where the indexes are kept")
    p.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = p.parse_args()
    if not args.dev_path and not args.beir:
        args.dev_path, args.beir = str(DEV), str(SCIFACT)
    header("quality", args)
    settings = settings_from(args)
    print(f"settings: {settings}", flush=True)

    from store import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    out: dict = {"settings": dataclasses.asdict(settings)}
    if args.dev_path:
        out.update(run_dev(args, settings, embedder))
    if args.beir:
        out.update(run_beir(args, settings, embedder))
    if args.json:
        print(json.dumps(out))
    footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
