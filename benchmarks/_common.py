"""What every benchmark shares: the machine line, waiting for a quiet CPU, percentiles, RSS."""

from __future__ import annotations

import argparse
import math
import os
import platform
import resource
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SCIFACT = SHARED / "benchmarks" / "scifact"


def load1() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def wait_quiet(limit: float, max_wait: float) -> float:
    """Poll the 1-minute load until it is below `limit` (at most `max_wait` s); returns it.

    Other processes on a 2-core machine skew every figure: the load is printed with them."""
    start = time.monotonic()
    load = load1()
    while load >= limit and time.monotonic() - start < max_wait:
        print(f"waiting for a quiet CPU: 1-min load {load:.2f} >= {limit}", file=sys.stderr, flush=True)
        time.sleep(15)
        load = load1()
    return load


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="a smaller, faster run")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                   help="first wait up to SECONDS for the 1-minute load to drop below --quiet-load")
    p.add_argument("--quiet-load", type=float, default=0.7)
    return p


def header(name: str, args) -> None:
    load = wait_quiet(args.quiet_load, args.wait_quiet) if args.wait_quiet else load1()
    import torch

    print(f"# {name}  {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {os.cpu_count()} cores, CPU only, {platform.python_implementation()} {platform.python_version()}, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads); 1-min load at start {load:.2f}")
    print(f"command: {' '.join([Path(sys.executable).name, '-m', 'benchmarks.' + name] + sys.argv[1:])}")


def footer() -> None:
    print(f"1-min load at end {load1():.2f}; peak RSS of this process {peak_rss_mb():.0f} MB")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def summary_ms(seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (f"p50 {percentile(ms, 50):7.2f} ms  p95 {percentile(ms, 95):7.2f} ms  "
            f"mean {statistics.fmean(ms):7.2f} ms  (n={len(ms)})")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def snapshot_code(work: Path, extra: tuple[str, ...] = ()) -> Path:
    """Copy store/, rag/, ui/ (and the `extra` folders) to work/code and put it first on
    sys.path: a long run tests the code as it was at its start, whatever happens to the
    checkout meanwhile. Child processes get it through PYTHONPATH."""
    import shutil

    code = work / "code"
    shutil.rmtree(code, ignore_errors=True)
    for folder in ("store", "rag", "ui", *extra):
        shutil.copytree(REPO / folder, code / folder, ignore=shutil.ignore_patterns("__pycache__"))
    sys.path.insert(0, str(code))
    return code


def scifact_records(n: int) -> list[dict]:
    """The first n SciFact abstracts (corpus.jsonl lines) that survive cleaning as .txt
    files: a few lose every line to the teaser rule ("N years ago") and would stop an
    ingest with an InputError."""
    import json

    from store import parse  # after snapshot_code: the snapshot's

    out = []
    with open(SCIFACT / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if parse(f"{r['title']}\n{r['text']}\n", f"{r['_id']}.txt").text.strip():
                out.append(r)
            if len(out) == n:
                break
    return out

