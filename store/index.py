"""The index: Chroma collections and the write protocol that keeps them whole.

    <name>             chunks: vector, span, the article's metadata (filters) and its
                       sentences' vectors, packed (`pack`: int8, no search of their own);
                       a chunk's text is its span of the article's text
    <name>-texts       one record per article: its cleaned text (metadata `text`), the only
                       copy of it, read by id (format 4; format 3 keeps each chunk's text
                       and the article's as Chroma documents, which Chroma also indexes
                       for full-text search: 3 copies of every character, never queried)
    <name>-documents   one record per article: its metadata, the mean of its chunk vectors;
                       written last, so it marks the article complete
    <name>-near        one record per article: its near-copy LSH band hashes as metadata
                       (store.nearcopies), read only by an ingest looking for near-copies,
                       so listing the documents never reads them
    <name>-writing     the documents a write is under way for (a repair's candidates) and,
                       on a server, the writer's lease (store/lease.py)

Embedded (`path=`, a PersistentClient in a folder) or a Chroma server (`url=`). The
keyword side (store/keyword.py) follows the collection through a version stamp in the
chunk collection's metadata; store/chroma.py opens clients.
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import json
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import chroma, lease, nearcopies
from .chunking import Chunk
from .chroma import server_errors
from .documents import Document
from .errors import StoreError
from .filters import Filters, day_number, outlet_key
from .keyword import KeywordHit, KeywordIndex, KeywordSync

logger = logging.getLogger(__name__)
VERSION_KEY = "corpus_qa_version"
JOURNAL_KEY = "corpus_qa_journal"  # set: every write since is announced in the -writing collection
FORMAT_KEY = "corpus_qa_format"
# in the documents collection's metadata: every record carries its near-copy fingerprint
# (store.nearcopies); the web pages skipped for a lasting reason (store.web), as JSON
NEAR_KEY = "corpus_qa_near"
WEB_SKIPS_KEY = "corpus_qa_web_skipped"
MODEL_KEY = "corpus_qa_model"  # the embedding model its vectors are from: {"identity", "name"} (JSON)
TEXT_KEY = "text"  # an article's cleaned text, in its -texts record (format 4)
TEXTS_CACHED = 4096  # articles whose text a question's read keeps (by id: an id is a hash of the text)
CHUNKS_CACHED = 8192  # candidates a question's read keeps for the next: 6-8 KB each, up to ~65 MB (RESULTS.md)
PENDING = "pending-"  # the stamp of a write under way (or cut short: killed, crashed)
PAGE = 10_000  # records per page of a full read: a page's cost grows with its offset (at 1,000,000 chunks,
# offset 800,000: 3.0 s for 2,000 records, 4.8 s for 10,000); SQLite refuses 50,000 with their texts


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as the index returns it, with what a citation needs."""

    id: str
    doc_id: str
    source: str
    title: str
    text: str
    start: int
    end: int
    sentences: tuple[tuple[int, int], ...]  # absolute spans in the document text
    published: str | None = None
    outlet: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class StoredDocument:
    """An indexed article, as `documents` lists it."""

    id: str
    source: str
    path: str
    title: str
    published: str | None
    outlet: str | None
    url: str | None
    author: str | None
    chunks: int
    chars: int
    content: str  # hash of title + text: copies share it
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    copies: tuple[str, ...] = ()  # sources of other documents with the same text
    near: str = ""  # its near-copy group as recorded at ingest ("": none recorded, its own)
    near_copies: tuple[str, ...] = ()  # sources of its near-copies: the same article with small edits

    @property
    def doc_id(self) -> str:
        return self.id

    @property
    def group(self) -> str:
        """The article it is a copy or near-copy of (store.nearcopies): equal for all of them."""
        return self.near or self.content

    @property
    def also_in(self) -> tuple[str, ...]:
        """Every other document holding this article: its copies, then its near-copies."""
        return self.copies + self.near_copies


@dataclass(frozen=True)
class Article(StoredDocument):
    """A document with its cleaned text: every passage's start/end point into `text`."""

    text: str = ""


def embedding_text(title: str, text: str) -> str:
    """What is embedded and keyword-indexed for a chunk: its article's title, then it."""
    return f"{title}\n{text}" if title else text


def _doc_meta(doc: Document) -> dict[str, Any]:
    """The article's filter and citation keys, as every record of it carries them."""
    meta: dict[str, Any] = {"doc_id": doc.id}
    if doc.published:
        meta["published"] = doc.published
        meta["day"] = day_number(doc.published)
    if doc.outlet:
        meta["outlet"] = doc.outlet
        meta["outlet_key"] = outlet_key(doc.outlet)
    if doc.url:
        meta["url"] = doc.url
    return meta


