"""Near-copies (store.nearcopies): the same article under two names with small edits is
one article, as exact copies are. On the BBC archive's own near-copies (tech/064.txt and
tech/338.txt: "Looks and music to drive mobiles", a figure and a firm's name corrected),
with the real model and a real Chroma."""

from __future__ import annotations

import itertools
import json
import shutil
from concurrent.futures import ThreadPoolExecutor

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

import store
from store import nearcopies

from conftest import BBC_ARTICLES, EXE, NEAR_TECH, cli_env, run_cli

pytestmark = pytest.mark.slow

NEAR_PAIRS = {("tech/064.txt", "tech/338.txt"), ("tech/007.txt", "tech/060.txt")}
COPY_PAIRS = {("tech/004.txt", "tech/063.txt"), ("tech/042.txt", "tech/339.txt")}


def _docs(folder):
    return {d.source: d for d in store.load_paths([folder]).documents}


def test_groups_match_brute_force_jaccard(near_folder):
    """Every pair at or above the threshold by exact Jaccard (all pairs, brute force) is
    grouped, and no other: the LSH bands miss none here."""
    docs = _docs(near_folder)
    names = sorted(docs)
    grams = {n: nearcopies.shingles(docs[n].title, docs[n].text) for n in names}
    brute = {(a, b) for a, b in itertools.combinations(names, 2)
             if nearcopies.jaccard(grams[a], grams[b]) >= nearcopies.THRESHOLD}
    assert brute == NEAR_PAIRS | COPY_PAIRS, f"the fixture's pairs changed: {sorted(brute)}"
    found = nearcopies.groups([(docs[n].title, docs[n].text, docs[n].content) for n in names])
    group = {n: g or docs[n].content for n, (g, _) in zip(names, found)}
    grouped = {(a, b) for a, b in itertools.combinations(names, 2) if group[a] == group[b]}
    assert grouped == brute, f"grouped {sorted(grouped)}, expected {sorted(brute)}"


def test_the_bbc_near_copy_is_close_and_its_neighbours_are_not(near_folder):
    docs = _docs(near_folder)
    g = {n: nearcopies.shingles(docs[n].title, docs[n].text) for n in ("tech/064.txt", "tech/338.txt", "tech/065.txt")}
    near = nearcopies.jaccard(g["tech/064.txt"], g["tech/338.txt"])
    other = nearcopies.jaccard(g["tech/064.txt"], g["tech/065.txt"])
    assert near > 0.95 and other < 0.05, (near, other)


def test_documents_list_near_copies_and_copies(near_qa):
    docs = {d.source: d for d in near_qa.documents()}
    assert len(docs) == len(NEAR_TECH)
    for a, b in NEAR_PAIRS:
        assert docs[a].near_copies == (b,) and docs[b].near_copies == (a,), (docs[a], docs[b])
        assert docs[a].copies == () and docs[a].group == docs[b].group
        assert docs[a].also_in == (b,)
    for a, b in COPY_PAIRS:
        assert docs[a].copies == (b,) and docs[a].near_copies == (), docs[a]
        assert docs[a].also_in == (b,)
    alone = set(docs) - {s for pair in NEAR_PAIRS | COPY_PAIRS for s in pair}
    assert all(not docs[s].also_in for s in alone), [docs[s] for s in alone if docs[s].also_in]


def test_a_near_copy_ingested_later_joins_the_stored_one(make_qa, tmp_path):
    """338 ingested into an index that holds 064 (found through the stored bands), and an
    edit of 338 re-ingested: it replaces 338 and stays with 064, not with its own old text."""
    folder = tmp_path / "articles"
    (folder / "tech").mkdir(parents=True)
    for n in ("064", "065"):
        shutil.copy(BBC_ARTICLES / "tech" / f"{n}.txt", folder / "tech" / f"{n}.txt")
    qa = make_qa()
    qa.ingest([folder])
    shutil.copy(BBC_ARTICLES / "tech" / "338.txt", folder / "tech" / "338.txt")
    report = qa.ingest([folder])
    assert (report.added, report.unchanged) == (1, 2), report
    docs = {d.source: d for d in qa.documents()}
    assert docs["tech/338.txt"].near_copies == ("tech/064.txt",), docs["tech/338.txt"]
    assert docs["tech/064.txt"].near_copies == ("tech/338.txt",)
    edited = (folder / "tech" / "338.txt").read_text().replace("Juniper Research", "Juniper Research Ltd")
    (folder / "tech" / "338.txt").write_text(edited)
    report = qa.ingest([folder])
    assert report.updated == 1, report
    docs = {d.source: d for d in qa.documents()}
    assert docs["tech/338.txt"].near_copies == ("tech/064.txt",), docs["tech/338.txt"]
    assert docs["tech/065.txt"].also_in == ()


