"""Cold start: wall clock of `corpus-qa ask "..."` on an existing index, and where it goes.

    .venv/bin/python -m benchmarks.cold_start [--quick] [--runs N] [--compare GIT_REV]

Indexes the bundled corpus into a temporary folder (not timed), then runs the CLI as a
user would, each run a fresh process. Also times the imports it pays for (and the ones
it no longer pays for: sentence-transformers, gradio) and the phases inside the
process. --compare REV runs the same command on the code of a git revision (extracted
with `git archive` to a temporary folder, same venv) for a before/after figure.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._common import REPO, footer, header, parser

QUESTION = "Who chairs the Ukraine Defense Contact Group?"
BIN = Path(sys.executable).parent
PHASES = r"""
import time, sys
t0 = time.perf_counter()
from rag import QA
t1 = time.perf_counter()
qa = QA.open(index=sys.argv[1])
t2 = time.perf_counter()
qa.embedder.encode(["warm"])
t3 = time.perf_counter()
qa.ask(sys.argv[2])
t4 = time.perf_counter()
qa.ask(sys.argv[2])
t5 = time.perf_counter()
mods = sys.modules
print(f"import rag {t1-t0:.2f} s | QA.open (chromadb import, client) {t2-t1:.2f} s | "
      f"query encoder load + 1st encode {t3-t2:.2f} s | 1st ask (keyword index load) {t4-t3:.2f} s | "
      f"2nd ask {1000*(t5-t4):.0f} ms")
print("imported: " + ", ".join(f"{m} {'yes' if m in mods else 'no'}" for m in
      ("sentence_transformers", "transformers", "gradio", "torch", "chromadb", "bm25s", "numba")))
"""


CPU: list[float] = []  # user+sys seconds of each timed child: what the wall clock would be on an idle machine, roughly


def timed(cmd: list[str], env=None, cwd=REPO) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall


def runs(cmd: list[str], n: int, env=None, cwd=REPO) -> list[float]:
    timed(cmd, env, cwd)  # page cache warm, as on a machine that has run it before
    CPU.clear()
    return [timed(cmd, env, cwd) for _ in range(n)]


def fmt(seconds: list[float]) -> str:
    return (f"median {statistics.median(seconds):5.2f} s  min {min(seconds):5.2f} s  max {max(seconds):5.2f} s  (n={len(seconds)})"
            f"  CPU user+sys median {statistics.median(CPU):5.2f} s")


def top_imports(cmd: list[str], env=None, n: int = 8) -> list[tuple[float, str]]:
    """Top-level imports by cumulative time, from python -X importtime."""
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split(":", 1)[1].split("|")
        if not name.startswith("  "):  # depth 0: imported by the program itself
            rows.append((int(cumulative) / 1e6, name.strip()))
    return sorted(rows, reverse=True)[:n]


def main() -> int:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--compare", metavar="GIT_REV", help="also time the code of this revision (e.g. a commit before a change)")
    args = p.parse_args()
    n = 2 if args.quick else args.runs
    header("cold_start", args)
    work = Path(tempfile.mkdtemp(prefix="cqa-cold-"))
    try:
        index = work / "index"
        subprocess.run([str(BIN / "corpus-qa"), "--index", str(index), "ingest", str(REPO / "corpus")],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
        ask = [str(BIN / "corpus-qa"), "--index", str(index), "ask", QUESTION]
        print(f'corpus-qa ask "{QUESTION}" (bundled corpus index, fresh process each run)')
        print(f"  this checkout          {fmt(runs(ask, n))}   target <= 5 s")
        if args.compare:
            old = work / "old"
            old.mkdir()
            archive = subprocess.run(["git", "archive", args.compare], cwd=REPO, capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
            # byte-compiled as the checkout is (else every run compiles every module: ~0.4 s)
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(old)], check=True, stdout=subprocess.DEVNULL)
            env = {**os.environ, "PYTHONPATH": str(old)}
            old_ask = [sys.executable, "-m", "ui.cli", "--index", str(index), "ask", QUESTION]
            print(f"  at {args.compare:<20} {fmt(runs(old_ask, n, env, cwd=old))}")
        print("reference imports (fresh process each):")
        for module in ("sentence_transformers", "torch", "chromadb", "bm25s"):
            print(f"  import {module:<22} {fmt(runs([sys.executable, '-c', f'import {module}'], max(2, n // 2)))}")
        print("inside one process:")
        out = subprocess.run([sys.executable, "-c", PHASES, str(index), QUESTION], capture_output=True, text=True,
                             check=True, cwd=REPO).stdout
        print("  " + out.strip().replace("\n", "\n  "))
        print("top-level imports of `ask` (python -X importtime, cumulative):")
        rows = top_imports([sys.executable, "-X", "importtime", "-m", "ui.cli", "--index", str(index), "ask", QUESTION])
        print("  " + "  ".join(f"{name} {sec:.2f} s;" for sec, name in rows))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
