"""corpus-qa mcp through the official SDK's own client: `corpus-qa --index DIR mcp` spawned
over stdio (ClientSession + stdio_client), and `mcp --port N` over streamable HTTP on
loopback. Real model, real embedded Chroma in a temp folder, the bundled corpus (indexed
by the first server at its start, as `serve` does)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import anyio
import httpx
import pytest
from anyio.from_thread import start_blocking_portal
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

import rag
from conftest import EXE, HEALEY, cli_env, free_port, run_cli, stop_process

pytestmark = pytest.mark.slow

STARTUP = 180  # s: indexing the bundled corpus and loading the model, on a busy 2-core machine
CALL = 60
HEALEY_SOURCE = "002_404fe9b87144756a.txt"
TOOLS = {"ask", "search", "documents", "show", "check"}
FILTERS = {"since", "until", "outlets", "sources"}


@contextlib.asynccontextmanager
async def session_over(streams_cm):
    async with streams_cm as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write, read_timeout_seconds=CALL) as session:
            with anyio.fail_after(STARTUP):
                session.initialized_with = await session.initialize()
            yield session


class Connected:
    """A client session held open across tests: async calls run through a blocking portal."""

    def __init__(self, portal, session, log: Path):
        self.portal, self.session, self.log = portal, session, log

    def call(self, tool: str, **arguments):
        return self.portal.call(self.session.call_tool, tool, arguments)

    def list_tools(self):
        return self.portal.call(self.session.list_tools).tools


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("mcp") / "index"  # empty: the server indexes the bundled corpus


@pytest.fixture(scope="module")
def stdio(index_dir, tmp_path_factory):
    log = tmp_path_factory.mktemp("mcp-log") / "stdio-server.log"
    params = StdioServerParameters(command=EXE, args=["--index", str(index_dir), "--demo", "mcp"], env=cli_env())
    with open(log, "w") as errlog, start_blocking_portal() as portal:
        try:
            with portal.wrap_async_context_manager(session_over(stdio_client(params, errlog=errlog))) as session:
                yield Connected(portal, session, log)
        except BaseException:
            errlog.flush()
            print(f"server stderr:\n{log.read_text(errors='replace')[-3000:]}")
            raise


def ok(result) -> dict:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert json.loads(result.content[0].text) == result.structured_content  # the same JSON for plain clients
    return result.structured_content


def error_text(result) -> str:
    assert result.is_error is True, result.structured_content
    assert len(result.content) == 1
    return result.content[0].text


def test_lists_five_tools_with_typed_input_and_output_schemas(stdio):
    tools = {t.name: t for t in stdio.list_tools()}
    assert set(tools) == TOOLS
    ask = tools["ask"].input_schema
    assert ask["required"] == ["question"]
    assert set(ask["properties"]) == {"question", "k", *FILTERS, "history", "generate"}
    assert ask["properties"]["question"]["type"] == "string"
    assert ask["properties"]["k"] == {**ask["properties"]["k"], "type": "integer", "default": 5, "minimum": 1,
                                      "maximum": 50}
    assert {"type": "array", "items": {"type": "string"}} in ask["properties"]["outlets"]["anyOf"]
    assert tools["search"].input_schema["properties"] == {k: v for k, v in ask["properties"].items() if k != "generate"}
    assert set(tools["check"].input_schema["required"]) == {"text", "passages"}
    assert set(tools["documents"].input_schema["properties"]) == {*FILTERS, "query", "limit", "offset"}
    assert tools["documents"].input_schema.get("required", []) == []
    assert tools["show"].input_schema["required"] == ["document"]
    assert set(tools["ask"].output_schema["required"]) == {"answer", "abstained", "passages"}
    passage = tools["ask"].output_schema["$defs"]["PassageOut"]["properties"]
    assert {"n", "source", "title", "text", "start", "end", "published", "outlet", "url", "doc_id"} <= set(passage)
    for t in tools.values():
        assert t.description and t.annotations.read_only_hint is True, t.name


def test_ask_answers_with_the_cited_passage_and_its_span(stdio):
    out = ok(stdio.call("ask", question=HEALEY))
    assert out["abstained"] is False and out["notes"] == []
    assert "Healey" in out["answer"]
    cited = [p for p in out["passages"] if p["source"].endswith(HEALEY_SOURCE)]
    assert cited, [p["source"] for p in out["passages"]]
    first = out["passages"][0]
    assert first["n"] == 1 and first["source"].endswith(HEALEY_SOURCE) and "[1]" in out["answer"]
    assert 0 <= first["start"] < first["end"] and first["end"] - first["start"] == len(first["text"])
    a, b = first["highlight"]
    assert "Healey" in first["text"][a:b]
    # the span points into the article as `show` gives it
    article = ok(stdio.call("show", document=first["doc_id"]))
    assert article["source"] == first["source"]
    assert article["text"][first["start"]:first["end"]] == first["text"]


def test_ask_gives_the_cli_json_passages_and_describes_each_field_as_rag_does(stdio, index_dir):
    out = ok(stdio.call("ask", question=HEALEY))
    cli = run_cli(["--index", str(index_dir), "ask", "--json", HEALEY])
    assert cli.returncode == 0, cli.stderr
    line = json.loads(cli.stdout)
    assert out["passages"] == line["passages"] and out["answer"] == line["answer"], "one serialisation of an Answer"
    [ask] = [t for t in stdio.list_tools() if t.name == "ask"]
    passage = ask.output_schema["$defs"]["PassageOut"]["properties"]
    assert {k: v.get("description") for k, v in passage.items()} == rag.PASSAGE_FIELDS
    assert "probability" in passage["score"]["description"], "score is the ranker's probability, not a cosine"


def test_k_limits_the_passages_and_search_returns_them_without_an_answer(stdio):
    out = ok(stdio.call("ask", question=HEALEY, k=2))
    assert len(out["passages"]) == 2
    found = ok(stdio.call("search", question=HEALEY, k=3))
    assert set(found) == {"passages"}
    assert len(found["passages"]) == 3
    assert found["passages"][0]["source"].endswith(HEALEY_SOURCE)


def test_a_question_the_corpus_does_not_answer_abstains(stdio):
    out = ok(stdio.call("ask", question="Who won the 2022 FIFA World Cup?"))
    assert out["abstained"] is True
    assert out["answer"] == rag.NO_ANSWER
    assert all(p["low_relevance"] for p in out["passages"])


@pytest.mark.parametrize("filters, says", [
    ({"outlets": ["No Such Outlet"]}, "outlet No Such Outlet"),
    ({"until": "1900-01-01"}, "until 1900-01-01"),
    ({"sources": ["business/*"]}, "source business/*"),
])
def test_a_filter_that_matches_nothing_abstains_and_says_so(stdio, filters, says):
    out = ok(stdio.call("ask", question=HEALEY, **filters))
    assert out == {"answer": f"No indexed document matches the filters ({says}).", "abstained": True, "passages": [],
                   "notes": []}
    assert ok(stdio.call("documents", **filters)) == {"documents": [], "total": 0, "offset": 0, "next_offset": None}


def test_a_source_filter_restricts_the_passages(stdio):
    out = ok(stdio.call("search", question=HEALEY, sources=["000_*"]))  # named as in the folder ingested
    assert out["passages"] and all(p["source"].startswith("000_") for p in out["passages"]), out["passages"]


@pytest.mark.parametrize("tool, arguments, message", [
    ("ask", {"question": HEALEY, "since": "2025-13-45"},
     "bad since date '2025-13-45': write it as YYYY-MM-DD, e.g. 2005-03-14"),
    ("search", {"question": HEALEY, "until": "yesterday"},
     "bad until date 'yesterday': write it as YYYY-MM-DD, e.g. 2005-03-14"),
    ("documents", {"since": "2025-03-01", "until": "2025-01-01"},
     "the date range is empty: since 2025-03-01 is after until 2025-01-01; swap them"),
    ("ask", {"question": "   "}, "empty question: type a question"),
    ("show", {"document": "no-such-article.txt"}, "no indexed document 'no-such-article.txt': call the documents "
                                                  "tool (its query finds words of titles and sources) to list sources "
                                                  "and ids"),
    ("ask", {"question": HEALEY, "k": 99}, "k must be between 1 and 50, got 99"),
    ("search", {"question": HEALEY, "k": 0}, "k must be between 1 and 50, got 0"),
    ("documents", {"limit": 501}, "limit must be between 1 and 500, got 501"),
    ("documents", {"offset": -1}, "offset must be 0 or more, got -1"),
])
def test_a_mistake_is_a_tool_error_with_the_one_line_message(stdio, tool, arguments, message):
    text = error_text(stdio.call(tool, **arguments))
    assert text.startswith(f"Error executing tool {tool}: {message}"), text
    assert "\n" not in text and "Traceback" not in text and "corpus-qa documents" not in text
    assert "validation error" not in text and "pydantic" not in text, text


def test_arguments_outside_the_schema_are_tool_errors_and_the_server_keeps_serving(stdio):
    text = error_text(stdio.call("ask", question=HEALEY, k="many"))
    assert "Traceback" not in text
    assert "Traceback" not in error_text(stdio.call("ask", question=HEALEY, k=10_000))
    assert "Traceback" not in error_text(stdio.call("ask"))
    assert ok(stdio.call("ask", question=HEALEY))["abstained"] is False


def test_documents_lists_the_bundled_corpus(stdio):
    docs = ok(stdio.call("documents"))["documents"]
    assert len(docs) == 5
    names = sorted(Path(rag.bundled_corpus()).iterdir())
    assert sorted(Path(d["source"]).name for d in docs) == sorted(p.name for p in names)
    assert all(d["chunks"] >= 1 and d["chars"] > 0 and len(d["id"]) == 32 for d in docs)
    healey = next(d for d in docs if d["source"].endswith(HEALEY_SOURCE))
    assert ok(stdio.call("documents", sources=[healey["source"]]))["documents"] == [healey]
    shown = ok(stdio.call("show", document=HEALEY_SOURCE))
    assert shown["id"] == healey["id"] and shown["chars"] == len(shown["text"]) and "Healey" in shown["text"]


def test_documents_come_a_page_at_a_time_with_a_total_and_a_text_filter(stdio):
    """Issue 20, point 8: an archive of 2,225 stories came back as one 724 KB block."""
    everything = ok(stdio.call("documents"))
    assert (everything["total"], everything["offset"], everything["next_offset"]) == (5, 0, None)
    pages, offset = [], 0
    while offset is not None:
        page = ok(stdio.call("documents", limit=2, offset=offset))
        assert page["total"] == 5 and page["offset"] == offset and len(page["documents"]) <= 2, page
        pages.append(page["documents"])
        offset = page["next_offset"]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [d["id"] for p in pages for d in p] == [d["id"] for d in everything["documents"]]
    healey = ok(stdio.call("documents", query="hegseth VIRTUALLY"))
    assert healey["total"] == 1 and healey["documents"][0]["source"] == HEALEY_SOURCE, healey
    assert ok(stdio.call("documents", query="no such words here"))["total"] == 0
    assert "Traceback" not in error_text(stdio.call("documents", limit=0))
    assert stdio.call("documents", limit=0).is_error


def test_the_server_reports_the_package_version(stdio):
    from importlib.metadata import version

    info = stdio.session.initialized_with.server_info
    assert (info.name, info.version) == ("corpus-qa", version("corpus-qa")) and info.version, info


def test_a_follow_up_is_answered_in_the_context_of_its_history(stdio):
    out = ok(stdio.call("ask", question="Who handed the leadership to him?", history=[HEALEY]))
    assert out["abstained"] is False
    assert "Hegseth" in out["answer"], out["answer"]


def test_the_server_wrote_no_traceback(stdio):
    ok(stdio.call("documents"))
    assert "Traceback" not in stdio.log.read_text(errors="replace")


def test_stdout_holds_nothing_but_the_protocol(stdio, index_dir):
    """The raw wire: every line the server writes on stdout is a JSON-RPC message."""
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "ask", "arguments": {"question": HEALEY}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "ask", "arguments": {"question": " "}}},
    ]
    proc = subprocess.Popen([EXE, "--index", str(index_dir), "--demo", "mcp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=cli_env(), text=True)
    try:
        proc.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
        proc.stdin.flush()
        replies = {}
        deadline = time.monotonic() + STARTUP
        while len(replies) < 3 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, f"stdout closed; stderr:\n{proc.stderr.read()[-2000:]}"
            message = json.loads(line)  # anything else on stdout fails here
            assert message["jsonrpc"] == "2.0"
            replies[message.get("id")] = message
        assert set(replies) == {1, 2, 3}
        assert "Healey" in replies[2]["result"]["structuredContent"]["answer"]
        assert replies[3]["result"]["isError"] is True
    finally:
        try:  # communicate closes stdin: at EOF the server exits
            rest, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, err = proc.communicate()
    assert rest.strip() == "" or all(json.loads(line) for line in rest.splitlines() if line.strip())
    assert proc.returncode == 0, err[-2000:]


def test_stdout_to_stderr_diverts_python_and_c_level_writes(capfd):
    from ui.mcp import stdout_to_stderr

    with stdout_to_stderr():
        print("from python")
        os.write(1, b"from C\n")
    print("after")
    out, err = capfd.readouterr()
    assert out == "after\n"
    assert "from python" in err and "from C" in err


# -- streamable HTTP ------------------------------------------------------------------


@pytest.fixture(scope="module")
def http_url(stdio, index_dir, tmp_path_factory):
    """`corpus-qa mcp --port N` on the index the stdio server built (so it indexes nothing)."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("mcp-http") / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([EXE, "--index", str(index_dir), "--demo", "mcp", "--port", str(port)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=cli_env())
        try:
            deadline = time.monotonic() + STARTUP
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"mcp --port exited with {proc.returncode}:\n{log_path.read_text()[-2000:]}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        pytest.fail(f"mcp --port {port} did not listen within {STARTUP} s")
                    time.sleep(0.3)
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            stop_process(proc, timeout=20)
    assert "Traceback" not in log_path.read_text(errors="replace")


