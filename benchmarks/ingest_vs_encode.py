"""Ingest against a bare encode, as issues 13 and 26 measure it: whole processes, alternated.

    .venv/bin/python -m benchmarks.ingest_vs_encode [--docs 1000] [--rounds 2] [--bbc]

The first --docs SciFact abstracts (with --bbc: --docs BBC stories, spread evenly over the
archive's sorted files) are written as .txt files ("title\n\ntext"), then, each as its own
process, in alternating order each round:
- bare:    `SentenceTransformer(model).encode([title + "\n" + text ...], batch_size=32)`
           (the text truncated at the model's limit, as encode does; issue 13's yardstick);
- windows: the same model's encode of every token once: each text cut into consecutive
           windows of at most 254 word pieces, batch 32 (issue 26's yardstick);
- ingest:  `corpus-qa --index <fresh folder> ingest <folder>` (its passages do not
           overlap, so each token is encoded once, with the title before each passage).
Wall time of each process, from start to exit (imports, model load, writes included).
Targets: ingest at least 1.2x faster than bare (issue 13); ingest at most 1.2x the
windows' time (issue 26).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._common import REPO, SCIFACT, SHARED, footer, header, load1, parser

BARE = """
import sys, json
from sentence_transformers import SentenceTransformer
from store import resolve_model
texts = json.load(open(sys.argv[1]))
model = SentenceTransformer(resolve_model(None), device="cpu")
model.encode(texts, batch_size=32, convert_to_numpy=True, normalize_embeddings=True)
"""

WINDOWS = """
import sys, json
from sentence_transformers import SentenceTransformer
from store import resolve_model
texts = json.load(open(sys.argv[1]))
model = SentenceTransformer(resolve_model(None), device="cpu")
windows = []
for text in texts:
    ids = model.tokenizer(text, add_special_tokens=False)["input_ids"]
    windows += [model.tokenizer.decode(ids[at : at + 254]) for at in range(0, len(ids), 254)]
model.encode(windows, batch_size=32, convert_to_numpy=True, normalize_embeddings=True)
print(len(windows), "windows")
"""


def articles(args) -> list[tuple[str, str]]:
    """(title, text) of the documents timed."""
    if not args.bbc:
        with open(SCIFACT / "corpus.jsonl", encoding="utf-8") as f:
            return [(r["title"], r["text"]) for r in map(json.loads, (line for _, line in zip(range(args.docs), f)))]
    files = sorted((SHARED / "benchmarks" / "bbc-news" / "articles").glob("*/*.txt"))
    picked = [files[i * len(files) // args.docs] for i in range(min(args.docs, len(files)))]
    out = []
    for path in picked:
        title, _, text = path.read_text(encoding="utf-8", errors="replace").partition("\n")
        out.append((title.strip(), text.strip()))
    return out


def main() -> int:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--docs", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--bbc", action="store_true", help="BBC stories instead of SciFact abstracts")
    args = p.parse_args()
    header("ingest_vs_encode", args)
    work = Path(tempfile.mkdtemp(prefix="cqa-ive-"))
    try:
        folder = work / "abstracts"
        folder.mkdir()
        texts = []
        for n, (title, text) in enumerate(articles(args)):
            (folder / f"{n:05d}.txt").write_text(f"{title}\n\n{text}\n", encoding="utf-8")
            texts.append(f"{title}\n{text}")
        (work / "texts.json").write_text(json.dumps(texts))
        exe = Path(sys.executable)
        env = {"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "PATH": "/usr/bin:/bin"}
        commands = {
            "bare": lambda r: [str(exe), "-c", BARE, str(work / "texts.json")],
            "windows": lambda r: [str(exe), "-c", WINDOWS, str(work / "texts.json")],
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
        bare, windows, ingest = (sum(seconds[k]) for k in ("bare", "windows", "ingest"))
        print(f"ingest: {ingest:.1f} s over {args.rounds} rounds vs bare {bare:.1f} s: "
              f"{bare / ingest:.2f}x bare's speed (issue 13: >= 1.2x)")
        print(f"ingest: {ingest:.1f} s vs every token encoded once {windows:.1f} s: "
              f"{ingest / windows:.2f}x its time (issue 26: <= 1.2x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
