"""Score a question file with the corpus-qa code on PYTHONPATH (e.g. a worktree of an
older commit), judged as rag/evaluate.py judges now: an evidence doc matches the end of
a source, conversations are asked turn by turn with no history (older code has none).
It uses only QA.open / QA.ingest / QA.ask, so it runs against any revision.

    PYTHONPATH=/path/to/worktree .venv/bin/python benchmarks/score_any_revision.py INDEX QUESTIONS.jsonl [FOLDER_TO_INGEST]
"""
import json, re, sys
from rag import QA
index, path = sys.argv[1], sys.argv[2]
qa = QA.open(index=index)
if len(sys.argv) > 3:
    qa.ingest([sys.argv[3]])
col = lambda t: " ".join(t.split())
same = lambda s, d: s == d or s.endswith("/" + d)
rows = []
for line in open(path):
    if not line.strip(): continue
    d = json.loads(line)
    turns = [(f"{d['id']}.{i}", "first" if i == 1 else "follow-up", t) for i, t in enumerate(d["turns"], 1)] if "turns" in d else [(d["id"], d["kind"], d)]
    for qid, kind, t in turns:
        a = qa.ask(t["question"], k=10)
        ev = [(e["doc"], col(e["text"])) for e in t.get("evidence", [])]
        rank = next((p.n for p in a.passages[:10] if len(p.text) <= 1000 and any(same(p.source, dd) and e in col(p.text) for dd, e in ev)), None)
        cited = {int(n) for n in re.findall(r"\[(\d+)\]", a.text)}
        right = any(0 < n <= len(a.passages) and any(same(a.passages[n-1].source, dd) for dd, _ in ev) for n in cited)
        answerable = kind not in ("none", "boilerplate")
        correct = (not a.abstained and right and any(x.lower() in a.text[:400].lower() for x in t.get("answers", []))) if answerable else a.abstained
        rows.append((kind, answerable, rank, correct, a.abstained))
def block(rs):
    ans = [r for r in rs if r[1]]
    out = {"n": len(rs)}
    if ans:
        out["hit@1"] = round(sum(r[2] == 1 for r in ans) / len(ans), 3)
        out["hit@3"] = round(sum(r[2] is not None and r[2] <= 3 for r in ans) / len(ans), 3)
    out["answer"] = round(sum(r[3] for r in rs) / len(rs), 3)
    out["none_abstained"] = f"{sum(r[4] for r in rs if not r[1])}/{sum(not r[1] for r in rs)}"
    out["answerable_abstained"] = sum(r[4] for r in ans)
    return out
print("overall", block(rows))
for k in sorted({r[0] for r in rows}):
    print(k, block([r for r in rows if r[0] == k]))
