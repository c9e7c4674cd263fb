"""Start-up of `corpus-qa serve`: from the command to a page that answers, and where it goes.

    .venv/bin/python -m benchmarks.serve_startup [--runs N] [--quick]

Indexes the bundled corpus into a temporary folder (not timed). Then, each run a fresh
process:
1. the command as a user runs it, `corpus-qa --index DIR serve --port P`: wall clock
   from the start to the first 200 on "/" (polled every 20 ms), and the child's CPU time;
2. the same steps in a script, each timed: Python and the `corpus-qa` entry point
   (ui.cli, argparse), `import rag` (store, numpy, the scoring weights), QA.open (chromadb
   import, the client, the collections), the empty-index check, `import ui.app` (gradio),
   build_app (the Blocks), launch (uvicorn and Gradio's start-up) until "/" answers;
3. `import gradio` and `import chromadb` under `python -X importtime`: their slowest
   direct imports (cumulative).
The model is not loaded at start (the first question loads it): it is not in these figures.
"""

from __future__ import annotations

import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._common import REPO, footer, header, parser

BIN = Path(sys.executable).parent
STEPS = r"""
import time, sys, os
t = [time.perf_counter()]
import ui.cli
t.append(time.perf_counter())
import rag
t.append(time.perf_counter())
from rag import QA
qa = QA.open(index=sys.argv[1], create=False)
t.append(time.perf_counter())
assert qa.index.count()
t.append(time.perf_counter())
import gradio
t.append(time.perf_counter())
import ui.app
t.append(time.perf_counter())
app = ui.app.build_app(qa, allow_changes=True)
t.append(time.perf_counter())
import httpx
ui.app.launch(qa, port=int(sys.argv[2]), block=False)
while True:
    try:
        if httpx.get(f"http://127.0.0.1:{sys.argv[2]}/", timeout=5).status_code == 200:
            break
    except httpx.HTTPError:
        pass
    time.sleep(0.02)
t.append(time.perf_counter())
names = ["import ui.cli (the entry point; ui/__init__ brings rag, store, numpy)", "import rag (already in)",
         "QA.open (import chromadb, the client, the collections)", "the index's count",
         "import gradio", "import ui.app (the page's modules)", "build_app (the Blocks)",
         "launch until / answers (uvicorn, Gradio's start-up)"]
print(";".join(f"{n}={b - a:.3f}" for n, a, b in zip(names, t, t[1:])), flush=True)
os._exit(0)
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ready(port: int, proc: subprocess.Popen, limit: float = 120.0) -> float:
    import httpx

    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200:
                return time.perf_counter()
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    raise RuntimeError("serve did not answer within 120 s")


def main() -> int:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    runs = 2 if args.quick else args.runs
    header("serve_startup", args)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CORPUS_QA_")}, "HF_HUB_OFFLINE": "1",
           "ANONYMIZED_TELEMETRY": "False", "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONWARNINGS": "ignore"}
    with tempfile.TemporaryDirectory(prefix="corpus-qa-serve-") as tmp:
        index = str(Path(tmp) / "index")
        subprocess.run([str(BIN / "corpus-qa"), "--index", index, "ingest", str(REPO / "corpus")], check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        walls, cpus = [], []
        for _ in range(runs):
            port = free_port()
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            proc = subprocess.Popen([str(BIN / "corpus-qa"), "--index", index, "serve", "--port", str(port)], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                walls.append(ready(port, proc) - start)
            finally:
                proc.terminate()
                proc.wait()
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        print(f"\n`corpus-qa serve` to the first 200 on /: median {statistics.median(walls):.2f} s "
              f"(runs: {', '.join(f'{w:.2f}' for w in walls)}); child CPU (until stopped) median "
              f"{statistics.median(cpus):.2f} s")

        steps: dict[str, list[float]] = {}
        for _ in range(runs):
            out = subprocess.run([sys.executable, "-c", STEPS, index, str(free_port())], capture_output=True,
                                 text=True, env={**env, "PYTHONPATH": str(REPO)}, cwd=REPO, check=True)
            line = [x for x in out.stdout.splitlines() if "=" in x][-1]
            for part in line.split(";"):
                name, value = part.split("=")
                steps.setdefault(name, []).append(float(value))
        total = sum(statistics.median(v) for v in steps.values())
        print("\n| step (in one process, Python's own start not counted) | median s | share |")
        print("| --- | --- | --- |")
        for name, values in steps.items():
            m = statistics.median(values)
            print(f"| {name} | {m:.2f} | {100 * m / total:.0f} % |")
        print(f"| sum | {total:.2f} | |")

        for what in ("gradio", "chromadb"):
            imports = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {what}"], capture_output=True,
                                     text=True, env={**env, "PYTHONPATH": str(REPO)}, cwd=REPO).stderr
            rows = []
            for line in imports.splitlines():
                m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)", line)
                if m:
                    rows.append((int(m.group(2)), len(m.group(3)) // 2, m.group(4)))
            top = sorted((r for r in rows if r[1] <= 1 and r[2] != what), reverse=True)[:10]
            whole = next((us for us, level, name in rows if name == what and level == 0), 0)
            print(f"\n`import {what}` (one run, -X importtime): {whole / 1e6:.2f} s; its slowest direct imports: "
                  + ", ".join(f"{name} {us / 1e6:.2f} s" for us, _, name in top))
    footer()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
