"""Interrupted ingestion (smoke version of benchmarks/kill_ingest.py) and writes by another
process: a real `corpus-qa ingest` killed with SIGKILL, or stopped with Ctrl-C, while it
writes; a plain re-run then gives exactly a clean build. Also: the pending stamp that lets
a re-run finish a cut-short run, orphan sentence vectors dropped, one ingest at a time,
the keyword index checked by ids (not only by count), and a process serving questions
that sees documents another process added."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

import rag
import store
from store.index import PENDING, VERSION_KEY
from store.keyword import KeywordIndex
from conftest import EXE, cli_env

pytestmark = pytest.mark.slow

TOPICS = {
    "harbour": "harbour bridge cables ferry tide pier crane dock",
    "orchard": "orchard apple cider press blossom harvest ladder",
    "glacier": "glacier ice valley moraine meltwater crevasse summit",
    "violin": "violin bow string concerto rosin luthier maple",
    "comet": "comet telescope orbit nucleus tail observatory dust",
    "bakery": "bakery sourdough oven flour crust yeast loaf",
}
QUESTIONS = ["Which cables were replaced on the harbour bridge?", "When was the orchard cider press used?",
             "What did the telescope see of the comet tail?"]


def generated_corpus(folder: Path, n: int = 48, seed: int = 3) -> Path:
    """n articles of 8-12 sentences on six topics: a few hundred chunks, seconds to embed."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        topic, words = list(TOPICS.items())[i % len(TOPICS)]
        words = words.split()
        sentences = []
        for j in range(rng.randint(8, 12)):
            picked = " ".join(rng.choice(words) for _ in range(rng.randint(5, 12)))
            sentences.append(f"In {1990 + (i * 7 + j) % 30} the {picked} were noted by team {i}-{j}.")
        title = f"Report {i} on the {topic} and its {rng.choice(words)}"
        (folder / f"{topic}-{i:03d}.txt").write_text(title + "\n" + " ".join(sentences) + "\n", encoding="utf-8")
    return folder


def _read(index_dir: Path, sql: str, args=()):
    """One value from the index's SQLite, read as an outsider would (None if unreadable)."""
    db = index_dir / "chroma" / "chroma.sqlite3"
    if not db.exists():
        return None
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.2) as con:
            row = con.execute(sql, args).fetchone()
        return row[0] if row else None
    except sqlite3.Error:
        return None


def stamp(index_dir: Path) -> str:
    """The collection's version stamp."""
    return _read(index_dir, "SELECT str_value FROM collection_metadata WHERE key = ?", (VERSION_KEY,)) or ""


def rows(index_dir: Path) -> int:
    """Records stored so far, in every collection (Chroma's own table)."""
    return _read(index_dir, "SELECT count(*) FROM embeddings") or 0


def interrupt_while_writing(index_dir: Path, docs: Path, sig: int, delay: float, on_rows: bool = False) -> dict:
    """Run `corpus-qa ingest`; once it stamps the index pending (its writes begin), or once
    it has stored its first vectors (`on_rows`), wait `delay` seconds and send `sig`."""
    stamp_before, rows_before = stamp(index_dir), rows(index_dir)
    proc = subprocess.Popen([EXE, "--index", str(index_dir), "ingest", str(docs)], env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240

    def started() -> bool:
        if on_rows:
            return rows(index_dir) > rows_before
        now = stamp(index_dir)
        return now.startswith(PENDING) and now != stamp_before

    while proc.poll() is None and not started() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(delay)
    finished_first = proc.poll() is not None
    if not finished_first:
        proc.send_signal(sig)
    out, err = proc.communicate(timeout=240)
    # exit 0, or killed by the signal with nothing said, after a Ctrl-C: it came as the process
    # was already ending (its work done): before the interpreter's shutdown a Ctrl-C interrupts
    # nothing, during it Python has put back the default handler, which ends the process
    # silently (mid-work, Python's own handler turns it into the "interrupted" line and exit
    # 130). Both seen on a loaded CPU.
    # (and only when the index says the write ended: a silent end mid-write fails the test)
    finished_first = finished_first or (sig == signal.SIGINT and proc.returncode in (0, -signal.SIGINT)
                                        and not err.strip() and not stamp(index_dir).startswith(PENDING))
    return {"exit": proc.returncode, "stderr": err, "finished_first": finished_first, "delay": delay}


def state(qa: rag.QA) -> dict:
    index = qa.index
    chunks = index.client.get_collection(index.name).get(include=["metadatas"])
    documents = set(index.client.get_collection(f"{index.name}-documents").get(include=[])["ids"])
    per_doc: dict[str, list[int]] = {}
    for m in chunks["metadatas"]:
        per_doc.setdefault(m["doc_id"], [0, int(m["n_chunks"])])[0] += 1
    return {
        "chunks": sorted(chunks["ids"]),
        "sentences": sorted((m["doc_id"], m["sentences"], m["vectors"]) for m in chunks["metadatas"]),
        "incomplete": [d for d, (have, want) in per_doc.items() if have != want],
        "orphan_chunk_docs": set(per_doc) - documents,
    }


def top_passages(qa: rag.QA) -> list:
    return [[(p.source, p.start, p.end) for p in qa.ask(q).passages] for q in QUESTIONS]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return generated_corpus(tmp_path_factory.mktemp("generated") / "articles")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, embedder, corpus) -> dict:
    qa = rag.QA(store.Index.open(path=tmp_path_factory.mktemp("clean") / "index"), embedder)
    started = time.monotonic()
    qa.ingest([corpus])
    return {**state(qa), "answers": top_passages(qa), "seconds": time.monotonic() - started}


