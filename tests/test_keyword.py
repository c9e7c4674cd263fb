"""The keyword index: BM25 scores as bm25s computes them, updated in place exactly as a
rebuild ranks, and kept in step with the collection through the documents' change set
(real Chroma and the real model where documents are ingested)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import store
from store.ingest import remove_documents
from store.keyword import B, K1, KeywordIndex, saved_version, terms

from conftest import REPO, cli_env

VOCAB = [f"w{i}x" for i in range(400)] + ["harbour", "bridge", "cables", "lighthouse", "keeper", "orchard"]


def corpus(n: int, seed: int = 3, docs_of: int = 4):
    rng = random.Random(seed)
    texts = [" ".join(rng.choice(VOCAB) for _ in range(rng.randint(0, 60))) for _ in range(n)]
    ids = [f"c{rng.getrandbits(40):010x}" for _ in range(n)]
    return ids, texts, [f"d{i // docs_of}" for i in range(n)]


def queries(n: int, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(VOCAB) for _ in range(rng.randint(1, 6))) for _ in range(n)]


def test_scores_are_bm25s_lucene_scores():
    import bm25s

    ids, texts, docs = corpus(600)
    index = KeywordIndex.build(ids, texts, "v", docs)
    reference = bm25s.BM25(k1=K1, b=B, method="lucene")
    reference.index([terms(t) or [""] for t in texts], show_progress=False)
    position = {i: p for p, i in enumerate(ids)}
    held = [set(terms(t)) for t in texts]
    compared = 0
    for query in queries(200):
        ref = reference.get_scores(terms(query))
        hits = index.search(query, 10)
        for h in hits:
            assert abs(float(ref[position[h.id]]) - h.score) < 1e-5, (query, h)
        top = np.sort(ref[ref > 0])[::-1][:10]
        assert np.allclose(top, [h.score for h in hits], atol=1e-5), query  # same top 10 (up to ties)
        compared += len(hits)
        term = terms(query)[0]
        df = sum(term in h for h in held)
        assert abs(index.idf(term) - float(np.log(1 + (600 - df + 0.5) / (df + 0.5)))) < 1e-9
    assert compared > 1000
    assert index.idf("neverseen") == pytest.approx(np.log(1 + 600.5 / 0.5))


def test_updated_in_place_ranks_exactly_as_a_rebuild():
    ids, texts, docs = corpus(1200)
    rows = list(zip(ids, texts, docs))
    view = KeywordIndex.build(ids[:500], texts[:500], "v0", docs[:500])
    held = set(range(500))
    rng = random.Random(9)
    for step in range(1, 8):  # appends (segments, merges), removals (dead positions, a compaction)
        at = 500 + (step - 1) * 100
        added = rows[at : at + 100]
        removed = sorted({docs[i] for i in rng.sample(sorted(held), 30)})
        view = view.updated(f"v{step}", add=added, remove=removed)
        held = {i for i in held if docs[i] not in removed} | set(range(at, at + 100))
        keep = sorted(held, key=lambda i: ids[i])
        fresh = KeywordIndex.build([ids[i] for i in keep], [texts[i] for i in keep], f"v{step}",
                                   [docs[i] for i in keep])
        assert sorted(view.ids) == sorted(fresh.ids) and view.n == fresh.n == len(held)
        for query in queries(60, seed=step):
            assert view.search(query, 20) == fresh.search(query, 20), (step, query)  # ids, order, scores
            allowed = [docs[i] for i in keep[:: 7]]
            assert view.search(query, 20, allowed) == fresh.search(query, 20, allowed)
            hits = view.search(query, 20, allowed)
            assert all(docs[ids.index(h.id)] in allowed for h in hits)
            assert view.idf(terms(query)[0]) == fresh.idf(terms(query)[0])
    assert any(len(v) for v in [view.search("harbour bridge", 5)])


def test_a_view_is_never_changed_by_an_update():
    ids, texts, docs = corpus(300)
    old = KeywordIndex.build(ids[:200], texts[:200], "a", docs[:200])
    before = {q: old.search(q, 10) for q in queries(30)}
    new = old.updated("b", add=list(zip(ids[200:], texts[200:], docs[200:])), remove=["d0", "d1", "d2"])
    other = old.updated("c", remove=["d5"])  # a second update of the same view
    assert {q: old.search(q, 10) for q in before} == before
    assert len(new.ids) == 300 - 12 and len(other.ids) == 200 - 4 and len(old.ids) == 200


# -- against the collection (real Chroma, real model) ------------------------------------
ARTICLES = {
    "bridge.txt": "Harbour Bridge Reopens After Repairs\n\nThe city reopened the Harbour Bridge on Monday after six "
                  "months of repairs. Engineers replaced all 112 cables and resurfaced the deck.\n",
    "orchard.txt": "Orchard Festival Draws Record Crowd\n\nMore than twelve thousand visitors came to the apple orchard "
                   "festival in Hereford on Saturday. The cider press competition was won by a team from Ledbury.\n",
}
NEW = ("Lighthouse Keeper Retires After Forty Years\n\nMargaret Olsen kept the Cape Wrath light burning for forty "
       "years. She climbed the 117 steps of the tower twice a night in every season.\n")
LONG = "Tide Tables for the Northern Isles\n\n" + " ".join(
    f"On day {i} the high tide at Stromness came at {i % 12 + 1} o'clock and the ferry waited {i} minutes."
    for i in range(60)) + "\n"


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def rebuilt(index: store.Index) -> KeywordIndex:
    """The keyword index built from scratch from the collection's complete documents."""
    complete = set(index.document_ids())
    got = index.client.get_collection(index.name).get(include=["metadatas"])  # every chunk, read here
    chunks = index.chunks([i for i, m in zip(got["ids"], got["metadatas"]) if m["doc_id"] in complete])
    rows = sorted((c.id, store.embedding_text(c.title, c.text), c.doc_id) for c in chunks.values())
    return KeywordIndex.build([r[0] for r in rows], [r[1] for r in rows], "fresh", [r[2] for r in rows])


