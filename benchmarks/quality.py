"""Quality on every dev set, with 95 % intervals; two revisions compared on the same questions.

    .venv/bin/python benchmarks/quality.py [--sets dev,bbc-dev,...] [--indexes DIR]
        [--records OUT.jsonl] [--compare REV] [--against RECORDS.jsonl] [--peers] [--quick]

Each question goes through QA.ask (conversations turn by turn, each turn after the
earlier Answers; follow-up turns are also asked alone, with no context), on indexes built
once under --indexes (benchmarks/sets.py). Every figure is a mean over questions, printed
with a 95 % bootstrap interval (2,000 resamples of the questions).

--compare REV checks REV out into a temporary worktree, scores it with this same file
(REV's rag/ and store/ first on PYTHONPATH, the same indexes; its records are kept as
records-<commit>.jsonl beside the indexes and reused), and prints per set and
figure the paired difference (this tree minus REV) with its paired-bootstrap interval: a
change is real when the interval excludes 0.

--against RECORDS.jsonl pairs this tree's answers with records another revision wrote
(--records) on indexes of its own: how a change of the index format or of the passages
(issue 26) is compared, where --compare cannot share the indexes.

--peers also scores the 30-line script of issue 19 (benchmarks/peers.py) on the same
questions (every set but the conversations and SciFact):
MiniLM over fixed 1,000-character chunks (200 overlap), bm25s over the same chunks, RRF.

Run it as a file (not -m), so that --compare can put another revision's code first.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(1, str(Path(__file__).resolve().parent))  # sets.py; after PYTHONPATH's rag/store
import sets as S  # noqa: E402

QA_METRICS = ("hit@1", "hit@3", "mrr@10", "answer", "none_abstained", "answerable_abstained")
MULTIHOP_METRICS = ("hits@10", "hits@4", "mrr@10", "map@10", "recall@10", "none_abstained", "answerable_abstained")
BEIR_METRICS = ("ndcg@10", "recall@100")


def record(item: S.Item, answer) -> dict:
    ranks = S.hits(item, answer.passages)
    r = {"set": item.set, "id": item.id, "kind": item.kind, "answerable": item.answerable,
         "abstained": answer.abstained, "correct": S.correct(item, answer), "rank": ranks[0] if ranks else None}
    if item.set.startswith("multihop"):
        facts = {S._squeeze(f) for _, f in item.evidence}
        seen: set[str] = set()
        ap = 0.0
        for p in answer.passages[:10]:
            text = S._squeeze(p.text)
            new = {f for f in facts if f in text} - seen
            ap += len(new) / p.n
            seen |= new
        r["map@10"] = ap / min(len(facts), 10) if facts else 0.0
        r["recall@10"] = S.facts_found(item, answer.passages)
    return r


def ask_all(qa, items: list[S.Item], k: int = 10) -> list[dict]:
    out, history, conversation = [], [], None
    for item in items:
        if item.conversation != conversation:
            history, conversation = [], item.conversation
        answer = qa.ask(item.question, k=k, history=history)
        out.append(record(item, answer))
        if item.conversation is not None:
            history.append(answer)
            if item.kind != "first":  # the same question asked alone, for comparison
                alone = record(item, qa.ask(item.question, k=k))
                out.append({**alone, "kind": f"{item.kind} alone"})
    return out


def beir_records(qa, items: list[S.Item]) -> list[dict]:
    from rag.beir import rank_documents

    out = []
    for item in items:
        ranked = list(rank_documents(qa, item.question, 100))
        relevant = set(item.relevant)
        dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:10]) if d in relevant)
        ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), 10)))
        out.append({"set": item.set, "id": item.id, "kind": "beir", "answerable": True, "ndcg@10": dcg / ideal,
                    "recall@100": len(relevant & set(ranked)) / len(relevant)})
    return out


def value(r: dict, metric: str) -> float | None:
    """A question's contribution to a metric (None: the metric does not count it)."""
    rank = r.get("rank")
    if metric in ("ndcg@10", "recall@100", "map@10", "recall@10"):
        return r.get(metric) if r["answerable"] else None
    if metric == "none_abstained":
        return float(r["abstained"]) if not r["answerable"] else None
    if metric == "answerable_abstained":
        return float(r["abstained"]) if r["answerable"] else None
    if metric == "answer":
        return float(r["correct"])
    if not r["answerable"]:
        return None
    if metric.startswith(("hit@", "hits@")):
        return float(rank is not None and rank <= int(metric.split("@")[1]))
    if metric == "mrr@10":
        return 1 / rank if rank else 0.0
    raise ValueError(metric)


def groups(records: list[dict]) -> dict[str, list[dict]]:
    """Per set, and per kind within a conversation set (first, follow-up, follow-up alone)."""
    out: dict[str, list[dict]] = {}
    for r in records:
        if r["set"].startswith("followups"):
            out.setdefault(f"{r['set']} {r['kind']}", []).append(r)
        else:
            out.setdefault(r["set"], []).append(r)
            if r["set"].startswith("multihop"):
                out.setdefault(f"{r['set']} {r['kind']}", []).append(r)
    return out


def metrics_of(name: str) -> tuple[str, ...]:
    return MULTIHOP_METRICS if name.startswith("multihop") else BEIR_METRICS if name.startswith("scifact") else QA_METRICS


