"""The BBC News archive as a development benchmark: build its index once, then evaluate.

    .venv/bin/python -m benchmarks.bbc [--index DIR] [--rebuild] [--questions FILE]

1. Ingest (only when DIR holds no index yet, or --rebuild): `corpus-qa --index DIR ingest
   ../shared/benchmarks/bbc-news/articles <folder with one binary file>` as a whole process:
   its wall time, its exit code (1: finished, one file skipped), what it printed about
   the skipped file, chunks, documents, copies, disk, and the process's peak RSS.
2. Evaluate `corpus-qa eval` on ../shared/qa/bbc-dev.jsonl (or --questions) against that
   index, in this process: hit@k, MRR@10, answer accuracy and abstention, per kind.

The index is reused by later runs (default /tmp/corpus-qa-bbc): the build takes minutes.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._common import REPO, SHARED, footer, header, parser

BBC = SHARED / "benchmarks" / "bbc-news" / "articles"
QUESTIONS = SHARED / "qa" / "bbc-dev.jsonl"


def build(index: Path) -> None:
    extra = index.parent / f"{index.name}-extra"
    shutil.rmtree(extra, ignore_errors=True)
    extra.mkdir(parents=True)
    (extra / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    exe = Path(sys.executable).parent / "corpus-qa"
    started = time.monotonic()
    proc = subprocess.run([str(exe), "--index", str(index), "ingest", "--json", str(BBC), str(extra)],
                          capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    seconds = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"ingest: exit {proc.returncode} (1 = finished with skipped files) in {seconds:.1f} s; "
          f"peak RSS of the ingest process {peak:.0f} MB")
    for line in proc.stderr.splitlines():
        if "skipped" in line or "error" in line:
            print(f"  stderr: {line}")
    if proc.stdout.strip():
        report = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"  report: added {report['added']}, copies {report['copies']}, chunks {report['chunks']}, "
              f"skipped {len(report['skipped'])}")
    disk = sum(p.stat().st_size for p in index.rglob("*") if p.is_file()) / 1e6
    print(f"  index on disk: {disk:.0f} MB")


def main() -> int:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--index", type=Path, default=Path("/tmp/corpus-qa-bbc"))
    p.add_argument("--rebuild", action="store_true")
    p.add_argument("--questions", type=Path, default=QUESTIONS)
    p.add_argument("--json", action="store_true", help="also print the per-question judgements as JSON lines")
    args = p.parse_args()
    header("bbc", args)
    if args.rebuild:
        shutil.rmtree(args.index, ignore_errors=True)
    if not (args.index / "corpus-qa.json").exists():
        build(args.index)
    sys.path.insert(0, str(REPO))
    from rag import QA
    from ui.cli import format_table
    from rag.evaluate import evaluate, load_questions

    qa = QA.open(index=args.index)
    stats = qa.stats()
    print(f"index {args.index}: {stats.documents} documents, {stats.chunks} chunks")
    questions = load_questions(args.questions)
    started = time.monotonic()
    metrics, judgements = evaluate(qa, questions)
    print(f"{args.questions.name}: {len(judgements)} questions in {time.monotonic() - started:.1f} s")
    print(format_table(metrics))
    misses = [j for j in judgements if not j.correct]
    for j in misses:
        print(f"  miss {j.id} ({j.kind}): rank {j.rank}, abstained {j.abstained}: {j.answer[:140]!r}")
    if args.json:
        for j in judgements:
            print(json.dumps(j.__dict__))
    footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
