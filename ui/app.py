"""The Gradio page: renders Answers from rag.QA. Knows nothing of Chroma or BM25.

A chat (answers with compact sources, follow-ups that reach retrieval), an article
viewer beside it (a citation opens the whole article at the passage), filters for the
next questions, and a documents panel (list, search, remove, upload). Every piece of
document, question or file-name text is HTML-escaped before it reaches the page
(ui.render), so an article holding <script> shows as text. No fonts or scripts come from
a CDN and Gradio's analytics are off.

    ui/render.py     HTML of answers, sources, the article viewer, the filters line
    ui/documents.py  the documents list and uploads
    ui/page.py       the page's CSS and its one script
    ui/app.py        build_app / launch, the login, the routes refused
"""

from __future__ import annotations

import dataclasses
import html
import logging
import os
import re
import sys
import threading
from pathlib import Path

from rag import QA, Answer, CorpusQAError, Filters, InputError, UnknownDocument, WebSettings

from .documents import (MAX_UPLOAD_FILES, MAX_UPLOAD_MB, UPLOAD_TYPES, ListView, ingest_from_urls, ingest_uploads,
                        render_documents)
from .examples import SAMPLE_QUESTIONS, answers_from_lead, example_questions, render_examples
from .page import CSS, HEAD, VIEWER_JS
from .render import _esc, render_answer, render_article, render_error, render_filters, render_viewer_empty

__all__ = ["CSS", "EXAMPLES", "build_app", "exposure_warning", "launch", "parse_auth", "render_answer",
           "render_error", "uploads_allowed"]

logger = logging.getLogger(__name__)

EXAMPLES = SAMPLE_QUESTIONS  # the sample corpus's; other indexes get theirs from their titles (ui.examples)
HISTORY_TURNS = 10  # earlier Answers of a chat kept for follow-ups
_VIEW = re.compile(r"^view:([0-9a-f]{8,64}):(\d{1,9}):(\d{1,9}):(\d{1,9}):(\d{1,9})$")
_DOC = re.compile(r"^(doc|remove):([0-9a-f]{8,64})$")
STOPPED = re.compile(r'<span class="cqa-pending">.*?</span>')  # the sentence being written, in a reply