class Index:
    """Open with Index.open(path=...) or Index.open(url=...); no model is loaded here."""

    lease_seconds = lease.LEASE_SECONDS  # a server writer silent this long is taken to be gone

    def __init__(self, client, collection: str, keyword_dir: Path | Callable[[Any], Path] | None, where: str):
        self.client = client
        self.name = collection
        self.where = where
        self.remote = "://" in where
        self._folder = None if self.remote else Path(where)  # embedded: the index folder
        self._text_cache: dict[str, str] = {}  # doc id -> text, oldest first (ids are content hashes: never stale)
        self._cache_lock = threading.Lock()  # guards it and the chunks below
        # chunk id -> (chunk, vector, its sentences' packed vectors) as read at one version stamp
        self._chunk_cache: tuple[str, OrderedDict[str, tuple[StoredChunk, np.ndarray, bytes]]] = ("", OrderedDict())
        self._open_collections(client, create=True)
        self._check_format()
        if callable(keyword_dir):  # named after the collection
            keyword_dir = keyword_dir(self._chunks)
        self._seen = self.version()  # the stamp this client's view of the collection is from
        self._reopen_lock = threading.Lock()
        self._private_api = None  # the Chroma state this Index made itself in refresh()
        self._registry: tuple[str, list[StoredDocument], dict[str, StoredDocument]] | None = None
        self._catalogue_cache: tuple[list[StoredDocument], tuple] | None = None  # (documents, Index._catalogue of them)
        self.keywords = KeywordSync(keyword_dir, self.version, documents=self.document_ids, chunks=self.chunk_rows,
                                    pending=PENDING, count=self.count)

    def _open_collections(self, client, create: bool) -> None:
        def get(name):
            if create:
                return client.get_or_create_collection(
                    name, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
                )
            return client.get_collection(name, embedding_function=None)

        self._chunks = get(self.name)
        self._docs = get(f"{self.name}-documents")
        # the documents a write or a removal is under way for (one 1-d record each, no
        # vector search): what one cut short can have left half written
        self._writing = get(f"{self.name}-writing")
        self._near = get(f"{self.name}-near")
        # format 3 has no -texts collection (its texts are Chroma documents): none is made in it
        self.format = (self._chunks.metadata or {}).get(FORMAT_KEY) or chroma.FORMAT
        self._texts = get(f"{self.name}-texts") if self.format >= 4 else None

    def _check_format(self) -> None:
        metadata = self._chunks.metadata or {}
        found = metadata.get(FORMAT_KEY)
        if found in chroma.FORMATS:
            return
        if found is None and not self._chunks.count():
            self._chunks.modify(metadata={**metadata, FORMAT_KEY: chroma.FORMAT, JOURNAL_KEY: 1})
            self._set_docs_metadata(**{NEAR_KEY: 1})
            return
        raise StoreError(
            f"collection {self.name!r} at {self.where} was built by another corpus-qa version (format {found!r}, "
            f"expected one of {', '.join(map(str, chroma.FORMATS))}); ingest into a new --collection or --index, "
            "or delete it and ingest again"
        )

    @classmethod
    def open(
        cls,
        path: str | Path | None = None,
        url: str | None = None,
        collection: str = "corpus",
        token: str | None = None,
        cache: str | Path | None = None,
    ) -> Index:
        """An embedded index in folder `path`, or the collection on the Chroma server at `url`.

        `cache` is where a server-backed index keeps its keyword index (default: a folder
        under ~/.cache/corpus-qa).
        """
        chroma.check_collection_name(collection)
        if url:
            client, where = chroma.connect_server(url, token)
            base = Path(cache or Path.home() / ".cache" / "corpus-qa") / "keyword"
            # by the collection's id, not the server's address: the same collection reached
            # under another name or port keeps its copy
            return cls._guarded(client, collection, lambda chunks: base / f"{collection}-{chunks.id}", where)
        folder = Path(path or ".corpus-qa").expanduser()
        client = chroma.open_folder(folder)
        return cls._guarded(client, collection, folder / "keyword" / collection, str(folder))

    @classmethod
    def _guarded(cls, client, collection, keyword_dir, where) -> Index:
        try:
            return cls(client, collection, keyword_dir, where)
        except StoreError:
            raise
        except Exception as err:
            raise StoreError(
                f"cannot open collection {collection!r} at {where} ({type(err).__name__}: {err}); "
                "check the index location or rebuild it into a new --index folder"
            ) from None

    # -- reading ------------------------------------------------------------------
    @server_errors
    def count(self) -> int:
        """How many chunks the index holds."""
        return self._chunks.count()

    @server_errors
    def version(self) -> str:
        """The collection's version stamp. Embedded, it is read again only when the SQLite
        file says some process committed a write since the last read (its change counter,
        a 20 us read instead of a Chroma round trip on every question)."""
        counter = None if self.remote else chroma.change_counter(Path(self.where) / "chroma" / "chroma.sqlite3")
        cached = getattr(self, "_version_cache", None)
        if counter is not None and cached is not None and cached[0] == counter:
            return cached[1]
        metadata = self.client.get_collection(self.name).metadata or {}
        version = str(metadata.get(VERSION_KEY, ""))
        self._version_cache = (counter, version)  # the counter read before: a write in between is seen next time
        return version

    @server_errors
    def documents(self) -> list[StoredDocument]:
        """Every complete document, by source; read once per version stamp."""
        version = self.version()
        cached = self._registry
        if cached is not None and cached[0] == version:
            return cached[1]
        return self._read_registry(version)[1]

    def by_id(self) -> dict[str, StoredDocument]:
        """Every complete document by its id (what `documents` lists), read once per version
        stamp: a question maps its passages to their articles' copies and near-copies here."""
        version = self.version()
        cached = self._registry
        if cached is None or cached[0] != version:
            cached = self._read_registry(version)
        return cached[2]

    @server_errors
    def _read_registry(self, version: str) -> tuple[str, list[StoredDocument], dict[str, StoredDocument]]:
        docs = [_document(i, m) for i, m in self._records(self.document_ids(), "metadatas")]
        by_content: dict[str, list[str]] = {}
        by_group: dict[str, list[StoredDocument]] = {}
        for d in docs:
            by_content.setdefault(d.content, []).append(d.source)
            by_group.setdefault(d.group, []).append(d)
        docs = sorted(
            (_with_copies(d, by_content[d.content], by_group[d.group]) for d in docs), key=lambda d: (d.source, d.id)
        )
        self._registry = (version, docs, {d.id: d for d in docs})
        return self._registry

    def near_ready(self) -> bool:
        """Whether every document record carries its near-copy fingerprint (an index made
        before near-copy detection gets them on its next ingest: store.ingest)."""
        return bool(self._docs_metadata().get(NEAR_KEY))

    @server_errors
    def check_model(self, identity: str | None, name: str, record: bool = False) -> None:
        """Refuse another embedding model than the one this index was built with: its question
        vectors would be compared with vectors of another space, and every answer would be
        silently wrong. An index from before the mark passes, and so does one not yet written:
        with `record` (a write: hold `writing()`), that one is marked as built with this model.
        `identity`: store.embedder.model_identity (None: unknown, nothing checked)."""
        if not identity:
            return
        metadata = self._docs_metadata()
        try:
            built = dict(json.loads(metadata.get(MODEL_KEY) or "{}"))
        except ValueError:
            built = {}
        if built and built.get("identity") != identity:
            raise StoreError(
                f"the index at {self.where} was built with the embedding model {built.get('name')!r}, "
                f"not {name!r}: pass --model {built.get('name')} (or set CORPUS_QA_MODEL and CORPUS_QA_INT8 "
                "as it was built), or ingest into a new --index"
            )
        if record and not built and not self.count():
            self._docs.modify(metadata={**metadata, MODEL_KEY: json.dumps({"identity": identity, "name": name})})

    def web_skips(self) -> dict[str, dict[str, str]]:
        """Web pages earlier runs skipped for a lasting reason: {url: {"reason", "since"}}
        (store.web: a scheduled run reports them again, but not as a failure)."""
        try:
            return dict(json.loads(self._docs_metadata().get(WEB_SKIPS_KEY) or "{}"))
        except ValueError:
            return {}

    def set_web_skips(self, skips: dict[str, dict[str, str]]) -> None:
        """Replace the remembered web skips (a write: hold `writing()`)."""
        self._set_docs_metadata(**{WEB_SKIPS_KEY: json.dumps(skips, sort_keys=True)})

    @server_errors
    def _docs_metadata(self) -> dict[str, Any]:
        """The documents collection's own metadata, read afresh (another process may have
        changed it): the index-wide marks that are not the version stamp."""
        return dict(self.client.get_collection(f"{self.name}-documents").metadata or {})

    @server_errors
    def _set_docs_metadata(self, **values: Any) -> None:
        self._docs.modify(metadata={**self._docs_metadata(), **values})

    @server_errors
    def near_candidates(self, many: Sequence[tuple[int, ...]], exclude: Iterable[str] = ()) -> Iterator[nearcopies.Known]:
        """The stored documents (but those of `exclude`) sharing an LSH band with any of
        `many` (store.nearcopies), read 40 texts' bands at a time, then their texts."""
        seen: set[str] = set(exclude)
        for at in range(0, len(many), 40):
            where = nearcopies.band_where(many[at : at + 40])
            if where is None:
                continue
            got = self._near.get(where=where, include=["metadatas"])
            bands = {i: m for i, m in zip(got["ids"], got["metadatas"]) if i not in seen}
            seen.update(bands)
            for doc_id, text, m in self.texts(sorted(bands)):  # complete ones only
                yield nearcopies.known(m.get("title", ""), text, {**m, **bands[doc_id]})

    @server_errors
    def texts(self, doc_ids: Sequence[str]) -> Iterator[tuple[str, str, dict]]:
        """(id, cleaned text, metadata) of these documents' records."""
        if self._texts is None:  # format 3: the text is the record's Chroma document
            for doc_id, text, m in self._records(doc_ids, "documents", "metadatas"):
                yield doc_id, text or "", m
            return
        for at in range(0, len(doc_ids), PAGE):
            part = list(doc_ids[at : at + PAGE])
            texts = self._read_texts(part)
            for doc_id, m in self._records(part, "metadatas"):
                yield doc_id, texts.get(doc_id, ""), m

    def _read_texts(self, doc_ids: Sequence[str]) -> dict[str, str]:
        """The cleaned texts of these articles (format 4), read by id."""
        texts: dict[str, str] = {}
        for at in range(0, len(doc_ids), PAGE):
            got = self._texts.get(ids=list(doc_ids[at : at + PAGE]), include=["metadatas"])
            texts.update((i, (m or {}).get(TEXT_KEY, "")) for i, m in zip(got["ids"], got["metadatas"]))
        return texts

    def _article_texts(self, doc_ids: Iterable[str]) -> dict[str, str]:
        """These articles' texts for a question's passages (format 4): the recently read
        ones from memory, the others in one read. A doc id is a hash of its source and
        text, so a remembered text is never stale."""
        wanted = set(doc_ids)
        with self._cache_lock:
            found = {i: self._text_cache[i] for i in wanted if i in self._text_cache}
        missing = sorted(wanted - found.keys())
        if missing:
            read = self._read_texts(missing)
            found.update(read)
            with self._cache_lock:
                self._text_cache.update(read)
                for old in list(self._text_cache)[: max(0, len(self._text_cache) - TEXTS_CACHED)]:
                    del self._text_cache[old]
        return found

    def _stored_many(self, ids: Sequence[str], documents: Sequence[str | None] | None,
                     metadatas: Sequence[dict], texts: dict[str, str] | None = None) -> list[StoredChunk]:
        """Chunks as read from Chroma: each with its text, its Chroma document (format 3) or
        its span of its article's text (format 4; `texts`: those already read)."""
        if self._texts is None:
            return [_stored(i, d or "", m) for i, d, m in zip(ids, documents, metadatas)]
        if texts is None:
            texts = self._article_texts(m["doc_id"] for m in metadatas)
        return [_stored(i, texts.get(m["doc_id"], "")[int(m["start"]) : int(m["end"])], m)
                for i, m in zip(ids, metadatas)]

    @server_errors
    def record_near(self, found: dict[str, tuple[str | None, tuple[int, ...]]]) -> None:
        """Write each document's near-copy group and bands into its record, then mark the
        index as having them all (a write: hold `writing()`)."""
        ids = list(found)
        step = self._max_batch()
        for at in range(0, len(ids), step):
            part = ids[at : at + step]
            self._near.upsert(ids=part, embeddings=np.ones((len(part), 1), dtype=np.float32),
                              metadatas=[nearcopies.band_metadata(found[i][1]) for i in part])
            self._docs.update(ids=part, metadatas=[{nearcopies.NEAR_KEY: found[i][0]} for i in part])
        self._set_docs_metadata(**{NEAR_KEY: 1})

    def _records(self, doc_ids: Sequence[str], *include: str) -> Iterator[tuple]:
        """(id, *the fields of `include`) of those of these document records that exist, read
        by id in calls of PAGE: the cost of an offset page grows with its offset, a read by
        id does not."""
        for at in range(0, len(doc_ids), PAGE):
            got = self._docs.get(ids=list(doc_ids[at : at + PAGE]), include=list(include))
            yield from zip(got["ids"], *(got[name] for name in include))

    @server_errors
    def article(self, doc_id: str) -> Article | None:
        """The document with its cleaned text, or None."""
        got = list(self.texts([doc_id]))
        if not got:
            return None
        listed = self.by_id().get(doc_id)
        doc = listed or _document(doc_id, got[0][2])
        return Article(**{f: getattr(doc, f) for f in StoredDocument.__dataclass_fields__}, text=got[0][1])

    def matching(self, filters: Filters) -> list[StoredDocument]:
        """The documents `filters` admits, in `documents` order. An outlet or a period (what
        a question names: rag.search runs one keyword search per each) is looked up in a
        catalogue built once per version, outlet -> documents and documents by day, then
        checked; only source globs and picked documents test every document."""
        docs = self.documents()
        if filters.sources or filters.documents or not (filters.outlets or filters.since or filters.until):
            return [d for d in docs if filters.matches(d)]
        by_outlet, days, by_day = self._catalogue(docs)
        picked: set[int] | None = None
        if filters.outlets:
            picked = {i for o in filters.outlets for i in by_outlet.get(outlet_key(o), ())}
        if filters.since or filters.until:
            a = bisect.bisect_left(days, filters.since.isoformat()) if filters.since else 0
            b = bisect.bisect_right(days, filters.until.isoformat()) if filters.until else len(days)
            dated = set(by_day[a:b])
            picked = dated if picked is None else picked & dated
        return [docs[i] for i in sorted(picked) if filters.matches(docs[i])]

    def _catalogue(self, docs: list[StoredDocument]) -> tuple[dict[str, list[int]], list[str], list[int]]:
        """For `docs` (this version's documents): each outlet's positions, and the dated
        documents' days (sorted) with their positions."""
        cached = self._catalogue_cache
        if cached is not None and cached[0] is docs:
            return cached[1]
        by_outlet: dict[str, list[int]] = {}
        for i, d in enumerate(docs):
            if d.outlet:
                by_outlet.setdefault(outlet_key(d.outlet), []).append(i)
        dated = sorted((d.published[:10], i) for i, d in enumerate(docs) if d.published)
        built = (by_outlet, [day for day, _ in dated], [i for _, i in dated])
        self._catalogue_cache = (docs, built)
        return built

    @server_errors
    def nearest(self, vector: np.ndarray, n: int, where: dict | None = None) -> list[str]:
        """The ids of the top-n chunks by cosine similarity to a unit query vector (among
        those `where` admits), nearest first: nothing else is read."""
        if n < 1:
            return []
        return self._chunks.query(query_embeddings=[vector.tolist()], n_results=n, where=where, include=[])["ids"][0]

    @server_errors
    def dense(self, vector: np.ndarray, n: int, where: dict | None = None) -> list[tuple[StoredChunk, float]]:
        """Top-n chunks by cosine similarity to a unit query vector (among those `where` admits)."""
        if n < 1:
            return []
        result = self._chunks.query(query_embeddings=[vector.tolist()], n_results=n, where=where,
                                    include=self._text_fields("distances"))
        documents = result["documents"][0] if self._texts is None else None
        chunks = self._stored_many(result["ids"][0], documents, result["metadatas"][0])
        return [(c, 1.0 - float(dist)) for c, dist in zip(chunks, result["distances"][0])]

    @server_errors
    def document_ids(self) -> list[str]:
        """The ids of the complete documents (their records), read ids-only in large pages
        (the keyword side's change set; 150,000 ids: 0.4 s in one page, 3 s in pages of 2,000)."""
        ids: list[str] = []
        while True:
            got = self._docs.get(include=[], limit=100_000, offset=len(ids))["ids"]
            ids += got
            if len(got) < 100_000:
                return ids

    @server_errors
    def chunk_rows(self, doc_ids: Sequence[str], per_call: int = 10_000) -> Iterator[tuple[str, str, str, int]]:
        """(chunk id, keyword text, document id, the document's chunk count) of these
        documents' chunks, in calls of about `per_call` chunks (a `doc_id $in` filter: at
        1,000,000 chunks 1.3 s per 10,000 at any point, where a page at offset 800,000
        takes 3-5 s; SQLite refuses calls of 50,000)."""
        at, step = 0, 200
        while at < len(doc_ids):
            part = list(doc_ids[at : at + step])
            got = self._chunks.get(where={"doc_id": {"$in": part}}, include=self._text_fields())
            texts = None if self._texts is None else self._read_texts(part)  # not kept: a rebuild reads them all
            chunks = self._stored_many(got["ids"], got.get("documents"), got["metadatas"], texts)
            for c, m in zip(chunks, got["metadatas"]):
                yield c.id, embedding_text(c.title, c.text), c.doc_id, int(m.get("n_chunks", -1))
            at += step
            step = max(1, min(5000, step * per_call // max(len(got["ids"]), 1)))

    def keyword(self, query: str, n: int, documents: Sequence[str] | None = None) -> list[KeywordHit]:
        """A question's keyword search: a keyword index brought up to date here is saved after it.
        While a large one is rebuilt in the background, nothing (store.keyword.KeywordSync)."""
        index = self.keywords.current(save_later=True, wait=False)
        return index.search(query, n, documents) if index is not None else []

    @server_errors
    def keyword_index(self, wait: bool = True, save_later: bool = False) -> KeywordIndex | None:
        """The keyword index for the collection as it is now (store.keyword.KeywordSync);
        with `wait=False`, None while a large one is rebuilt in the background; with
        `save_later`, one brought up to date here is saved in a thread (a question's path)."""
        return self.keywords.current(save_later=save_later, wait=wait)

    @server_errors
    def keyword_after_write(self) -> None:
        """After an ingest or removal here: the keyword index up to date and saved, unless
        that is a large rebuild from nothing (store.keyword.KeywordSync.after_write)."""
        self.keywords.after_write()

    @server_errors
    def chunks(self, ids: Sequence[str]) -> dict[str, StoredChunk]:
        if not ids:
            return {}
        got = self._chunks.get(ids=list(ids), include=self._text_fields())
        return {c.id: c for c in self._stored_many(got["ids"], got.get("documents"), got["metadatas"])}

    def _text_fields(self, *more: str) -> list[str]:
        """What a read of chunks includes to know their texts."""
        return (["documents"] if self._texts is None else []) + ["metadatas", *more]

    @server_errors
    def chunks_and_vectors(
        self, ids: Sequence[str]
    ) -> tuple[dict[str, StoredChunk], dict[str, np.ndarray], dict[str, np.ndarray]]:
        """These chunks, their stored vectors and their sentences' vectors (by sentence id),
        in one read (a question's candidates). The chunks read are kept for the next
        questions (CHUNKS_CACHED, most recently used) until the version stamp moves: a chunk
        id is a hash of its article's id and span, and an article's id of its text and
        fields, so a kept chunk is what Chroma would return, and within one stamp no chunk
        comes or goes."""
        if not ids:
            return {}, {}, {}
        version = self.version()
        with self._cache_lock:
            if self._chunk_cache[0] != version:
                self._chunk_cache = (version, OrderedDict())
            kept = self._chunk_cache[1]
            found = {i: kept[i] for i in ids if i in kept}
            for i in found:
                kept.move_to_end(i)
        missing = [i for i in ids if i not in found]
        if missing:
            read = self._read_chunks(missing)
            found.update(read)
            with self._cache_lock:
                if self._chunk_cache[0] == version:
                    kept = self._chunk_cache[1]
                    kept.update(read)
                    while len(kept) > CHUNKS_CACHED:
                        kept.popitem(last=False)
        order = [i for i in ids if i in found]  # Chroma's read leaves out what it cannot read
        if not order:
            return {}, {}, {}
        chunks = {i: found[i][0] for i in order}
        vectors = {i: found[i][1] for i in order}
        dim = len(vectors[order[0]])
        every = _unpacked(b"".join(found[i][2] for i in order), dim)  # one numpy pass for all their sentences
        sentences: dict[str, np.ndarray] = {}
        at = 0
        for i in order:
            chunk, n = chunks[i], len(found[i][2]) // (dim + 2)
            for span, v in zip(chunk.sentences, every[at : at + n]):
                sentences[sentence_id(chunk.doc_id, span)] = v
            at += n
        return chunks, vectors, sentences

    def _read_chunks(self, ids: Sequence[str]) -> dict[str, tuple[StoredChunk, np.ndarray, bytes]]:
        """These chunks as Chroma holds them: each with its vector and its sentences' packed vectors."""
        include = self._text_fields("embeddings")
        try:
            got = self._chunks.get(ids=list(ids), include=include)
        except Exception as err:
            if not is_unreadable_id(err):
                raise
            got = self._get_each(ids, include)
        if not got["ids"]:
            return {}
        chunks = self._stored_many(got["ids"], got.get("documents"), got["metadatas"])
        return {i: (c, np.asarray(e, dtype=np.float32), base64.b64decode(m.get("vectors", "")))
                for i, c, e, m in zip(got["ids"], chunks, got["embeddings"], got["metadatas"])}

    def _get_each(self, ids: Sequence[str], include: list[str]) -> dict:
        """Chroma's get of `ids` one by one, leaving out the ids it cannot read: chunks that
        another process wrote after this client opened the index are in the shared SQLite
        file but not in this client's in-memory vectors (Chroma: "Error finding id") until
        the write ends and `refresh` opens it again. A question asked during an ingest is
        answered from what this client sees."""
        got: dict[str, list] = {"ids": [], **{field: [] for field in include}}
        for i in ids:
            try:
                one = self._chunks.get(ids=[i], include=include)
            except Exception as err:
                if not is_unreadable_id(err):
                    raise
                continue
            for key in got:
                got[key].extend(one[key])
        return got

    @server_errors
    def vectors_of(self, doc_id: str) -> tuple[dict[tuple[int, int], np.ndarray], dict[tuple[int, int], np.ndarray]]:
        """A stored document's chunk vectors and sentence vectors, by span: a copy of its
        text under another name reuses them instead of being embedded again."""
        got = self._chunks.get(where={"doc_id": doc_id}, include=["embeddings", "metadatas"])
        chunk_vectors, sentence_vectors = {}, {}
        for e, m in zip(got["embeddings"], got["metadatas"]):
            chunk_vectors[(int(m["start"]), int(m["end"]))] = np.asarray(e, np.float32)
            sentence_vectors.update(zip(_spans(m), unpack(m.get("vectors", ""), len(e))))
        return chunk_vectors, sentence_vectors

    def refresh(self) -> bool:
        """See what another process wrote since this Index opened its embedded Chroma.

        Chroma keeps each collection's vector index in memory, so a page serving questions
        would not find documents that a `corpus-qa ingest` in another process added. When
        the version stamp has moved on to a finished write, the client is opened again
        (in-flight questions finish on the old one, whose memory is freed 30 s later).
        Stamps of a write under way are left alone: the reopen waits for its end. A
        Chroma server needs none of this. Returns whether it reopened."""
        if self._folder is None:
            return False
        version = self.version()
        if version == self._seen or version.startswith(PENDING):
            return False
        with self._reopen_lock:
            if version == self._seen:
                return False
            old = (self.client, self._chunks, self._docs, self._writing, self._near, self._texts, self.format)
            try:
                client = chroma.private_client(self._folder)
                self._open_collections(client, create=False)
            except Exception as err:  # keep serving from the old view rather than fail
                (self.client, self._chunks, self._docs, self._writing, self._near, self._texts, self.format) = old
                logger.warning("could not reopen the index %s (%s: %s); answers may miss new documents",
                               self.where, type(err).__name__, err)
                return False
            retired, self._private_api = self._private_api, getattr(client, "_server", None)
            self.client = client
            self._seen = version
            if retired is not None:  # not freed by Python alone (measured: ~1x the index per reopen)
                timer = threading.Timer(30.0, chroma.stop_quietly, args=(retired,))
                timer.daemon = True
                timer.start()
            logger.info("reopened %s: another process changed it", self.where)
            return True

    # -- writing ------------------------------------------------------------------
    def add(self, doc: Document, chunks: Sequence[Chunk], chunk_vectors: np.ndarray,
            sentence_vectors: dict[tuple[int, int], np.ndarray]) -> None:
        """Write one document: its chunks (with their sentences' vectors), then its record (complete)."""
        self.add_many([(doc, chunks, chunk_vectors, sentence_vectors)])

    @server_errors
    def add_many(
        self,
        rows: Sequence[tuple[Document, Sequence[Chunk], np.ndarray, dict[tuple[int, int], np.ndarray]]],
    ) -> None:
        """`add` for many documents in a few round trips: their texts (format 4), all their
        chunks, then their document records (a document with a record is complete), in
        Chroma's largest batches. A chunk carries the vectors of its sentences, packed; a
        chunk visible to a search always finds its article's text."""
        c_ids, c_vectors, c_texts, c_meta = [], [], [], []
        d_ids, d_vectors, d_texts, d_meta = [], [], [], []
        for doc, chunks, chunk_vectors, sentence_vectors in rows:
            base = _doc_meta(doc)
            vectors = np.asarray(chunk_vectors, dtype=np.float32).reshape(len(chunks), -1)
            c_ids += [c.id for c in chunks]
            c_vectors.append(vectors)
            c_texts += [c.text for c in chunks]
            c_meta += [
                {
                    **base,
                    "source": doc.source,
                    "path": doc.path,
                    "title": doc.title,
                    "index": c.index,
                    "start": c.start,
                    "end": c.end,
                    "n_chunks": len(chunks),
                    "sentences": ";".join(f"{a},{b}" for a, b in c.sentences),
                    "vectors": pack([sentence_vectors[span] for span in c.sentences]),
                }
                for c in chunks
            ]
            mean = vectors.mean(axis=0)
            d_ids.append(doc.id)
            d_vectors.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
            d_texts.append(doc.text)
            record = {**base, "source": doc.source, "path": doc.path, "title": doc.title, "n_chunks": len(chunks),
                      "chars": len(doc.text), "content": doc.content}
            if doc.author:
                record["author"] = doc.author
            if doc.extra:
                record["extra"] = json.dumps(doc.extra, ensure_ascii=False, default=str)
            if doc.near:  # the near-copy group it joined (store.nearcopies)
                record[nearcopies.NEAR_KEY] = doc.near
            d_meta.append(record)
        step = self._max_batch()
        self._announce(d_ids)
        once = self._texts is not None  # format 4: each text once, in -texts; format 3: Chroma documents
        if once:
            for at in range(0, len(d_ids), step):
                part = d_ids[at : at + step]
                self._texts.upsert(ids=part, embeddings=np.ones((len(part), 1), dtype=np.float32),
                                   metadatas=[{TEXT_KEY: t} for t in d_texts[at : at + step]])
        if c_ids:
            vectors = np.concatenate(c_vectors)
            for at in range(0, len(c_ids), step):
                texts = {} if once else {"documents": c_texts[at : at + step]}
                self._chunks.upsert(ids=c_ids[at : at + step], embeddings=vectors[at : at + step],
                                    metadatas=c_meta[at : at + step], **texts)
        banded = [(doc.id, nearcopies.band_metadata(doc.bands)) for doc, *_ in rows if doc.bands]
        for at in range(0, len(banded), step):
            part = banded[at : at + step]
            self._near.upsert(ids=[i for i, _ in part], embeddings=np.ones((len(part), 1), dtype=np.float32),
                              metadatas=[m for _, m in part])
        for at in range(0, len(d_ids), step):
            texts = {} if once else {"documents": d_texts[at : at + step]}
            self._docs.upsert(ids=d_ids[at : at + step], embeddings=np.stack(d_vectors[at : at + step]),
                              metadatas=d_meta[at : at + step], **texts)
        self._settled(d_ids)

    def _announce(self, doc_ids: Sequence[str]) -> None:
        """Before writing or removing these documents: say so (drop_orphans reads it)."""
        step = self._max_batch()
        for at in range(0, len(doc_ids), step):
            part = list(doc_ids[at : at + step])
            self._writing.upsert(ids=part, embeddings=np.ones((len(part), 1), dtype=np.float32))

    def _settled(self, doc_ids: Sequence[str]) -> None:
        step = self._max_batch()
        for at in range(0, len(doc_ids), step):
            self._writing.delete(ids=list(doc_ids[at : at + step]))

    def _max_batch(self) -> int:
        try:
            return max(1, int(self.client.get_max_batch_size()))
        except Exception:  # an older server without the call
            return 1000

    @server_errors
    def delete_document(self, doc_id: str) -> None:
        """Its record first (from then on it is not complete), then its chunks, then its text."""
        self._announce([doc_id])
        self._docs.delete(ids=[doc_id])
        self._chunks.delete(where={"doc_id": doc_id})
        self._near.delete(ids=[doc_id])
        if self._texts is not None:
            self._texts.delete(ids=[doc_id])
        self._settled([doc_id])

    @server_errors
    def touch(self, pending: bool = False) -> str:
        """Give the collection a new version stamp: every keyword index built before is stale.

        `pending=True` before a write: should the write be cut short (SIGKILL, a crash,
        the power), the stamp stays pending and the next ingest knows to finish the job
        (stamp anew, drop orphan chunks) even when no document is left to write."""
        version = (PENDING if pending else "") + uuid.uuid4().hex
        metadata = dict(self._chunks.metadata or {})
        self._chunks.modify(metadata={**metadata, VERSION_KEY: version, FORMAT_KEY: self.format})
        return version

    def interrupted(self) -> bool:
        """Whether the last write to the collection was cut short (its stamp is pending)."""
        return self.version().startswith(PENDING)

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the index's write lock (store/lease.py): one writer at a time, embedded (a
        lock on the folder) or on a server (a lease in the -writing collection). A second
        writer gets a clear error instead of racing the first."""
        if self._folder is not None:
            with lease.folder_lock(self._folder, self.where):
                yield
            return
        with self._take_lease():
            yield

    @server_errors
    def _take_lease(self) -> contextlib.ExitStack:
        held = contextlib.ExitStack()
        held.enter_context(lease.server_lease(self._writing, f"collection {self.name!r} at {self.where}",
                                              self.lease_seconds))
        return held

    @server_errors
    def drop_orphans(self) -> int:
        """Delete chunks of documents that have no record: what a
        write cut short before a document's record (or a removal cut short after it) leaves.
        Returns how many documents they belonged to.

        The documents announced in the -writing collection are the only candidates once
        the collection is journaled (made by this version, or scanned once); otherwise
        every chunk is read (at 1,000,000 chunks, many minutes) and the
        collection is journaled from then on."""
        announced = [i for i in self._writing.get(include=[])["ids"] if not lease.is_lease(i)]
        metadata = self.client.get_collection(self.name).metadata or {}
        if metadata.get(JOURNAL_KEY):
            candidates = set(announced)
        else:
            candidates = {m["doc_id"] for m in self._all(self._chunks, "metadatas")}
        complete = {i for i, in self._records(sorted(candidates))}
        orphans = sorted(candidates - complete)
        for at in range(0, len(orphans), 500):  # one delete per document: over 10 minutes for 2,000 at 1M chunks
            part = {"doc_id": {"$in": orphans[at : at + 500]}}
            self._chunks.delete(where=part)
            self._near.delete(ids=orphans[at : at + 500])
            if self._texts is not None:
                self._texts.delete(ids=orphans[at : at + 500])
        self._settled(announced)
        if not metadata.get(JOURNAL_KEY):
            self._chunks.modify(metadata={**metadata, JOURNAL_KEY: 1})
        return len(orphans)

    def _all(self, collection, *include: str, with_ids: bool = False):
        offset = 0
        while True:
            got = collection.get(include=list(include), limit=PAGE, offset=offset)
            if not got["ids"]:
                return
            for row, record_id in enumerate(got["ids"]):
                values = [got[name][row] for name in include]
                if with_ids:
                    yield (record_id, *values)
                else:
                    yield values[0] if len(values) == 1 else tuple(values)
            offset += len(got["ids"])


def pack(vectors: Sequence[np.ndarray]) -> str:
    """Unit vectors as one string of chunk metadata: each as a float16 scale and int8
    components (a 384-d vector: 386 bytes, 516 characters of base64; cosine off by ~0.001)."""
    if not len(vectors):
        return ""
    m = np.stack(vectors).astype(np.float32)
    scale = np.abs(m).max(axis=1, keepdims=True).clip(1e-12) / 127
    codes = np.round(m / scale).astype(np.int8)
    rows = [np.float16(s).tobytes() + c.tobytes() for s, c in zip(scale[:, 0], codes)]
    return base64.b64encode(b"".join(rows)).decode("ascii")


def unpack(packed: str, dim: int) -> list[np.ndarray]:
    """The unit vectors `pack` packed (re-normalised)."""
    return _unpacked(base64.b64decode(packed), dim) if packed else []


def is_unreadable_id(err: Exception) -> bool:
    """Chroma's error for an id its metadata holds and its in-memory vectors do not (yet)."""
    return type(err).__name__ == "InternalError" and "Error finding id" in str(err)


def _unpacked(packed: bytes, dim: int) -> list[np.ndarray]:
    """`unpack` of the decoded bytes (any number of packed strings' bytes, joined)."""
    raw = np.frombuffer(packed, np.uint8).reshape(-1, dim + 2)
    scale = raw[:, :2].copy().view(np.float16).astype(np.float32)
    m = raw[:, 2:].copy().view(np.int8).astype(np.float32) * scale
    m /= np.linalg.norm(m, axis=1, keepdims=True).clip(1e-12)
    return list(m)


def sentence_id(doc_id: str, span: tuple[int, int]) -> str:
    return f"{doc_id}:{span[0]}:{span[1]}"


def _spans(m: dict) -> tuple[tuple[int, int], ...]:
    """A chunk's sentence spans, from its metadata."""
    return tuple((int(a), int(b)) for a, b in (pair.split(",") for pair in m.get("sentences", "").split(";") if pair))


def _stored(chunk_id: str, text: str, m: dict) -> StoredChunk:
    return StoredChunk(chunk_id, m["doc_id"], m["source"], m.get("title", ""), text, int(m["start"]), int(m["end"]),
                       _spans(m), m.get("published"), m.get("outlet"), m.get("url"))


def _document(doc_id: str, m: dict) -> StoredDocument:
    try:
        extra = json.loads(m["extra"]) if m.get("extra") else {}
    except ValueError:
        extra = {}
    return StoredDocument(
        doc_id, m["source"], m.get("path", ""), m.get("title", ""), m.get("published"), m.get("outlet"),
        m.get("url"), m.get("author"), int(m.get("n_chunks", 0)), int(m.get("chars", 0)), m.get("content", ""), extra,
        near=m.get(nearcopies.NEAR_KEY) or "",
    )


def _with_copies(doc: StoredDocument, sources: list[str], group: list[StoredDocument]) -> StoredDocument:
    others = tuple(sorted(s for s in sources if s != doc.source))
    near = tuple(sorted(d.source for d in group if d.content != doc.content))
    if not others and not near:
        return doc
    fields = {f: getattr(doc, f) for f in StoredDocument.__dataclass_fields__}
    return StoredDocument(**{**fields, "copies": others, "near_copies": near})



