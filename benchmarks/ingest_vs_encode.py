"""Issue 13's ingest target as the issue measures it: whole processes, alternated.

    .venv/bin/python -m benchmarks.ingest_vs_encode [--docs 1000] [--rounds 2]

The first --docs SciFact abstracts are written as .txt files ("title\\n\\nabstract"), then,
each as its own process, in alternating order each round:
- bare:    `SentenceTransformer(model).encode([title + "\\n" + text ...], batch_size=32)`
           (the text truncated at the model's limit, as encode does);
- ingest:  `corpus-qa --index <fresh folder> ingest <folder>` (its passages do not
           overlap, so each token is encoded once, with the title before each passage).
Wall time of each process, from start to exit (imports, model load, writes included).
Target (issue 13): ingest at least 1.2x faster than bare.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._common import REPO, SCIFACT, footer, header, load1, parser

BARE = """
import sys, json
from sentence_transformers import SentenceTransformer
from store import resolve_model
texts = json.load(open(sys.argv[1]))
model = SentenceTransformer(resolve_model(None), device="cpu")
model.encode(texts, batch_size=32, convert_to_numpy=True, normalize_embeddings=True)
"""


def main() -> int:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--docs", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    header("ingest_vs_encode", args)
    work = Path(tempfile.mkdtemp(prefix="cqa-ive-"))
    try:
        folder = work / "abstracts"
        folder.mkdir()
        texts = []
        with open(SCIFACT / "corpus.jsonl", encoding="utf-8") as f:
            for n, line in zip(range(args.docs), f):
                r = json.loads(line)
                (folder / f"{n:05d}.txt").write_text(f"{r['title']}\n\n{r['text']}\n", encoding="utf-8")
                texts.append(f"{r['title']}\n{r['text']}")
        (work / "texts.json").write_text(json.dumps(texts))
        exe = Path(sys.executable)
        env = {"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "PATH": "/usr/bin:/bin"}
        commands = {
            "bare": lambda r: [str(exe), "-c", BARE, str(work / "texts.json")],
            "ingest": lambda r: [str(exe.parent / "corpus-qa"), "--index", str(work / f"ingest-{r}"), "ingest", str(folder)],
        }
        seconds: dict[str, list[float]] = {k: [] for k in commands}
        for r in range(args.rounds):
            order = list(commands) if r % 2 == 0 else list(commands)[::-1]
            for name in order:
                load = load1()
                start = time.perf_counter()
                done = subprocess.run(commands[name](r), capture_output=True, text=True, env=env)
                took = time.perf_counter() - start
                if done.returncode not in (0,):
                    raise SystemExit(f"{name} failed ({done.returncode}): {done.stderr[-1500:]}")
                seconds[name].append(took)
                print(f"round {r + 1}: {name:8s} {took:7.1f} s (1-min load before {load:.2f})", flush=True)
        bare = sum(seconds["bare"])
        for name in ("ingest",):
            print(f"{name}: {sum(seconds[name]):.1f} s over {args.rounds} rounds vs bare {bare:.1f} s: "
                  f"{bare / sum(seconds[name]):.2f}x bare (target >= 1.2x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
