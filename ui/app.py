"""The Gradio chat page: renders Answers from rag.QA. Knows nothing of Chroma or BM25.

Every piece of document or question text is HTML-escaped before it reaches the page,
so an article holding <script> shows as text. No fonts or scripts come from a CDN and
Gradio's analytics are off.
"""

from __future__ import annotations

import html
import logging
import os
import re
import sys
from pathlib import Path

from rag import QA, Answer, CorpusQAError

logger = logging.getLogger(__name__)

EXAMPLES = [
    "Who is now the chairman of the Ukraine Defense Contact Group?",
    "What kind of support did Trump say the U.S. might provide for Ukraine?",
    "Into which Baltic countries did Biden move U.S. troops?",
    "How many points did the peace plan reviewed in Geneva have?",
]

CSS = """
.cqa-answer { font-size: 1.05em; margin-bottom: .6em; }
.cqa-abstain { border-left: 4px solid #b45309; background: #fffbeb; color: #78350f; padding: .4em .7em; }
.cqa-error { border-left: 4px solid #b91c1c; background: #fef2f2; color: #7f1d1d; padding: .4em .7em; }
.cqa-sources { margin: 0; padding-left: 1.4em; font-size: .92em; }
.cqa-sources li { margin-bottom: .6em; }
.cqa-low { opacity: .7; }
.cqa-meta { color: #6b7280; font-size: .9em; }
.cqa-passage mark { background: #fde68a; color: inherit; padding: 0 .1em; }
"""
_MARKER = re.compile(r"&#91;(\d+)&#93;")  # an [n] marker, as _esc leaves it


def _esc(text: str) -> str:
    """HTML-escaped, with markdown's brackets as entities too: the chat renders markdown,
    and `![x](http://host/p.png)` in a question made the browser fetch from that host
    (a link or image in an article is inert only because a reply is one HTML block).
    Markdown takes entities as text, never as syntax."""
    return html.escape(text).replace("[", "&#91;").replace("]", "&#93;")


def render_answer(answer: Answer) -> str:
    """The reply as HTML: the answer with [n] markers, then the numbered sources."""
    esc = _esc
    if answer.abstained:
        head = f'<div class="cqa-answer cqa-abstain"><strong>No answer in the corpus.</strong> {esc(answer.text)}</div>'
    else:
        cited = {p.n for p in answer.passages if p.highlight}
        head = '<div class="cqa-answer">' + _markers(esc(answer.text), cited) + "</div>"
    items = []
    for p in answer.passages:
        if p.highlight:
            a, b = p.highlight
            body = f"{esc(p.text[:a])}<mark>{esc(p.text[a:b])}</mark>{esc(p.text[b:])}"
        else:
            body = esc(p.text)
        low = " cqa-low" if p.low_relevance else ""
        label = " · low relevance" if p.low_relevance else ""
        items.append(
            f'<li value="{p.n}" class="cqa-source{low}"><strong>{esc(p.title)}</strong> '
            f'<span class="cqa-meta">{esc(p.source)} · chars {p.start}–{p.end} · score {p.score:.2f}{label}</span>'
            f'<div class="cqa-passage">{body}</div></li>'
        )
    sources = ""
    if items:
        title = "Closest passages (low relevance)" if answer.abstained else "Sources"
        sources = f'<div class="cqa-meta">{title}</div><ol class="cqa-sources">{"".join(items)}</ol>'
    return (head + sources).replace("\n", "<br>")


def _markers(escaped: str, cited: set[int]) -> str:
    """Superscript the answer's own [n] markers: for each cited passage, the last [n] (the
    answer puts it after that passage's sentence). A bracketed number that an article
    itself holds ("as shown [12]", common in abstracts) stays text: it pointed nowhere."""
    last = {}
    for m in _MARKER.finditer(escaped):
        if int(m.group(1)) in cited:
            last[int(m.group(1))] = m.span()
    out, at = [], 0
    for n, (a, b) in sorted(last.items(), key=lambda item: item[1]):
        out += [escaped[at:a], f"<sup><b>[{n}]</b></sup>"]
        at = b
    return "".join(out) + escaped[at:]


def render_error(message: str) -> str:
    return f'<div class="cqa-error"><strong>Cannot answer:</strong> {_esc(message)}</div>'


