"""Shared fixtures: the real model (once per session), real Chroma (embedded in a temp
folder, or a real `chroma run` server on loopback), the bundled corpus indexed once.

- `embedder`: the sentence-transformers model, loaded once for the whole session.
- `bundled_qa`: a QA over the five bundled articles, ingested once; tests only read it.
- `make_qa(backend=...)`: a fresh, empty QA in its own temp folder (or its own
  collection on the session's Chroma server), sharing the session's model.
- `backend`: "embedded" and "server"; a test that takes it runs against both.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

import rag
import store

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEV_SET = REPO.parent / "shared" / "qa" / "dev.jsonl"


IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def examples(n: int) -> int:
    """Hypothesis examples for a property test: all `n` in CI (CI=true), a fifth of them (at
    least 10) in a local run, which stays quick."""
    return n if IN_CI else max(10, n // 5)


EXE = str(BIN / "corpus-qa")
HEALEY = "Who is now the chairman of the Ukraine Defense Contact Group?"  # answered by the bundled corpus
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def cli_env() -> dict[str, str]:
    """The environment for a corpus-qa subprocess: no CORPUS_QA_* of the caller's, offline."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CORPUS_QA_")}
    return {**clean, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "PYTHONWARNINGS": "ignore"}


_MODELS: dict[tuple, store.SentenceTransformerEmbedder] = {}
_REAL_OPEN_EMBEDDER = rag.qa.open_embedder


def _open_embedder_once(model=None):
    """rag.qa.open_embedder, each model (and ONNX cache, int8 choice) loaded once per test
    process: what a `corpus-qa` process would load again at every start."""
    env = os.environ.get
    key = (model, env("CORPUS_QA_MODEL"), env("CORPUS_QA_ONNX_CACHE"), env("CORPUS_QA_INT8"))
    if key not in _MODELS:
        _MODELS[key] = _REAL_OPEN_EMBEDDER(model)
    return _MODELS[key]