def test_streamable_http_answers_through_the_sdk_client(http_url):
    async def scenario():
        async with session_over(streamable_http_client(http_url)) as session:
            tools = await session.list_tools()
            asked = await session.call_tool("ask", {"question": HEALEY, "k": 3})
            bad = await session.call_tool("documents", {"since": "March"})
            return tools, asked, bad

    with start_blocking_portal() as portal:  # its own thread: a browser test's loop may hold this one
        tools, asked, bad = portal.call(scenario)
    assert {t.name for t in tools.tools} == TOOLS
    out = ok(asked)
    assert "Healey" in out["answer"] and len(out["passages"]) == 3
    assert out["passages"][0]["source"].endswith(HEALEY_SOURCE)
    assert error_text(bad).startswith("Error executing tool documents: bad since date 'March'")


def test_streamable_http_refuses_a_foreign_host_header(http_url):
    """DNS rebinding: a page elsewhere cannot reach the loopback server through its own name."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "x", "version": "0"}}}
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    port = http_url.split(":")[2].split("/")[0]
    r = httpx.post(http_url, json=body, headers={**headers, "Host": f"evil.example:{port}"}, timeout=30)
    assert r.status_code == 421
    r = httpx.post(http_url, json=body, headers={**headers, "Origin": "http://evil.example"}, timeout=30)
    assert r.status_code == 403
    r = httpx.post(http_url, json=body, headers=headers, timeout=30)
    assert r.status_code == 200, r.text


def test_streamable_http_listens_on_loopback_only(http_url):
    port = int(http_url.split(":")[2].split("/")[0])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))  # no packet is sent: this only picks the outward interface
            address = s.getsockname()[0]
        except OSError:
            address = None
    if not address or address.startswith("127."):
        pytest.skip("this machine has no non-loopback IPv4 address to try")
    with pytest.raises(OSError):
        socket.create_connection((address, port), timeout=2).close()


def test_mcp_offers_no_host_option_and_refuses_a_busy_or_bad_port(tmp_path):
    from ui.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["mcp", "--host", "0.0.0.0", "--port", "8000"])
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = subprocess.run([EXE, "--index", str(tmp_path / "index"), "mcp", "--port", str(port)],
                             capture_output=True, text=True, env=cli_env(), timeout=120)
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith(f"corpus-qa: error: cannot listen on 127.0.0.1:{port}"), run.stderr
    assert run.stderr.count("\n") == 1 and run.stdout == ""
    run = subprocess.run([EXE, "--index", str(tmp_path / "index"), "mcp", "--port", "70000"],
                         capture_output=True, text=True, env=cli_env(), timeout=120)
    assert run.returncode == 2 and run.stderr.startswith("corpus-qa: error: bad --port 70000"), run.stderr
    assert not (tmp_path / "index").exists()  # refused before anything was opened
