"""Interrupted ingestion: SIGKILL `corpus-qa ingest` at random moments, then check that a
plain re-run repairs the index exactly.

    .venv/bin/python benchmarks/kill_ingest.py                 # 300 SciFact abstracts, 12 kills, 2 Ctrl-C
    .venv/bin/python benchmarks/kill_ingest.py --docs 500 --trials 12 --seed 7
    .venv/bin/python benchmarks/kill_ingest.py --quick         # 60 abstracts, 3 kills, 1 Ctrl-C

SciFact abstracts (read in place from ../shared/benchmarks/scifact/corpus.jsonl) are
written as .txt files (title line, then text) into a temporary folder. A clean build of
them is the reference. Each trial then runs `corpus-qa ingest` and kills it with SIGKILL
after a random delay (uniform over the clean build's wall time), looks at what the killed
run left (chunks, documents complete or half-written, orphan sentence vectors, the
version stamp), runs the same command again, and checks against the clean build:
  - the re-run exits 0; a third run embeds nothing (added 0, updated 0);
  - the chunk ids and the sentence ids are exactly the clean build's (one copy of each);
  - every document is complete (stored chunks == its n_chunks);
  - the saved keyword index loads, is stamped with the collection's version and holds the
    collection's ids; every chunk is found by a dense query with its own vector;
  - `ask --json` gives the same top-5 passages as the clean build for sample queries, with
    Chroma's vector search made exhaustive (ef_search 1000) on both indexes. With its
    default (ef_search 100) HNSW is approximate and its results depend on the order the
    vectors went in, so two clean builds of the same files in different orders already
    differ now and then: that count is reported too, with such a control pair.
Trial kinds: "fresh" (empty index), "update" (a copy of the clean index while a third of
the files changed and 5% were deleted, ingest --prune), "double" (the re-run is killed
too, then a third run repairs), "midwrite" (killed within 2 s of its first vectors reaching
Chroma, to land inside the writes rather than the embedding, which takes most of a run),
and "sigint" (Ctrl-C: exit 130, one line, no traceback).

The code under test is a snapshot of store/, rag/ and ui/ taken at start (other people
edit the checkout meanwhile). Nothing touches the network; every run has a time limit.
Results: a table on stdout (for benchmarks/RESULTS.md) and JSON in the work folder.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import REPO, SCIFACT, scifact_records, snapshot_code

BIN = Path(sys.executable).parent
RUN_LIMIT = 1800  # seconds any one corpus-qa run may take


# -- inspection (runs in a subprocess of the snapshot, so no Chroma state is shared) ------
def inspect_index(folder: str, self_check: int = 100_000) -> dict:
    """What an index folder holds, read as a new process would, before anything rebuilds."""
    from store import Index
    from store.keyword import KeywordIndex

    index = Index.open(path=folder)
    saved = KeywordIndex.load(Path(folder) / "keyword" / index.name)  # before anything rebuilds it
    chunks = index.client.get_collection(index.name)
    chunk_ids, per_doc, n_chunks, vectors, sentence_ids = [], {}, {}, [], []
    for got in _pages(chunks, ["metadatas", "embeddings"]):
        for i, m, e in zip(got["ids"], got["metadatas"], got["embeddings"]):
            chunk_ids.append(i)
            per_doc[m["doc_id"]] = per_doc.get(m["doc_id"], 0) + 1
            n_chunks[m["doc_id"]] = int(m["n_chunks"])
            vectors.append((i, list(map(float, e))))
            sentence_ids += [f"{i}:{span}" for span in m.get("sentences", "").split(";") if span]
    records = set(index.client.get_collection(f"{index.name}-documents").get(include=[])["ids"])
    # the vector index agrees with the rows: each chunk's own vector finds it
    random.Random(0).shuffle(vectors)
    missed = 0
    for at in range(0, min(len(vectors), self_check), 200):
        batch = vectors[at : at + 200]
        found = chunks.query(query_embeddings=[v for _, v in batch], n_results=min(3, len(vectors)), include=[])
        missed += sum(i not in ids for (i, _), ids in zip(batch, found["ids"]))
    version = index.version()
    return {
        "chunks": len(chunk_ids),
        "unique_chunks": len(set(chunk_ids)),
        "chunk_ids": sorted(chunk_ids),
        "sentence_ids": sorted(sentence_ids),
        "documents": len(per_doc),
        "complete": sum(per_doc[d] == n_chunks[d] for d in per_doc),
        "partial": sum(per_doc[d] < n_chunks[d] for d in per_doc),
        "orphan_chunk_docs": len(set(per_doc) - records),
        "version": version,
        "pending": version.startswith("pending"),
        "keyword_saved_version_ok": bool(saved and saved.version == version),
        "keyword_saved_ids_ok": bool(saved and sorted(saved.ids) == sorted(chunk_ids)),
        "dense_self_missed": missed,
        "dense_self_checked": min(len(vectors), self_check),
    }


def exhaustive(folder: str) -> None:
    """Make the folder's vector search exhaustive (ef_search 1000), for comparing answers."""
    from store import Index

    index = Index.open(path=folder)
    index.client.get_collection(index.name).modify(configuration={"hnsw": {"ef_search": 1000}})


