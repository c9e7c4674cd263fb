"""Ingest against the real model and a real Chroma (embedded, and a `chroma run` server):
idempotent re-ingest that embeds nothing, changed files, prune, the keyword index in step,
and bad input that changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import rag
import store

pytestmark = pytest.mark.slow  # the real model and Chroma


class CountingEmbedder:
    """The real model, counted: implements store.Embedder by delegating to it."""

    def __init__(self, inner: store.SentenceTransformerEmbedder):
        self.inner = inner
        self.name = inner.name
        self.texts = 0

    def encode(self, texts):
        self.texts += len(texts)
        return self.inner.encode(texts)

    def encode_with_spans(self, texts, spans, progress=None):
        self.texts += len(texts)
        return self.inner.encode_with_spans(texts, spans, progress=progress)


LIGHTHOUSE = (
    "Lighthouse Keeper Retires After Forty Years\n\n"
    "Margaret Olsen kept the Cape Wrath light burning for forty years. "
    "She climbed the 117 steps of the tower twice a night in every season. "
    "The light was automated in 1998, but she stayed on as its caretaker.\n\n"
    "On Sunday she retired with a party in the village hall. "
    "Fishermen from three harbours came to thank her. "
    "Her successor will be a remote monitoring system in Inverness.\n"
)
LIGHTHOUSE_CHANGED = (
    "Lighthouse Keeper Hands Over the Keys\n\n"
    "Margaret Olsen handed the keys of the Cape Wrath light to her nephew Tomas Berg on Monday. "
    "He trained as a marine engineer in Bergen. "
    "He will live in the keeper's cottage with his two dogs.\n\n"
    "The council paid for a new roof on the cottage last spring. "
    "Tomas Berg said he would open the tower to school visits in summer. "
    "The first group, from Durness primary school, is expected in June. "
    "Olsen will move to Thurso to live with her sister. "
    "She said she would miss the sound of the sea at night.\n\n"
    "The light itself has been run from Inverness since it was automated, and a technician visits it "
    "every three months to check the lamp, the batteries and the fog signal. "
    "Berg will keep the logbook his aunt started in 1984, writing down the weather twice a day. "
    "Walkers on the Cape Wrath Trail often stop at the cottage to ask for water, and he plans a small "
    "room where they can shelter from the wind. "
    "The ferry across the Kyle of Durness runs only in summer, so in winter the road is the only way in. "
    "A minibus brings visitors from the ferry to the lighthouse on most days between May and September.\n"
)
BRIDGE = (
    "Harbour Bridge Reopens After Repairs\n\n"
    "The city reopened the Harbour Bridge on Monday after six months of repairs. "
    "Engineers replaced all 112 cables and resurfaced the deck.\n"
)
ORCHARD = (
    "Orchard Festival Draws Record Crowd\n\n"
    "More than twelve thousand visitors came to the apple orchard festival in Hereford on Saturday. "
    "The cider press competition was won by a team from Ledbury.\n"
)


def write(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


def collection_ids(qa: rag.QA) -> set[str]:
    """What the Chroma collection holds, asked of Chroma itself."""
    return set(qa.index.client.get_collection(qa.index.name).get(include=[])["ids"])


def sentence_doc_ids(qa: rag.QA) -> set[str]:
    """The documents whose sentence vectors are stored (packed in their chunks)."""
    got = qa.index.client.get_collection(qa.index.name).get(include=["metadatas"])
    return {m["doc_id"] for m in got["metadatas"] if m.get("vectors")}


def assert_keyword_in_step(qa: rag.QA) -> None:
    keyword = set(qa.index.keyword_index().ids)
    chroma = collection_ids(qa)
    assert keyword == chroma, f"keyword index {len(keyword)} ids, collection {len(chroma)}; differ by {keyword ^ chroma}"


def expected_chunks(paths) -> dict[str, int]:
    """Brute force: how many chunks each document of `paths` should have, by source."""
    return {d.source: len(store.chunk_text(d.id, d.text)) for d in store.load_paths(paths)}


def snapshot(qa: rag.QA):
    chunks = qa.index.chunks(qa.index.client.get_collection(qa.index.name).get(include=[])["ids"])
    return qa.index.count(), sorted((c.id, c.text, c.doc_id) for c in chunks.values())


# -- idempotence --------------------------------------------------------------------


def test_reingest_of_the_same_folder_adds_nothing_and_embeds_nothing(backend, make_qa, embedder, corpus_dir, tmp_path):
    folder = tmp_path / "articles"
    shutil.copytree(corpus_dir, folder)
    counter = CountingEmbedder(embedder)
    qa = make_qa(backend, model=counter)
    per_doc = expected_chunks([folder])
    total = sum(per_doc.values())

    first = qa.ingest([folder])
    assert first == store.IngestReport(added=5, updated=0, unchanged=0, removed=0, chunks=total)
    assert qa.index.count() == total
    assert counter.texts == total, f"expected {total} chunk texts embedded, got {counter.texts}"
    assert {d.source: d.chunks for d in qa.index.documents()} == per_doc
    assert_keyword_in_step(qa)
    before, version = snapshot(qa), qa.index.version()

    second = qa.ingest([folder])
    assert second == store.IngestReport(added=0, updated=0, unchanged=5, removed=0, chunks=0)
    assert counter.texts == total, f"re-ingest embedded {counter.texts - total} texts; expected none"
    assert snapshot(qa) == before
    assert qa.index.version() == version, "re-ingest of unchanged files must not write to the collection"
    assert_keyword_in_step(qa)

    # a new process (index reopened) sees the same: nothing to do
    again = make_qa(backend, model=counter, reopen=qa)
    assert again.ingest([folder], prune=True) == store.IngestReport(0, 0, 5, 0, 0)
    assert counter.texts == total
    assert snapshot(again) == before
    assert_keyword_in_step(again)


def test_changed_file_replaces_its_old_chunks(backend, make_qa, tmp_path):
    folder = write(tmp_path / "articles", {"bridge.txt": BRIDGE, "lighthouse.txt": LIGHTHOUSE})
    qa = make_qa(backend)
    assert qa.ingest([folder]) == store.IngestReport(2, 0, 0, 0, sum(expected_chunks([folder]).values()))
    old_id = {d.source: d.doc_id for d in qa.index.documents()}["lighthouse.txt"]
    assert qa.index.keyword("village hall party", 10), "the old text should be found before the change"

    write(folder, {"lighthouse.txt": LIGHTHOUSE_CHANGED})
    per_doc = expected_chunks([folder])
    assert per_doc["lighthouse.txt"] > 1, "the changed article should span several chunks"
    report = qa.ingest([folder])
    assert report == store.IngestReport(added=0, updated=1, unchanged=1, removed=0, chunks=per_doc["lighthouse.txt"])
    assert qa.index.count() == sum(per_doc.values())
    docs = qa.index.documents()
    assert len(docs) == 2
    new = {d.source: d for d in docs}["lighthouse.txt"]
    assert new.doc_id != old_id and new.chunks == per_doc["lighthouse.txt"]
    assert old_id not in sentence_doc_ids(qa), "the old version's sentence vectors are still stored"
    assert_keyword_in_step(qa)

    # the old text is gone from every retriever; the new one is found
    assert qa.index.keyword("village hall party", 10) == []
    answer = qa.ask("Where did the lighthouse keeper's retirement party take place?")
    assert all("village hall" not in p.text for p in answer.passages), [p.text for p in answer.passages]
    answer = qa.ask("Who received the keys of the Cape Wrath light?")
    assert not answer.abstained, answer
    assert answer.passages[0].source == "lighthouse.txt"
    assert "Tomas Berg" in answer.text


def test_prune_drops_documents_whose_files_are_gone(backend, make_qa, tmp_path):
    folder = write(tmp_path / "articles", {"bridge.txt": BRIDGE, "lighthouse.txt": LIGHTHOUSE, "orchard.txt": ORCHARD})
    qa = make_qa(backend)
    per_doc = expected_chunks([folder])
    assert qa.ingest([folder]).added == 3
    (folder / "orchard.txt").unlink()

    # without --prune the document stays
    assert qa.ingest([folder]) == store.IngestReport(0, 0, 2, 0, 0)
    assert qa.index.count() == sum(per_doc.values())

    assert qa.ingest([folder], prune=True) == store.IngestReport(added=0, updated=0, unchanged=2, removed=1, chunks=0)
    assert sorted(d.source for d in qa.index.documents()) == ["bridge.txt", "lighthouse.txt"]
    assert qa.index.count() == per_doc["bridge.txt"] + per_doc["lighthouse.txt"]
    assert qa.index.keyword("cider press Ledbury", 10) == []
    assert_keyword_in_step(qa)
    assert qa.stats().documents == 2


def test_interrupted_write_is_redone(make_qa, tmp_path):
    folder = write(tmp_path / "articles", {"lighthouse.txt": LIGHTHOUSE_CHANGED})
    qa = make_qa()
    qa.ingest([folder])
    n = qa.index.count()
    assert n > 1
    # a write cut short: the chunks made it, the document's record (written last) did not
    records = qa.index.client.get_collection(f"{qa.index.name}-documents")
    records.delete(ids=records.get(include=[])["ids"])
    qa.index.touch(pending=True)
    report = qa.ingest([folder])
    assert report == store.IngestReport(added=1, updated=0, unchanged=0, removed=0, chunks=n)
    assert qa.index.count() == n
    assert_keyword_in_step(qa)


def test_keyword_index_is_rebuilt_when_it_disagrees_with_the_collection(make_qa, tmp_path):
    folder = write(tmp_path / "articles", {"bridge.txt": BRIDGE})
    qa = make_qa()
    qa.ingest([folder])
    keyword_dir = Path(qa.index.where) / "keyword" / qa.index.name
    assert (keyword_dir / "meta.json").is_file(), f"no saved keyword index in {keyword_dir}"
    stale = tmp_path / "stale-keyword"
    shutil.copytree(keyword_dir, stale)

    write(folder, {"orchard.txt": ORCHARD})
    qa.ingest([folder])
    # put the keyword index of the first ingest back, as a crash between writes would leave it
    shutil.rmtree(keyword_dir)
    shutil.copytree(stale, keyword_dir)

    reopened = make_qa(reopen=qa)
    assert_keyword_in_step(reopened)
    assert [h.id for h in reopened.index.keyword("cider press Ledbury", 5)], "the rebuilt index should find the new article"

    # a missing or unreadable keyword index is rebuilt too
    shutil.rmtree(keyword_dir)
    assert_keyword_in_step(make_qa(reopen=qa))
    (keyword_dir / "meta.json").write_text("{not json")
    assert_keyword_in_step(make_qa(reopen=qa))


# -- bad input ----------------------------------------------------------------------

LATIN1 = "Café Society Returns\n\nThe café in Zürich reopened with crème brûlée on the menu.\n".encode("latin-1")
BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10" + bytes(range(256))


@pytest.mark.parametrize(
    "files, given, message",
    [
        ({}, "nowhere", r"^no such file or folder: .*nowhere \(check the path\)$"),
        ({"empty/.keep": ""}, "empty", r"^no articles in folder .*empty: it holds no \.txt, \.md, \.markdown, \.html, \.htm files$"),
        ({"image.txt": BINARY}, "image.txt", r"^.*image\.txt: looks binary \(NUL bytes\); only text, markdown or HTML articles can be indexed$"),
        ({"cafe.txt": LATIN1}, "cafe.txt", r"^.*cafe\.txt: not UTF-8 \(byte 3\); convert it, e.g\. iconv -f latin1 -t utf-8$"),
        ({"photo.jpg": b"\xff\xd8\xff"}, "photo.jpg", r"^.*photo\.jpg: unsupported file type \.jpg; use \.txt, \.md"),
        ({"blank.txt": "\n\n  \n"}, "blank.txt", r"^.*blank\.txt: no article text left after cleaning"),
    ],
    ids=["missing-path", "empty-folder", "binary", "latin-1", "unsupported", "blank"],
)
def test_bad_input_raises_a_clear_input_error_and_changes_nothing(make_qa, tmp_path, files, given, message):
    qa = make_qa()
    qa.ingest([write(tmp_path / "good", {"lighthouse.txt": LIGHTHOUSE})])
    before, version = snapshot(qa), qa.index.version()

    write(tmp_path / "input", files)
    with pytest.raises(store.InputError, match=message) as caught:
        qa.ingest([tmp_path / "input" / given])
    assert "\n" not in str(caught.value), "an error is one line"
    assert snapshot(qa) == before, "a refused ingest changed the index"
    assert qa.index.version() == version
    assert_keyword_in_step(qa)


MIXED = {"mixed/a_bridge.txt": BRIDGE, "mixed/b_cafe.txt": LATIN1, "mixed/c_orchard.txt": ORCHARD,
         "mixed/sub/z.md": BINARY, "mixed/sub/blank.txt": "\n \n"}


def test_a_folder_with_bad_files_indexes_the_good_ones_and_names_each_bad_one(make_qa, tmp_path, backend):
    qa = make_qa(backend)
    folder = write(tmp_path / "input", MIXED) / "mixed"
    report = qa.ingest([folder])
    assert (report.added, report.chunks > 0) == (2, True), report
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert set(reasons) == {"b_cafe.txt", "z.md", "blank.txt"}, reasons
    assert reasons["b_cafe.txt"] == "not UTF-8 (byte 3); convert it, e.g. iconv -f latin1 -t utf-8"
    assert reasons["z.md"].startswith("looks binary (NUL bytes)")
    assert reasons["blank.txt"].startswith("no article text left after cleaning")
    assert sorted(d.source for d in qa.index.documents()) == ["a_bridge.txt", "c_orchard.txt"]
    assert_keyword_in_step(qa)
    again = qa.ingest([folder])
    assert (again.added, again.unchanged, len(again.skipped)) == (0, 2, 3), again


def test_strict_keeps_all_or_nothing(make_qa, tmp_path):
    qa = make_qa()
    qa.ingest([write(tmp_path / "good", {"lighthouse.txt": LIGHTHOUSE})])
    before, version = snapshot(qa), qa.index.version()
    folder = write(tmp_path / "input", MIXED) / "mixed"
    with pytest.raises(store.InputError, match=r"^--strict: 3 files cannot be indexed, so nothing was written: ") as caught:
        qa.ingest([folder], strict=True)
    message = str(caught.value)
    assert "\n" not in message
    for name, reason in (("b_cafe.txt", "not UTF-8 (byte 3)"), ("sub/z.md", "looks binary (NUL bytes)"),
                         ("sub/blank.txt", "no article text left after cleaning")):
        assert f"{folder / name} ({reason}" in message, f"{name} should be named with its reason: {message}"
    assert message.endswith("Fix or remove them, or leave out --strict to index the rest and skip these"), message
    assert snapshot(qa) == before and qa.index.version() == version


def test_a_bad_file_named_on_its_own_is_an_error_even_beside_a_folder(make_qa, tmp_path):
    qa = make_qa()
    before = snapshot(qa)
    good = write(tmp_path / "good", {"lighthouse.txt": LIGHTHOUSE})
    bad = write(tmp_path / "bad", {"cafe.txt": LATIN1}) / "cafe.txt"
    with pytest.raises(store.InputError, match=r"cafe\.txt: not UTF-8"):
        qa.ingest([good, bad])
    assert snapshot(qa) == before


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_folder_that_is_not_an_index_is_refused_and_left_untouched(tmp_path):
    folder = write(tmp_path / "thesis", {"chapter1.txt": "My thesis, do not delete.", "data/results.csv": "a,b\n1,2\n"})
    before = tree(folder)
    message = r"thesis is not a corpus-qa index \(no corpus-qa\.json\) and is not empty; pass --index with a new or empty folder"
    with pytest.raises(store.StoreError, match=message):
        store.Index.open(path=folder)
    with pytest.raises(store.StoreError, match=message):
        rag.QA.open(index=folder)
    assert tree(folder) == before, "the folder's files were changed"


def test_an_index_location_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("keep me")
    with pytest.raises(store.StoreError, match=r"notes\.txt is a file, not a folder; pass --index with a folder"):
        store.Index.open(path=path)
    assert path.read_text() == "keep me"


def test_an_empty_folder_becomes_an_index(tmp_path):
    folder = tmp_path / "fresh"
    folder.mkdir()
    index = store.Index.open(path=folder)
    assert index.count() == 0
    assert (folder / "corpus-qa.json").is_file()
    assert store.Index.open(path=folder).count() == 0  # and opens again


def test_an_unreachable_chroma_server_is_a_store_error(tmp_path):
    from conftest import free_port

    port = free_port()
    with pytest.raises(store.StoreError, match=rf"cannot reach the Chroma server at http://127\.0\.0\.1:{port} .*chroma run"):
        store.Index.open(url=f"http://127.0.0.1:{port}", cache=tmp_path / "cache")


def test_bad_collection_name_is_a_store_error(tmp_path):
    with pytest.raises(store.StoreError, match=r"bad collection name 'a b': use 3-52 letters"):
        store.Index.open(path=tmp_path / "index", collection="a b")


class TokenCountingEmbedder(CountingEmbedder):
    """The real model; counts the tokens of every text it is asked to encode at ingest."""

    def __init__(self, inner):
        super().__init__(inner)
        self.tokens = 0
        self.max_tokens = inner.max_tokens
        self.token_counts = inner.token_counts

    def encode_with_spans(self, texts, spans, progress=None):
        self.tokens += sum(self.inner.token_counts(texts))
        return super().encode_with_spans(texts, spans, progress)


def test_an_ingest_encodes_each_token_of_an_article_once(embedder):
    """Issue 26, point 3: passages that share no sentence, so one pass over the article's
    tokens (the title is read again before each passage)."""
    from store import embedding_text
    from store.documents import parse
    from store.ingest import ChunkingOptions, _embed_batch

    path = max(rag.bundled_corpus().glob("*.txt"), key=lambda p: p.stat().st_size)  # a real news article
    doc = parse(path.read_text(encoding="utf-8"), path.name, str(path))
    chunks = ChunkingOptions().chunk(doc.id, doc.text)
    counting = TokenCountingEmbedder(embedder)
    [(_, _, vectors, sentences)] = _embed_batch(counting, [(doc, chunks)], None)
    spans = sorted({s for c in chunks for s in c.sentences})
    article = sum(embedder.token_counts([doc.text[a:b] for a, b in spans]))
    title = embedder.token_counts([embedding_text(doc.title, "")])[0]
    assert len(chunks) > 1 and vectors.shape == (len(chunks), 384) and set(sentences) == set(spans)
    assert counting.tokens <= 1.05 * article + len(chunks) * title, (counting.tokens, article, title, len(chunks))
