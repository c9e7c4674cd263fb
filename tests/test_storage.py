"""What an index stores (issue 26, part 2): each article's text once, in its -texts record;
a passage is a span of it, not a Chroma document. Chroma's own store (embedded, and
`chroma run`) keeps every document in a full-text index and every metadata string in a
B-tree whatever a collection's Schema says, so what is not given to Chroma as a document
is what stays out of them. A collection of the previous format (3) is read and written as
before."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

import store
from conftest import HEALEY
from store.index import FORMAT_KEY

STORIES = [
    ("harbour", "Harbour bridge reopens", "The harbour bridge reopened on Monday after two years of repairs. "
     "Engineers replaced every cable. The mayor cut the ribbon at noon.", "2021-03-01", "Coast Gazette"),
    ("orchard", "Orchard festival returns", "The orchard festival returned to the valley this autumn. "
     "Growers pressed cider from forty kinds of apple. Visitors came from three counties.", "2022-09-10",
     "Valley Times"),
    ("lighthouse", "Lighthouse keeper retires", "The last keeper of the Cape Wrath lighthouse retired after "
     "forty years. He climbed its steps twice a day. The light now runs by itself.", "2023-06-05", "Coast Gazette"),
]


def fts_rows(index: store.Index) -> int:
    """Rows of Chroma's full-text index in an embedded index's SQLite file (read only)."""
    db = sqlite3.connect(f"file:{Path(index.where) / 'chroma' / 'chroma.sqlite3'}?mode=ro", uri=True)
    try:
        return db.execute("select count(*) from embedding_fulltext_search").fetchone()[0]
    finally:
        db.close()


def test_a_new_index_keeps_each_text_once_and_no_full_text_index(backend, make_qa, corpus_dir, bundled_docs):
    qa = make_qa(backend)
    qa.ingest([corpus_dir])
    index, client = qa.index, qa.index.client
    assert index.format == 4, f"a new collection should be of format 4, is {index.format}"
    chunks = client.get_collection(index.name).get(include=["documents"])
    assert chunks["ids"] and all(d is None for d in chunks["documents"]), "a chunk record should hold no document"
    records = client.get_collection(f"{index.name}-documents").get(include=["documents"])
    assert all(d is None for d in records["documents"]), "a document record should hold no document"
    texts = client.get_collection(f"{index.name}-texts").get(include=["metadatas"])
    expected = {d.id: d.text for d in bundled_docs.values()}
    assert dict(zip(texts["ids"], (m["text"] for m in texts["metadatas"]))) == expected
    # Chroma's full-text search finds nothing: it was given no text
    assert client.get_collection(index.name).get(where_document={"$contains": "the"}, include=[])["ids"] == []
    if backend == "embedded":
        assert fts_rows(index) == 0, f"{fts_rows(index)} rows in Chroma's full-text index, expected none"
    # a passage is its article's span, as the chunker cut it (brute force)
    brute = {c.id: c.text for d in bundled_docs.values() for c in store.chunk_text(d.id, d.text)}
    assert {i: c.text for i, c in index.chunks(chunks["ids"]).items()} == brute
    article = qa.document(next(iter(bundled_docs.values())).id)
    assert article.text == next(iter(bundled_docs.values())).text


def test_where_filters_on_the_kept_keys_find_the_right_passages(backend, make_qa, embedder):
    qa = make_qa(backend)
    docs = [store.from_record(i, t, x, p, o) for i, t, x, p, o in STORIES]
    qa.ingest_documents(docs)
    index = qa.index
    by_id = {d.id: d for d in docs}
    vector = np.asarray(embedder.encode(["cables of the bridge"])[0], dtype=np.float32)

    def found(filters: store.Filters, doc_ids=None) -> set[str]:
        hits = index.dense(vector, 10, filters.where(doc_ids))
        for chunk, _ in hits:  # each with its own text, a span of its article
            assert chunk.text == by_id[chunk.doc_id].text[chunk.start : chunk.end], chunk
        return {chunk.source for chunk, _ in hits}

    assert found(store.Filters()) == {"harbour", "orchard", "lighthouse"}
    assert found(store.Filters(outlets=("coast gazette",))) == {"harbour", "lighthouse"}  # outlet_key
    assert found(store.Filters(since="2022-01-01")) == {"orchard", "lighthouse"}  # day
    assert found(store.Filters(until="2022-12-31", outlets=("Coast Gazette",))) == {"harbour"}
    orchard = by_id[next(d.id for d in docs if d.source == "orchard")].id
    assert found(store.Filters(documents=(orchard,)), [orchard]) == {"orchard"}  # doc_id
    keyword = index.keyword_index()  # built from chunk_rows: a doc_id $in read of the chunks and their texts
    assert keyword is not None
    best = keyword.search("cider apple", 3)[0].id
    assert index.chunks([best])[best].doc_id == orchard, f"best keyword hit {best}"


def test_a_collection_of_format_3_keeps_its_layout_and_answers_as_a_new_one(backend, make_qa, corpus_dir):
    new = make_qa(backend)
    new.ingest([corpus_dir])
    old = make_qa(backend)  # what the previous version made: the format stamped before any write
    old.index._chunks.modify(metadata={**(old.index._chunks.metadata or {}), FORMAT_KEY: 3})
    old = make_qa(backend, reopen=old)
    assert old.index.format == 3
    old.ingest([corpus_dir])
    stamped = old.index.client.get_collection(old.index.name).metadata[FORMAT_KEY]
    assert stamped == 3, f"an ingest should keep the collection's format 3, stamped {stamped}"
    chunks = old.index.client.get_collection(old.index.name).get(include=["documents"])
    assert all(chunks["documents"]), "format 3 keeps each chunk's text as its Chroma document"
    assert {i: c.text for i, c in old.index.chunks(chunks["ids"]).items()} == {
        i: c.text for i, c in new.index.chunks(chunks["ids"]).items()}
    for question in (HEALEY, "When did the bridge reopen?", "Who won the cup?"):
        a, b = old.ask(question), new.ask(question)
        assert (a.text, a.abstained, a.passages) == (b.text, b.abstained, b.passages), question
    doc = old.documents()[0]
    assert old.document(doc.id).text == new.document(doc.id).text
    old.index.delete_document(doc.id)
    assert old.index.client.get_collection(old.index.name).get(where={"doc_id": doc.id}, include=[])["ids"] == []


def test_a_removed_article_is_not_read_back_from_the_candidates_kept_for_the_next_question(backend, make_qa):
    """A question's candidates are kept for the next (Index.chunks_and_vectors); once an
    article is removed, here or by another process, its chunks are no longer read back."""
    qa = make_qa(backend)
    docs = [store.from_record(i, t, x, p, o) for i, t, x, p, o in STORIES]
    qa.ingest_documents(docs)
    ids = {d.source: qa.index._chunks.get(where={"doc_id": d.id}, include=[])["ids"] for d in docs}
    every = [i for found in ids.values() for i in found]
    chunks, vectors, sentences = qa.index.chunks_and_vectors(every)
    assert set(chunks) == set(vectors) == set(every) and sentences, "every chunk is read"
    assert qa.index.chunks_and_vectors(every)[0].keys() == chunks.keys(), "read again, from what was kept"
    qa.remove(["harbour"])
    assert not set(qa.index.chunks_and_vectors(every)[0]) & set(ids["harbour"]), "a removed article's chunks"
    other = make_qa(backend, reopen=qa)  # another process's view of the same index
    other.remove(["orchard"])
    left = qa.index.chunks_and_vectors(every)[0]
    assert set(left) == set(ids["lighthouse"]), f"{len(left)} chunks read, expected the lighthouse's only"


IMPORT_CHECK = """
from store.chroma import import_chromadb
chromadb = import_chromadb()
assert chromadb.PersistentClient
from overrides import override

class Base:
    def f(self, x): ...

try:
    class Sub(Base):
        @override
        def f(self): ...
    print("not checked")
except TypeError:
    print("checked")
"""


def test_chromadb_is_imported_without_the_override_checks_which_stay_on_for_everything_else():
    """store.chroma.import_chromadb skips the `overrides` signature checks while chromadb's
    classes are defined (~0.3 s of a cold start) and puts them back: a mismatched @override
    elsewhere is still refused."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", IMPORT_CHECK], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[1])
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["checked"], run.stdout