QUERIES = ["harbour bridge cables", "lighthouse keeper Cape Wrath", "orchard festival cider", "forty years steps"]


def test_a_second_index_sees_an_added_and_a_removed_document_through_the_change_set(make_qa, tmp_path):
    writer = make_qa()
    writer.ingest([write(tmp_path / "a", ARTICLES)])
    reader = make_qa(reopen=writer)
    assert reader.index.keyword("lighthouse keeper", 5) == []
    assert (reader.index.keywords.loads, reader.index.keywords.rebuilds) == (1, 0), "the saved copy is used"

    writer.ingest([write(tmp_path / "b", {"lighthouse.txt": NEW})])
    new_id = next(d.id for d in writer.index.documents() if d.source.endswith("lighthouse.txt"))
    hits = reader.index.keyword("lighthouse keeper", 5)
    assert hits and all(h.id in {c for c in reader.index.keyword_index().ids} for h in hits)
    assert reader.index.chunks([hits[0].id])[hits[0].id].doc_id == new_id
    assert (reader.index.keywords.rebuilds, reader.index.keywords.updates) == (0, 1), "updated in place"
    for q in QUERIES:
        assert reader.index.keyword(q, 10) == rebuilt(reader.index).search(q, 10)
    # the filters' document mask, after the update
    others = [d.id for d in reader.index.documents() if d.id != new_id]
    assert reader.index.keyword("lighthouse keeper", 5, documents=others) == []
    assert reader.index.keyword("lighthouse keeper", 5, documents=[new_id]) == hits
    assert reader.index.keyword("harbour bridge", 5, documents=[new_id]) == []

    assert remove_documents(writer.index, [new_id]) == 1
    assert reader.index.keyword("lighthouse keeper", 5) == []
    assert (reader.index.keywords.rebuilds, reader.index.keywords.updates) == (0, 2)
    for q in QUERIES:
        assert reader.index.keyword(q, 10) == rebuilt(reader.index).search(q, 10)
    assert sorted(reader.index.keyword_index().ids) == sorted(reader.index.client.get_collection(
        reader.index.name).get(include=[])["ids"])