def _pages(collection, include):
    offset = 0
    while True:
        got = collection.get(include=include, limit=2000, offset=offset)
        if not got["ids"]:
            return
        yield got
        offset += len(got["ids"])


# -- the driver --------------------------------------------------------------------------
class Runner:
    def __init__(self, work: Path, code: Path):
        self.work = work
        self.env = {**os.environ, "PYTHONPATH": str(code), "ANONYMIZED_TELEMETRY": "False",
                    "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}

    def cmd(self, index: Path, *args: str) -> list[str]:
        return [str(BIN / "corpus-qa"), "--index", str(index), *args]

    def run(self, index: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str, float]:
        start = time.monotonic()
        p = subprocess.run(self.cmd(index, *args), env=self.env, cwd=self.work, capture_output=True, text=True,
                           input=stdin, timeout=RUN_LIMIT)
        return p.returncode, p.stdout, p.stderr, time.monotonic() - start

    def ingest(self, index: Path, docs: Path, prune: bool) -> dict:
        code, out, err, seconds = self.run(index, "ingest", "--json", *(["--prune"] if prune else []), str(docs))
        report = json.loads(out.strip().splitlines()[-1]) if code == 0 and out.strip() else None
        return {"exit": code, "seconds": round(seconds, 1), "report": report, "stderr": err.strip()[-400:] if code else ""}

    def interrupt(self, index: Path, docs: Path, prune: bool, after: float, sig: int, on_rows: bool = False) -> dict:
        """Start an ingest, send `sig` after `after` seconds (counted from its first vector
        rows in Chroma's SQLite when `on_rows`); what happened."""
        args = self.cmd(index, "ingest", "--json", *(["--prune"] if prune else []), str(docs))
        rows_before = vector_rows(index)
        proc = subprocess.Popen(args, env=self.env, cwd=self.work, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        start = time.monotonic()
        if on_rows:
            while proc.poll() is None and vector_rows(index) <= rows_before and time.monotonic() - start < RUN_LIMIT:
                time.sleep(0.05)
            after += time.monotonic() - start
        try:
            proc.wait(timeout=max(0.0, after - (time.monotonic() - start)))
            finished_first = True
        except subprocess.TimeoutExpired:
            finished_first = False
            proc.send_signal(sig)
        try:
            out, err = proc.communicate(timeout=RUN_LIMIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        return {"signal": signal.Signals(sig).name, "after_s": round(after, 2),
                "finished_before_signal": finished_first, "exit": proc.returncode,
                "seconds": round(time.monotonic() - start, 1), "stderr": err.strip()[-600:]}

    def inspect(self, index: Path, self_check: int) -> dict:
        p = subprocess.run([sys.executable, __file__, "--inspect", str(index), "--self-check", str(self_check)],
                           env=self.env, cwd=self.work, capture_output=True, text=True, timeout=RUN_LIMIT)
        if p.returncode:
            raise RuntimeError(f"inspecting {index} failed:\n{p.stderr[-2000:]}")
        return json.loads(p.stdout)

    def exhaustive(self, index: Path) -> None:
        p = subprocess.run([sys.executable, __file__, "--exhaustive", str(index)], env=self.env, cwd=self.work,
                           capture_output=True, text=True, timeout=RUN_LIMIT)
        if p.returncode:
            raise RuntimeError(f"making {index} exhaustive failed:\n{p.stderr[-2000:]}")

    def answers(self, index: Path, questions: list[str]) -> list:
        code, out, err, _ = self.run(index, "ask", "--json", "-k", "5", "--file", "-", stdin="\n".join(questions))
        if code:
            raise RuntimeError(f"ask failed ({code}): {err[-1000:]}")
        return [[(p["source"], p["start"], p["end"]) for p in json.loads(line)["passages"]]
                for line in out.splitlines() if line.strip()]


def vector_rows(index: Path) -> int:
    """Rows in Chroma's embeddings table (every collection), read-only from outside."""
    import sqlite3

    db = index / "chroma" / "chroma.sqlite3"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.2) as con:
            return con.execute("SELECT count(*) FROM embeddings").fetchone()[0]
    except sqlite3.Error:
        return 0


def write_docs(folder: Path, records: list[dict]) -> None:
    """Make `folder` hold exactly these records, one .txt file each (other files removed)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for r in records:
        (folder / f"{r['_id']}.txt").write_text(f"{r['title']}\n{r['text']}\n", encoding="utf-8")


def compare(state: dict, ref: dict) -> dict:
    return {
        "count_equal": state["chunks"] == ref["chunks"],
        "one_copy_each": state["unique_chunks"] == state["chunks"],
        "chunk_ids_equal": state["chunk_ids"] == ref["chunk_ids"],
        "sentence_ids_equal": state["sentence_ids"] == ref["sentence_ids"],
        "all_complete": state["partial"] == 0 and state["complete"] == ref["complete"],
        "no_orphans": state["orphan_chunk_docs"] == 0,
        "not_pending": not state["pending"],
        "keyword_in_step": state["keyword_saved_version_ok"] and state["keyword_saved_ids_ok"],
        "dense_finds_every_chunk": state["dense_self_missed"] == 0,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=300, help="SciFact abstracts (default 300)")
    ap.add_argument("--trials", type=int, default=12, help="SIGKILL trials (default 12)")
    ap.add_argument("--sigint", type=int, default=2, help="Ctrl-C trials (default 2)")
    ap.add_argument("--queries", type=int, default=20, help="sample questions compared with the clean build")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--kinds", default="fresh,fresh,update,double,midwrite,fresh,update,midwrite",
                    help="SIGKILL trial kinds, in turn (fresh, update, double, midwrite)")
    ap.add_argument("--max-minutes", type=float, default=120, help="start no trial after this")
    ap.add_argument("--self-check", type=int, default=100_000, help="chunks checked by a query with their own vector")
    ap.add_argument("--work", help="work folder (default: a new temporary one, removed at the end)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--quick", action="store_true", help="60 abstracts, 3 kills, 1 Ctrl-C")
    ap.add_argument("--inspect", metavar="INDEX", help=argparse.SUPPRESS)
    ap.add_argument("--exhaustive", metavar="INDEX", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inspect:
        print(json.dumps(inspect_index(args.inspect, args.self_check)))
        return 0
    if args.exhaustive:
        exhaustive(args.exhaustive)
        return 0
    if args.quick:
        args.docs, args.trials, args.sigint, args.queries = 60, 3, 1, 8
    rng = random.Random(args.seed)
    deadline = time.monotonic() + args.max_minutes * 60
    work = Path(args.work or tempfile.mkdtemp(prefix="kill-ingest-"))
    work.mkdir(parents=True, exist_ok=True)
    code = snapshot_code(work)
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "store", "rag", "ui"],
                           capture_output=True, text=True).stdout.split()
    runner = Runner(work, code)
    log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731

    # corpus A, and corpus B: a third of A's files changed, 5% gone (for "update" trials).
    # Both live in the same folder (documents are known by their path): it holds A or B.
    records = scifact_records(args.docs)
    changed = [dict(r, text=r["text"] + " This abstract was revised after review.") if i % 3 == 0 else r
               for i, r in enumerate(records) if i % 20 != 19]
    docs = work / "docs"
    contents = {"A": records, "B": changed}
    queries = [json.loads(line)["text"] for line in (SCIFACT / "queries.jsonl").read_text().splitlines()[: args.queries]]

    log(f"clean builds of {len(records)} abstracts (code {commit}{' + uncommitted edits' if dirty else ''})")
    clean_a, clean_b = work / "clean-a", work / "clean-b"
    for folder in (clean_a, clean_b):
        shutil.rmtree(folder, ignore_errors=True)
    write_docs(docs, contents["A"])
    build_a = runner.ingest(clean_a, docs, prune=False)
    write_docs(docs, contents["B"])
    build_b = runner.ingest(clean_b, docs, prune=False)
    for name, build in (("A", build_a), ("B", build_b)):
        if build["exit"]:
            raise SystemExit(f"clean build {name} failed: {build['stderr']}")
    # the update trials' starting point: a clean A, then ingest B with --prune; time it once
    update_base = work / "update-base"
    shutil.rmtree(update_base, ignore_errors=True)
    shutil.copytree(clean_a, update_base)
    probe = work / "update-probe"
    shutil.rmtree(probe, ignore_errors=True)
    shutil.copytree(update_base, probe)
    update_time = runner.ingest(probe, docs, prune=True)  # docs holds B
    refs = {"A": runner.inspect(clean_a, args.self_check), "B": runner.inspect(clean_b, args.self_check)}
    default_answers = {"A": runner.answers(clean_a, queries), "B": runner.answers(clean_b, queries)}
    control = runner.answers(probe, queries)  # B built in another order: A, then the update
    control_same = sum(x == y for x, y in zip(control, default_answers["B"]))
    for folder in (clean_a, clean_b, probe):
        runner.exhaustive(folder)
    expected_answers = {"A": runner.answers(clean_a, queries), "B": runner.answers(clean_b, queries)}
    control_exact = sum(x == y for x, y in zip(runner.answers(probe, queries), expected_answers["B"]))
    if update_time["exit"] or update_time["report"]["updated"] == 0 or update_time["report"]["removed"] == 0:
        raise SystemExit(f"the update run did not update and prune: {update_time}")
    probe_state = runner.inspect(probe, args.self_check)
    log(f"clean A: {build_a['seconds']} s, {refs['A']['chunks']} chunks, {len(refs['A']['sentence_ids'])} sentences; "
        f"clean B: {refs['B']['chunks']} chunks; update A->B: {update_time['seconds']} s, "
        f"same as clean B: {all(compare(probe_state, refs['B']).values())}; its top-5 equal clean B's for "
        f"{control_same}/{len(queries)} queries at Chroma's default ef_search, {control_exact}/{len(queries)} exhaustive")

    kinds = args.kinds.split(",")
    plan = [kinds[i % len(kinds)] for i in range(args.trials)] + ["sigint"] * args.sigint
    results = []
    for number, kind in enumerate(plan, 1):
        if time.monotonic() > deadline:
            log(f"time limit reached: {number - 1} trials run")
            break
        target = "B" if kind == "update" else "A"
        write_docs(docs, contents[target])
        prune = kind == "update"
        index = work / f"trial-{number}"
        shutil.rmtree(index, ignore_errors=True)
        if kind == "update":
            shutil.copytree(update_base, index)
        full = update_time["seconds"] if kind == "update" else build_a["seconds"]
        after = rng.uniform(0.05, 1.0) * full
        sig = signal.SIGINT if kind == "sigint" else signal.SIGKILL
        trial = {"trial": number, "kind": kind, "kills": []}
        if kind == "sigint":  # Ctrl-C once the run is under way (past the imports)
            after = rng.uniform(0.4, 0.95) * full
        if kind == "midwrite":
            after = rng.uniform(0.0, 2.0)
        try:
            run_trial(runner, trial, kind, index, docs, prune, after, sig, full, rng, args, refs[target],
                      default_answers[target], expected_answers[target], queries)
        except (RuntimeError, subprocess.SubprocessError, OSError, ValueError) as e:  # a broken harness step
            trial.update(ok=False, checks={"harness": False}, error=str(e)[-1500:])
            log(f"trial {number} {kind}: harness error, counted as FAILED: {str(e)[-600:]}")
            results.append(trial)
            shutil.rmtree(index, ignore_errors=True)
            continue
        results.append(trial)
        k = trial["kills"][0]
        log(f"trial {number} {kind}: {k['signal']} after {k['after_s']} s"
            f"{' (had finished)' if k['finished_before_signal'] else ''}; left {trial['left']['chunks']} chunks, "
            f"{trial['left']['partial']} half-written docs, {trial['left']['orphan_chunk_docs']} orphan-chunk docs, "
            f"pending={trial['left']['pending']}; re-run {trial['rerun']['seconds']} s "
            f"{trial['rerun']['report']}; {'OK' if trial['ok'] else 'FAILED ' + str([c for c, v in trial['checks'].items() if not v])}")
        shutil.rmtree(index, ignore_errors=True)

    summary = {
        "code": commit + (" (+ uncommitted edits to " + ", ".join(sorted(set(d for d in dirty if "/" in d))) + ")" if dirty else ""),
        "docs": len(records), "chunks": refs["A"]["chunks"], "sentences": len(refs["A"]["sentence_ids"]),
        "clean_build_s": build_a["seconds"], "update_s": update_time["seconds"], "queries": len(queries),
        "control_same_top5_default": control_same, "control_same_top5_exact": control_exact,
        "trials": results,
    }
    (work / "results.json").write_text(json.dumps(summary, indent=1))
    print(table(summary))
    ok = all(t["ok"] for t in results)
    if not args.keep and not args.work:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"\nwork folder: {work}", file=sys.stderr)
    return 0 if ok else 1


def run_trial(runner, trial, kind, index, docs, prune, after, sig, full, rng, args, ref, default_answers,
              expected_answers, queries) -> None:
    """One trial: interrupt, look at what was left, re-run, check against the clean build (into `trial`)."""
    trial["kills"].append(runner.interrupt(index, docs, prune, after, sig, on_rows=kind == "midwrite"))
    trial["left"] = {k: v for k, v in runner.inspect(index, 0).items() if not k.endswith("_ids")}
    if kind == "double":
        trial["kills"].append(runner.interrupt(index, docs, prune, rng.uniform(0.05, 0.9) * full, sig))
        trial["left_after_second"] = {k: v for k, v in runner.inspect(index, 0).items() if not k.endswith("_ids")}
    trial["rerun"] = runner.ingest(index, docs, prune)
    trial["third_run"] = runner.ingest(index, docs, prune)
    state = runner.inspect(index, args.self_check)
    checks = compare(state, ref)
    checks["rerun_ok"] = trial["rerun"]["exit"] == 0
    third = trial["third_run"]["report"] or {}
    checks["third_run_embeds_nothing"] = trial["third_run"]["exit"] == 0 and third.get("chunks") == 0 \
        and third.get("added") == 0 and third.get("updated") == 0
    got = runner.answers(index, queries)
    trial["same_top5_default"] = sum(x == y for x, y in zip(got, default_answers))
    runner.exhaustive(index)
    got = runner.answers(index, queries)
    trial["same_top5_exact"] = sum(x == y for x, y in zip(got, expected_answers))
    checks["same_answers"] = got == expected_answers
    if kind == "sigint":
        k = trial["kills"][0]
        lines = [line for line in k["stderr"].splitlines() if line.strip()]
        checks["sigint_exit_130_one_line"] = k["finished_before_signal"] or (
            k["exit"] == 130 and "Traceback" not in k["stderr"] and len(lines) == 1 and "interrupted" in lines[0])
    trial["checks"] = checks
    trial["ok"] = all(checks.values())


def table(summary: dict) -> str:
    rows = [
        f"{summary['docs']} SciFact abstracts, {summary['chunks']} chunks, {summary['sentences']} sentence vectors; "
        f"clean build {summary['clean_build_s']} s, update run {summary['update_s']} s; code {summary['code']}",
        "",
        f"Control: B built in another order (A, then the update run) has the same top-5 as clean B for "
        f"{summary['control_same_top5_default']}/{summary['queries']} queries at Chroma's default ef_search and "
        f"{summary['control_same_top5_exact']}/{summary['queries']} with exhaustive search.",
        "",
        "| # | kind | signal after | left behind (chunks / half-written docs / orphan-chunk docs / stamp) "
        "| re-run | same top-5 (default / exhaustive) | result |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for t in summary["trials"]:
        if "error" in t:
            rows.append(f"| {t['trial']} | {t['kind']} | - | - | - | - | FAILED (harness): {t['error'][-200:]!r} |")
            continue
        kills = "; ".join(f"{k['signal']} {k['after_s']} s" + (" (had finished)" if k["finished_before_signal"] else "")
                          for k in t["kills"])
        left = t["left"]
        stamp = "pending" if left["pending"] else "final"
        report = t["rerun"]["report"] or {}
        rerun = (f"{t['rerun']['seconds']} s, +{report.get('added')} ~{report.get('updated')} "
                 f"={report.get('unchanged')} -{report.get('removed')}, {report.get('chunks')} chunks")
        failed = [c for c, v in t["checks"].items() if not v]
        same = f"{t['same_top5_default']}/{summary['queries']} / {t['same_top5_exact']}/{summary['queries']}"
        rows.append(f"| {t['trial']} | {t['kind']} | {kills} | {left['chunks']} / {left['partial']} / "
                    f"{left['orphan_chunk_docs']} / {stamp} | {rerun} | {same} | "
                    f"{'ok' if t['ok'] else 'FAILED: ' + ', '.join(failed)} |")
    passed = sum(t["ok"] for t in summary["trials"])
    rows.append("")
    rows.append(f"{passed}/{len(summary['trials'])} trials passed every check "
                f"({', '.join(max((t['checks'] for t in summary['trials']), key=len, default={}))}).")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