def build_app(qa: QA, k: int = 5):
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    def respond(question: str, history: list):
        history = list(history or [])
        try:
            reply = render_answer(qa.ask(question, k=k))
        except CorpusQAError as err:
            reply = render_error(str(err))
        except Exception as err:  # the index or server failing: say so on the page, keep serving
            logger.exception("question failed")
            reply = render_error(f"the index could not be searched ({type(err).__name__}); try again in a moment")
        history.append({"role": "user", "content": _esc(question or "")})
        history.append({"role": "assistant", "content": reply})
        return "", history

    with gr.Blocks(title="corpus-qa", analytics_enabled=False) as app:
        gr.Markdown("## corpus-qa\nAsk the indexed articles. Answers quote the articles and cite their passages [n].")
        # latex_delimiters=[]: "$$...$$" in an article or a question is text, not math to render
        chat = gr.Chatbot(label="Answers", height=560, elem_id="chat", sanitize_html=True, render_markdown=True,
                          buttons=["copy"], latex_delimiters=[])
        with gr.Row():
            box = gr.Textbox(placeholder="Ask a question about the articles…", show_label=False, scale=8,
                             elem_id="question", max_lines=4)
            ask = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
        gr.Examples(EXAMPLES, inputs=box, label="Example questions")
        box.submit(respond, [box, chat], [box, chat], api_name="ask")
        ask.click(respond, [box, chat], [box, chat], api_name=False)
    return app


def theme():
    """Gradio's default look with the system's fonts: nothing is fetched from a font CDN."""
    import gradio as gr

    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def parse_auth(auth: str | None) -> list[tuple[str, str]] | None:
    """USER:PASSWORD, or a file of such lines -> [(user, password)]."""
    from store import InputError

    if not auth:
        return None
    lines = [auth]
    if os.path.isfile(os.path.expanduser(auth)):
        lines = Path(os.path.expanduser(auth)).read_text(encoding="utf-8").splitlines()
    pairs = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not user or not password:
            raise InputError("bad --auth: give USER:PASSWORD or a file of USER:PASSWORD lines")
        pairs.append((user, password))
    if not pairs:
        raise InputError(f"bad --auth: {auth} holds no USER:PASSWORD line")
    return pairs


def exposure_warning(host: str, credentials: list | None) -> str | None:
    """The warning for serving beyond this machine (None on a loopback address)."""
    import ipaddress

    try:
        if host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback:
            return None
    except ValueError:
        pass
    if credentials:
        return (f"corpus-qa: warning: serving on {host}: anyone who can reach this machine can reach the page; "
                "the login travels unencrypted over http (put an HTTPS proxy in front)")
    return (f"corpus-qa: warning: serving on {host}: anyone who can reach this machine can use the page; "
            "consider --auth USER:PASSWORD")


class RefuseUnusedRoutes:
    """ASGI middleware: Gradio routes this page never uses, refused (404) before Gradio
    sees them. Uploads: no component takes a file, yet anyone could store files of any
    size on the server and fetch them back. `file=` with a URL and `proxy=`: the server
    would fetch from the internet on a visitor's behalf."""

    _URL_FILE = re.compile(r"/file=\s*[a-z][a-z0-9+.-]*:", re.IGNORECASE)

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            path = scope.get("path", "")
            if (path.rstrip("/").endswith("/upload") or "/proxy=" in path or self._URL_FILE.search(path)):
                await send({"type": "http.response.start", "status": 404,
                            "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": b'{"detail":"Not Found"}'})
                return
        await self.app(scope, receive, send)


def launch(qa: QA, host: str = "127.0.0.1", port: int = 7860, auth: str | None = None, block: bool = True):
    """Serve the page; returns the app (running in the background when block=False).

    Loopback only unless `host` says otherwise (then a warning); `auth` puts it behind
    Gradio's login. Whatever the environment says (GRADIO_SHARE, GRADIO_MCP_SERVER, ...):
    no share tunnel, no MCP server, no monitoring page, no run history, no uploads."""
    from starlette.middleware import Middleware

    from store import InputError

    credentials = parse_auth(auth)
    warning = exposure_warning(host, credentials)
    if warning:
        print(warning, file=sys.stderr)
    app = build_app(qa)
    app.queue(default_concurrency_limit=4)
    try:
        app.launch(
            server_name=host, server_port=port, auth=credentials, prevent_thread_lock=not block,
            show_error=False, theme=theme(), css=CSS, quiet=not block, share=False, ssr_mode=False,
            mcp_server=False, enable_monitoring=False, run_history=False,
            app_kwargs={"middleware": [Middleware(RefuseUnusedRoutes)]},
        )
    except OSError:  # Gradio's message names its own settings, not ours
        raise InputError(
            f"cannot serve on {host}:{port}: the port is taken or the address is not this machine's; "
            "pick another --port or --host"
        ) from None
    return app
