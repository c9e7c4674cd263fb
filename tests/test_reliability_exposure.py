"""Exposure: the page binds to loopback unless told otherwise (and then warns), `--auth`
puts it behind Gradio's login, and nothing on it reads files outside the indexed corpus
(Gradio's file routes, uploads, URL fetching, run history, monitoring, MCP).

Every server here listens on 127.0.0.1 and every request goes there."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

import ui.app
from conftest import EXE, HEALEY, REPO, cli_env, free_port
from store import InputError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def open_page(bundled_qa):
    """The page on loopback, no login."""
    port = free_port()
    app = ui.app.launch(bundled_qa, port=port, block=False, allow_upload=False)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        app.close()


@pytest.fixture(scope="module")
def locked_page(bundled_qa, tmp_path_factory):
    """The page behind a login, users read from a file (with a comment and a blank line)."""
    users = tmp_path_factory.mktemp("auth") / "users.txt"
    users.write_text("# who may ask\nalice:correct horse:battery\n\nbob:hunter2\n", encoding="utf-8")
    port = free_port()
    old = {k: os.environ.get(k) for k in ("GRADIO_MCP_SERVER", "GRADIO_RUN_HISTORY")}
    os.environ.update(GRADIO_MCP_SERVER="True", GRADIO_RUN_HISTORY="True")  # launch must not follow these
    try:
        app = ui.app.launch(bundled_qa, port=port, block=False, auth=str(users))
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        app.close()


# -- binding and the warning -------------------------------------------------------

@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_hosts_need_no_warning(host):
    assert ui.app.exposure_warning(host, None) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "myhost.example"])
def test_other_hosts_are_warned_about(host):
    warning = ui.app.exposure_warning(host, None)
    assert warning.startswith(f"corpus-qa: warning: serving on {host}: anyone who can reach this machine")
    assert "--auth" in warning
    assert "HTTPS" in ui.app.exposure_warning(host, [("a", "b")])


def test_serve_binds_loopback_by_default():
    from ui.cli import build_parser

    assert build_parser().parse_args(["serve"]).host == "127.0.0.1"


def test_serving_on_a_foreign_address_fails_in_one_line_before_anything_loads(bundled_qa):
    """192.0.2.1 (TEST-NET-1) is no address of this machine: the bind fails and the user
    gets one line and exit 2 (no traceback, nothing exposed), before the index, the model
    and Gradio load (it came after them, with the warning for serving beyond this machine
    first: nothing is served, so nothing is warned about)."""
    port = free_port()
    result = subprocess.run([EXE, "--index", bundled_qa.index.where, "serve", "--host", "192.0.2.1",
                             "--port", str(port)], env=cli_env(), capture_output=True, text=True, timeout=240)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert lines == [f"corpus-qa: error: cannot serve on 192.0.2.1:{port}: the port is taken or the address is not "
                     "this machine's; pick another --port or --host"], lines


def test_a_port_in_use_or_out_of_range_is_one_clear_line(bundled_qa):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([EXE, "--index", bundled_qa.index.where, "serve", "--port", str(port)],
                                env=cli_env(), capture_output=True, text=True, timeout=240)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert lines == [f"corpus-qa: error: cannot serve on 127.0.0.1:{port}: the port is taken or the address is not "
                     "this machine's; pick another --port or --host"], lines
    # a port out of range: Gradio stopped on it with a traceback (OverflowError)
    result = subprocess.run([EXE, "--index", bundled_qa.index.where, "serve", "--port", "70000"],
                            env=cli_env(), capture_output=True, text=True, timeout=240)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "corpus-qa: error: bad --port 70000: give a port between 1 and 65535, e.g. --port 7860"], result.stderr[-2000:]


# -- the login ---------------------------------------------------------------------

@pytest.mark.parametrize("spec", ["alice", "alice:", ":pw", ""])
def test_bad_auth_specs_are_refused(spec, tmp_path):
    if not spec:
        empty = tmp_path / "users.txt"
        empty.write_text("# nobody\n\n", encoding="utf-8")
        spec = str(empty)
    with pytest.raises(InputError, match="bad --auth"):
        ui.app.parse_auth(spec)


def test_auth_from_the_command_line_and_from_a_file(tmp_path):
    assert ui.app.parse_auth("alice:pa:ss") == [("alice", "pa:ss")]
    users = tmp_path / "users"
    users.write_text("alice:one\n# comment\nbob:two\n", encoding="utf-8")
    assert ui.app.parse_auth(str(users)) == [("alice", "one"), ("bob", "two")]


@pytest.mark.parametrize("method, path", [
    ("GET", "/config"), ("GET", "/gradio_api/info"), ("GET", "/gradio_api/openapi.json"),
    ("GET", "/gradio_api/queue/data?session_hash=x"), ("POST", "/gradio_api/call/ask"),
    ("POST", "/gradio_api/queue/join"), ("POST", "/gradio_api/run/ask"), ("GET", "/gradio_api/file=/etc/passwd"),
])
def test_without_login_nothing_answers(locked_page, method, path):
    body = {"data": [HEALEY, []], "fn_index": 0, "session_hash": "x"}
    r = httpx.request(method, locked_page + path, json=body if method == "POST" else None, timeout=30)
    assert r.status_code in (401, 403), f"{method} {path}: {r.status_code} {r.text[:200]}"
    assert "Healey" not in r.text


def test_wrong_password_is_refused_and_the_right_one_answers(locked_page):
    from gradio_client import Client
    from gradio_client.exceptions import AuthenticationError

    with pytest.raises((AuthenticationError, ValueError)):
        Client(locked_page, verbose=False)
    with pytest.raises((AuthenticationError, ValueError)):
        Client(locked_page, auth=("alice", "wrong"), verbose=False)
    r = httpx.post(locked_page + "/login", data={"username": "bob", "password": "hunter3"}, timeout=30)
    assert r.status_code in (400, 401), r.text
    client = Client(locked_page, auth=("alice", "correct horse:battery"), verbose=False)
    _, history = client.predict(HEALEY, [], api_name="/ask")
    assert "Healey" in str(history[-1]["content"])
    assert Client(locked_page, auth=("bob", "hunter2"), verbose=False).predict(HEALEY, [], api_name="/ask")


def test_environment_does_not_switch_on_mcp_or_run_history(locked_page):
    with httpx.Client(base_url=locked_page, timeout=30) as c:
        assert c.post("/login", data={"username": "bob", "password": "hunter2"}).status_code == 200
        for path in ("/gradio_api/mcp/sse", "/gradio_api/mcp/schema", "/gradio_api/runs"):
            assert c.get(path).status_code == 404, path


# -- files -------------------------------------------------------------------------

def forbidden_paths(index_dir: str) -> list[str]:
    repo_files = [REPO / "pyproject.toml", REPO / "store" / "index.py", REPO / "corpus" / sorted(os.listdir(REPO / "corpus"))[0]]
    index_files = [Path(index_dir) / "chroma" / "chroma.sqlite3", Path(index_dir) / "corpus-qa.json"]
    paths = ["/etc/passwd", "/etc/hostname", "/proc/self/environ", str(Path.home() / ".bashrc")]
    paths += [str(p) for p in repo_files + index_files]
    routes = []
    for p in paths:
        routes += [f"/gradio_api/file={p}", f"/file={p}", f"/gradio_api/file/{p.lstrip('/')}"]
    routes += [
        "/gradio_api/file=../../../../etc/passwd", "/gradio_api/file=..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/gradio_api/file=%2fetc%2fpasswd", "/gradio_api/file=file:///etc/passwd",
        "/static/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd", "/assets/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/gradio_api/file=http://127.0.0.1:9/x", "/gradio_api/file=https://example.com/",
        "/gradio_api/proxy=https://example.com/", "/gradio_api/file=" + str(REPO / ".git" / "config"),
    ]
    return routes


def test_no_route_serves_files_outside_the_corpus(open_page, bundled_qa):
    with httpx.Client(base_url=open_page, timeout=30) as c:
        for route in forbidden_paths(bundled_qa.index.where):
            r = c.get(route)
            assert r.status_code in (400, 403, 404), f"{route}: {r.status_code} {r.text[:200]}"
            assert "root:" not in r.text and "[project]" not in r.text and "SQLite format" not in r.text, route


def test_logged_in_users_cannot_read_files_either(locked_page, bundled_qa):
    with httpx.Client(base_url=locked_page, timeout=30) as c:
        assert c.post("/login", data={"username": "bob", "password": "hunter2"}).status_code == 200
        for route in forbidden_paths(bundled_qa.index.where):
            r = c.get(route)
            assert r.status_code in (400, 403, 404), f"{route}: {r.status_code} {r.text[:200]}"


def test_uploads_monitoring_and_run_history_are_off(open_page):
    with httpx.Client(base_url=open_page, timeout=30) as c:
        r = c.post("/gradio_api/upload", files={"files": ("x.html", b"<script>alert(1)</script>", "text/html")})
        assert r.status_code == 404, f"uploads must be refused: {r.status_code} {r.text[:200]}"
        assert c.post("/upload", files={"files": ("x.txt", b"x", "text/plain")}).status_code == 404
        assert c.get("/gradio_api/runs").status_code == 404
        assert c.get("/monitoring").status_code in (403, 404)
    from gradio_client import Client

    _, history = Client(open_page, verbose=False).predict(HEALEY, [], api_name="/ask")
    assert "Healey" in str(history[-1]["content"]), "the page still answers"
