"""Warm question latency of QA.ask in process, per step, beside a naive Chroma query.

    .venv/bin/python -m benchmarks.latency [--quick] [--questions N] [--skip-scifact] [--indexes DIR]

Two indexes, and with --indexes the BBC archive and MultiHop-RAG (bbc-dev's and
multihop-dev's questions): the bundled corpus (>= 200 questions made from its own sentences in varied
forms, plus the dev questions and some the corpus cannot answer) and SciFact (5,183
abstracts; its claims as questions). The SciFact index is built once under
--cache-dir (default /tmp/corpus-qa-bench) and reused: later runs only check it.

Each question is timed once, after a few warm-up questions. Each stage of the question's
path (rag.qa: analyse, search, candidate features, rank, sentence features, sentence
scores, compose) is timed by wrapping the function QA.trace calls, and inside the search
the calls it makes: embed query, dense chunk query, BM25, the read of the candidates with
their vectors and their sentences' (unpacked). The embedding and the searches overlap (threads), so the steps inside the search add up to more
than its wall time; "other" is what no stage holds (refresh, the keyword index's version check, glue).

Naive: `collection.query(query_texts=[q], n_results=k)` on a collection holding the same
chunks and vectors, with Chroma's SentenceTransformerEmbeddingFunction pointed at the
same local model: what a bare Chroma RAG pays for retrieval alone.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ._common import REPO, SCIFACT, SHARED, footer, header, parser, percentile, summary_ms

STEPS = ("embed query", "dense chunks", "BM25", "fetch chunks+vectors")
STAGES = ("analyse", "search", "candidate features", "rank", "sentence features", "sentence scores", "compose")
OFF_TOPIC = [
    "Who won the 2022 FIFA World Cup?", "What is the boiling point of ethanol?", "How do I bake sourdough bread?",
    "Which planet has the most moons?", "What is the capital of Peru?", "Who wrote Pride and Prejudice?",
    "How tall is Mount Kilimanjaro?", "What does a mitochondrion do?", "When was the printing press invented?",
    "Which singer launched a candle called Burn the Baggage?",
]
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]+")


def bundled_questions(qa, n: int, seed: int = 7) -> list[str]:
    """`n` varied questions from the indexed corpus's own sentences, the dev set, off-topic ones."""
    from store import sentence_spans

    rng = random.Random(seed)
    sentences = []
    for doc in sorted(qa.index.documents(), key=lambda d: d.source):
        ids = qa.index._chunks.get(where={"doc_id": doc.doc_id}, include=[])["ids"]
        for chunk in qa.index.chunks(ids).values():
            text = chunk.text
            sentences += [text[a:b] for a, b in sentence_spans(text) if b - a > 40]
    sentences = sorted(set(sentences))
    dev = [json.loads(line)["question"] for line in (SHARED / "qa" / "dev.jsonl").read_text().splitlines() if line.strip()]
    out = dev + OFF_TOPIC
    forms = [
        lambda w: f"What did {' '.join(w[:6])}?",
        lambda w: f"Who {' '.join(w[1:8])}?",
        lambda w: " ".join(rng.sample(w, min(4, len(w)))),  # a keyword query
        lambda w: f"Why {' '.join(w[2:12])}?",
        lambda w: f"Tell me about {' '.join(w[-5:])}",
        lambda w: " ".join(w) + "?",  # a whole sentence as the question
        lambda w: f"How many {' '.join(w[3:9])}?",
    ]
    while len(out) < n:
        words = _WORD.findall(rng.choice(sentences))
        if len(words) >= 8:
            out.append(rng.choice(forms)(words))
    return out[:n]


def scifact_questions(n: int) -> list[str]:
    lines = (SCIFACT / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines if line.strip()][:n]


class StepTimer:
    """Wraps a bound method; adds each call's seconds to `totals[step]`."""

    def __init__(self, fn, step: str, totals: dict):
        self.fn, self.step, self.totals = fn, step, totals

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.totals[self.step] = self.totals.get(self.step, 0.0) + time.perf_counter() - start


