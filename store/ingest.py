"""Documents in, indexed chunks out: chunk, embed in batches, write; remove.

Idempotent: a document whose content hash is stored complete is skipped (nothing is
embedded); a changed file replaces its old chunks; an interrupted write is redone. A
copy of an article already stored (or met earlier in the run) under another name is
stored under its own name too, with its own metadata, but embedded once: its vectors
are the first copy's.

Interruption (SIGKILL, a crash, Ctrl-C) at any moment leaves every document either
complete or detectably not: a document's sentence vectors, then its chunks, then its
record in the documents collection are written, and only a document with a record is
complete. The version stamp is set to "pending" before the first delete or write and
to a final value after the last, so a run cut short is recognised by the next one,
which then drops orphan chunks and sentences (documents without a record) and stamps
the index anew even with nothing left to write. One writer at a time per index folder
(Index.writing).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import nearcopies
from .chunking import Chunk, chunk_text
from .documents import Document, Loaded, Skipped, load_paths
from .embedder import Embedder
from .index import Index, StoredDocument, embedding_text

logger = logging.getLogger(__name__)

__all__ = ["ChunkingOptions", "IngestReport", "Loaded", "Skipped", "ingest_documents", "load_paths", "remove_documents"]


@dataclass(frozen=True)
class IngestReport:
    added: int  # new documents
    updated: int  # documents whose file changed (or whose earlier write was cut short)
    unchanged: int
    removed: int  # with prune: documents whose file is gone
    chunks: int  # chunks written
    copies: int = 0  # documents written with the vectors of an identical text (embedded once)
    skipped: tuple[Skipped, ...] = ()  # inputs that could not be indexed, with the reason
    fetched: int = 0  # web pages downloaded (store.web; 0 for files)

    @property
    def failed(self) -> tuple[Skipped, ...]:
        """The skipped inputs that make a run fail (exit code 1): every file and record, and
        every web page but one an earlier run reported already for the same lasting reason."""
        return tuple(s for s in self.skipped if not s.known)


@dataclass(frozen=True)
class ChunkingOptions:
    # passages of whole sentences, at most 1,000 characters and 10 sentences, none shared:
    # chosen on the dev sets over 700/4/1 and 1,000/10/1 (benchmarks/RESULTS.md, issue 26)
    max_chars: int = 1000
    max_sentences: int = 10
    overlap: int = 0

    def chunk(self, doc_id: str, text: str) -> list[Chunk]:
        return chunk_text(doc_id, text, max_chars=self.max_chars, max_sentences=self.max_sentences,
                          overlap=self.overlap)


def ingest_documents(
    index: Index,
    embedder: Embedder,
    documents: Sequence[Document],
    prune: bool = False,
    chunking: ChunkingOptions = ChunkingOptions(),
    progress: Callable[[int, int], None] | None = None,
    batch_chunks: int = 1024,
    skipped: Sequence[Skipped] = (),
) -> IngestReport:
    with index.writing():
        index.check_model(getattr(embedder, "identity", None), embedder.name, record=True)
        report = _ingest(index, embedder, list(documents), prune, chunking, progress, batch_chunks)
    return IngestReport(**{**report.__dict__, "skipped": tuple(skipped)})


def remove_documents(index: Index, doc_ids: Sequence[str]) -> int:
    """Delete documents from every index (vectors, keyword side, records); returns how many."""
    if not doc_ids:
        return 0
    with index.writing():
        index.touch(pending=True)
        for doc_id in doc_ids:
            index.delete_document(doc_id)
        index.touch()
    index.keyword_after_write()
    return len(doc_ids)


def _key(doc) -> str:
    return doc.path or doc.source


def _ingest(index, embedder, documents, prune, chunking, progress, batch_chunks) -> IngestReport:
    if not index.near_ready():
        _fingerprint_stored(index)
    stored: dict[str, StoredDocument] = {_key(d): d for d in index.documents()}
    gone = [d.id for d in stored.values() if d.path and not Path(d.path).exists()] if prune else []
    todo: list[Document] = []
    unchanged = updated = 0
    replaced = sorted({stored[_key(d)].id for d in documents if _key(d) in stored and stored[_key(d)].id != d.id})
    complete = {d.id for d in stored.values()} - set(replaced) - set(gone)
    seen: set[str] = set()
    for doc in documents:
        key = _key(doc)
        old = stored.get(key)
        if old and old.id == doc.id:
            unchanged += 1
            seen.add(doc.id)
            continue
        if doc.id in seen or doc.id in complete:
            # The same article from two places (two folders of one name holding one file:
            # same source name, text and metadata, so the same ids) is stored once.
            logger.warning("%s holds the same article as another file cited as %s; it is stored once", key, doc.source)
            unchanged += 1
            continue
        seen.add(doc.id)
        updated += old is not None
        todo.append(doc)
    added = sum(_key(doc) not in stored for doc in todo)
    interrupted = index.interrupted()  # the last run was cut short
    if not todo and not gone and not interrupted:
        index.keyword_after_write()  # make sure the keyword index agrees with the collection
        return IngestReport(0, 0, unchanged, 0, 0)

    todo = _with_near_copies(index, todo, exclude=set(replaced) | set(gone), any_stored=bool(stored))
    chunked = [(doc, chunking.chunk(doc.id, doc.text)) for doc in todo]  # bad options fail here
    index.touch(pending=True)  # from here on, any keyword index built before is stale
    if interrupted:
        dropped = index.drop_orphans()
        logger.info("the last ingest was cut short; finishing it (%d orphan documents dropped)", dropped)
    renamed = _renamed_vectors(index, stored, chunked)  # read before the old records go
    for doc_id in replaced + gone:
        index.delete_document(doc_id)
    # copies: a text stored already (under a name not being replaced) or met earlier in this run
    kept = {d.content: d.id for d in stored.values() if d.id in complete}
    planned, copies = [], []
    first_of: dict[str, Document] = {}
    for doc, chunks in chunked:
        if doc.id in renamed:
            chunk_vectors, sentence_vectors = renamed[doc.id]
            index.add_many([(doc, chunks, np.stack([chunk_vectors[(c.start, c.end)] for c in chunks]),
                             sentence_vectors)])
        elif doc.content in first_of:
            copies.append((doc, chunks, first_of[doc.content].id))
        elif doc.content in kept:
            copies.append((doc, chunks, kept[doc.content]))
        else:
            first_of[doc.content] = doc
            planned.append((doc, chunks))
    total = sum(len(chunks) for _, chunks in planned)
    # Documents are embedded in groups of about `batch_chunks` chunks, each group sorted
    # by length by the embedder (a group of 64 SciFact abstracts padded 8% more tokens than
    # one sort of everything; 1,024 chunks, 2%). The model encodes group n+1 while a writer
    # thread stores group n in Chroma. One write at a time, in order; a failed write stops
    # the ingest with its error.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="corpus-qa-write") as writer:
        pending = None
        for group in _groups(planned, batch_chunks):
            rows = _embed_batch(embedder, group, lambda n: progress and progress(n, total))
            if pending is not None:
                pending.result()
            pending = writer.submit(index.add_many, rows)
        if pending is not None:
            pending.result()
    for doc, chunks, original in copies:  # after the originals: their vectors are stored now
        chunk_vectors, sentence_vectors = index.vectors_of(original)
        index.add_many([(doc, chunks, np.stack([chunk_vectors[(c.start, c.end)] for c in chunks]), sentence_vectors)])
    index.touch()
    index.keyword_after_write()
    moved = sum(len(chunks) for doc, chunks in chunked if doc.id in renamed)
    return IngestReport(added, updated, unchanged, len(gone), total + moved + sum(len(c) for _, c, _ in copies),
                        len(copies))


def _with_near_copies(index, docs: list[Document], exclude: set[str], any_stored: bool) -> list[Document]:
    """The documents, each with its near-copy group and LSH bands (store.nearcopies): the
    group of its closest near-copy among the stored documents (but those about to be
    replaced or removed) and the ones before it in `docs`."""
    if not docs:
        return docs
    stored = (lambda many: index.near_candidates(many, exclude)) if any_stored else (lambda many: ())
    found = nearcopies.groups([(d.title, d.text, d.content) for d in docs], stored)
    return [replace(d, near=group, bands=bands) for d, (group, bands) in zip(docs, found)]


def _fingerprint_stored(index) -> None:
    """Give every stored document its near-copy group and bands: an index made before
    near-copy detection, once (its next ingest). Records only; no vector is touched."""
    docs = sorted(index.documents(), key=lambda d: (d.source, d.id))
    logger.info("finding near-copies among the %d indexed documents (once)", len(docs))
    texts = {i: (m.get("title", ""), text or "") for i, text, m in index.texts([d.id for d in docs])}
    found = nearcopies.groups([(*texts.get(d.id, ("", "")), d.content) for d in docs])
    index.record_near({d.id: f for d, f in zip(docs, found)})
    index.touch()  # the document registry and every reader see the groups


def _renamed_vectors(index, stored: dict, chunked: list) -> dict[str, tuple[dict, dict]]:
    """The stored vectors of documents whose file is the same text under a new source name
    (an index made when sources were named `<folder>/<file>`, ingested again): such a
    document is renamed (its record replaced) without embedding it again."""
    out = {}
    for doc, chunks in chunked:
        old = stored.get(_key(doc))
        if old is None or old.id == doc.id or old.content != doc.content:
            continue
        chunk_vectors, sentence_vectors = index.vectors_of(old.id)
        if all((c.start, c.end) in chunk_vectors for c in chunks):
            out[doc.id] = (chunk_vectors, sentence_vectors)
    return out


def _groups(planned: list[tuple[Document, list[Chunk]]], batch_chunks: int):
    """Consecutive documents, in groups of at least `batch_chunks` chunks (the last: the rest)."""
    group, size = [], 0
    for doc, chunks in planned:
        group.append((doc, chunks))
        size += len(chunks)
        if size >= batch_chunks:
            yield group
            group, size = [], 0
    if group:
        yield group


def _embed_batch(embedder: Embedder, batch: list[tuple[Document, list[Chunk]]], progress) -> list:
    """(document, chunks, chunk vectors, {sentence span: vector}) for each document of `batch`.

    One forward pass per passage, its article's title before it: passages do not overlap,
    so every token of the article is encoded once (and the title once per passage). A
    passage's vector is the mean of the token states of its title and text; a sentence's,
    the mean of its own tokens' states, read in its passage's context."""
    texts, spans = [], []
    for doc, chunks in batch:
        for chunk in chunks:
            shift = len(embedding_text(doc.title, "")) - chunk.start
            texts.append(embedding_text(doc.title, chunk.text))
            spans.append([(a + shift, b + shift) for a, b in chunk.sentences])
    chunk_vectors, span_vectors = embedder.encode_with_spans(texts, spans, progress=progress)
    rows = []
    row = 0
    for doc, chunks in batch:
        sentences = {}
        for chunk in chunks:
            for span, vector in zip(chunk.sentences, span_vectors[row]):
                sentences.setdefault(span, vector)
            row += 1
        rows.append((doc, chunks, chunk_vectors[row - len(chunks) : row], sentences))
    return rows