def _open_in_a_new_process(where: str) -> dict:
    code = ("import json, sys, store; i = store.Index.open(path=sys.argv[1]); k = i.keyword_index(); "
            "print(json.dumps({'loads': i.keywords.loads, 'rebuilds': i.keywords.rebuilds, "
            "'updates': i.keywords.updates, 'ids': sorted(k.ids), 'hits': [h.id for h in i.keyword('harbour bridge', 3)]}))")
    done = subprocess.run([sys.executable, "-c", code, where], capture_output=True, text=True, timeout=300,
                          env={**cli_env(), "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_saved_copy_is_reused_by_another_process_and_brought_up_to_date(make_qa, tmp_path):
    qa = make_qa()
    qa.ingest([write(tmp_path / "a", ARTICLES)])
    folder = Path(qa.index.where) / "keyword" / qa.index.name
    assert saved_version(folder) == qa.index.version()
    got = _open_in_a_new_process(qa.index.where)
    assert (got["loads"], got["rebuilds"], got["updates"]) == (1, 0, 0)
    assert got["ids"] == sorted(qa.index.keyword_index().ids)
    assert got["hits"] == [h.id for h in qa.index.keyword("harbour bridge", 3)]

    stale = tmp_path / "stale"
    shutil.copytree(folder, stale)
    qa.ingest([write(tmp_path / "b", {"lighthouse.txt": NEW})])
    # the copy of the first ingest put back, as if the writer had died before saving: the change set mends it
    shutil.rmtree(folder)
    shutil.copytree(stale, folder)
    got = _open_in_a_new_process(qa.index.where)
    assert (got["loads"], got["rebuilds"], got["updates"]) == (1, 0, 1), got
    assert got["ids"] == sorted(qa.index.keyword_index().ids)
    assert saved_version(folder) == qa.index.version(), "the updated index was saved"


def test_a_damaged_copy_is_rebuilt(make_qa, tmp_path):
    qa = make_qa()
    qa.ingest([write(tmp_path / "a", ARTICLES)])
    folder = Path(qa.index.where) / "keyword" / qa.index.name
    meta = json.loads((folder / "meta.json").read_text())
    meta["doc_ids"] = meta["doc_ids"][::-1]  # right types and counts, wrong pairs: the digest tells
    (folder / "meta.json").write_text(json.dumps(meta))
    assert KeywordIndex.load(folder) is None
    got = _open_in_a_new_process(qa.index.where)
    assert (got["loads"], got["rebuilds"]) == (0, 1)
    assert got["ids"] == sorted(qa.index.keyword_index().ids)
    assert KeywordIndex.load(folder) is not None, "the rebuild was saved"


def test_chunks_that_do_not_add_up_to_their_document_fall_back_to_a_rebuild(make_qa, tmp_path):
    writer = make_qa()
    writer.ingest([write(tmp_path / "a", ARTICLES)])
    reader = make_qa(reopen=writer)
    reader.index.keyword_index()
    writer.ingest([write(tmp_path / "b", {"tides.txt": LONG})])
    new_id = next(d.id for d in writer.index.documents() if d.source.endswith("tides.txt"))
    chunks = writer.index.client.get_collection(writer.index.name)
    first = chunks.get(where={"doc_id": new_id}, include=[])["ids"]
    assert len(first) >= 2, "the new article should have several chunks"
    chunks.delete(ids=first[:1])  # its record says n chunks, one is missing
    writer.index.touch()
    reader.index.keyword_index()
    assert reader.index.keywords.rebuilds == 1 and reader.index.keywords.updates == 0


def test_a_pending_stamp_leaves_orphans_out_and_is_not_saved(make_qa, tmp_path, embedder):
    """A write under way (or cut short): chunks without a document record are not
    searched (the record marks a document complete), and nothing is saved for that stamp."""
    writer = make_qa()
    writer.ingest([write(tmp_path / "a", ARTICLES)])
    folder = Path(writer.index.where) / "keyword" / writer.index.name
    saved = saved_version(folder)
    reader = make_qa(reopen=writer)
    reader.index.keyword_index()
    writer.index.touch(pending=True)
    doc = store.load(write(tmp_path / "b", {"lighthouse.txt": NEW}) / "lighthouse.txt", "b/lighthouse.txt")
    chunks = store.chunk_text(doc.id, doc.text)
    vectors = embedder.encode([c.text for c in chunks])
    chroma = writer.index.client.get_collection(writer.index.name)
    chroma.add(ids=[c.id for c in chunks], embeddings=vectors, documents=[c.text for c in chunks],
               metadatas=[{"doc_id": doc.id, "title": doc.title, "n_chunks": len(chunks)} for _ in chunks])
    version = writer.index.version()
    assert version.startswith("pending-")
    index = reader.index.keyword_index()
    assert index.version == version and reader.index.keyword("lighthouse keeper", 5) == []
    assert not set(c.id for c in chunks) & set(index.ids), "orphan chunks are not searched"
    assert saved_version(folder) == saved, "nothing is saved for a pending stamp"
    for q in QUERIES:
        assert reader.index.keyword(q, 10) == rebuilt(reader.index).search(q, 10)
    # a new process with no saved copy rebuilds, orphans left out too
    shutil.rmtree(folder)
    got = _open_in_a_new_process(writer.index.where)
    assert got["rebuilds"] == 1 and got["ids"] == sorted(index.ids)
    assert not folder.joinpath("meta.json").exists(), "a rebuild under a pending stamp is not saved"


def test_threads_wait_for_one_update_and_searches_keep_their_view(tmp_path):
    """KeywordSync over an in-memory collection (its three readers are plain functions):
    eight threads ask while the stamp moves; one of them updates per stamp, the others wait,
    and every answer is the old view's or the new one's."""
    import threading

    from store.keyword import KeywordSync

    ids, texts, docs = corpus(800, docs_of=8)
    state = {"version": "v0", "docs": sorted(set(docs[:400]))}
    by_doc: dict[str, list[int]] = {}
    for i, d in enumerate(docs):
        by_doc.setdefault(d, []).append(i)
    sync = KeywordSync(
        tmp_path / "kw", lambda: state["version"], lambda: list(state["docs"]),
        chunks=lambda wanted: [(ids[i], texts[i], d, len(by_doc[d])) for d in wanted for i in by_doc[d]],
    )
    first = sync.current()
    query = "harbour bridge cables w1x w2x"
    answers, errors = [], []

    def ask():
        try:
            for _ in range(30):
                answers.append(tuple(sync.current().search(query, 10)))
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    state.update(version="v1", docs=sorted(set(docs)))
    for t in threads:
        t.join()
    assert not errors, errors
    second = sync.current()
    assert second.version == "v1" and sync.updates == 1 and sync.rebuilds == 1  # the first build, one update
    assert set(answers) <= {tuple(first.search(query, 10)), tuple(second.search(query, 10))}
    keep = sorted(range(800), key=lambda i: ids[i])
    fresh = KeywordIndex.build([ids[i] for i in keep], [texts[i] for i in keep], "x", [docs[i] for i in keep])
    assert second.search(query, 10) == fresh.search(query, 10)


def test_a_large_rebuild_runs_in_the_background_and_questions_do_not_wait(tmp_path):
    """Over `background_over` chunks with nothing to start from, a question's path
    (`current(wait=False)`) starts the rebuild in a thread and goes on without it;
    `current()` waits for that same rebuild (not a second one), which is then saved."""
    import threading

    from store.keyword import KeywordSync

    ids, texts, docs = corpus(300, docs_of=6)
    gate = threading.Event()

    def chunks(wanted):
        assert gate.wait(60), "the test never opened the gate"
        return [(i, t, d, 6) for i, t, d in zip(ids, texts, docs) if d in wanted]

    sync = KeywordSync(tmp_path / "kw", lambda: "v1", lambda: sorted(set(docs)), chunks=chunks,
                       count=lambda: len(ids), background_over=100)
    assert sync.current(wait=False) is None and sync.building
    assert sync.current(wait=False) is None, "a second question neither waits nor starts another build"
    waited: list = []
    waiter = threading.Thread(target=lambda: waited.append(sync.current()))
    waiter.start()
    waiter.join(0.5)
    assert waiter.is_alive(), "current() waits for the rebuild under way"
    gate.set()
    waiter.join(60)
    assert waited and waited[0] is not None and len(waited[0].ids) == 300
    assert sync.current(wait=False) is waited[0] and not sync.building and sync.rebuilds == 1
    assert saved_version(tmp_path / "kw") == "v1", "the background rebuild saved its copy"

    small = KeywordSync(None, lambda: "v1", lambda: sorted(set(docs)), count=lambda: len(ids), background_over=1000,
                        chunks=lambda wanted: [(i, t, d, 6) for i, t, d in zip(ids, texts, docs) if d in wanted])
    assert small.current(wait=False) is not None and not small.building, "a small rebuild is simply done"


def test_a_question_during_a_background_rebuild_is_answered_by_vectors_and_says_so(make_qa, tmp_path):
    import threading

    from rag.answer import KEYWORDS_BUILDING

    writer = make_qa()
    writer.ingest([write(tmp_path / "a", {**ARTICLES, "lighthouse.txt": NEW})])
    shutil.rmtree(Path(writer.index.where) / "keyword")  # a new machine: no saved copy
    reader = make_qa(reopen=writer)
    sync = reader.index.keywords
    sync.background_over = 0
    gate, chunks = threading.Event(), sync._chunks
    sync._chunks = lambda wanted: (gate.wait(60), chunks(wanted))[1]

    answer = reader.ask("Who kept the Cape Wrath light burning?")
    assert sync.building
    assert answer.notes == (KEYWORDS_BUILDING,)
    assert not answer.abstained and "Margaret Olsen" in answer.text, "the vectors alone answer it"
    gate.set()
    assert reader.index.keyword_index() is not None and not sync.building
    again = reader.ask("Who kept the Cape Wrath light burning?")
    assert again.notes == () and "Margaret Olsen" in again.text
    assert sync.rebuilds == 1


def test_an_ingest_into_a_large_collection_with_no_copy_leaves_the_rebuild_to_the_questions(make_qa, tmp_path):
    qa = make_qa()
    qa.ingest([write(tmp_path / "a", ARTICLES)])
    shutil.rmtree(Path(qa.index.where) / "keyword")
    other = make_qa(reopen=qa)
    other.index.keywords.background_over = 0
    other.ingest([write(tmp_path / "b", {"lighthouse.txt": NEW})])
    assert other.index.keywords.rebuilds == 0, "the ingest did not rebuild the whole keyword side"
    assert other.index.keyword_index() is not None and other.index.keywords.rebuilds == 1
    # with a copy held, a write brings it up to date in place
    other.ingest([write(tmp_path / "c", {"tides.txt": LONG})])
    assert (other.index.keywords.rebuilds, other.index.keywords.updates) == (1, 1)


@pytest.mark.server
def test_a_server_collection_keeps_its_keyword_copy_when_reached_at_another_address(make_qa, tmp_path, chroma_server):
    qa = make_qa("server")
    qa.ingest([write(tmp_path / "a", ARTICLES)])
    other = store.Index.open(url=chroma_server.replace("127.0.0.1", "localhost"), collection=qa.index.name,
                             cache=tmp_path / "cache")
    assert [h.id for h in other.keyword("harbour bridge", 3)] == [h.id for h in qa.index.keyword("harbour bridge", 3)]
    assert (other.keywords.loads, other.keywords.rebuilds) == (1, 0), "the saved copy is found by the collection's id"


def test_chunk_rows_reads_every_chunk_whatever_the_size_of_its_calls(make_qa, tmp_path):
    qa = make_qa()
    qa.ingest([write(tmp_path / "a", {**ARTICLES, "lighthouse.txt": NEW, "tides.txt": LONG})])
    every = qa.index.client.get_collection(qa.index.name).get(include=[])["ids"]
    ids = qa.index.document_ids()
    for per_call in (1, 3, 10_000):
        rows = list(qa.index.chunk_rows(ids, per_call=per_call))
        assert sorted(r[0] for r in rows) == sorted(every), per_call
    assert {r[2] for r in qa.index.chunk_rows(ids[:1], per_call=1)} == {ids[0]}


def test_batches_fetched_ahead_come_in_order_and_a_failure_reaches_the_reader():
    from store.keyword import _batches_ahead

    assert list(_batches_ahead(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(_batches_ahead([], 3)) == []

    def failing():
        yield from range(4)
        raise ConnectionError("server went away")

    got = []
    with pytest.raises(ConnectionError, match="server went away"):
        for batch in _batches_ahead(failing(), 2):
            got.append(batch)
    assert got == [[0, 1], [2, 3]]


def test_a_background_rebuild_that_fails_is_tried_again_by_the_next_question(tmp_path, caplog):
    from store.keyword import KeywordSync

    ids, texts, docs = corpus(120, docs_of=6)
    calls = []

    def chunks(wanted):
        calls.append(len(wanted))
        if len(calls) == 1:
            raise ConnectionError("server went away")
        return [(i, t, d, 6) for i, t, d in zip(ids, texts, docs) if d in wanted]

    sync = KeywordSync(tmp_path / "kw", lambda: "v1", lambda: sorted(set(docs)), chunks=chunks,
                       count=lambda: len(ids), background_over=10)
    assert sync.current(wait=False) is None
    sync._builder.join(60)
    assert not sync.building and "could not build the keyword index (ConnectionError" in caplog.text
    assert sync.current(wait=False) is None and sync.building, "the next question starts it again"
    sync._builder.join(60)
    assert not sync.building and len(sync.current(wait=False).ids) == 120 and len(calls) == 2
