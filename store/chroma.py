"""The Chroma client: embedded (a PersistentClient in the index folder) or a server
(an HttpClient), the checks on the folder and names, and server outages as StoreErrors."""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path
from urllib.parse import urlparse

from .errors import CorpusQAError, StoreError

MARKER = "corpus-qa.json"
FORMAT = 4  # what a new index is written in; 4: each article's text stored once (its passages are spans of it)
FORMATS = (3, 4)  # what this version reads and writes; 3: sentence vectors packed in their chunk, 1,000-character passages


def import_chromadb():
    """The chromadb module, imported with the `overrides` package's class-definition checks
    skipped: chromadb decorates ~160 methods with `@override`, whose signature check against
    the base class (a development-time lint) is ~0.3 s of the ~1 s import, on every cold
    start of the CLI or the MCP server. The marker `@override` leaves (EnforceOverrides
    reads it) is still set. If `overrides` changes shape, chromadb is imported as it is."""
    import sys

    if "chromadb" in sys.modules:
        return sys.modules["chromadb"]
    import overrides  # noqa: F401

    checks = sys.modules.get("overrides.overrides")
    real = getattr(checks, "_overrides", None)
    if real is None:
        import chromadb
        return chromadb

    def mark_only(method, check_signature, check_at_runtime):
        method.__override__ = True
        return method

    checks._overrides = mark_only
    try:
        import chromadb
    finally:
        checks._overrides = real
    return chromadb


def server_errors(method):
    """A Chroma server that stops answering becomes one clear StoreError; the client
    reconnects by itself on the next call once the server is back."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except CorpusQAError:
            raise
        except Exception as err:
            if not self.remote or not is_connection_error(err):
                raise
            raise StoreError(
                f"the Chroma server at {self.where} is not answering ({type(err).__name__}); "
                "check that it runs (chroma run ...): corpus-qa reconnects once it is back"
            ) from err

    return wrapper


def is_connection_error(err: Exception) -> bool:
    return isinstance(err, (ConnectionError, TimeoutError)) or type(err).__module__.split(".")[0] in ("httpx", "httpcore")


def connect_server(url: str, token: str | None):
    """(client, canonical URL) for the Chroma server at `url`."""
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    chromadb = import_chromadb()
    from chromadb.config import Settings

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
        client = chromadb.HttpClient(host=parsed.hostname, port=port, ssl=parsed.scheme == "https", settings=settings)
        client.heartbeat()
    except Exception as err:
        raise StoreError(
            f"cannot reach the Chroma server at {url} ({type(err).__name__}); start one with "
            f"'chroma run --path ./chroma-data --host 127.0.0.1 --port {port}' or fix --chroma-url"
        ) from None
    return client, f"{parsed.scheme or 'http'}://{parsed.hostname}:{port}"


def open_folder(folder: Path):
    """The embedded client of index folder `folder` (made when new)."""
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    chromadb = import_chromadb()
    from chromadb.config import Settings

    check_index_folder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / MARKER).exists():
        (folder / MARKER).write_text(json.dumps({"format": FORMAT}))
    try:
        return chromadb.PersistentClient(path=str(folder / "chroma"), settings=Settings(anonymized_telemetry=False))
    except Exception as err:
        clients().pop(str(folder / "chroma"), None)  # the one that failed to start: the folder opens once repaired
        raise StoreError(
            f"cannot open the index in {folder} ({type(err).__name__}: {err}); "
            f"move it aside and run 'corpus-qa --index {folder} ingest ...' to rebuild"
        ) from None


def clients() -> dict:
    """chromadb's embedded clients of this process, by folder: it hands out one per folder,
    to every later PersistentClient of that folder (even one that failed to start)."""
    from chromadb.api.shared_system_client import SharedSystemClient

    return SharedSystemClient._identifier_to_system


def private_client(folder: Path):
    """A second embedded client of `folder` with a state of its own (chromadb shares one
    per folder in a process): it sees what other processes wrote since the first opened."""
    chromadb = import_chromadb()
    from chromadb.config import Settings

    path = str(folder / "chroma")
    registry = clients()
    shared = registry.pop(path, None)
    try:
        return chromadb.PersistentClient(path=path, settings=Settings(anonymized_telemetry=False))
    finally:
        registry.pop(path, None)
        if shared is not None:
            registry[path] = shared


def check_collection_name(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{1,50}[A-Za-z0-9]", name):
        raise StoreError(
            f"bad collection name {name!r}: use 3-52 letters, digits, '.', '_' or '-', starting and ending with a letter or digit"
        )


def check_index_folder(folder: Path) -> None:
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
        if found not in FORMATS:
            raise StoreError(f"{folder / MARKER} is damaged or of another corpus-qa version (format {found!r}, "
                             f"expected one of {', '.join(map(str, FORMATS))}); {rebuild}")
    chroma = folder / "chroma"
    if chroma.is_dir() and any(p.is_dir() for p in chroma.iterdir()) and not (chroma / "chroma.sqlite3").exists():
        raise StoreError(f"the index in {folder} is damaged: {chroma / 'chroma.sqlite3'} is missing; {rebuild}")


def change_counter(db: Path) -> int | None:
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


def stop_quietly(api) -> None:
    import logging

    try:
        api.stop()
    except Exception as err:  # noqa: BLE001 - freeing memory must never break serving
        logging.getLogger(__name__).info("could not stop a retired Chroma client: %s", err)
