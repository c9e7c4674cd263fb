"""Memory: peak RSS of the serving process (page + model + bundled index) after questions.

    .venv/bin/python -m benchmarks.memory [--quick] [--questions N]

Starts `corpus-qa serve` on a loopback port as a user would, asks it questions through
the page's API (gradio_client, as the page's own button does), then reads the server's
VmHWM (peak RSS) and VmRSS from /proc. Two cases: a first start on an empty index
(the server indexes the bundled corpus itself, so the ingest model is loaded too) and
a restart on the existing index (questions only). Target: <= 1.5 GB.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._common import REPO, SHARED, footer, header, parser

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = int(value.split()[0]) / 1024
    return out


def serve_and_ask(index: Path, questions: list[str], log: Path) -> tuple[dict, float, dict]:
    from gradio_client import Client

    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen([str(BIN / "corpus-qa"), "--index", str(index), "--demo", "serve", "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 600
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"the server exited ({proc.returncode}); see {log}:\n{log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not start within 10 minutes") from None
                time.sleep(0.5)
        ready = time.perf_counter() - start
        at_start = status(proc.pid)
        client = Client(url, verbose=False)
        for q in questions:
            client.predict(q, [], api_name="/ask")
        return at_start, ready, status(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> int:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--questions", type=int, default=None, help="questions per case (default 50; --quick 10)")
    args = p.parse_args()
    n = args.questions or (10 if args.quick else 50)
    header("memory", args)
    dev = [json.loads(line)["question"] for line in (SHARED / "qa" / "dev.jsonl").read_text().splitlines() if line.strip()]
    questions = [dev[i % len(dev)] for i in range(n)]
    work = Path(tempfile.mkdtemp(prefix="cqa-memory-"))
    try:
        index = work / "index"
        for label in ("first start, empty index (indexes the bundled corpus)", "restart on the existing index"):
            at_start, ready, after = serve_and_ask(index, questions, work / "serve.log")
            print(f"{label}: page up in {ready:.1f} s, RSS then {at_start['VmRSS']:.0f} MB; after {n} questions "
                  f"RSS {after['VmRSS']:.0f} MB, peak RSS {after['VmHWM']:.0f} MB   target <= 1536 MB: "
                  f"{'met' if after['VmHWM'] <= 1536 else 'NOT met'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
