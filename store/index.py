"""The index: a Chroma collection of chunks (cosine), one of sentence vectors, and the
keyword index kept in step with them through a version stamp in the collection's metadata.

Embedded (`path=`, a PersistentClient) or a Chroma server (`url=`, an HttpClient).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from .chunking import Chunk
from .documents import Document
from .errors import CorpusQAError, StoreError
from .keyword import KeywordHit, KeywordIndex

logger = logging.getLogger(__name__)
MARKER = "corpus-qa.json"
VERSION_KEY = "corpus_qa_version"
PENDING = "pending-"  # the stamp of a write under way (or cut short: killed, crashed)
LOCK = "ingest.lock"
FORMAT = 1
PAGE = 2000


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


@dataclass(frozen=True)
class StoredDocument:
    doc_id: str
    source: str
    path: str
    n_chunks: int  # how many chunks the document should have
    stored: int  # how many it has (fewer: an interrupted write)


def _server_errors(method):
    """A Chroma server that stops answering becomes one clear StoreError; the client
    reconnects by itself on the next call once the server is back."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except CorpusQAError:
            raise
        except Exception as err:
            if not self.remote or not _is_connection_error(err):
                raise
            raise StoreError(
                f"the Chroma server at {self.where} is not answering ({type(err).__name__}); "
                "check that it runs (chroma run ...): corpus-qa reconnects once it is back"
            ) from err

    return wrapper


def _is_connection_error(err: Exception) -> bool:
    return isinstance(err, (ConnectionError, TimeoutError)) or type(err).__module__.split(".")[0] in ("httpx", "httpcore")


def embedding_text(title: str, text: str) -> str:
    """What is embedded and keyword-indexed for a chunk: its article's title, then it."""
    return f"{title}\n{text}" if title else text


