"""Concurrent users: N clients ask the page questions over plain HTTP (Gradio's call API),
while, optionally, a `corpus-qa ingest` in another process adds documents to the same index.

    .venv/bin/python benchmarks/load.py                      # 32 clients, 2,000 questions, ingest during
    .venv/bin/python benchmarks/load.py --clients 8 --questions 400 --no-ingest
    .venv/bin/python benchmarks/load.py --quick              # 8 clients, 200 questions, small ingest

The page is `corpus-qa serve` in its own process (a snapshot of store/, rag/, ui/ taken at
start), on 127.0.0.1 only, over an index of the bundled corpus. The questions are those
of ../shared/qa/dev.jsonl, the page's examples, and a few that must give a visible error
(empty, 5,000 characters), in turn. With the ingest, SciFact abstracts (read in place from
../shared/benchmarks/scifact) are indexed by another process while the clients ask, and
SciFact claims join the questions once it has finished: their answers must cite the new
abstracts, which shows that the serving process sees what another process wrote.

Counted as failures: an HTTP error or timeout, a reply that is not [box, history] with the
question and one reply, a reply that is neither an answer nor one of the expected errors,
or any "could not be searched" error (an exception inside the page). Bounded: --questions
in total, --deadline minutes at most; the server and the ingest are stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks._common import REPO, SCIFACT, SHARED, percentile, scifact_records, snapshot_code

BIN = Path(sys.executable).parent
EXAMPLES = [
    "Who is now the chairman of the Ukraine Defense Contact Group?",
    "What kind of support did Trump say the U.S. might provide for Ukraine?",
    "Into which Baltic countries did Biden move U.S. troops?",
    "How many points did the peace plan reviewed in Geneva have?",
]
OFF_TOPIC = ["Who won the 2022 FIFA World Cup?", "What is the boiling point of ethanol?"]  # abstentions
BAD = {"": "empty question", "x" * 5000: "question too long"}


@dataclass
class Result:
    question: str
    seconds: float
    ok: bool
    kind: str  # answer, abstain, error (expected), or what went wrong
    sources: list[str] = field(default_factory=list)
    started: float = 0.0


def ask(client: httpx.Client, question: str, timeout: float = 120) -> Result:
    """One question through POST /gradio_api/call/ask and its event stream; checked."""
    started = time.monotonic()
    try:
        r = client.post("/gradio_api/call/ask", json={"data": [question, []]}, timeout=timeout)
        r.raise_for_status()
        event_id = r.json()["event_id"]
        event, data = None, None
        with client.stream("GET", f"/gradio_api/call/ask/{event_id}", timeout=timeout) as stream:
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    data = line.split(":", 1)[1].strip()
                    break
        seconds = time.monotonic() - started
    except (httpx.HTTPError, KeyError, ValueError) as err:
        return Result(question, time.monotonic() - started, False, f"http: {type(err).__name__}: {err}"[:200], started=started)
    if event != "complete" or data is None:
        return Result(question, seconds, False, f"event {event}: {str(data)[:200]}", started=started)
    return check_reply(question, json.loads(data), seconds, started)


def check_reply(question: str, output, seconds: float, started: float = 0.0) -> Result:
    def bad(why: str) -> Result:
        return Result(question, seconds, False, why, started=started)

    if not (isinstance(output, list) and len(output) == 2 and output[0] == ""):
        return bad(f"not [box, history]: {str(output)[:200]}")
    history = output[1]
    if not (isinstance(history, list) and len(history) == 2 and history[0].get("role") == "user"
            and history[1].get("role") == "assistant"):
        return bad(f"history is not [user, assistant]: {str(history)[:200]}")
    reply = _text(history[1].get("content"))
    if "could not be searched" in reply:
        return bad(f"internal error: {reply[:200]}")
    expected_error = next((why for q, why in BAD.items() if q == question), None)
    if expected_error:
        return Result(question, seconds, reply.startswith('<div class="cqa-error">') and expected_error in reply,
                      "error", started=started)
    sources = [part.split("</span>")[0].split(" · ")[0] for part in reply.split('<span class="cqa-meta">')[1:]]
    markers = [int(n) for n in re.findall(r"<sup><b>\[(\d+)\]</b></sup>", reply)]
    if reply.startswith('<div class="cqa-answer cqa-abstain">'):
        kind = "abstain"
    elif reply.startswith('<div class="cqa-answer">') and "Sources" in reply and markers \
            and all(1 <= n <= len(sources) for n in markers):
        kind = "answer"  # every [n] names one of the sources listed
    else:
        return bad(f"neither an answer with valid [n] nor an abstention: {reply[:200]}")
    return Result(question, seconds, True, kind, sources, started=started)


def _text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def run_clients(url: str, questions: "queue.Queue[str]", clients: int, deadline: float,
                on_result=None) -> list[Result]:
    """`clients` threads, each with its own HTTP connection, take questions until none is
    left or the deadline passes."""
    results: list[Result] = []
    lock = threading.Lock()

    def worker():
        with httpx.Client(base_url=url) as client:
            while time.monotonic() < deadline:
                try:
                    question = questions.get_nowait()
                except queue.Empty:
                    return
                result = ask(client, question)
                with lock:
                    results.append(result)
                if on_result:
                    on_result(result)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()) + 150)
    return results


def summary(results: list[Result], wall: float) -> dict:
    times = [r.seconds for r in results]
    failures = [r for r in results if not r.ok]
    kinds: dict[str, int] = {}
    for r in results:
        kinds[r.kind if r.ok else "FAILED"] = kinds.get(r.kind if r.ok else "FAILED", 0) + 1
    return {
        "questions": len(results), "failed": len(failures), "kinds": kinds,
        "p50_s": round(percentile(times, 50), 3), "p95_s": round(percentile(times, 95), 3),
        "p99_s": round(percentile(times, 99), 3), "max_s": round(max(times), 3) if times else None,
        "mean_s": round(statistics.fmean(times), 3) if times else None,
        "throughput_qps": round(len(results) / wall, 2) if wall else None, "wall_s": round(wall, 1),
        "failures": sorted({r.kind for r in failures})[:10],
    }


def question_mix() -> list[str]:
    dev = SHARED / "qa" / "dev.jsonl"
    asked = [json.loads(line)["question"] for line in dev.read_text().splitlines() if line.strip()] if dev.exists() else []
    return asked + EXAMPLES + OFF_TOPIC + list(BAD)


def scifact_sample(n: int, claims: int) -> tuple[list[dict], list[tuple[str, str]]]:
    """n abstracts that survive cleaning, and up to `claims` (claim, abstract id) pairs
    whose relevant abstract is among them, by the train and test qrels."""
    records = scifact_records(n)
    ids = {r["_id"] for r in records}
    claims_by_id = {json.loads(line)["_id"]: json.loads(line)["text"] for line in (SCIFACT / "queries.jsonl").open()}
    pairs = []
    for qrels in ("train.tsv", "test.tsv"):
        for line in (SCIFACT / "qrels" / qrels).read_text().splitlines()[1:]:
            qid, doc, _ = line.split("\t")
            if doc in ids and qid in claims_by_id and len(pairs) < claims:
                pairs.append((claims_by_id[qid], doc))
    return records, pairs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/gradio_api/info", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise SystemExit(f"the server did not answer within {seconds:.0f} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--questions", type=int, default=2000)
    ap.add_argument("--no-ingest", action="store_true", help="no ingest in another process during the load")
    ap.add_argument("--ingest-docs", type=int, default=300, help="SciFact abstracts ingested during the load")
    ap.add_argument("--deadline", type=float, default=40, help="minutes; the run stops itself after this")
    ap.add_argument("--quick", action="store_true", help="8 clients, 200 questions, 60 abstracts")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = ap.parse_args()
    if args.quick:
        args.clients, args.questions, args.ingest_docs = 8, 200, 60
    deadline = time.monotonic() + args.deadline * 60
    work = Path(tempfile.mkdtemp(prefix="load-"))
    code = snapshot_code(work, extra=("corpus",))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("CORPUS_QA_", "GRADIO_"))},
           "PYTHONPATH": str(code), "ANONYMIZED_TELEMETRY": "False", "HF_HUB_OFFLINE": "1"}
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731
    index = work / "index"
    server = ingest = None
    try:
        subprocess.run([str(BIN / "corpus-qa"), "--index", str(index), "ingest", str(code / "corpus")], env=env,
                       check=True, capture_output=True, timeout=900)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server_log = open(work / "server.log", "w")
        server = subprocess.Popen([str(BIN / "corpus-qa"), "--index", str(index), "serve", "--port", str(port)],
                                  env=env, stdout=server_log, stderr=subprocess.STDOUT)
        wait_for(url, server, 300)
        with httpx.Client(base_url=url) as c:  # warm up: the model loads on the first question
            first = ask(c, EXAMPLES[0], timeout=300)
        log(f"serving {url} (code {commit}); first question {first.seconds:.1f} s, {first.kind}")

        mix = question_mix()
        records, claims = ([], []) if args.no_ingest else scifact_sample(args.ingest_docs, 40)
        questions: queue.Queue[str] = queue.Queue()
        for i in range(args.questions):
            questions.put(mix[i % len(mix)])

        ingest_info: dict = {}
        if records:
            docs = work / "scifact"
            docs.mkdir()
            for r in records:
                (docs / f"{r['_id']}.txt").write_text(f"{r['title']}\n{r['text']}\n", encoding="utf-8")

            def run_ingest():
                nonlocal ingest
                time.sleep(3)  # the clients are at it
                started = time.monotonic()
                ingest = subprocess.Popen([str(BIN / "corpus-qa"), "--index", str(index), "ingest", "--json", str(docs)],
                                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                out, err = ingest.communicate(timeout=max(60.0, deadline - time.monotonic()))
                ingest_info.update(exit=ingest.returncode, seconds=round(time.monotonic() - started, 1),
                                   started=started, ended=time.monotonic(), report=out.strip()[-300:],
                                   stderr=err.strip()[-500:] if ingest.returncode else "")

            ingester = threading.Thread(target=run_ingest, daemon=True)
            ingester.start()

        started = time.monotonic()
        results = run_clients(url, questions, args.clients, deadline)
        wall = time.monotonic() - started
        figures = summary(results, wall)
        figures.update(clients=args.clients, code=commit)
        ok = figures["failed"] == 0 and figures["questions"] == args.questions
        if records:
            ingester.join(max(0.0, deadline - time.monotonic()))
            ended = ingest_info.get("ended", time.monotonic())
            during = [r for r in results if ingest_info.get("started", 0) <= r.started <= ended]
            figures["during_ingest"] = summary(during, min(ended, started + wall) - ingest_info.get("started", started))
            figures["ingest"] = {k: v for k, v in ingest_info.items() if k not in ("started", "ended")}
            # after the ingest: claims about the new abstracts must be answered from them
            check: queue.Queue[str] = queue.Queue()
            for claim, _ in claims:
                check.put(claim)
            after = run_clients(url, check, min(args.clients, 8), deadline)
            want = dict(claims)
            figures["after_ingest_claims"] = {
                "asked": len(after), "failed": sum(not r.ok for r in after),
                "cited_a_new_abstract": sum(any(s.startswith("scifact/") for s in r.sources) for r in after),
                "cited_the_relevant_abstract": sum(f"scifact/{want[r.question]}.txt" in r.sources for r in after),
                "failures": sorted({r.kind for r in after if not r.ok})[:5],
            }
            claims_ok = figures["after_ingest_claims"]
            ok = ok and ingest_info.get("exit") == 0 and claims_ok["failed"] == 0 and \
                claims_ok["asked"] == len(claims) == claims_ok["cited_a_new_abstract"]
        print(json.dumps(figures, indent=1))
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=1))
        return 0 if ok else 1
    finally:
        for proc in (ingest, server):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
