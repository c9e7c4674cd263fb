"""Files in, indexed chunks out: load, clean, chunk, embed in batches, write.

Idempotent: a document whose content hash is stored complete is skipped (nothing is
embedded); a changed file replaces its old chunks; an interrupted write (fewer chunks
stored than the document has) is redone.

Interruption (SIGKILL, a crash, Ctrl-C) at any moment leaves every document either
complete or detectably not: a document's sentence vectors are written before its chunks,
and its chunks carry `n_chunks`, so one with fewer chunks stored (or none) is written
again. The version stamp is set to "pending" before the first delete or write and to a
final value after the last, so a run cut short is recognised by the next one, which
then drops orphan sentence vectors and stamps the index anew even with nothing left to
write (every process then rebuilds its keyword index). One ingest at a time per index
folder (Index.writing).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .chunking import Chunk, chunk_text
from .documents import Document, find_files, load
from .embedder import Embedder
from .index import Index, embedding_text

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestReport:
    added: int  # new documents
    updated: int  # documents whose file changed (or whose earlier write was cut short)
    unchanged: int
    removed: int  # with prune: documents whose file is gone
    chunks: int  # chunks written


@dataclass(frozen=True)
class ChunkingOptions:
    max_chars: int = 700
    max_sentences: int = 4
    overlap: int = 1


def load_paths(paths: Iterable[str | Path]) -> list[Document]:
    """Every document under `paths`, loaded and cleaned; the first bad file raises InputError
    before anything is written."""
    return [load(path, source) for path, source in find_files(list(paths))]


def ingest_documents(
    index: Index,
    embedder: Embedder,
    documents: list[Document],
    prune: bool = False,
    chunking: ChunkingOptions = ChunkingOptions(),
    progress: Callable[[int, int], None] | None = None,
    batch_chunks: int = 1024,
) -> IngestReport:
    with index.writing():
        return _ingest(index, embedder, documents, prune, chunking, progress, batch_chunks)


def _ingest(index, embedder, documents, prune, chunking, progress, batch_chunks) -> IngestReport:
    stored = index.documents()
    gone = [d.doc_id for d in stored.values() if d.path and not Path(d.path).exists()] if prune else []
    todo: list[Document] = []
    unchanged = updated = 0
    replaced: list[str] = []
    for doc in documents:
        key = doc.path or doc.source
        old = stored.get(key)
        if old and old.doc_id == doc.id and old.stored == old.n_chunks:
            unchanged += 1
            continue
        if old:
            updated += 1
            replaced.append(old.doc_id)
        todo.append(doc)
    # The same article from two places (two folders of one name holding one file: same
    # source name and text, so the same id and chunk ids) is stored once. Writing both
    # made Chroma refuse the batch (DuplicateIDError), and on the next run each copy
    # would have replaced the other.
    kept = {d.doc_id for d in stored.values() if d.stored == d.n_chunks} - set(replaced) - set(gone)
    unique: list[Document] = []
    for doc in todo:
        if doc.id in kept:
            logger.warning("%s holds the same article as another file cited as %s; it is stored once",
                           doc.path or doc.source, doc.source)
            unchanged += not stored.get(doc.path or doc.source)
            continue
        kept.add(doc.id)
        unique.append(doc)
    todo = unique
    added = sum(not stored.get(doc.path or doc.source) for doc in todo)
    interrupted = index.interrupted()  # the last run was cut short
    if not todo and not gone and not interrupted:
        index.keyword_index()  # make sure the keyword index agrees with the collection
        return IngestReport(0, 0, unchanged, 0, 0)

    index.touch(pending=True)  # from here on, any keyword index built before is stale
    if interrupted:
        dropped = index.drop_orphans()
        logger.info("the last ingest was cut short; finishing it (%d orphan sentence sets dropped)", dropped)
    for doc_id in replaced + gone:
        index.delete_document(doc_id)
    planned = [(doc, chunk_text(doc.id, doc.text, **vars(chunking))) for doc in todo]
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
    index.touch()
    index.keyword_index()
    return IngestReport(added, updated, unchanged, len(gone), total)


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
    """(document, chunks, chunk vectors, {sentence span: vector}) for each document of `batch`."""
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
