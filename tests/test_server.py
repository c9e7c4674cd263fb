"""Server mode against real `chroma run` servers on loopback: several corpus-qa processes
share one index, a server that goes away and comes back, a server that needs a token."""

from __future__ import annotations

import http.server
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

import rag
import store
from tests.conftest import BIN, EXE, cli_env, free_port, stop_process

pytestmark = [pytest.mark.server, pytest.mark.slow]

NEW_ARTICLE = """Lighthouse keepers vote to strike on the Orkney islands
The keepers of the Orkney lighthouses voted on Monday to strike over the new rota.
Their union said the vote was carried by 41 votes to 3.
"""
QUESTION = "How many votes carried the strike of the Orkney lighthouse keepers?"


class ChromaServer:
    """A `chroma run` of the test's own, which the test may stop and start again."""

    def __init__(self, path: Path, port: int):
        self.path, self.port, self.proc = path, port, None
        self.url = f"http://127.0.0.1:{port}"

    def start(self) -> None:
        import chromadb
        from chromadb.config import Settings

        self.proc = subprocess.Popen(
            [str(BIN / "chroma"), "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        )
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, f"chroma run exited with {self.proc.returncode}"
            try:
                chromadb.HttpClient(host="127.0.0.1", port=self.port, settings=Settings(anonymized_telemetry=False)).heartbeat()
                return
            except Exception:
                assert time.monotonic() < deadline, f"chroma run on port {self.port} did not start within 60 s"
                time.sleep(0.3)

    def stop(self) -> None:
        if self.proc:
            stop_process(self.proc)


@pytest.fixture
def own_server(tmp_path):
    server = ChromaServer(tmp_path / "chroma-data", free_port())
    server.start()
    yield server
    server.stop()


def test_a_page_answers_from_what_another_process_just_ingested(chroma_server, tmp_path, embedder, corpus_dir):
    """Two QA instances on one collection, each with its own keyword index copy (as two
    processes have): the reader has already answered before the writer ingests, and its
    next question finds the new article without a restart."""
    name = f"t{uuid.uuid4().hex[:12]}"
    writer = rag.QA(store.Index.open(url=chroma_server, collection=name, cache=tmp_path / "writer"), embedder)
    writer.ingest([corpus_dir])
    reader = rag.QA(store.Index.open(url=chroma_server, collection=name, cache=tmp_path / "reader"), embedder)
    before = reader.ask(QUESTION)
    assert all("lighthouse" not in p.text.lower() for p in before.passages)

    folder = tmp_path / "new"
    folder.mkdir()
    (folder / "orkney.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    report = writer.ingest([folder])
    assert report.added == 1, report

    after = reader.ask(QUESTION)
    assert after.passages[0].source == "orkney.txt", [p.source for p in after.passages]
    assert "41 votes to 3" in after.passages[0].text and "[1]" in after.text, after
    # the reader's keyword index was rebuilt from the collection: same ids as the collection
    ids = set(reader.index.keyword_index().ids)
    assert len(ids) == reader.index.count()


def test_ingest_is_idempotent_against_the_server(chroma_server, tmp_path, embedder, corpus_dir):
    name = f"t{uuid.uuid4().hex[:12]}"
    qa = rag.QA(store.Index.open(url=chroma_server, collection=name, cache=tmp_path / "c"), embedder)
    first = qa.ingest([corpus_dir])
    count = qa.index.count()
    second = rag.QA(store.Index.open(url=chroma_server, collection=name, cache=tmp_path / "d"), embedder).ingest([corpus_dir])
    assert (first.added, second.added, second.unchanged, second.chunks) == (5, 0, 5, 0), (first, second)
    assert qa.index.count() == count


def test_server_restart_between_two_questions(own_server, tmp_path, embedder, corpus_dir):
    qa = rag.QA(store.Index.open(url=own_server.url, collection="corpus", cache=tmp_path / "cache"), embedder)
    qa.ingest([corpus_dir])
    question = "Who is now the chairman of the Ukraine Defense Contact Group?"
    assert "Healey" in qa.ask(question).text

    own_server.stop()
    with pytest.raises(store.StoreError, match=rf"Chroma server at {own_server.url} is not answering.*chroma run"):
        qa.ask(question)

    own_server.start()  # same data folder, same port
    answer = qa.ask(question)
    assert "Healey" in answer.text, answer.text


def test_the_page_shows_the_outage_and_recovers(own_server, tmp_path, embedder, corpus_dir):
    from gradio_client import Client

    from ui.app import launch

    qa = rag.QA(store.Index.open(url=own_server.url, collection="corpus", cache=tmp_path / "cache"), embedder)
    qa.ingest([corpus_dir])
    port = free_port()
    app = launch(qa, host="127.0.0.1", port=port, block=False)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        question = "Into which Baltic countries did Biden move U.S. troops?"

        def reply() -> str:
            _, history = client.predict(question, [], api_name="/ask")
            content = history[-1]["content"]
            return content if isinstance(content, str) else "".join(part.get("text", "") for part in content)

        assert "Latvia" in reply()
        own_server.stop()
        during = reply()
        assert "cqa-error" in during and f"Chroma server at {own_server.url} is not answering" in during, during
        own_server.start()
        after = reply()
        assert "Latvia" in after, after
    finally:
        app.close()


def test_unreachable_server_is_one_clear_line(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(store.StoreError, match=rf"cannot reach the Chroma server at {url}.*chroma run"):
        rag.QA.open(chroma_url=url)
    run = subprocess.run(
        [str(BIN / "corpus-qa"), "--chroma-url", url, "stats"], capture_output=True, text=True, timeout=120,
        cwd=tmp_path,
    )
    assert run.returncode == 2, run
    assert run.stderr.strip().count("\n") == 0 and run.stderr.startswith("corpus-qa: error: cannot reach"), run.stderr
    assert "Traceback" not in run.stderr


def test_environment_selects_the_server(chroma_server, tmp_path, monkeypatch):
    name = f"t{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("CORPUS_QA_CHROMA_URL", chroma_server)
    monkeypatch.setenv("CORPUS_QA_COLLECTION", name)
    qa = rag.QA.open(index=tmp_path / "cache")
    assert qa.index.remote and qa.index.name == name
    assert qa.stats().index == chroma_server


class _TokenProxy(http.server.ThreadingHTTPServer):
    """A reverse proxy that lets through only requests carrying `Authorization: Bearer
    <token>`, as a team puts in front of a shared Chroma server (chroma run has no auth)."""

    def __init__(self, upstream: str, token: str):
        self.upstream, self.token, self.refused = upstream, token, 0
        super().__init__(("127.0.0.1", 0), _ProxyHandler)


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def _forward(self):
        server: _TokenProxy = self.server  # type: ignore[assignment]
        if self.headers.get("Authorization") != f"Bearer {server.token}":
            server.refused += 1
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
        request = urllib.request.Request(server.upstream + self.path, data=body, headers=headers, method=self.command)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, payload, kind = response.status, response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as err:
            status, payload, kind = err.code, err.read(), err.headers.get("Content-Type", "")
        self.send_response(status)
        self.send_header("Content-Type", kind or "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward


def test_token_is_sent_the_way_chroma_clients_send_it(chroma_server, tmp_path):
    proxy = _TokenProxy(chroma_server, token="s3cret")
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{proxy.server_address[1]}"
    try:
        with pytest.raises(store.StoreError, match="cannot reach the Chroma server"):
            store.Index.open(url=url, collection="tokens", cache=tmp_path / "a")
        assert proxy.refused >= 1
        env = {**os.environ, "CORPUS_QA_CHROMA_TOKEN": "s3cret"}
        run = subprocess.run(
            [str(BIN / "corpus-qa"), "--chroma-url", url, "--collection", f"t{uuid.uuid4().hex[:12]}", "stats", "--json"],
            capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
        )
        assert run.returncode == 0, run.stderr
        assert '"chunks": 0' in run.stdout, run.stdout
    finally:
        proxy.shutdown()


# -- one writer at a time on a server (store/lease.py) --------------------------------------

def _lease_records(index: store.Index) -> list[str]:
    return [i for i in index._writing.get(include=[])["ids"] if i.startswith("writer:")]


def test_a_second_ingest_into_a_server_collection_is_refused_while_one_writes(make_qa, tmp_path, chroma_server,
                                                                               embedder):
    """Two ingest jobs pointed at one collection: the second gets one clear line naming
    the writer, writes nothing, and the lease is gone once the first is done."""
    docs = tmp_path / "articles"
    docs.mkdir()
    (docs / "orkney.txt").write_text(NEW_ARTICLE)
    # the job's HOME is a temp folder (its keyword cache stays out of the real one); it finds
    # the model's export where the session's model keeps it, instead of exporting it again
    (tmp_path / ".cache" / "corpus-qa").mkdir(parents=True)
    (tmp_path / ".cache" / "corpus-qa" / "onnx").symlink_to(embedder.cache_dir, target_is_directory=True)
    qa = make_qa("server")
    with qa.index.writing():
        assert len(_lease_records(qa.index)) == 1
        result = subprocess.run(
            [EXE, "--chroma-url", chroma_server, "--collection", qa.index.name, "ingest", str(docs)],
            env={**cli_env(), "HOME": str(tmp_path)}, capture_output=True, text=True, timeout=240,
        )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"corpus-qa: error: another corpus-qa ingest is writing to collection {qa.index.name!r} at "
        f"{qa.index.where} (process {os.getpid()} on "), lines
    assert lines[0].endswith("wait for it to finish, then run the command again"), lines
    assert qa.index.count() == 0
    assert _lease_records(qa.index) == [], "released at the end"
    assert qa.ingest([docs]).added == 1


def test_the_lease_is_renewed_while_the_write_goes_on(make_qa):
    qa = make_qa("server")
    other = make_qa("server", reopen=qa)
    qa.index.lease_seconds = other.index.lease_seconds = 1.0
    with qa.index.writing():
        time.sleep(2.5)  # past the lease's length: renewed by its thread meanwhile
        with pytest.raises(store.StoreError, match="another corpus-qa ingest is writing"):
            with other.index.writing():
                pass
    with other.index.writing():
        assert len(_lease_records(other.index)) == 1


def test_a_killed_writers_lease_is_forgotten(make_qa):
    """A lease not renewed for its length, or left by a process of this machine that is
    gone, no longer holds a write back; a live one on another machine does."""
    qa = make_qa("server")
    gone = subprocess.Popen(["true"])  # a process of this machine that ran and is gone
    gone.wait()
    now = time.time()
    claims = {
        "writer:old": {"writer": True, "host": "elsewhere", "pid": 7, "since": now - 500, "renewed": now - 400},
        "writer:dead": {"writer": True, "host": os.uname().nodename, "pid": gone.pid,
                        "pids": os.readlink("/proc/self/ns/pid"), "since": now, "renewed": now},
        # the same host name and pid, but another pid namespace (a container): not known to be gone
        "writer:container": {"writer": True, "host": os.uname().nodename, "pid": gone.pid, "pids": "pid:[1]",
                             "since": now, "renewed": now},
    }
    qa.index._writing.upsert(ids=list(claims), embeddings=[[1.0]] * 3, metadatas=list(claims.values()))
    with pytest.raises(store.StoreError, match=rf"process {gone.pid} on {os.uname().nodename}"):
        with qa.index.writing():
            pass
    assert sorted(_lease_records(qa.index)) == ["writer:container"], "the two stale leases are cleared"
    qa.index._writing.delete(ids=["writer:container"])
    with qa.index.writing():
        assert len(_lease_records(qa.index)) == 1
    qa.index._writing.upsert(ids=["writer:live"], embeddings=[[1.0]], metadatas=[
        {"writer": True, "host": "elsewhere", "pid": 7, "since": now, "renewed": time.time()}])
    with pytest.raises(store.StoreError, match=r"process 7 on elsewhere"):
        with qa.index.writing():
            pass


def test_of_writers_starting_at_once_at_most_one_goes_on(make_qa):
    """Chroma has no conditional write: the lease is written, then read back. Of two
    writers released together, the times they hold the lease never overlap."""
    qa = make_qa("server")
    indexes = [qa.index, make_qa("server", reopen=qa).index]
    holders = 0
    for _ in range(8):
        barrier, held = threading.Barrier(2), []

        def take(index):
            barrier.wait()
            try:
                with index.writing():
                    start = time.monotonic()
                    time.sleep(0.3)
                    held.append((start, time.monotonic()))
            except store.StoreError:
                pass

        threads = [threading.Thread(target=take, args=(i,)) for i in indexes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        held.sort()
        assert all(a[1] <= b[0] for a, b in zip(held, held[1:])), f"two writers held the lease at once: {held}"
        holders += len(held)
        assert _lease_records(qa.index) == []
    assert holders >= 1, "no writer ever got the lease"


def test_a_repair_leaves_a_live_lease_alone(make_qa):
    qa = make_qa("server")
    other = make_qa("server", reopen=qa)
    with qa.index.writing():
        other.index.drop_orphans()
        assert len(_lease_records(qa.index)) == 1