def time_ask(qa, questions: list[str], k: int = 5) -> tuple[list[float], dict[str, list[float]]]:
    """Seconds per question, and per stage and step a list of seconds per question."""
    import rag.qa
    from store import KeywordIndex

    totals: dict[str, float] = {}
    index = qa.index
    wrapped = {  # (object, attribute) -> name
        (qa.embedder, "encode"): "embed query", (index, "nearest"): "dense chunks",
        (index, "chunks_and_vectors"): "fetch chunks+vectors",
        (rag.qa, "analyse"): "analyse", (rag.qa, "search"): "search", (rag.qa.features, "candidates"): "candidate features",
        (rag.qa, "rank"): "rank", (rag.qa.features, "sentences"): "sentence features",
        (rag.qa, "score_sentences"): "sentence scores", (rag.qa, "compose"): "compose",
    }
    saved = {key: getattr(*key) for key in wrapped}
    for (obj, name), step in wrapped.items():
        setattr(obj, name, StepTimer(getattr(obj, name), step, totals))
    bm25 = KeywordIndex.search
    timed = StepTimer(bm25, "BM25", totals)
    KeywordIndex.search = lambda self, *args, **kwargs: timed(self, *args, **kwargs)
    try:
        for q in questions[:5]:
            qa.ask(q, k=k)  # warm: model, keyword index, Chroma caches
        seconds, steps = [], {s: [] for s in (*STAGES, *STEPS, "other")}
        for q in questions:
            totals.clear()
            start = time.perf_counter()
            qa.ask(q, k=k)
            total = time.perf_counter() - start
            seconds.append(total)
            for s in (*STAGES, *STEPS):
                steps[s].append(totals.get(s, 0.0))
            steps["other"].append(total - sum(totals.get(s, 0.0) for s in STAGES))
    finally:
        KeywordIndex.search = bm25
        for (obj, name), fn in saved.items():
            if obj is index or obj is qa.embedder:
                vars(obj).pop(name, None)
            else:
                setattr(obj, name, fn)
    return seconds, steps


def naive_collection(qa, name: str):
    """A collection with the same chunks and vectors, queried by text through Chroma's
    SentenceTransformerEmbeddingFunction (the local model: no download), in a temporary
    folder of its own: the index measured is only read (a collection made in it and
    deleted again leaves its vector files behind, and the index grows by its size each run)."""
    import atexit

    import chromadb
    from chromadb.config import Settings
    from chromadb.utils.embedding_functions import SentenceTransformerEmbeddingFunction

    from store import resolve_model

    ef = SentenceTransformerEmbeddingFunction(model_name=resolve_model(None), device="cpu", normalize_embeddings=True)
    folder = tempfile.mkdtemp(prefix="cqa-naive-")
    atexit.register(shutil.rmtree, folder, True)
    client = chromadb.PersistentClient(path=folder, settings=Settings(anonymized_telemetry=False))
    naive = client.create_collection(name, embedding_function=ef, configuration={"hnsw": {"space": "cosine"}})
    offset, step = 0, 2000
    while True:
        got = qa.index._chunks.get(include=["embeddings", "metadatas"], limit=step, offset=offset)
        if not got["ids"]:
            break
        chunks = qa.index.chunks(got["ids"])  # their texts (format 4: spans of their articles)
        naive.add(ids=got["ids"], embeddings=got["embeddings"], documents=[chunks[i].text for i in got["ids"]],
                  metadatas=got["metadatas"])
        offset += len(got["ids"])
    return naive


def time_naive(naive, questions: list[str], k: int = 5) -> list[float]:
    for q in questions[:5]:
        naive.query(query_texts=[q], n_results=k)
    seconds = []
    for q in questions:
        start = time.perf_counter()
        naive.query(query_texts=[q], n_results=k)
        seconds.append(time.perf_counter() - start)
    return seconds