def run_cli(args: list[str], input: str | None = None, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`corpus-qa ARGS` run inside this process (ui.cli.main, as the console script runs it),
    for tests whose subject is the command's output and exit code, not the process: each
    start of a `corpus-qa` process costs ~1 CPU-s of imports and a model load. What a new
    process would see, it sees: the caller's CORPUS_QA_* variables gone (`env` adds some), its
    own Chroma clients (none of this process's, so every index is read from disk; the ones
    it opened are stopped afterwards, as at a process's exit), stdin `input`, warnings logged
    to its stderr. What differs: the model is loaded once per test process, and what native code
    writes to the process's own stderr is not caught. A test about processes themselves
    (kills, two processes at once, servers) runs `EXE`."""
    import io
    import logging

    import ui.cli
    from store.chroma import clients as chroma_clients

    saved_env = dict(os.environ)
    for name in [n for n in os.environ if n.startswith("CORPUS_QA_")]:
        del os.environ[name]
    os.environ.update(env or {})
    registry = chroma_clients()
    clients = dict(registry)
    registry.clear()
    out, err = io.StringIO(), io.StringIO()
    log = logging.StreamHandler(err)
    log.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    log.setLevel(logging.INFO if {"-v", "--verbose"} & set(args) else logging.WARNING)
    root = logging.getLogger()
    root_level = root.level
    root.addHandler(log)
    root.setLevel(min(root_level or logging.WARNING, log.level))
    stdin, here = sys.stdin, os.getcwd()
    sys.stdin = io.StringIO(input or "")
    rag.qa.open_embedder = rag.open_embedder = _open_embedder_once
    try:
        if cwd:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = ui.cli.main(list(args))
            except SystemExit as exit:  # argparse's usage errors
                code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
    finally:
        rag.qa.open_embedder = rag.open_embedder = _REAL_OPEN_EMBEDDER
        os.chdir(here)
        sys.stdin = stdin
        root.removeHandler(log)
        root.setLevel(root_level)
        for path, system in list(registry.items()):
            if clients.get(path) is not system:
                system.stop()  # (one that failed to start is not kept: store.chroma.open_folder)
        registry.clear()
        registry.update(clients)
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(["corpus-qa", *args], code or 0, out.getvalue(), err.getvalue())


def stop_process(proc: subprocess.Popen, timeout: float = 15) -> None:
    """Terminate a server the tests started; kill it if it does not stop within `timeout` s."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def picture(name: str) -> Path:
    """Where a browser test saves a picture of the page: docs/NAME (the README shows some)
    only with CORPUS_QA_SCREENSHOTS=1 (`make screenshots`), else a temporary folder, so that
    `make test` leaves the tracked files as they were."""
    if os.environ.get("CORPUS_QA_SCREENSHOTS") == "1":
        folder = REPO / "docs"
    else:
        folder = Path(tempfile.gettempdir()) / f"corpus-qa-pictures-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served_page(qa, **options):
    """The page over `qa` (ui.app.launch with `options`) on a free loopback port, closed
    afterwards; yields its URL."""
    import ui.app

    port = free_port()
    app = ui.app.launch(qa, host="127.0.0.1", port=port, block=False, **options)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()


@pytest.fixture(scope="session")
def embedder() -> store.SentenceTransformerEmbedder:
    model = store.SentenceTransformerEmbedder()
    model.encode(["warm up"])  # load it now, not inside the first test's timing
    _MODELS.setdefault((None, None, None, None), model)  # what run_cli's default opens: the same model
    return model


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    path = rag.bundled_corpus()
    names = sorted(p.name for p in path.iterdir())
    assert len(names) == 5, f"the bundled corpus should hold 5 articles, found {names}"
    return path


@pytest.fixture(scope="session")
def bundled_qa(tmp_path_factory, embedder, corpus_dir) -> rag.QA:
    """QA over the bundled corpus, ingested once per session. Read only."""
    index = store.Index.open(path=tmp_path_factory.mktemp("bundled") / "index")
    qa = rag.QA(index, embedder)
    report = qa.ingest([corpus_dir])
    assert (report.added, report.updated, report.unchanged, report.removed) == (5, 0, 0, 0), report
    return qa


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    """A real Chroma server (`chroma run`) on a free loopback port; yields its URL."""
    import chromadb
    from chromadb.config import Settings

    exe = BIN / "chroma"
    if not exe.exists():
        pytest.fail(f"no chroma executable next to the interpreter at {exe}; reinstall chromadb")
    data = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    log = open(data.parent / "chroma-server.log", "wb")
    proc = subprocess.Popen(
        [str(exe), "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                log.flush()
                output = Path(log.name).read_text(errors="replace")[-2000:]
                pytest.fail(f"chroma run exited with {proc.returncode}:\n{output}")
            try:
                chromadb.HttpClient(host="127.0.0.1", port=port, settings=Settings(anonymized_telemetry=False)).heartbeat()
                break
            except Exception:
                if time.monotonic() > deadline:
                    pytest.fail(f"the Chroma server on port {port} did not answer a heartbeat within 60 s")
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)
        log.close()


@pytest.fixture
def make_qa(tmp_path, embedder, request):
    """Factory: a new, empty QA sharing the session model.

    make_qa() / make_qa("embedded"): an embedded index in a new folder under tmp_path.
    make_qa("server"): a new collection (unique name) on the session's Chroma server,
    keyword cache under tmp_path. `model=` wraps the model (e.g. a counter);
    `reopen=qa` opens the index of an earlier QA again, as a new process would.
    """
    made = 0

    def factory(backend: str = "embedded", model=None, reopen: rag.QA | None = None) -> rag.QA:
        nonlocal made
        made += 1
        if backend == "embedded":
            path = Path(reopen.index.where) if reopen else tmp_path / f"index{made}"
            index = store.Index.open(path=path)
        elif backend == "server":
            url = request.getfixturevalue("chroma_server")
            name = reopen.index.name if reopen else f"t{uuid.uuid4().hex[:16]}"
            index = store.Index.open(url=url, collection=name, cache=tmp_path / "cache")
        else:
            raise ValueError(f"backend must be 'embedded' or 'server', got {backend!r}")
        return rag.QA(index, model or embedder)

    return factory


@pytest.fixture(params=["embedded", pytest.param("server", marks=pytest.mark.server)])
def backend(request) -> str:
    """Run the test against an embedded Chroma and against a real Chroma server."""
    return request.param


@pytest.fixture(scope="session")
def dev_questions() -> list[dict]:
    """../shared/qa/dev.jsonl beside the checkout (read in place, never copied)."""
    if not DEV_SET.is_file():
        pytest.skip(f"no dev question set at {DEV_SET}")
    return [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="session")
def bundled_docs(corpus_dir) -> dict[str, store.Document]:
    """The five bundled articles, loaded and cleaned, by file name."""
    return {Path(path).name: store.load(path, source) for path, source in store.find_files([corpus_dir])}


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium through Playwright (`make browser` installs it); CI fails without it."""
    import shutil

    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        message = f"no chromium at {CHROMIUM}: run `make browser` (apt-get install -y chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


BBC_ARTICLES = REPO.parent / "shared" / "benchmarks" / "bbc-news" / "articles"
MULTIHOP = REPO.parent / "shared" / "benchmarks" / "multihop-rag" / "corpus.json"
BBC_CATEGORIES = ("business", "entertainment", "politics", "sport")
# the stories holding the answers to test_browser_newsroom's questions (../shared/qa/bbc-dev.jsonl)
NEWSROOM_ASKS = ("business/026.txt", "business/037.txt", "entertainment/004.txt", "entertainment/016.txt",
                 "politics/048.txt", "sport/044.txt")


@pytest.fixture(scope="session")
def bbc_qa(tmp_path_factory, embedder) -> rag.QA:
    """A newsroom-sized index, ingested once per session and only read: the first 25 BBC
    stories of four categories and the ones test_browser_newsroom asks about (NEWSROOM_ASKS;
    104, named as `corpus-qa ingest articles/` names them, e.g. business/001.txt; no dates
    or outlets) and 19 MultiHop-RAG records (dated, with outlets: the first 12 and the 7
    whose title names Sam Bankman-Fried, several outlets' reports of his trial, for
    test_reading), all read in place from ../shared. Embedding is most of its cost (200
    stories and 12 records took 60 s of the suite), so test_reading uses it too."""
    if not BBC_ARTICLES.is_dir() or not MULTIHOP.is_file():
        pytest.skip(f"no BBC archive at {BBC_ARTICLES} or MultiHop-RAG corpus at {MULTIHOP}")
    names = sorted({f"{c}/{i:03d}.txt" for c in BBC_CATEGORIES for i in range(1, 26)} | set(NEWSROOM_ASKS))
    docs = [store.load(BBC_ARTICLES / name, name) for name in names]
    records = json.loads(MULTIHOP.read_text(encoding="utf-8"))
    docs += [store.from_record(f"multihop-{i:03d}", r["title"], r["body"], published=r["published_at"][:10],
                               outlet=r["source"], url=r["url"], author=r.get("author"))
             for i, r in enumerate(records) if i < 12 or "Bankman-Fried" in r["title"]]
    qa = rag.QA(store.Index.open(path=tmp_path_factory.mktemp("bbc") / "index"), embedder)
    report = qa.ingest_documents(docs)
    assert report.added == 123, report
    return qa


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory):
    """llama.cpp's OpenAI-compatible server (llama-cpp-python) with the Gemma 3 270M model
    on a free loopback port, as `make llm` runs it; yields its base URL (.../v1)."""
    import urllib.request

    port = free_port()
    try:
        import llama_cpp.server  # noqa: F401

        from ui.llm import server_command
        command = server_command(port)
    except (ImportError, SystemExit) as err:
        message = f"no llama.cpp server or Gemma model ({err}): run `make llm-install`"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    log = open(tmp_path_factory.mktemp("llm") / "llm-server.log", "wb")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                log.flush()
                pytest.fail(f"the llama.cpp server exited with {proc.returncode}:\n"
                            f"{Path(log.name).read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/models", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the llama.cpp server on {url} did not answer within 120 s")
                time.sleep(0.5)
        yield url
    finally:
        stop_process(proc)
        log.close()


# a written answer's length in the tests (Gemma 3 270M never stops by itself): at 30 tokens each
# of test_generate's four questions gets three sentences, the last cut short, and the check
# rejects some in each, as at 60 (session 18); every token written costs the suite time
LLM_TOKENS = 30


@pytest.fixture(scope="session")
def written_qa(bundled_qa, llm_server) -> rag.QA:
    """The bundled corpus's QA with the session's language model: answers can be written."""
    return rag.QA(bundled_qa.index, bundled_qa.embedder, llm=rag.LLM(llm_server, max_tokens=LLM_TOKENS))


# tech stories with near-copies among them (benchmarks/nearcopies.py): 064 ~ 338 (a figure and
# a firm's name corrected), 060 ~ 007 (a word of the title); exact copies: 063 = 004, 339 = 042
NEAR_TECH = tuple(range(60, 71)) + tuple(range(330, 341)) + (4, 7, 42)


@pytest.fixture(scope="session")
def near_folder(tmp_path_factory) -> Path:
    """A folder shaped like the archive (tech/nnn.txt) of the NEAR_TECH stories, copied
    from ../shared into a temp folder (the archive itself is never written to)."""
    if not BBC_ARTICLES.is_dir():
        pytest.skip(f"no BBC archive at {BBC_ARTICLES}")
    import shutil

    folder = tmp_path_factory.mktemp("near") / "articles"
    (folder / "tech").mkdir(parents=True)
    for n in NEAR_TECH:
        shutil.copy(BBC_ARTICLES / "tech" / f"{n:03d}.txt", folder / "tech" / f"{n:03d}.txt")
    return folder


@pytest.fixture(scope="session")
def near_qa(tmp_path_factory, embedder, near_folder) -> rag.QA:
    """The NEAR_TECH stories indexed once (as `corpus-qa ingest articles/` names them); read only."""
    qa = rag.QA(store.Index.open(path=tmp_path_factory.mktemp("near-index") / "index"), embedder)
    report = qa.ingest([near_folder])
    assert report.added == len(NEAR_TECH), report
    return qa



# `make test` runs the suite on two pytest-xdist workers, each file on one worker (--dist
# loadfile), except that the files using one of these costly session fixtures share a worker,
# which builds it once: the newsroom archive embeds 123 documents; the language model's server
# reads each written-answer prompt once if its tests run in order. (xdist's own --dist
# loadgroup cannot group them: on pytest 9.2 its group marks are silently ignored,
# pytest-dev/pytest-xdist#1386.)
COSTLY = {"bbc_qa": "newsroom", "llm_server": "language-model", "written_qa": "language-model",
          "near_qa": "near-copies", "near_folder": "near-copies"}
SHARED_WORKER = {
    "test_browser_newsroom.py": "newsroom", "test_reading.py": "newsroom",
    "test_browser_generate.py": "language-model", "test_cli_generate.py": "language-model",
    "test_generate.py": "language-model", "test_mcp_generate.py": "language-model",
    "test_browser_second_hour.py": "near-copies", "test_nearcopies.py": "near-copies", "test_ui.py": "near-copies",
}


def pytest_collection_modifyitems(config, items):
    """A test file that uses a costly fixture must be listed in SHARED_WORKER (else each
    worker would build the fixture again): checked on every run, with or without workers."""
    for item in items:
        name = item.path.name
        for fixture in sorted(set(getattr(item, "fixturenames", ())) & COSTLY.keys()):
            if SHARED_WORKER.get(name) != COSTLY[fixture]:
                raise pytest.UsageError(f"{name} uses {fixture}: add it to SHARED_WORKER in tests/conftest.py "
                                        f"as {COSTLY[fixture]!r}")


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: no error where it is not installed
def pytest_xdist_make_scheduler(config, log):
    """--dist loadfile, with the files of SHARED_WORKER grouped (see above)."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedWorkers(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            file = nodeid.split("::", 1)[0]
            return SHARED_WORKER.get(Path(file).name, file)

    return SharedWorkers(config, log)