class Index:
    """Open with Index.open(path=...) or Index.open(url=...); no model is loaded here."""

    def __init__(self, client, collection: str, keyword_dir: Path | None, where: str):
        self.client = client
        self.name = collection
        self.where = where
        self.remote = "://" in where
        self._keyword_dir = keyword_dir
        self._keyword: KeywordIndex | None = None
        self._keyword_lock = threading.Lock()  # one thread rebuilds; the others wait for it
        self._chunks = client.get_or_create_collection(
            collection, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
        )
        self._sentences = client.get_or_create_collection(
            f"{collection}-sentences", configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
        )
        self._folder = None if self.remote else Path(where)  # embedded: the index folder
        self._seen = self.version()  # the stamp this client's view of the collection is from
        self._reopen_lock = threading.Lock()
        self._private_api = None  # the Chroma state this Index made itself in refresh()

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
        _check_collection_name(collection)
        os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
        import chromadb
        from chromadb.config import Settings

        if url:
            parsed = urlparse(url if "://" in url else f"http://{url}")
            if not parsed.hostname:
                raise StoreError(f"bad Chroma URL {url!r}: use http://HOST:PORT, e.g. http://127.0.0.1:8000")
            settings = Settings(anonymized_telemetry=False)
            if token:
                settings = Settings(
                    anonymized_telemetry=False,
                    chroma_client_auth_provider="chromadb.auth.token_authn.TokenAuthClientProvider",
                    chroma_client_auth_credentials=token,
                )
            port = parsed.port or (443 if parsed.scheme == "https" else 8000)
            try:
                client = chromadb.HttpClient(
                    host=parsed.hostname, port=port, ssl=parsed.scheme == "https", settings=settings
                )
                client.heartbeat()
            except Exception as err:
                raise StoreError(
                    f"cannot reach the Chroma server at {url} ({type(err).__name__}); start one with "
                    f"'chroma run --path ./chroma-data --host 127.0.0.1 --port {port}' or fix --chroma-url"
                ) from None
            base = Path(cache or Path.home() / ".cache" / "corpus-qa")
            safe = f"{parsed.hostname}_{port}_{collection}"
            where = f"{parsed.scheme or 'http'}://{parsed.hostname}:{port}"
            return cls._guarded(client, collection, base / "keyword" / safe, where)

        folder = Path(path or ".corpus-qa").expanduser()
        _check_index_folder(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / MARKER).exists():
            (folder / MARKER).write_text(json.dumps({"format": 1}))
        try:
            client = chromadb.PersistentClient(path=str(folder / "chroma"), settings=Settings(anonymized_telemetry=False))
        except Exception as err:
            raise StoreError(
                f"cannot open the index in {folder} ({type(err).__name__}: {err}); "
                f"move it aside and run 'corpus-qa --index {folder} ingest ...' to rebuild"
            ) from None
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
    @_server_errors
    def count(self) -> int:
        return self._chunks.count()

    @_server_errors
    def version(self) -> str:
        """The collection's version stamp. Embedded, it is read again only when the SQLite
        file says some process committed a write since the last read (its change counter,
        a 20 us read instead of a Chroma round trip on every question)."""
        counter = None if self.remote else _change_counter(Path(self.where) / "chroma" / "chroma.sqlite3")
        cached = getattr(self, "_version_cache", None)
        if counter is not None and cached is not None and cached[0] == counter:
            return cached[1]
        metadata = self.client.get_collection(self.name).metadata or {}
        version = str(metadata.get(VERSION_KEY, ""))
        self._version_cache = (counter, version)  # the counter read before: a write in between is seen next time
        return version

    @_server_errors
    def documents(self) -> dict[str, StoredDocument]:
        """Stored documents by file path (or by source where no path was stored)."""
        found: dict[str, list] = {}
        for metadata in self._all("metadatas"):
            key = metadata.get("path") or metadata["source"]
            entry = found.setdefault(key, [metadata, 0])
            entry[1] += 1
        return {
            key: StoredDocument(m["doc_id"], m["source"], m.get("path", ""), int(m["n_chunks"]), n)
            for key, (m, n) in found.items()
        }

    @_server_errors
    def dense(self, vector: np.ndarray, n: int) -> list[tuple[StoredChunk, float]]:
        """Top-n chunks by cosine similarity to a unit query vector."""
        if n < 1:
            return []
        result = self._chunks.query(
            query_embeddings=[vector.tolist()], n_results=n, include=["documents", "metadatas", "distances"]
        )
        return [
            (_stored(i, d, m), 1.0 - float(dist))
            for i, d, m, dist in zip(
                result["ids"][0], result["documents"][0], result["metadatas"][0], result["distances"][0]
            )
        ]

    @_server_errors
    def dense_sentences(self, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        """(chunk id, cosine) of the top-n sentences, a chunk listed once at its best."""
        if n < 1:
            return []
        result = self._sentences.query(query_embeddings=[vector.tolist()], n_results=n, include=["metadatas", "distances"])
        best: dict[str, float] = {}
        for m, dist in zip(result["metadatas"][0], result["distances"][0]):
            best.setdefault(m["chunk_id"], 1.0 - float(dist))
        return list(best.items())

    def keyword(self, query: str, n: int) -> list[KeywordHit]:
        return self.keyword_index().search(query, n)

    @_server_errors
    def chunks(self, ids: Sequence[str]) -> dict[str, StoredChunk]:
        if not ids:
            return {}
        got = self._chunks.get(ids=list(ids), include=["documents", "metadatas"])
        return {i: _stored(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])}

    @_server_errors
    def sentence_vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        got = self._sentences.get(ids=list(ids), include=["embeddings"])
        return {i: np.asarray(e, dtype=np.float32) for i, e in zip(got["ids"], got["embeddings"])}

    @_server_errors
    def keyword_index(self) -> KeywordIndex:
        """The keyword index for the collection as it is now: loaded, or rebuilt.

        A saved one is used only when it carries the collection's version stamp and
        exactly the collection's chunk ids (a stamp left by a killed ingest may not match
        what was written under it). One built during a write (pending stamp) is not saved."""
        version = self.version()
        if self._keyword is not None and self._keyword.version == version:
            return self._keyword
        with self._keyword_lock:
            if self._keyword is not None and self._keyword.version == version:
                return self._keyword
            saved = KeywordIndex.load(self._keyword_dir) if self._keyword_dir else None
            if saved is not None and saved.version == version and len(saved.ids) == self.count():
                if sorted(saved.ids) == sorted(i for i, in self._all(with_ids=True)):
                    self._keyword = saved
                    return saved
            logger.info("rebuilding the keyword index of %s from the collection", self.name)
            rows = sorted(  # by id: chunks with equal BM25 scores rank the same in every build
                (chunk_id, embedding_text(metadata.get("title", ""), text))
                for chunk_id, text, metadata in self._all("documents", "metadatas", with_ids=True)
            )
            keyword = KeywordIndex.build([i for i, _ in rows], [t for _, t in rows], version)
            if self._keyword_dir and not version.startswith(PENDING):
                try:
                    keyword.save(self._keyword_dir)
                except OSError as err:
                    logger.warning("could not save the keyword index to %s: %s", self._keyword_dir, err)
            self._keyword = keyword
            return keyword

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
            import chromadb
            from chromadb.api.shared_system_client import SharedSystemClient
            from chromadb.config import Settings

            path = str(self._folder / "chroma")
            # chromadb shares one client state per folder in a process: set the shared one
            # aside while making a state of our own, then put it back (other Index objects
            # of this process keep theirs; ours is private, so we may free it)
            registry = SharedSystemClient._identifier_to_system
            shared = registry.pop(path, None)
            try:
                client = chromadb.PersistentClient(path=path, settings=Settings(anonymized_telemetry=False))
                chunks = client.get_collection(self.name, embedding_function=None)
                sentences = client.get_collection(f"{self.name}-sentences", embedding_function=None)
            except Exception as err:  # keep serving from the old view rather than fail
                logger.warning("could not reopen the index %s (%s: %s); answers may miss new documents",
                               self.where, type(err).__name__, err)
                return False
            finally:
                registry.pop(path, None)
                if shared is not None:
                    registry[path] = shared
            retired, self._private_api = self._private_api, getattr(client, "_server", None)
            self.client, self._chunks, self._sentences = client, chunks, sentences
            self._seen = version
            if retired is not None:  # not freed by Python alone (measured: ~1x the index per reopen)
                timer = threading.Timer(30.0, _stop_quietly, args=(retired,))
                timer.daemon = True
                timer.start()
            logger.info("reopened %s: another process changed it", self.where)
            return True

    # -- writing ------------------------------------------------------------------
    @_server_errors
    def add(
        self,
        doc: Document,
        chunks: Sequence[Chunk],
        chunk_vectors: np.ndarray,
        sentence_vectors: dict[tuple[int, int], np.ndarray],
    ) -> None:
        """Write one document's sentences, then its chunks (the chunks mark it complete).

        A sentence records the first chunk that holds it."""
        self.add_many([(doc, chunks, chunk_vectors, sentence_vectors)])

    def add_many(
        self,
        rows: Sequence[tuple[Document, Sequence[Chunk], np.ndarray, dict[tuple[int, int], np.ndarray]]],
    ) -> None:
        """`add` for many documents in a few round trips: all their sentences, then all
        their chunks (a document whose chunks are stored is complete), in Chroma's
        largest batches."""
        s_ids, s_vectors, s_meta = [], [], []
        c_ids, c_vectors, c_texts, c_meta = [], [], [], []
        for doc, chunks, chunk_vectors, sentence_vectors in rows:
            owner = {}
            for c in chunks:
                for span in c.sentences:
                    owner.setdefault(span, c.id)
            for s in sorted(sentence_vectors):
                s_ids.append(sentence_id(doc.id, s))
                s_vectors.append(sentence_vectors[s])
                s_meta.append({"doc_id": doc.id, "chunk_id": owner[s], "start": s[0], "end": s[1]})
            c_ids += [c.id for c in chunks]
            c_vectors.append(np.asarray(chunk_vectors, dtype=np.float32).reshape(len(chunks), -1))
            c_texts += [c.text for c in chunks]
            c_meta += [
                {
                    "source": doc.source,
                    "path": doc.path,
                    "title": doc.title,
                    "doc_id": doc.id,
                    "index": c.index,
                    "start": c.start,
                    "end": c.end,
                    "n_chunks": len(chunks),
                    "sentences": ";".join(f"{a},{b}" for a, b in c.sentences),
                }
                for c in chunks
            ]
        step = self._max_batch()
        if s_ids:
            vectors = np.stack(s_vectors)
            for at in range(0, len(s_ids), step):
                self._sentences.upsert(
                    ids=s_ids[at : at + step], embeddings=vectors[at : at + step], metadatas=s_meta[at : at + step]
                )
        if c_ids:
            vectors = np.concatenate(c_vectors)
            for at in range(0, len(c_ids), step):
                self._chunks.upsert(
                    ids=c_ids[at : at + step],
                    embeddings=vectors[at : at + step],
                    documents=c_texts[at : at + step],
                    metadatas=c_meta[at : at + step],
                )

    def _max_batch(self) -> int:
        try:
            return max(1, int(self.client.get_max_batch_size()))
        except Exception:  # an older server without the call
            return 1000

    def delete_document(self, doc_id: str) -> None:
        self._chunks.delete(where={"doc_id": doc_id})
        self._sentences.delete(where={"doc_id": doc_id})

    @_server_errors
    def touch(self, pending: bool = False) -> str:
        """Give the collection a new version stamp: every keyword index built before is stale.

        `pending=True` before a write: should the write be cut short (SIGKILL, a crash,
        the power), the stamp stays pending and the next ingest knows to finish the job
        (stamp anew, drop orphan sentence vectors) even when no document is left to write."""
        version = (PENDING if pending else "") + uuid.uuid4().hex
        self._chunks.modify(metadata={VERSION_KEY: version})
        return version

    def interrupted(self) -> bool:
        """Whether the last write to the collection was cut short (its stamp is pending)."""
        return self.version().startswith(PENDING)

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the index's write lock: one ingest at a time per index folder (a lock on
        `ingest.lock`, released by the system even when the process is killed). A second
        writer gets a clear error instead of racing the first. Server-backed: no lock."""
        if self._folder is None:
            yield
            return
        import fcntl

        with open(self._folder / LOCK, "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreError(
                    f"another corpus-qa ingest is writing to {self.where}; wait for it to finish, "
                    "then run the command again"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @_server_errors
    def drop_orphans(self) -> int:
        """Delete sentence vectors of documents that have no chunks: what a write cut short
        between a document's sentences and its chunks (or between the two deletes of a
        replaced document) leaves. Returns how many documents they belonged to."""
        with_chunks = {m["doc_id"] for m in self._all("metadatas")}
        orphans, offset = set(), 0
        while True:
            got = self._sentences.get(include=["metadatas"], limit=PAGE, offset=offset)
            if not got["ids"]:
                break
            orphans.update(m["doc_id"] for m in got["metadatas"] if m["doc_id"] not in with_chunks)
            offset += len(got["ids"])
        for doc_id in orphans:
            self._sentences.delete(where={"doc_id": doc_id})
        return len(orphans)

    def _all(self, *include: str, with_ids: bool = False):
        offset = 0
        while True:
            got = self._chunks.get(include=list(include), limit=PAGE, offset=offset)
            if not got["ids"]:
                return
            for row, chunk_id in enumerate(got["ids"]):
                values = [got[name][row] for name in include]
                if with_ids:
                    yield (chunk_id, *values)
                else:
                    yield values[0] if len(values) == 1 else tuple(values)
            offset += len(got["ids"])


def _change_counter(db: Path) -> int | None:
    """SQLite's file change counter (header bytes 24-27), which every committed write
    transaction increments in rollback-journal mode (Chroma's). None when it cannot be
    trusted: no file, or WAL mode (header bytes 18-19 are 2), where it does not move."""
    try:
        fd = os.open(db, os.O_RDONLY)
    except OSError:
        return None
    try:
        header = os.pread(fd, 28, 0)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(header) < 28 or header[18] != 1 or header[19] != 1:
        return None
    return int.from_bytes(header[24:28], "big")


def _stop_quietly(api) -> None:
    try:
        api.stop()
    except Exception as err:  # noqa: BLE001 - freeing memory must never break serving
        logger.info("could not stop a retired Chroma client: %s", err)


def sentence_id(doc_id: str, span: tuple[int, int]) -> str:
    return f"{doc_id}:{span[0]}:{span[1]}"


def _stored(chunk_id: str, text: str, m: dict) -> StoredChunk:
    sentences = tuple(
        (int(a), int(b)) for a, b in (pair.split(",") for pair in m.get("sentences", "").split(";") if pair)
    )
    return StoredChunk(chunk_id, m["doc_id"], m["source"], m.get("title", ""), text, int(m["start"]), int(m["end"]), sentences)


def _check_collection_name(name: str) -> None:
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{1,50}[A-Za-z0-9]", name):
        raise StoreError(
            f"bad collection name {name!r}: use 3-52 letters, digits, '.', '_' or '-', starting and ending with a letter or digit"
        )


def _check_index_folder(folder: Path) -> None:
    """Refuse a folder that holds something other than a corpus-qa index: never wipe it."""
    if folder.exists() and not folder.is_dir():
        raise StoreError(f"index location {folder} is a file, not a folder; pass --index with a folder")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / MARKER).exists():
        raise StoreError(
            f"{folder} is not a corpus-qa index (no {MARKER}) and is not empty; "
            "pass --index with a new or empty folder"
        )
    rebuild = f"move {folder} aside and run 'corpus-qa --index {folder} ingest ...' to rebuild it"
    if (folder / MARKER).exists():
        try:
            found = json.loads((folder / MARKER).read_text(encoding="utf-8")).get("format")
        except (OSError, ValueError, AttributeError):
            found = None
        if found != FORMAT:
            raise StoreError(f"{folder / MARKER} is damaged or of another corpus-qa version (format {found!r}, "
                             f"expected {FORMAT}); {rebuild}")
    chroma = folder / "chroma"
    if chroma.is_dir() and any(p.is_dir() for p in chroma.iterdir()) and not (chroma / "chroma.sqlite3").exists():
        raise StoreError(f"the index in {folder} is damaged: {chroma / 'chroma.sqlite3'} is missing; {rebuild}")