def _text_of(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    if isinstance(content, dict):
        return str(content.get("text", ""))
    return ""


def make_filters(outlets, since, until, picks) -> Filters | None:
    """The filter panel's values -> Filters (None when nothing is set); InputError on a
    bad date or an empty range."""
    filters = Filters(since=(since or "").strip() or None, until=(until or "").strip() or None,
                      outlets=tuple(outlets or ()), documents=tuple(picks or ()))
    return None if filters.empty else filters


class Chats:
    """The Answers of each browser session's chat (what follow-ups are resolved in),
    for the most recent sessions only."""

    def __init__(self, sessions: int = 500):
        import threading
        from collections import OrderedDict

        self.sessions = sessions
        self._by: OrderedDict[str, list[Answer]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _key(request) -> str:
        return str(getattr(request, "session_hash", None) or "")

    def get(self, request) -> list[Answer]:
        with self._lock:
            return list(self._by.get(self._key(request), []))

    def put(self, request, answers: list[Answer]) -> None:
        key = self._key(request)
        if not key:
            return
        with self._lock:
            self._by[key] = list(answers)[-HISTORY_TURNS:]
            self._by.move_to_end(key)
            while len(self._by) > self.sessions:
                self._by.popitem(last=False)


def build_app(qa: QA, k: int = 5, allow_changes: bool = False, web: WebSettings | None = None):
    """The page. `allow_changes`: the documents panel may upload and remove documents
    and add them from URLs (launch decides: see uploads_allowed). `web`: how "Add from
    URL" fetches (default: WebSettings refusing loopback, private and link-local addresses)."""
    web = web or WebSettings(allow_private=False)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    stops: set[str] = set()  # browser sessions whose Stop was pressed while an answer was written

    def answers_html(question, history, filters):
        """(HTML, Answer or None) as the answer is made: once, or with a language model
        (qa.llm) again each time its written answer grows by a checked sentence."""
        try:
            if qa.llm is None:
                answer = qa.ask(question, k=k, history=history, filters=filters)
                yield render_answer(answer), answer
                return
            for answer in qa.ask_stream(question, k=k, history=history, filters=filters):
                yield render_answer(answer), answer
        except CorpusQAError as err:
            yield render_error(str(err)), None
        except Exception as err:  # the index or server failing: say so on the page, keep serving
            logger.exception("question failed")
            yield render_error(f"the index could not be searched ({type(err).__name__}); try again in a moment"), None

    def answer_html(question, history, filters) -> tuple[str, Answer | None]:
        """The finished answer's HTML (the written answer, when there is a model, complete)."""
        out = (render_error("no answer"), None)
        for out in answers_html(question, history, filters):
            pass
        return out

    def respond(question: str, history: list):
        """The /ask API: the question and the chat so far (its questions are the
        conversation a follow-up is resolved in) -> "" and the chat with the reply."""
        history = list(history or [])
        earlier = [html.unescape(_text_of(m.get("content"))) for m in history
                   if isinstance(m, dict) and m.get("role") == "user"]
        reply, _ = answer_html(question, earlier[-HISTORY_TURNS:], None)
        history.append({"role": "user", "content": _esc(question or "")})
        history.append({"role": "assistant", "content": reply})
        return "", history

    def page_respond(question, history, outlets, since, until, picks, request: gr.Request):
        """The page's ask: the chat's earlier Answers (kept per browser session) as
        history, and the filters. With a language model the reply streams: the extractive
        answer and sources first, then the written answer sentence by sentence, each
        checked as it completes (Stop ends it)."""
        history = list(history or [])
        answers = chats.get(request) if history else []
        history.append({"role": "user", "content": _esc(question or "")})
        history.append({"role": "assistant", "content": ""})
        try:
            filters = make_filters(outlets, since, until, picks)
        except CorpusQAError as err:
            made = iter([(render_error(str(err)), None)])
        else:
            made = answers_html(question, answers[-HISTORY_TURNS:], filters)
        answer = None
        session = Chats._key(request)
        stops.discard(session)
        try:
            for reply, answer in made:
                if session and session in stops:  # Stop: keep what was checked, end the model's stream
                    stops.discard(session)
                    note = '<span class="cqa-pending">(stopped: the rest was not written)</span>'
                    history[-1] = {"role": "assistant",
                                   "content": STOPPED.sub(note, reply) if STOPPED.search(reply) else reply + note}
                    yield "", history
                    break
                history[-1] = {"role": "assistant", "content": reply}
                if answer is not None and (answer.generated is None or answer.generated.done):
                    chats.put(request, (answers + [answer])[-HISTORY_TURNS:])
                yield "", history
        finally:
            if hasattr(made, "close"):
                made.close()  # closes the model's stream
        if answer is None:
            chats.put(request, answers)

    def stop_writing(request: gr.Request):
        """Stop: the reply being written keeps what was checked; the model's stream is closed."""
        if Chats._key(request):
            stops.add(Chats._key(request))

    def documents_view(query="", view=""):
        try:
            docs = qa.documents()
        except Exception as err:
            logger.exception("listing documents failed")
            return render_error(f"the documents could not be listed ({type(err).__name__})"), [], []
        outlets = sorted({d.outlet for d in docs if d.outlet}, key=str.casefold)
        picks = [(" · ".join(x for x in (d.title, d.source, d.outlet, (d.published or "")[:10]) if x), d.id)
                 for d in docs]  # the source as everywhere else (business/001.txt)
        listing = render_documents(docs, query, removable=allow_changes, view=ListView.parse(view))
        return listing, outlets, picks

    examples_lock = threading.Lock()
    examples_cache: dict[str, str] = {}

    def examples_view() -> str:
        """The example questions, each asked first (ui.examples): worked out once per index version."""
        with examples_lock:
            try:
                version = qa.index.version()
                if version not in examples_cache:
                    questions = example_questions(qa.documents(), check=answers_from_lead(qa))
                    examples_cache.clear()
                    examples_cache[version] = render_examples(questions)
                return examples_cache[version]
            except Exception:  # no examples rather than no page
                logger.exception("the example questions could not be made")
                return ""

    def lists(query="", view=""):
        listing, outlets, picks = documents_view(query, view)
        return listing, gr.update(choices=outlets), gr.update(choices=picks)

    def refresh(query="", view=""):
        return *lists(query, view), examples_view()

    def searched(query, view):
        """The search box changed: the list from its first page, in the same order."""
        return documents_view(query, ListView.parse(view).state(page=1))[0]

    def filter_line(outlets, since, until, picks):
        try:
            filters = make_filters(outlets, since, until, picks)
        except CorpusQAError as err:
            line = render_filters(None, str(err))
        else:
            line = render_filters(filters)
        return gr.update(visible=bool(line)), line

    def on_action(action: str):
        """A click on a citation or a documents-panel button (ui/page.py's script)."""
        keep = gr.update()
        action = (action or "").strip()
        view = _VIEW.match(action)
        doc = _DOC.match(action)
        try:
            if view:
                doc_id, start, end, a, b = view.group(1), *map(int, view.groups()[1:])
                article = qa.document(doc_id)
                page = render_article(article, start, end, a if b > a else None, b if b > a else None)
                return page, gr.Tabs(selected="article"), keep, keep, keep, ""
            if doc and doc.group(1) == "doc":
                return render_article(qa.document(doc.group(2))), gr.Tabs(selected="article"), keep, keep, keep, ""
            if doc and doc.group(1) == "remove":
                if not allow_changes:
                    return keep, keep, keep, keep, keep, render_error("removing documents is off on this page")
                found = qa.find(doc.group(2))[0]
                text = (f'<div class="cqa-confirm">Remove <strong>{_esc(found.title or found.source)}</strong> '
                        f'<span class="cqa-meta">{_esc(found.source)}</span> from the index?</div>')
                return keep, gr.Tabs(selected="documents"), gr.update(visible=True), text, found.id, ""
        except UnknownDocument as err:  # removed since the page listed it: the page's fix, not the CLI's
            return render_error(str(err.with_fix("reload the page for the current Documents list"))), *[keep] * 4, ""
        except CorpusQAError as err:
            return render_error(str(err)), keep, keep, keep, keep, ""
        return keep, keep, keep, keep, keep, ""

    def confirm_remove(doc_id: str, query: str, view: str):
        notice = ""
        if allow_changes and doc_id:
            try:
                removed = qa.remove([doc_id])
                names = ", ".join(d.title or d.source for d in removed)
                notice = f'<div class="cqa-notice">Removed {_esc(names)}.</div>'
            except CorpusQAError as err:
                notice = render_error(str(err))
        return gr.update(visible=False), "", notice, *refresh(query, view)

    def do_upload(files, query, view, progress=gr.Progress()):
        paths = [getattr(f, "name", f) for f in (files or [])]
        result, _ = ingest_uploads(qa, paths, progress=lambda x, desc: progress(x, desc=desc))
        return result, None, *refresh(query, view)

    def do_add_urls(text, query, view, progress=gr.Progress()):
        result, _ = ingest_from_urls(qa, text, web, progress=lambda x, desc: progress(x, desc=desc))
        return result, "", *refresh(query, view)

    with gr.Blocks(title="corpus-qa", analytics_enabled=False) as app:
        gr.HTML('<div class="cqa-head"><strong>corpus-qa</strong> <span class="cqa-meta">Ask the indexed articles. '
                "Answers quote them and cite their passages; click a citation [n] to read the article.</span></div>")
        # no gr.State: it makes Gradio hold a heartbeat connection open for the page's
        # lifetime; the chat's Answers live in `chats`, the remove awaiting a yes in a
        # hidden textbox
        chats = Chats()
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=340):
                # latex_delimiters=[]: "$$...$$" in an article or a question is text, not math to render
                # autoscroll off: the page's script scrolls a new reply's top into view (its answer
                # text), where Gradio would scroll to its bottom (the last source)
                chat = gr.Chatbot(label="Answers", height="calc(100vh - 215px)", min_height=420, elem_id="chat",
                                  sanitize_html=True, render_markdown=True, buttons=[], latex_delimiters=[],
                                  show_label=False, autoscroll=False)
                with gr.Row(visible=False, elem_id="cqa-filter-row") as filter_row:
                    badge = gr.HTML("", elem_id="cqa-filter-badge")
                    clear_top = gr.Button("Clear filters", size="sm", scale=0, min_width=110, elem_id="cqa-clear-top")
                with gr.Row():
                    box = gr.Textbox(placeholder="Ask a question about the articles…", show_label=False, scale=8,
                                     elem_id="question", max_lines=4)
                    ask = gr.Button("Ask", variant="primary", scale=1, min_width=70, elem_id="ask")
                    stop = gr.Button("Stop", variant="stop", scale=1, min_width=70, elem_id="cqa-stop",
                                     visible=qa.llm is not None)
                    new_chat = gr.Button("New chat", scale=1, min_width=90, elem_id="cqa-new-chat")
                examples = gr.HTML("", elem_id="cqa-examples")
            with gr.Column(scale=2, min_width=320):
                with gr.Tabs(elem_id="cqa-side") as tabs:
                    with gr.Tab("Article", id="article", elem_id="cqa-tab-article"):
                        viewer = gr.HTML(render_viewer_empty(), elem_id="cqa-viewer", js_on_load=VIEWER_JS,
                                         max_height="calc(100vh - 150px)")
                    with gr.Tab("Filters", id="filters", elem_id="cqa-tab-filters"):
                        gr.Markdown("Apply to the next questions.")
                        outlets = gr.Dropdown(label="Outlets", choices=[], value=[], multiselect=True,
                                              allow_custom_value=True, elem_id="cqa-outlets")
                        with gr.Row():
                            since = gr.Textbox(label="Published since", placeholder="YYYY-MM-DD", elem_id="cqa-since",
                                               min_width=120)
                            until = gr.Textbox(label="until", placeholder="YYYY-MM-DD", elem_id="cqa-until",
                                               min_width=120)
                        picks = gr.Dropdown(label="Only these documents", choices=[], value=[], multiselect=True,
                                            allow_custom_value=True, elem_id="cqa-picks")
                        clear = gr.Button("Clear filters", size="sm", elem_id="cqa-clear")
                    with gr.Tab("Documents", id="documents", elem_id="cqa-tab-documents"):
                        search = gr.Textbox(show_label=False, placeholder="Search titles, outlets, sources…",
                                            elem_id="cqa-doc-search")
                        # the confirmation sits above the list, in the flow: never over the upload box
                        with gr.Row(visible=False, elem_id="cqa-confirm-row") as confirm_row:
                            confirm_text = gr.HTML()
                            confirm = gr.Button("Remove", variant="stop", size="sm", scale=0, min_width=80,
                                                elem_id="cqa-confirm")
                            cancel = gr.Button("Cancel", size="sm", scale=0, min_width=80, elem_id="cqa-cancel")
                        notice = gr.HTML(elem_id="cqa-doc-notice")
                        doclist = gr.HTML(elem_id="cqa-doclist")
                        if allow_changes:
                            upload = gr.File(label=f"Add articles ({' '.join(UPLOAD_TYPES)}; up to "
                                                   f"{MAX_UPLOAD_FILES} files of {MAX_UPLOAD_MB} MB)",
                                             file_count="multiple", file_types=list(UPLOAD_TYPES), type="filepath",
                                             elem_id="cqa-upload", height=120)
                            upload_result = gr.HTML(elem_id="cqa-upload-result")
                            with gr.Row():
                                url_box = gr.Textbox(label="Add from URL (an article, feed, sitemap or home page)",
                                                     placeholder="https://…", elem_id="cqa-url", scale=4)
                                url_go = gr.Button("Add", size="sm", scale=0, min_width=70, elem_id="cqa-url-add")
                            url_result = gr.HTML(elem_id="cqa-url-result")
                        else:
                            gr.Markdown("Uploading and removing documents are off on this page (serve on loopback, "
                                        "or with --auth or --allow-upload).", elem_id="cqa-upload-off")
        action = gr.Textbox(visible="hidden", elem_id="cqa-action")
        pending = gr.Textbox(visible="hidden", elem_id="cqa-pending")
        action_go = gr.Button(visible="hidden", elem_id="cqa-action-go")
        api_go = gr.Button(visible="hidden", elem_id="cqa-api-ask")
        docview = gr.Textbox(visible="hidden", elem_id="cqa-docview")  # the list's sort and page
        docview_go = gr.Button(visible="hidden", elem_id="cqa-docview-go")

        def new(request: gr.Request):
            chats.put(request, [])
            return [], "", render_viewer_empty()

        def cleared(request: gr.Request):
            chats.put(request, [])

        # the module's annotations are strings (from __future__): give Gradio the class
        for fn in (page_respond, new, cleared, stop_writing):
            fn.__annotations__["request"] = gr.Request
        private = {"api_visibility": "private"}
        # the API: stateless, (question, history) -> ("", history); the page uses page_respond
        api_go.click(respond, [box, chat], [box, chat], api_name="ask")
        ask_inputs = [box, chat, outlets, since, until, picks]
        box.submit(page_respond, ask_inputs, [box, chat], **private)
        ask.click(page_respond, ask_inputs, [box, chat], **private)
        stop.click(stop_writing, None, None, **private)

        new_chat.click(new, None, [chat, box, viewer], **private)
        chat.clear(cleared, None, None, **private)

        filter_inputs = [outlets, since, until, picks]
        for part in filter_inputs:
            part.change(filter_line, filter_inputs, [filter_row, badge], **private)
        for button in (clear, clear_top):
            button.click(lambda: ([], "", "", []), None, filter_inputs, **private)

        action_go.click(on_action, action, [viewer, tabs, confirm_row, confirm_text, pending, notice], **private)
        search.change(searched, [search, docview], doclist, **private)
        docview_go.click(lambda q, v: documents_view(q, v)[0], [search, docview], doclist, **private)
        listed = [doclist, outlets, picks, examples]
        app.load(lists, [search, docview], listed[:3], **private)
        app.load(examples_view, None, examples, **private)  # asked first: not holding up the list
        cancel.click(lambda: (gr.update(visible=False), ""), None, [confirm_row, pending], **private)
        if allow_changes:
            confirm.click(confirm_remove, [pending, search, docview], [confirm_row, pending, notice, *listed],
                          concurrency_id="write", concurrency_limit=1, **private)
            upload.upload(do_upload, [upload, search, docview], [upload_result, upload, *listed],
                          concurrency_id="write", concurrency_limit=1, **private)
            for trigger in (url_go.click, url_box.submit):
                trigger(do_add_urls, [url_box, search, docview], [url_result, url_box, *listed],
                        concurrency_id="write", concurrency_limit=1, **private)
    return app


def uploads_allowed(host: str, credentials: list | None, allow_upload: bool | None) -> bool:
    """Whether the page may change the index (upload, remove): as asked when
    `allow_upload` is given; else on a loopback bind, or behind a login."""
    if allow_upload is not None:
        return bool(allow_upload)
    return bool(credentials) or _loopback(host)


def _loopback(host: str) -> bool:
    import ipaddress

    try:
        return host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def theme():
    """Gradio's default look with the system's fonts: nothing is fetched from a font CDN."""
    import gradio as gr

    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def parse_auth(auth: str | None) -> list[tuple[str, str]] | None:
    """USER:PASSWORD, or a file of such lines -> [(user, password)]."""
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
    sees them. Uploads: unless the page takes files (allow_upload), anyone could store
    files of any size on the server and fetch them back; when it does, only POST
    /gradio_api/upload passes (and a body past the limits is refused, 413), no other
    multipart request (component server, recordings). `file=` with a URL and `proxy=`:
    the server would fetch from the internet on a visitor's behalf."""

    _URL_FILE = re.compile(r"/file=\s*[a-z][a-z0-9+.-]*:", re.IGNORECASE)
    UPLOAD = "/gradio_api/upload"

    def __init__(self, app, allow_upload: bool = False, max_body: int = MAX_UPLOAD_FILES * MAX_UPLOAD_MB * 1024 * 1024):
        self.app = app
        self.allow_upload = allow_upload
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            path = scope.get("path", "")
            bare = path.rstrip("/")
            headers = dict(scope.get("headers") or [])
            multipart = headers.get(b"content-type", b"").lower().startswith(b"multipart/")
            upload = self.allow_upload and bare == self.UPLOAD and scope.get("method") == "POST"
            if not upload and (bare.endswith("/upload") or bare.endswith("/process_recording") or multipart
                               or "/proxy=" in path or self._URL_FILE.search(path)):
                return await self._refuse(send, 404, b'{"detail":"Not Found"}')
            if upload:
                try:
                    length = int(headers.get(b"content-length", b"0") or 0)
                except ValueError:
                    length = 0
                if length > self.max_body:
                    return await self._refuse(send, 413, (f'{{"detail":"upload too large: at most {MAX_UPLOAD_FILES} '
                                                         f'files of {MAX_UPLOAD_MB} MB"}}').encode())
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(send, status: int, body: bytes):
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


def launch(qa: QA, host: str = "127.0.0.1", port: int = 7860, auth: str | None = None, block: bool = True,
           allow_upload: bool | None = None, allow_private_urls: bool = False, web: WebSettings | None = None):
    """Serve the page; returns the app (running in the background when block=False).

    Loopback only unless `host` says otherwise (then a warning); `auth` puts it behind
    Gradio's login. `allow_upload`: whether the documents panel may upload and remove
    documents; None: yes on a loopback bind or behind a login, no otherwise (see
    uploads_allowed). Whatever the environment says (GRADIO_SHARE, GRADIO_MCP_SERVER,
    ...): no share tunnel, no MCP server, no monitoring page, no run history.
    `allow_private_urls`: "Add from URL" may fetch from loopback, private and link-local
    addresses (default: refused); `web`: its other fetch settings (delay, limits)."""
    from starlette.middleware import Middleware

    credentials = parse_auth(auth)
    warning = exposure_warning(host, credentials)
    if warning:
        print(warning, file=sys.stderr)
    changes = uploads_allowed(host, credentials, allow_upload)
    web = dataclasses.replace(web or WebSettings(), allow_private=allow_private_urls)
    app = build_app(qa, allow_changes=changes, web=web)
    app.queue(default_concurrency_limit=4)
    try:
        app.launch(
            server_name=host, server_port=port, auth=credentials, prevent_thread_lock=not block,
            show_error=False, theme=theme(), css=CSS, head=HEAD, quiet=not block, share=False, ssr_mode=False,
            mcp_server=False, enable_monitoring=False, run_history=False,
            max_file_size=f"{MAX_UPLOAD_MB}mb" if changes else 1,
            app_kwargs={"middleware": [Middleware(RefuseUnusedRoutes, allow_upload=changes)]},
        )
    except OSError:  # Gradio's message names its own settings, not ours
        raise _cannot_serve(host, port) from None
    return app


def check_address(host: str, port: int) -> None:
    """Refuse at once an address the page could not be served on (a port out of range or
    taken, an address not this machine's), before the index, the model and Gradio load;
    launch still refuses one that is taken meanwhile."""
    if not 1 <= port <= 65535:  # Gradio would stop on it with a traceback
        raise InputError(f"bad --port {port}: give a port between 1 and 65535, e.g. --port 7860")
    if bind_error(host, port) is not None:
        raise _cannot_serve(host, port)


def bind_error(host: str, port: int) -> str | None:
    """Why a server could not listen on host:port now (the address is not this machine's,
    the port is taken), or None. The page and the MCP server ask before they load anything."""
    import socket

    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind it
            s.bind(address)
    except OSError as err:
        return err.strerror or type(err).__name__
    return None


def _cannot_serve(host: str, port: int) -> InputError:
    return InputError(f"cannot serve on {host}:{port}: the port is taken or the address is not this machine's; "
                      "pick another --port or --host")
