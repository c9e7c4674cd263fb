"""The claim check (rag/claims.py) on a claim set: caught / kept per kind, and ms per claim.

    .venv/bin/python -m benchmarks.claims [--claims FILE] [--questions FILE|none] [--timing N]

On claims-dev (what rag/claims.json is fitted on) the figures are cross-validated: 5 folds
grouped by question, each claim checked by a model fitted without its question's claims
(benchmarks/train_claims.py). On any other claim set, the shipped model. Scored as
../shared/qa/README.md says: a supported claim is kept when every sentence is supported
and its right passage is cited; an unsupported one is caught when a sentence is not
supported or, for `miscite`, the wrong passage is no longer cited.

A claim's `question` id is looked up in --questions (default ../shared/qa/bbc-dev.jsonl):
with its text, the check takes the question's own names and numbers as given and moves a
marker only for a sentence about the question; `--questions none` checks without them.

--timing N: the shipped check on N claims, each with a fresh Checker (its passages'
sentences embedded, nothing cached between claims), the model loaded and warmed first;
ms per claim p50 / mean / p95 with the 1-minute load. Run it under
`flock /tmp/corpus-qa-timing.lock` on the shared machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import train_claims as T  # noqa: E402

from rag.claims import Checker, load_model  # noqa: E402


def load1() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--claims", type=Path, default=T.CLAIMS)
    ap.add_argument("--questions", default=str(T.QUESTIONS))
    ap.add_argument("--timing", type=int, default=0, metavar="N", help="also time the check on N claims")
    ap.add_argument("--shipped", action="store_true", help="the shipped model even on claims-dev (in-sample there)")
    ap.add_argument("--cache", type=Path, help="a .npz of sentence vectors to reuse (train_claims.py --cache)")
    args = ap.parse_args()
    if not args.claims.is_file():
        sys.exit(f"claims: no claim set at {args.claims}")
    claims = T.read_claims(args.claims, None if args.questions == "none" else Path(args.questions))
    known = sum(1 for c in claims if c["question_text"])
    print(f"# claims  {time.strftime('%Y-%m-%d %H:%M')}  load {load1():.2f}  {os.cpu_count()} cores")
    print(f"{len(claims)} claims from {args.claims}; {known} with their question's text")
    encode = T.CachedEncoder(args.cache)
    if args.claims.resolve() == T.CLAIMS.resolve() and not args.shipped:
        rows = T.rows_of(claims, encode)
        models, _ = T.cross_validate(claims, rows, encode)
        how = f"held out: {T.FOLDS}-fold cross-validation grouped by question"
    else:
        shipped = load_model()
        models = {i: shipped for i in range(len(claims))}
        how = "the shipped model (rag/claims.json)" + (" (fitted on these claims: in-sample)" if
                                                         args.claims.resolve() == T.CLAIMS.resolve() else "")
    per_kind = T.score(claims, encode, models)
    encode.save()
    print(f"\n{how}\n\n| kind | claims | {'kept / caught'} |\n| --- | --- | --- |")
    for kind, v in per_kind.items():
        verb = "kept" if kind in T.SUPPORTED else "caught"
        print(f"| {kind} | {v['n']} | {verb} {v['rate']:.3f} |")
    overall = T.summary(per_kind)
    print(f"\nsupported kept {overall['supported_kept']:.3f}; unsupported caught {overall['unsupported_caught']:.3f}")
    if args.timing:
        time_check(claims[: args.timing], encode.embedder)


def time_check(claims: list[dict], embedder) -> None:
    model = load_model()
    embedder.encode(["warm up"])
    for c in claims[:5]:
        Checker(c["passages"], embedder, model, c["question_text"]).check(c["text"])
    start_load = load1()
    times = []
    for c in claims:
        t = time.perf_counter()
        Checker(c["passages"], embedder, model, c["question_text"]).check(c["text"])
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    print(f"\ntiming: {len(times)} claims, ms per claim p50 {statistics.median(times):.1f}, "
          f"mean {statistics.fmean(times):.1f}, p95 {p95:.1f}; 1-min load {start_load:.2f} at start, {load1():.2f} at end")


if __name__ == "__main__":
    main()