def report(label: str, qa, questions: list[str], targets: tuple[int, int], compare: bool = False) -> None:
    """QA.ask's latency and steps; with `compare`, also with the searches one after another
    (SearchSettings.parallel=False), the two alternated in blocks of the same questions."""
    import dataclasses

    modes = {"parallel": qa.settings.search}
    if compare:
        modes["sequential"] = dataclasses.replace(qa.settings.search, parallel=False)
    results = {m: ([], {}) for m in modes}
    half = (len(questions) + 1) // 2
    for block in ([questions[:half], questions[half:]] if compare else [questions]):
        for mode, retrieval in modes.items():
            qa.settings = dataclasses.replace(qa.settings, search=retrieval)
            seconds, steps = time_ask(qa, block)
            results[mode][0].extend(seconds)
            for s, v in steps.items():
                results[mode][1].setdefault(s, []).extend(v)
    qa.settings = dataclasses.replace(qa.settings, search=modes["parallel"])
    print(f"{label}: {qa.index.count()} chunks, {len(questions)} questions")
    for mode, (seconds, steps) in results.items():
        p50, p95 = percentile(seconds, 50) * 1000, percentile(seconds, 95) * 1000
        print(f"  QA.ask, {mode:10s} {summary_ms(seconds)}   target p50 <= {targets[0]} ms, p95 <= {targets[1]} ms: "
              f"{'met' if p50 <= targets[0] and p95 <= targets[1] else 'NOT met'}")
        print("    per step, mean ms:  " + ", ".join(f"{s} {1000 * sum(v) / len(v):.2f}" for s, v in steps.items()))
        print("    per step, p95 ms:   " + ", ".join(f"{s} {1000 * percentile(v, 95):.2f}" for s, v in steps.items()))
    naive = naive_collection(qa, "naive-bench")
    print(f"  naive Chroma query  {summary_ms(time_naive(naive, questions))}   (query_texts, k=5, no keyword, fusion, answer)")


def main() -> int:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--questions", type=int, default=None, help="questions per index (default 300; --quick 100)")
    p.add_argument("--skip-scifact", action="store_true")
    p.add_argument("--skip-bundled", action="store_true")
    p.add_argument("--cache-dir", default="/tmp/corpus-qa-bench", help="where the SciFact index is kept between runs")
    p.add_argument("--scifact-collection", default="scifact", help="its collection name (default: scifact)")
    p.add_argument("--no-build", action="store_true", help="use the SciFact index as it is (even partly built)")
    p.add_argument("--indexes", type=Path, help="also time the BBC archive and MultiHop-RAG indexes kept here "
                                                 "(benchmarks/sets.py builds them), with their dev questions")
    p.add_argument("--compare-sequential", action="store_true",
                   help="also time the searches one after another, alternated with the parallel ones")
    args = p.parse_args()
    n = args.questions or (100 if args.quick else 300)
    header("latency", args)

    from rag import QA

    if not args.skip_bundled:
        work = Path(tempfile.mkdtemp(prefix="cqa-latency-"))
        try:
            qa = QA.open(index=work / "bundled")
            qa.ingest([REPO / "corpus"])
            report("bundled corpus", qa, bundled_questions(qa, max(n, 200)), (8, 14), args.compare_sequential)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    if args.indexes:  # the archives of sets.py, built once by quality.py or train_scoring.py
        sys.path.insert(1, str(Path(__file__).resolve().parent))
        import sets as S

        from store import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder()
        for name, dev, targets in (("bbc", "bbc-dev", (15, 30)), ("multihop", "multihop-dev", (25, 50))):
            qa = S.open_index(name, args.indexes, embedder)
            report(f"{name} ({dev} questions)", qa, [i.question for i in S.items(dev)][:n], targets,
                   args.compare_sequential)

    if not args.skip_scifact:
        from .ingest import documents, read_records

        folder = Path(args.cache_dir) / "scifact-index"
        qa = QA.open(index=folder, collection=args.scifact_collection)
        start = time.perf_counter()
        if args.no_build:
            print(f"SciFact index at {folder} used as it is: {len(qa.index.documents())} of 5,183 abstracts")
        else:
            docs, how = documents(read_records(None), Path(tempfile.mkdtemp(prefix="cqa-latency-docs-")))
            done = qa.ingest_documents(docs) if hasattr(qa, "ingest_documents") else None
            if done is None:
                from store import ingest_documents

                done = ingest_documents(qa.index, qa.embedder, docs, chunking=qa.settings.chunking)
            print(f"SciFact index at {folder}: {done.added} added, {done.unchanged} unchanged "
                  f"({time.perf_counter() - start:.0f} s; documents via {how})")
        report("SciFact", qa, scifact_questions(n), (15, 50), args.compare_sequential)
    footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
