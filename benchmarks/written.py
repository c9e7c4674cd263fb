"""Written answers on bbc-dev through a real language model, every sentence checked.

    .venv/bin/python benchmarks/written.py [--indexes DIR] [--llm-url URL] [--limit N] [--records OUT.jsonl]

Without --llm-url it starts llama.cpp's server with Gemma 3 270M on a free loopback port
(ui/llm.py, what `make llm` runs) and stops it after. Each bbc-dev question goes through
QA.ask(k=5, generate=True): the extractive answer, then the model writes from the same
five passages and rag.claims checks each sentence. Printed, each with a 95 % bootstrap
interval: the share of written sentences the check supports; answer accuracy
(../shared/qa/README.md) of the shown answer (the supported written sentences, else the
extractive answer) and of the extractive answer alone, and their paired difference; the
seconds the model took per question. --records keeps every question's passages, written
sentences and verdicts (for checking supported sentences by hand).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(1, str(Path(__file__).resolve().parent))
import sets as S  # noqa: E402
from quality import bootstrap  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def load1() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def serve_gemma(log_path: Path) -> tuple[subprocess.Popen, str]:
    """llama.cpp's server with Gemma 3 270M on a free loopback port; (process, base URL)."""
    import socket

    from ui.llm import server_command

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(server_command(port), stdout=open(log_path, "wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None:
            sys.exit(f"written: the llama.cpp server exited with {proc.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(url + "/models", timeout=2):
                return proc, url
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                sys.exit(f"written: the llama.cpp server did not answer within 180 s; see {log_path}")
            time.sleep(0.5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--indexes", type=Path, default=S.INDEXES)
    ap.add_argument("--llm-url", help="an OpenAI-compatible endpoint (default: start Gemma 3 270M here)")
    ap.add_argument("--llm-model", default="")
    ap.add_argument("--limit", type=int, help="only the first N questions")
    ap.add_argument("--every", type=int, default=1, help="only every N-th question (a spread-out sample)")
    ap.add_argument("--max-tokens", type=int, default=120, help="the longest written answer, in tokens (default 120)")
    ap.add_argument("--records", type=Path, help="write one JSON line per question here")
    args = ap.parse_args()

    from rag import LLM
    from store import SentenceTransformerEmbedder

    qa = S.open_index("bbc", args.indexes, SentenceTransformerEmbedder())
    proc = None
    url = args.llm_url
    if not url:
        proc, url = serve_gemma(args.indexes / "llm-server.log")
    qa.llm = LLM(url, model=args.llm_model, timeout=120, max_tokens=args.max_tokens)
    items = S.items("bbc-dev")[:: args.every][: args.limit]
    if args.records:
        args.records.write_text("", encoding="utf-8")
    print(f"# written  {time.strftime('%Y-%m-%d %H:%M')}  load {load1():.2f}  {len(items)} bbc-dev questions, "
          f"model at {url}", flush=True)
    rows, records = [], []
    try:
        qa.ask(items[0].question, generate=True)  # warm: the model's first prompt, the embedder
        for item in items:
            answer = qa.ask(item.question, k=5)
            started = time.perf_counter()
            for answer in qa.write(answer):
                pass
            seconds = time.perf_counter() - started
            g = answer.generated
            shown = dataclasses.replace(answer, text=answer.shown)
            rows.append({"kind": item.kind, "answerable": item.answerable, "seconds": seconds,
                         "written": len(g.sentences), "supported": sum(s.supported for s in g.sentences),
                         "extractive": float(S.correct(item, answer)), "shown": float(S.correct(item, shown)),
                         "wrote": bool(g.sentences), "used": bool(g.text), "abstained": answer.abstained})
            records.append({"id": item.id, "question": item.question, "answers": item.answers,
                            "extractive": answer.text, "shown": answer.shown, "notes": answer.notes,
                            "passages": [{"n": p.n, "source": p.source, "text": p.text} for p in answer.passages],
                            "sentences": [dataclasses.asdict(s) for s in g.sentences], **rows[-1]})
            if args.records:  # as it goes: a long run can be read before it ends
                with args.records.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(records[-1], ensure_ascii=False) + "\n")
            if len(rows) % 20 == 0:
                print(f"  {len(rows)} questions, {sum(r['supported'] for r in rows)} of "
                      f"{sum(r['written'] for r in rows)} written sentences supported", flush=True)
    finally:
        if proc:
            proc.terminate()
            proc.wait(30)
    report(rows)
    print(f"1-min load at end {load1():.2f}", flush=True)


def report(rows: list[dict]) -> None:
    written = sum(r["written"] for r in rows)
    supported = sum(r["supported"] for r in rows)
    asked = [r for r in rows if not r["abstained"]]
    per_sentence = [1.0] * supported + [0.0] * (written - supported)
    share, lo, hi = bootstrap(per_sentence) if per_sentence else (0.0, 0.0, 0.0)
    print(f"\nwritten sentences {written} over {len(asked)} questions sent to the model "
          f"({len(rows) - len(asked)} abstained: not sent); supported {supported}: "
          f"{share:.3f} [{lo:.3f}, {hi:.3f}]")
    print(f"questions whose shown answer is the written one (a supported sentence): "
          f"{sum(r['used'] for r in rows)} of {len(rows)}")
    print("\n| answer accuracy | all | answerable |\n| --- | --- | --- |")
    for key, label in (("extractive", "extractive alone"), ("shown", "shown (written if supported, else extractive)")):
        cells = []
        for group in (rows, [r for r in rows if r["answerable"]]):
            m, a, b = bootstrap([r[key] for r in group])
            cells.append(f"{m:.3f} [{a:.3f}, {b:.3f}] (n={len(group)})")
        print(f"| {label} | {' | '.join(cells)} |")
    diff = [r["shown"] - r["extractive"] for r in rows]
    m, a, b = bootstrap(diff)
    print(f"| paired difference, shown - extractive | {m:+.3f} [{a:+.3f}, {b:+.3f}] | |")
    seconds = sorted(r["seconds"] for r in asked)
    if seconds:
        print(f"\nseconds the model took per question sent to it: p50 {statistics.median(seconds):.2f}, "
              f"mean {statistics.fmean(seconds):.2f}, p95 {seconds[int(0.95 * (len(seconds) - 1))]:.2f} "
              f"(n={len(seconds)}; includes the check)")


if __name__ == "__main__":
    main()