def test_killed_and_interrupted_ingests_are_repaired_by_a_plain_rerun(tmp_path, embedder, corpus, reference):
    rng = random.Random(11)
    index_dir = tmp_path / "index"
    writing = reference["seconds"]  # how long the embedding and writing take, without start-up
    # the first kill within the first half of that: the reference is timed in this worker, under
    # the other worker's load, and once (CI, session 18) a process finished within 0.56 of it
    killed = interrupt_while_writing(index_dir, corpus, signal.SIGKILL, rng.uniform(0.1, 0.5) * writing)
    killed2 = interrupt_while_writing(index_dir, corpus, signal.SIGKILL, rng.uniform(0.0, 0.1), on_rows=True)
    ctrl_c = interrupt_while_writing(index_dir, corpus, signal.SIGINT, rng.uniform(0.2, 1.0) * writing)
    for run in (killed, killed2):
        assert run["finished_first"] or run["exit"] == -signal.SIGKILL, run
    if not ctrl_c["finished_first"]:
        lines = [line for line in ctrl_c["stderr"].splitlines() if line.strip()]
        assert ctrl_c["exit"] == 130 and "Traceback" not in ctrl_c["stderr"], ctrl_c["stderr"][-2000:]
        assert lines == ["corpus-qa: interrupted; what was fully indexed is kept, run the command again to finish"], lines
    assert not all(r["finished_first"] for r in (killed, killed2, ctrl_c)), "no run was cut short: the corpus is too small"

    qa = rag.QA(store.Index.open(path=index_dir), embedder)
    qa.ingest([corpus])  # the plain re-run
    got = state(qa)
    assert len(got["chunks"]) == len(reference["chunks"]), "one copy of every chunk"
    assert got["chunks"] == reference["chunks"] and got["sentences"] == reference["sentences"]
    assert got["incomplete"] == [] and got["orphan_chunk_docs"] == set()
    assert not qa.index.interrupted()
    assert sorted(qa.index.keyword_index().ids) == got["chunks"], "the keyword index agrees with the collection"
    saved = KeywordIndex.load(index_dir / "keyword" / qa.index.name)
    assert saved is not None and saved.version == qa.index.version() and sorted(saved.ids) == got["chunks"]
    assert top_passages(qa) == reference["answers"], "questions answer as in a clean build"
    again = qa.ingest([corpus])
    assert (again.added, again.updated, again.chunks) == (0, 0, 0), again


def test_a_run_cut_short_after_its_writes_is_finished_by_the_next(make_qa, tmp_path):
    """Killed between the last write and the final stamp, with an orphan chunk left (a
    document whose record was never written): the next run, with no document to write,
    still drops the orphans, stamps the index anew and rebuilds the keyword index."""
    docs = generated_corpus(tmp_path / "articles", n=4)
    qa = make_qa()
    qa.ingest([docs])
    before = qa.index.version()
    chunks = qa.index.client.get_collection(qa.index.name)
    writing = qa.index.client.get_collection(f"{qa.index.name}-writing")
    writing.add(ids=["ghost"], embeddings=[[1.0]])  # announced first, as every write is
    chunks.add(ids=["ghost:0"], embeddings=[np.ones(384, dtype=np.float32) / np.sqrt(384)], documents=["Ghost."],
               metadatas=[{"doc_id": "ghost", "source": "ghost.txt", "start": 0, "end": 6, "n_chunks": 1}])
    qa.index.touch(pending=True)
    assert qa.index.interrupted()

    report = qa.ingest([docs])
    assert (report.added, report.updated, report.unchanged, report.chunks) == (0, 0, 4, 0), report
    assert not qa.index.interrupted() and qa.index.version() != before
    assert chunks.get(ids=["ghost:0"])["ids"] == [], "the orphan chunk is dropped"
    assert writing.get()["ids"] == [], "and the announcement with them"
    saved = KeywordIndex.load(Path(qa.index.where) / "keyword" / qa.index.name)
    assert saved is not None and saved.version == qa.index.version()


