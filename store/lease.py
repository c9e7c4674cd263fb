"""One writer at a time per index: ingests and removals hold it (Index.writing).

Embedded, a lock on the index folder's `ingest.lock` (fcntl; the system releases it when
the process dies). On a Chroma server, where processes on several machines write to one
collection, a lease: a record in the collection's `-writing` collection naming the writer,
renewed by a thread while the write goes on, deleted at the end. A writer that was
killed stops renewing it and is forgotten LEASE_SECONDS later (at once when it ran on
this machine, in the same pid namespace, and its process is gone).

Chroma has no conditional write, so a lease is taken in two steps: with no live lease
seen, write ours, then read again; a second live lease seen then means another writer
arrived at the same moment, and ours is withdrawn. Of two writers at most one goes on:
one goes on only if its read-back saw no other lease, so the other's lease was written
after that read, and the other's read-back, later still, sees the first. Both may back
off (each wrote before either read back); each then tries again after a random pause, so
one of them usually gets it, and says so after the third time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from .errors import StoreError

logger = logging.getLogger(__name__)
LOCK = "ingest.lock"
LEASE_SECONDS = 60.0
_ATTEMPTS = 3  # writers that keep arriving at the same moment as another: the last says so
PREFIX = "writer:"  # lease ids; the -writing collection's other ids are document ids (hex)


def is_lease(record_id: str) -> bool:
    return record_id.startswith(PREFIX)


def _busy(where: str, detail: str = "") -> StoreError:
    return StoreError(f"another corpus-qa ingest is writing to {where}{detail}; "
                      "wait for it to finish, then run the command again")


@contextlib.contextmanager
def folder_lock(folder: Path, where: str) -> Iterator[None]:
    """Hold the index folder's write lock, or raise StoreError at once."""
    import fcntl

    with open(folder / LOCK, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(where) from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def server_lease(writing, where: str, seconds: float = LEASE_SECONDS) -> Iterator[None]:
    """Hold the write lease of the collection whose -writing collection is `writing`,
    or raise StoreError naming the writer that holds it."""
    me = PREFIX + uuid.uuid4().hex
    claim = {"writer": True, "host": socket.gethostname(), "pid": os.getpid(), "pids": _pid_namespace()}
    for attempt in range(_ATTEMPTS):
        _refuse_if_held(writing, where, seconds, me)  # a lease held: refused at once
        claim["since"] = time.time()
        writing.upsert(ids=[me], embeddings=[[1.0]], metadatas=[{**claim, "renewed": claim["since"]}])
        try:
            _refuse_if_held(writing, where, seconds, me)
            break
        except StoreError:  # another writer arrived at the same moment: both withdraw
            writing.delete(ids=[me])
            if attempt == _ATTEMPTS - 1:
                raise
        time.sleep(random.uniform(0.05, 0.5))  # and try again at different moments
    stop = threading.Event()
    renewer = threading.Thread(target=_renew, args=(writing, me, claim, seconds, stop),
                               name="corpus-qa-lease", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        try:
            writing.delete(ids=[me])
        except Exception as err:  # the server gone: the lease runs out by itself
            logger.warning("could not release the write lease %s (%s); it expires in %.0f s",
                           me, type(err).__name__, seconds)


def _refuse_if_held(writing, where: str, seconds: float, me: str) -> None:
    got = writing.get(where={"writer": True}, include=["metadatas"])
    now, live, gone = time.time(), [], []
    for record_id, m in zip(got["ids"], got["metadatas"]):
        if record_id == me:
            continue
        (gone if _expired(m, now, seconds) else live).append((record_id, m))
    if gone:
        writing.delete(ids=[i for i, _ in gone])
        logger.info("forgot %d write lease(s) of writers that stopped: %s", len(gone), [i for i, _ in gone])
    if live:
        m = min((m for _, m in live), key=lambda m: m.get("since", now))
        since = time.strftime("%H:%M:%S UTC", time.gmtime(m.get("since", now)))
        raise _busy(where, f" (process {m.get('pid')} on {m.get('host')}, since {since}; a writer that was "
                           f"killed is forgotten {seconds:.0f} s after it last renewed its lease)")


def _expired(m: dict, now: float, seconds: float) -> bool:
    if now - float(m.get("renewed", 0)) > seconds:
        return True
    pid = m.get("pid")
    same_pids = m.get("host") == socket.gethostname() and m.get("pids") == _pid_namespace()
    if same_pids and isinstance(pid, int) and pid > 0:  # a process this one can see: is it still there?
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except (PermissionError, OverflowError):
            return False
    return False


def _pid_namespace() -> str:
    """This process's pid namespace: two containers can share a host name, not this."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _renew(writing, me: str, claim: dict, seconds: float, stop: threading.Event) -> None:
    while not stop.wait(seconds / 4):
        try:
            writing.upsert(ids=[me], embeddings=[[1.0]], metadatas=[{**claim, "renewed": time.time()}])
        except Exception as err:  # the server down for a moment: the write itself will say so
            logger.warning("could not renew the write lease %s (%s: %s)", me, type(err).__name__, err)