def bootstrap(values: list[float], rounds: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    import numpy as np

    v = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), (rounds, len(v)))].mean(axis=1)
    return float(v.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def report(records: list[dict]) -> None:
    for name, rs in groups(records).items():
        cells = []
        for m in metrics_of(name):
            vs = [x for r in rs if (x := value(r, m)) is not None]
            if vs:
                mean, lo, hi = bootstrap(vs)
                cells.append(f"{m} {mean:.3f} [{lo:.3f}, {hi:.3f}] (n={len(vs)})")
        print(f"{name}: " + "  ".join(cells), flush=True)


def paired(ours: list[dict], theirs: list[dict]) -> None:
    import numpy as np

    base = {(r["set"], r["id"], r["kind"]): r for r in theirs}
    print("paired difference (this tree - the other), 95 % paired-bootstrap interval; * = excludes 0")
    for name, rs in groups(ours).items():
        cells = []
        for m in metrics_of(name):
            pairs = [(a, b) for r in rs if (a := value(r, m)) is not None
                     and (o := base.get((r["set"], r["id"], r["kind"]))) and (b := value(o, m)) is not None]
            if not pairs:
                continue
            d = np.array([a - b for a, b in pairs])
            mean, lo, hi = bootstrap(list(d))
            star = "*" if lo > 0 or hi < 0 else ""
            cells.append(f"{m} {mean:+.3f} [{lo:+.3f}, {hi:+.3f}]{star}")
        print(f"{name}: " + "  ".join(cells), flush=True)


def score(names: list[str], indexes: Path, quick: bool) -> list[dict]:
    from store import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    out = []
    for name in names:
        index, _ = S.SETS[name]
        qa = S.open_index(index, indexes, embedder)
        items = S.items(name)
        if quick:
            items = items[: 60]
        started = time.monotonic()
        rs = beir_records(qa, items) if index == "beir" else ask_all(qa, items)
        print(f"# {name}: {len(items)} questions in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
        out += rs
    return out


def score_revision(rev: str, args) -> list[dict]:
    """REV's code, this file: a temporary worktree first on PYTHONPATH."""
    repo = Path(__file__).resolve().parents[1]
    sha = subprocess.run(["git", "-C", str(repo), "rev-parse", rev], capture_output=True, text=True,
                         check=True).stdout.strip()
    variant = "".join(f"-{u.replace('=', '_')}" for u in args.use) + ("-quick" if args.quick else "")
    cached = Path(args.indexes) / f"records-{sha[:12]}{variant}.jsonl"
    have = [json.loads(line) for line in cached.read_text().splitlines()] if cached.exists() else []
    missing = [n for n in args.names if n not in {r["set"] for r in have}]  # a revision's answers do not change
    if not missing:
        return [r for r in have if r["set"] in args.names]
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "rev"
        subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(tree), rev], check=True,
                       capture_output=True)
        try:
            out = Path(tmp) / "records.jsonl"
            env = {**os.environ, "PYTHONPATH": str(tree)}
            cmd = [sys.executable, __file__, "--sets", ",".join(missing), "--indexes", str(args.indexes),
                   "--records", str(out)] + (["--quick"] if args.quick else []) + [
                       x for u in args.use for x in ("--use", u)]
            subprocess.run(cmd, env=env, check=True, stdout=sys.stderr)
            keep = have + [json.loads(line) for line in out.read_text().splitlines()]
            cached.write_text("".join(json.dumps(r) + "\n" for r in keep))
            return [r for r in keep if r["set"] in args.names]
        finally:
            subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)], capture_output=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    S.add_options(p)
    p.add_argument("--records", type=Path, help="write the per-question records here (JSON Lines)")
    p.add_argument("--compare", metavar="REV", help="score REV too and print the paired differences")
    p.add_argument("--against", type=Path, metavar="RECORDS",
                   help="print the paired differences against another revision's --records (its own indexes)")
    p.add_argument("--peers", action="store_true", help="also score the 30-line hybrid script (peers.py)")
    p.add_argument("--quick", action="store_true", help="the first 60 questions of each set")
    args = S.parse(p)
    import rag

    print(f"# quality  {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC  rag from {Path(rag.__file__).parent}  "
          f"1-min load {os.getloadavg()[0]:.2f}", flush=True)
    records = score(args.names, args.indexes, args.quick)
    if args.records:
        args.records.write_text("".join(json.dumps(r) + "\n" for r in records))
    report(records)
    if args.peers:
        import peers

        alone = [n for n in args.names if not n.startswith(("followups", "scifact"))]  # no conversations, no BEIR
        peer = peers.score(args.indexes, [i for n in alone for i in S.items(n)[: 60 if args.quick else None]])
        print("peer script (1,000-char chunks, MiniLM + bm25s, RRF):")
        report(peer)
        paired(records, peer)
    if args.against:
        theirs = [r for line in args.against.read_text().splitlines() if (r := json.loads(line))["set"] in args.names]
        print(f"{args.against}:")
        report(theirs)
        paired(records, theirs)
    if args.compare:
        theirs = score_revision(args.compare, args)
        print(f"{args.compare}:")
        report(theirs)
        paired(records, theirs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
