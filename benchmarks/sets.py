"""The dev sets and their indexes, shared by quality.py and train_scoring.py.

Every set is read in place from ../shared and asked through the path users take
(QA.ask, QA.trace). Indexes are built once under INDEXES (or --indexes) and reused:

    bundled   corpus/ (5 articles)                  dev.jsonl, followups-dev.jsonl
    bbc       ../shared/benchmarks/bbc-news/articles  bbc-dev.jsonl, followups-bbc-dev.jsonl,
                                                    bbc-outside-dev.jsonl (30 questions after 2005 or
                                                    beyond the archive: all unanswerable)
    multihop  ../shared/benchmarks/multihop-rag     multihop-dev (every 4th query; the rest is test)
    beir      ../shared/benchmarks/scifact          scifact-train

and two sets of made unanswerable questions (benchmarks/make_unanswerable.py), bbc-made and
multihop-made, which only train_scoring.py reads (training data, never a dev figure; by
default it reads bbc-made only: see NOT_TRAINED). Two dev figures are made here and never
trained on: followups-switch-bbc-dev (switch_items) and bbc-outside-made (60 questions the
archive cannot answer, benchmarks/data/outside-made.jsonl).

Only QA.open / ingest / ask and rag.evaluate's loaders are used, so the same file scores
an older revision put first on PYTHONPATH (quality.py --compare).
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
QA_DIR = SHARED / "qa"
BBC = SHARED / "benchmarks" / "bbc-news" / "articles"
MULTIHOP = SHARED / "benchmarks" / "multihop-rag"
SCIFACT = SHARED / "benchmarks" / "scifact"
DATA = Path(__file__).resolve().parent / "data"
INDEXES = Path(tempfile.gettempdir()) / "corpus-qa-indexes"
FOLDERS: dict[str, str] = {}  # index name -> another folder under the indexes (--use bbc=bbc-c1000)

# set name -> (index, question file or special loader)
SETS = {
    "dev": ("bundled", QA_DIR / "dev.jsonl"),
    "followups-dev": ("bundled", QA_DIR / "followups-dev.jsonl"),
    "bbc-dev": ("bbc", QA_DIR / "bbc-dev.jsonl"),
    "followups-bbc-dev": ("bbc", QA_DIR / "followups-bbc-dev.jsonl"),
    "multihop-dev": ("multihop", "dev"),
    "scifact-train": ("beir", "train"),
    "bbc-outside-dev": ("bbc", QA_DIR / "bbc-outside-dev.jsonl"),
    # conversations that change the subject (switch_items): a dev figure, made from the files above
    "followups-switch-bbc-dev": ("bbc", "switch"),
    # 60 more questions the 2004-05 archive cannot answer, written in session 14 the way bbc-outside-dev's
    # were (events after 2005, products and people it never knew), not picked by any feature: a dev figure only
    "bbc-outside-made": ("bbc", DATA / "outside-made.jsonl"),
    # training data only (benchmarks/make_unanswerable.py): never a dev figure, so quality.py leaves them out
    "bbc-made": ("bbc", DATA / "unanswerable-bbc.jsonl"),
    "multihop-made": ("multihop", DATA / "unanswerable-multihop.jsonl"),
}
MADE = {"bbc-made": "bbc-dev", "multihop-made": "multihop-dev"}  # made set -> the dev set its questions come from
# made sets training leaves out unless asked (--sets): multihop-made taught the abstention model that an
# unknown name means no answer, which MultiHop-RAG's null questions seldom show; held out, the model
# trained with it abstained on 20 of multihop-dev's 39 outlet-naming null questions at 3 % of answerable
# ones, without it on 37 (benchmarks/RESULTS.md)
NOT_TRAINED = {"multihop-made", "followups-switch-bbc-dev", "bbc-outside-made"}


@dataclass(frozen=True)
class Item:
    """One question to ask: alone, or a turn after the earlier turns of `conversation`."""

    set: str
    id: str
    kind: str  # fact, paraphrase, multi, none, first, follow-up, inference_query, ..., null_query, beir
    question: str
    answers: tuple[str, ...]
    evidence: tuple[tuple[str, str], ...]  # (doc, text): text must be inside a hitting passage
    conversation: str | None = None
    relevant: tuple[str, ...] = ()  # BEIR: the relevant document ids

    @property
    def answerable(self) -> bool:
        return self.kind not in ("none", "boilerplate", "null_query")


def multihop_records() -> list[dict]:
    """The 609 MultiHop-RAG articles as JSON Lines records (id = url)."""
    corpus = json.loads((MULTIHOP / "corpus.json").read_text(encoding="utf-8"))
    return [{"id": a["url"], "title": a["title"], "text": a["body"], "published": a["published_at"][:10],
             "outlet": a["source"], "url": a["url"], "author": a["author"], "category": a["category"]} for a in corpus]


def multihop_items(split: str) -> list[Item]:
    """dev: queries whose 0-based position is divisible by 4; test: the others."""
    queries = json.loads((MULTIHOP / "MultiHopRAG.json").read_text(encoding="utf-8"))
    out = []
    for i, q in enumerate(queries):
        if (i % 4 == 0) != (split == "dev"):
            continue
        evidence = tuple((e["url"], e["fact"]) for e in q["evidence_list"])
        out.append(Item(f"multihop-{split}", f"mh{i}", q["question_type"], q["query"], (q["answer"],), evidence))
    return out


def switch_items(name: str) -> list[Item]:
    """Conversations that change the subject: the first turn of a followups-bbc-dev
    conversation, then a question that does not lean on it: each of bbc-outside-dev's and
    bbc-dev's `none` questions (kind none: the archive does not answer it, in a chat as
    alone), and each answerable bbc-dev question whose evidence is in another article
    (kind switch: answered as alone). The i-th second turn follows the first turn of
    conversation i modulo 20. Made here from those files, read in place; never trained on."""
    from rag.evaluate import load_questions

    firsts = [c[0] for c in load_questions(QA_DIR / "followups-bbc-dev.jsonl")]
    seconds = list(load_questions(QA_DIR / "bbc-outside-dev.jsonl"))
    seconds += [q for q in load_questions(QA_DIR / "bbc-dev.jsonl") if q.kind in ("none", "fact", "paraphrase", "multi")]
    out = []
    for i, second in enumerate(seconds):
        first = firsts[i % len(firsts)]
        if {d for d, _ in second.evidence} & {d for d, _ in first.evidence}:
            continue  # the same article: not a change of subject
        conversation = f"sw{i:03d}"
        kind = "none" if second.kind == "none" else "switch"
        out += [Item(name, f"{conversation}.1", "first", first.question, first.answers, first.evidence, conversation),
                Item(name, f"{conversation}.2~{second.id}", kind, second.question, second.answers, second.evidence,
                     conversation)]
    return out


def items(name: str) -> list[Item]:
    from rag.evaluate import load_questions

    index, source = SETS[name]
    if source == "switch":
        return switch_items(name)
    if index == "multihop" and isinstance(source, str):  # a split of MultiHop-RAG; a Path is a file of questions
        return multihop_items(source)
    if index == "beir":
        from rag.beir import load_beir

        beir = load_beir(SCIFACT, source)
        return [Item(name, qid, "beir", text, (), (), relevant=tuple(d for d, s in beir.qrels[qid].items() if s > 0))
                for qid, text in beir.queries.items()]
    loaded = load_questions(source)
    out = []
    for entry in loaded:
        turns = entry if isinstance(entry, list) else [entry]
        conversation = turns[0].id.rsplit(".", 1)[0] if isinstance(entry, list) else None
        out += [Item(name, q.id, q.kind, q.question, q.answers, q.evidence, conversation) for q in turns]
    return out


def group_of(item: Item) -> str:
    """The cross-validation group of a question: its conversation, or itself; a made
    question goes with the dev question it was made from (one fold holds both)."""
    if item.set in MADE:
        return f"{MADE[item.set]}/{item.id.split('~')[0]}"
    return f"{item.set}/{item.conversation or item.id}"


def add_options(p, training: bool = False) -> None:
    """--sets, --indexes and --use, as quality.py and train_scoring.py take them (the made
    sets are in the default only for training)."""
    default = [n for n in SETS if (n not in NOT_TRAINED if training else n not in MADE)]
    p.add_argument("--sets", default=",".join(default), help=f"comma-separated, of {', '.join(SETS)}")
    p.add_argument("--indexes", type=Path, default=INDEXES, help="where the indexes are built and kept")
    p.add_argument("--use", action="append", default=[], metavar="INDEX=FOLDER",
                   help="read an index from another folder under --indexes (e.g. bbc=bbc-c1000)")


def parse(p):
    """The arguments, with --use applied and args.names the sets asked for."""
    args = p.parse_args()
    for pair in args.use:  # --use NAME=FOLDER: read index NAME from another folder (a variant built apart)
        name, _, folder = pair.partition("=")
        FOLDERS[name] = folder
    args.names = [n.strip() for n in args.sets.split(",") if n.strip()]
    unknown = [n for n in args.names if n not in SETS]
    if unknown:
        p.error(f"unknown set {unknown[0]!r}: use some of {', '.join(SETS)}")
    return args


def open_index(name: str, indexes: Path, embedder, settings=None):
    """QA over one of the benchmark indexes, built (ingested) the first time."""
    from rag import QA
    from store import Index

    folder = Path(indexes) / FOLDERS.get(name, name)
    if name == "beir":
        from rag.beir import collection_name, index_beir, load_beir
        from store import ChunkingOptions

        qa = QA(Index.open(path=folder, collection=collection_name("scifact", ChunkingOptions())), embedder, settings)
        if not qa.index.count():
            index_beir(qa, load_beir(SCIFACT, "train"), progress=None)
        return qa
    qa = QA(Index.open(path=folder), embedder, settings)
    if not qa.index.count():
        print(f"building the {name} index in {folder} (minutes) ...", file=sys.stderr, flush=True)
        if name == "bundled":
            from rag import bundled_corpus

            qa.ingest([bundled_corpus()])
        elif name == "bbc":
            qa.ingest([BBC])
        elif name == "multihop":
            from store import from_record

            qa.ingest_documents([from_record(r["id"], r["title"], r["text"], r["published"], r["outlet"], r["url"],
                                             r["author"], {"category": r["category"]}) for r in multihop_records()])
    return qa


def _squeeze(text: str) -> str:
    return re.sub(r"[ \n]", "", text)


def hits(item: Item, passages) -> list[int]:
    """The 1-based ranks (top 10) of the passages holding evidence. MultiHop-RAG: a gold
    fact inside the passage, spaces and newlines removed (the paper's rule); the question
    sets: an evidence text inside a passage of at most 1,000 characters of its document
    (qa/README.md); BEIR: a passage of a relevant document."""
    from rag.evaluate import _collapse, _same_doc  # the question sets' rule, as `corpus-qa eval` scores

    out = []
    for rank, p in enumerate(passages[:10], 1):
        if item.relevant:
            ok = p.source in item.relevant
        elif item.set.startswith("multihop"):
            text = _squeeze(p.text)
            ok = any(_squeeze(fact) in text for _, fact in item.evidence)
        else:
            text = _collapse(p.text)
            # a passage stands for its article's copies and near-copies too (Passage.also_in; an older
            # revision's passages have none)
            docs = (p.source, *getattr(p, "also_in", ()))
            ok = len(p.text) <= 1000 and any(any(_same_doc(s, d) for s in docs) and _collapse(e) in text
                                             for d, e in item.evidence)
        if ok:
            out.append(rank)
    return out


def facts_found(item: Item, passages) -> float:
    """MultiHop-RAG: the share of the gold facts found in the top 10 (recall@10)."""
    facts = {_squeeze(f) for _, f in item.evidence}
    if not facts:
        return 0.0
    texts = [_squeeze(p.text) for p in passages[:10]]
    return sum(any(f in t for t in texts) for f in facts) / len(facts)


def correct(item: Item, answer) -> bool:
    """Answer accuracy (qa/README.md): for a question set, an expected word in the shown
    answer and a citation of a right document; for an unanswerable question, an
    abstention. MultiHop-RAG and BEIR have no extractive answers: abstention only."""
    if not item.answerable:
        return answer.abstained
    if item.set.startswith(("multihop", "scifact")):
        return not answer.abstained
    from rag.evaluate import Question, judge

    return judge(Question(item.id, item.kind, item.question, item.answers, item.evidence), answer).correct