def test_an_index_made_before_near_copies_gets_them_on_its_next_ingest(make_qa, tmp_path, embedder):
    """Records without fingerprints (as an older corpus-qa wrote them): the next ingest,
    even of unchanged files, records them, embeds nothing and loses nothing."""
    folder = tmp_path / "articles"
    (folder / "tech").mkdir(parents=True)
    for n in ("064", "338", "065"):
        shutil.copy(BBC_ARTICLES / "tech" / f"{n}.txt", folder / "tech" / f"{n}.txt")
    qa = make_qa()
    qa.ingest([folder])
    index = qa.index
    ids = [d.id for d in index.documents()]
    records = index._docs.get(ids=ids, include=["metadatas"])["metadatas"]
    assert not any(k.startswith(nearcopies.BAND_KEY) for m in records for k in m), \
        "the band hashes stay out of the document records (listing documents reads those)"
    index._docs.update(ids=ids, metadatas=[{nearcopies.NEAR_KEY: None} for _ in ids])  # as an older version left them
    index._near.delete(ids=ids)
    metadata = index._docs_metadata()
    metadata.pop(store.index.NEAR_KEY)
    index._docs.modify(metadata=metadata or {"other": 1})
    index.touch()

    class Counting:
        def __init__(self, inner):
            self.inner, self.calls = inner, 0

        def __getattr__(self, name):
            if name.startswith("encode"):  # what embeds (its name and identity are only read)
                self.calls += 1
            return getattr(self.inner, name)

    old = make_qa(reopen=qa, model=Counting(embedder))
    assert not old.index.near_ready()
    assert all(not d.also_in for d in old.documents()), "the fingerprints should be gone before the upgrade"
    report = old.ingest([folder])
    assert (report.added, report.updated, report.unchanged, report.chunks) == (0, 0, 3, 0), report
    assert old.embedder.calls == 0, "nothing should be embedded"
    docs = {d.source: d for d in old.documents()}
    assert docs["tech/064.txt"].near_copies == ("tech/338.txt",), docs["tech/064.txt"]
    assert old.index.near_ready()
    assert old.ask("How much was the full-track music download market worth in 2004?").passages


MUSIC = "How much was the market for full-track music downloads worth in 2004?"
LAPTOP = "How much will Negroponte's laptop cost?"
PAIR = {"tech/064.txt", "tech/338.txt"}


def test_an_answer_folds_a_near_copy_into_one_source_that_names_it(near_qa):
    """Today's bug: 064 and 338 answered as [1] and [2], the same passage twice."""
    answer = near_qa.ask(MUSIC)
    assert not answer.abstained and "$20 million" in answer.text, answer.text
    of_pair = [p for p in answer.passages if p.source in PAIR]
    assert len({p.source for p in of_pair}) == 1, [(p.n, p.source) for p in answer.passages]
    assert all(p.also_in == tuple(PAIR - {p.source}) for p in of_pair), of_pair
    assert answer.passages[0].source in PAIR and answer.passages[0].highlight
    others = [p for p in answer.passages if p.source not in PAIR]
    assert all(not p.also_in for p in others), others


def test_an_answer_names_the_exact_copies_of_its_source(near_qa):
    answer = near_qa.ask(LAPTOP)
    first = answer.passages[0]
    assert {first.source, *first.also_in} == {"tech/004.txt", "tech/063.txt"}, first
    assert sum(p.source in ("tech/004.txt", "tech/063.txt") for p in answer.passages) == len(
        {(p.start, p.end) for p in answer.passages if p.source in ("tech/004.txt", "tech/063.txt")})


def test_the_cli_shows_the_marker_in_text_json_and_documents(near_qa):
    index = near_qa.index.where
    text = run_cli(["--index", index, "ask", MUSIC])
    assert text.returncode == 0, text.stderr
    marker = [line.strip() for line in text.stdout.splitlines() if line.strip().startswith("also in: ")]
    assert marker and marker[0] in ("also in: tech/338.txt", "also in: tech/064.txt"), text.stdout
    assert not ("tech/064.txt" in text.stdout.split("also in")[0] and "tech/338.txt" in text.stdout.split("also in")[0])
    out = json.loads(run_cli(["--index", index, "ask", "--json", MUSIC]).stdout)
    assert out["passages"][0]["also_in"] == sorted(PAIR - {out["passages"][0]["source"]}), out["passages"][0]
    listed = run_cli(["--index", index, "documents"])
    line = next(x for x in listed.stdout.splitlines() if "  tech/064.txt  " in x)
    assert line.endswith("· near-copies: tech/338.txt"), line
    assert listed.stderr.strip() == f"{len(NEAR_TECH)} documents"
    docs = {d["source"]: d for d in map(json.loads, run_cli(["--index", index, "documents", "--json"]).stdout.splitlines())}
    assert docs["tech/064.txt"]["near_copies"] == ["tech/338.txt"] and docs["tech/063.txt"]["copies"] == ["tech/004.txt"]
    assert "near" not in docs["tech/064.txt"]


def test_mcp_passages_and_documents_carry_the_marker(near_qa):
    params = StdioServerParameters(command=EXE, args=["--index", near_qa.index.where, "mcp"], env=cli_env())

    async def main():
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            asked = await session.call_tool("ask", {"question": MUSIC})
            listed = await session.call_tool("documents", {"query": "Looks and music"})
            return asked.structured_content, listed.structured_content

    with ThreadPoolExecutor(1) as thread:  # a thread of its own: the browser tests leave an event loop in this one
        asked, listed = thread.submit(anyio.run, main).result()
    first = asked["passages"][0]
    assert first["source"] in PAIR and first["also_in"] == sorted(PAIR - {first["source"]}), first
    assert sum(p["source"] in PAIR for p in asked["passages"]) >= 1
    assert {p["source"] for p in asked["passages"]} & PAIR == {first["source"]}
    assert {d["source"]: d["near_copies"] for d in listed["documents"]} == {
        "tech/064.txt": ["tech/338.txt"], "tech/338.txt": ["tech/064.txt"]}
