"""BEIR-format benchmarks (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) through QA.retrieve.

The corpus is indexed as records (source = the BEIR `_id`) into a collection of its own,
once: re-runs find every document unchanged and embed nothing. Each query goes through
`QA.retrieve`, the retrieval `ask` answers from, asked for enough chunks to rank `depth`
documents; a document's score is the best of its chunks. nDCG@10 and Recall@100 come
from trec_eval (pytrec_eval).
"""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from store import ChunkingOptions, Document, InputError, from_record

from .qa import QA

METRICS = ("ndcg@10", "recall@100")
# each metric as trec_eval is asked for it, and as it names the result
TREC_MEASURES = {"ndcg@10": ("ndcg_cut.10", "ndcg_cut_10"), "recall@100": ("recall.100", "recall_100")}
SPLITS = ("test", "train", "dev")


@dataclass(frozen=True)
class BeirSet:
    name: str  # the folder's name, e.g. "scifact"
    folder: Path
    split: str
    queries: dict[str, str]  # id -> text, only queries judged in the split
    qrels: dict[str, dict[str, int]]  # query id -> {document id: relevance}

    def documents(self) -> Iterator[Document]:
        """The corpus as Documents, read line by line."""
        path = self.folder / "corpus.jsonl"
        with path.open(encoding="utf-8") as lines:
            for n, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    d = json.loads(line)
                    yield from_record(str(d["_id"]), d.get("title") or "", d.get("text") or "")
                except (ValueError, KeyError, TypeError) as err:
                    raise InputError(f"{path}:{n}: not a BEIR corpus line ({err}); expected {{\"_id\", \"title\", \"text\"}}") from None


@dataclass(frozen=True)
class BeirResult:
    dataset: str
    split: str
    queries: int
    documents: int  # in the collection
    collection: str
    metrics: dict[str, float]
    seconds: float  # retrieval of all queries, indexing excluded


def load_beir(folder: str | Path, split: str = "test") -> BeirSet:
    folder = Path(folder).expanduser()
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    for name in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv"):
        if not (folder / name).is_file():
            raise InputError(f"{folder} is not a BEIR folder: {name} is missing (needs corpus.jsonl, queries.jsonl, qrels/{split}.tsv)")
    qrels = _read_qrels(folder / "qrels" / f"{split}.tsv")
    queries: dict[str, str] = {}
    path = folder / "queries.jsonl"
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            if str(d["_id"]) in qrels:
                queries[str(d["_id"])] = d["text"]
        except (ValueError, KeyError, TypeError) as err:
            raise InputError(f"{path}:{n}: not a BEIR query line ({err}); expected {{\"_id\", \"text\"}}") from None
    missing = sorted(set(qrels) - set(queries))
    if missing:
        raise InputError(f"{len(missing)} judged queries of qrels/{split}.tsv are not in queries.jsonl (e.g. {missing[0]!r})")
    return BeirSet(folder.resolve().name, folder, split, queries, qrels)


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as f:
        for n, row in enumerate(csv.reader(f, delimiter="\t"), 1):
            if not row or (n == 1 and not row[-1].strip().lstrip("-").isdigit()):
                continue  # blank line, or the header
            try:
                query, doc, score = row[0], row[1], int(row[2])
            except (IndexError, ValueError):
                raise InputError(f"{path}:{n}: expected 'query-id<TAB>corpus-id<TAB>score', got {row!r}") from None
            qrels.setdefault(query, {})[doc] = score
    return qrels


def collection_name(dataset: str, chunking: ChunkingOptions) -> str:
    """The dataset's own collection, named by its chunking too: another chunking is
    another index, never a stale one."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", dataset).strip("-._")[:30] or "set"
    return f"beir-{safe}-c{chunking.max_chars}-s{chunking.max_sentences}-o{chunking.overlap}"


def index_beir(qa: QA, beir: BeirSet, progress: Callable[[int, int], None] | None = None):
    """Index the corpus into qa's collection; unchanged documents are skipped."""
    return qa.ingest_documents(beir.documents(), progress=progress)


def rank_documents(qa: QA, query: str, depth: int = 100) -> dict[str, float]:
    """Up to `depth` documents (BEIR ids = chunk sources) for a query, each scored by its
    best chunk, from QA.retrieve asked for 3 * depth chunks."""
    candidates = qa.retrieve(query, k=3 * depth)
    ranked: dict[str, float] = {}
    for c in candidates:  # best first: a document's first chunk is its best
        if c.chunk.source not in ranked:
            ranked[c.chunk.source] = len(candidates) - len(ranked)  # ranks as scores: no ties
            if len(ranked) == depth:
                break
    return ranked


def evaluate_beir(
    qa: QA, beir: BeirSet, depth: int = 100, progress: Callable[[int], None] | None = None
) -> BeirResult:
    """nDCG@10 and Recall@100 of qa's retrieval on the judged queries of the split."""
    started = time.perf_counter()
    run: dict[str, dict[str, float]] = {}
    for query_id, text in beir.queries.items():
        run[query_id] = rank_documents(qa, text, depth)
        if progress:
            progress(1)
    seconds = time.perf_counter() - started
    scores = trec_scores(beir.qrels, run)
    return BeirResult(
        beir.name, beir.split, len(beir.queries), len(qa.index.documents()), qa.index.name,
        {m: round(v, 4) for m, v in scores.items()}, round(seconds, 1),
    )


def trec_scores(
    qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]], metrics: tuple[str, ...] = METRICS
) -> dict[str, float]:
    """Mean of each metric over the judged queries, computed by trec_eval itself
    (pytrec_eval); a judged query the run has nothing for scores 0. Equal scores are
    ordered as trec_eval orders them: by document id, descending."""
    import pytrec_eval

    if not qrels:
        return {m: 0.0 for m in metrics}
    measures = {m: TREC_MEASURES[m] for m in metrics}
    evaluator = pytrec_eval.RelevanceEvaluator(
        {q: {d: int(r) for d, r in docs.items()} for q, docs in qrels.items()},
        {asked for asked, _ in measures.values()},
    )
    per_query = evaluator.evaluate({q: {d: float(s) for d, s in docs.items()} for q, docs in run.items() if q in qrels})
    return {m: sum(scores[name] for scores in per_query.values()) / len(qrels) for m, (_, name) in measures.items()}