def test_orphans_of_a_collection_from_before_the_journal_are_found_by_one_full_scan(make_qa, tmp_path):
    """A collection written by an earlier version announced nothing: its first repair
    reads every chunk, drops the orphans and journals the collection."""
    from store.index import JOURNAL_KEY

    docs = generated_corpus(tmp_path / "articles", n=3)
    qa = make_qa()
    qa.ingest([docs])
    chunks = qa.index.client.get_collection(qa.index.name)
    chunks.modify(metadata={k: v for k, v in (chunks.metadata or {}).items() if k != JOURNAL_KEY})
    chunks.add(ids=["ghost:0"], embeddings=[np.ones(384, dtype=np.float32) / np.sqrt(384)], documents=["Ghost."],
               metadatas=[{"doc_id": "ghost", "source": "ghost.txt", "start": 0, "end": 6, "n_chunks": 1}])
    reopened = make_qa(reopen=qa)  # a process of this version opening it
    reopened.index.touch(pending=True)
    reopened.ingest([docs])
    assert chunks.get(ids=["ghost:0"])["ids"] == [], "found by the full scan"
    assert qa.index.client.get_collection(qa.index.name).metadata.get(JOURNAL_KEY) == 1
    assert not reopened.index.interrupted()


def test_a_saved_keyword_index_with_the_right_count_but_other_ids_is_rebuilt(make_qa, tmp_path):
    docs = generated_corpus(tmp_path / "articles", n=3)
    qa = make_qa()
    qa.ingest([docs])
    folder = Path(qa.index.where) / "keyword" / qa.index.name
    meta = json.loads((folder / "meta.json").read_text())
    meta["ids"] = [f"x{i}" for i in range(len(meta["ids"]))]  # same count, wrong ids
    (folder / "meta.json").write_text(json.dumps(meta))
    reopened = make_qa(reopen=qa)
    assert sorted(reopened.index.keyword_index().ids) == sorted(qa.index.client.get_collection(qa.index.name).get()["ids"])


def test_a_second_ingest_into_the_same_index_is_refused_while_one_writes(make_qa, tmp_path):
    docs = generated_corpus(tmp_path / "articles", n=2)
    qa = make_qa()
    with qa.index.writing():
        result = subprocess.run([EXE, "--index", qa.index.where, "ingest", str(docs)], env=cli_env(),
                                capture_output=True, text=True, timeout=240)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"corpus-qa: error: another corpus-qa ingest is writing to {qa.index.where}; "
        "wait for it to finish, then run the command again"]
    assert qa.index.count() == 0
    assert qa.ingest([docs]).added == 2, "the lock is released"


def test_a_serving_process_sees_documents_another_process_adds(make_qa, tmp_path):
    """The page's process keeps its Chroma open; an ingest in another process adds an
    article; the next question finds it by its vector (not only by its words)."""
    first = generated_corpus(tmp_path / "first", n=3)
    qa = make_qa()
    qa.ingest([first])
    question = "Which lighthouse keeper retired after forty years at Cape Wrath?"
    assert "lighthouse" not in qa.ask(question).passages[0].source
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "lighthouse.txt").write_text(
        "Lighthouse Keeper Retires After Forty Years\nMargaret Olsen kept the Cape Wrath light for forty years. "
        "She retired on Sunday with a party in the village hall.\n", encoding="utf-8")
    result = subprocess.run([EXE, "--index", qa.index.where, "ingest", str(extra)], env=cli_env(),
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    answer = qa.ask(question)
    assert answer.passages[0].source.endswith("lighthouse.txt"), [p.source for p in answer.passages]
    vector = qa.embedder.encode([question])[0]
    assert qa.index.dense(vector, 1)[0][0].source.endswith("lighthouse.txt"), "the vector index sees it too"


def test_the_same_article_in_two_folders_of_one_name_is_stored_once(make_qa, tmp_path):
    """Same source name ("news/bridge.txt") and text: the same document id and chunk ids.
    Chroma refused the whole batch (DuplicateIDError) before; now it is stored once, a
    re-run embeds nothing, and a copy that changes is stored as its own document."""
    text = "Harbour Bridge Reopens After Repairs\nThe city reopened the Harbour Bridge on Monday after repairs.\n"
    for side in ("a", "b"):
        (tmp_path / side / "news").mkdir(parents=True)
        (tmp_path / side / "news" / "bridge.txt").write_text(text, encoding="utf-8")
    folders = [tmp_path / "a" / "news", tmp_path / "b" / "news"]
    qa = make_qa()
    first = qa.ingest(folders)
    assert (first.added, first.unchanged, first.chunks) == (1, 1, 1), first
    again = qa.ingest(folders)
    assert (again.added, again.updated, again.chunks) == (0, 0, 0), again
    assert qa.ingest([folders[1]]).chunks == 0, "the copy alone is known too"
    (folders[0] / "bridge.txt").write_text(text.replace("Monday", "Tuesday"), encoding="utf-8")
    changed = qa.ingest(folders)
    assert (changed.added, changed.updated) == (1, 1), changed
    assert len(qa.index.documents()) == 2 and qa.ingest(folders).chunks == 0
