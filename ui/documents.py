"""The documents panel: the list of indexed documents (searchable, sortable, a page at a
time), and uploads and URLs indexed through the same checks as the CLI (QA.ingest /
QA.ingest_jsonl), with a result per file or URL.

File names, titles and outlets are shown escaped (ui.render._esc)."""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from rag import QA, CorpusQAError, IngestReport, StoredDocument, WebSettings, text_matches

from .render import _esc

logger = logging.getLogger(__name__)

UPLOAD_TYPES = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl")
MAX_UPLOAD_FILES = 20
MAX_UPLOAD_MB = 10
PAGE_SIZE = 50  # rows of the documents list a page


@dataclass(frozen=True)
class ListView:
    """How the documents list is shown: sorted by `sort` (title, outlet, date, source),
    one page of PAGE_SIZE rows. Travels through the page as `sort:asc|desc:page`."""

    sort: str = "title"
    descending: bool = False
    page: int = 1

    @classmethod
    def parse(cls, value: str | None) -> ListView:
        """The view a page's state names; anything unknown falls back to the default."""
        m = _VIEW.match((value or "").strip())
        return cls(m.group(1), m.group(2) == "desc", max(1, int(m.group(3)))) if m else cls()

    def state(self, **changes) -> str:
        v = replace(self, **changes)
        return f"{v.sort}-{'desc' if v.descending else 'asc'}-{v.page}"

    def order(self, docs: list[StoredDocument]) -> list[StoredDocument]:
        """Sorted by the column, documents without a value last whichever the direction,
        ties by title then source."""
        def value(d: StoredDocument) -> str:
            return {"title": d.title or d.source, "outlet": d.outlet or "", "date": (d.published or "")[:10],
                    "source": d.source}[self.sort].casefold()

        known = sorted((d for d in docs if value(d)), key=lambda d: ((d.title or "").casefold(), d.source))
        known.sort(key=value, reverse=self.descending)
        return known + sorted((d for d in docs if not value(d)), key=lambda d: ((d.title or "").casefold(), d.source))


_VIEW = re.compile(r"^(title|outlet|date|source)-(asc|desc)-(\d{1,7})$")
COLUMNS = (("title", "Title"), ("outlet", "Outlet"), ("date", "Date"))


def render_documents(docs: list[StoredDocument], query: str = "", removable: bool = False,
                     view: ListView | None = None) -> str:
    """A table: title (opens the article) with its source, outlet, date, chunks; a remove
    button per row when the page may change the index. Sortable by title, outlet and
    date (a header click; again to reverse), PAGE_SIZE rows a page with page controls."""
    view = view or ListView()
    query = (query or "").strip()
    shown = view.order([d for d in docs if text_matches(d, query)] if query else list(docs))
    pages = max(1, -(-len(shown) // PAGE_SIZE))
    view = replace(view, page=min(view.page, pages))
    chunks = sum(d.chunks for d in docs)
    summary = f"{_count(len(docs), 'document')} · {_count(chunks, 'chunk')}"
    if query:
        summary = f"{len(shown):,} of {summary} match “{_esc(query)}”"
    rows = []
    first = (view.page - 1) * PAGE_SIZE
    for d in shown[first:first + PAGE_SIZE]:
        remove = (f'<button type="button" class="cqa-doc-remove cqa-doc-{d.id}" title="Remove from the index">'
                  "Remove</button>") if removable else ""
        rows.append(
            f'<tr class="cqa-doc"><td class="cqa-col-title"><button type="button" class="cqa-doc-open cqa-doc-{d.id}" '
            f'title="Read the article">{_esc(d.title or d.source)}</button>'
            f'<div class="cqa-meta"><span class="cqa-doc-source">{_esc(d.source)}</span>{_also_in(d)}</div></td>'
            f'<td class="cqa-col-outlet">{_esc(d.outlet or "")}</td><td class="cqa-col-date">{_esc((d.published or "")[:10])}</td>'
            f'<td class="cqa-num cqa-col-chunks">{d.chunks}</td><td class="cqa-col-remove">{remove}</td></tr>'
        )
    if not rows:
        body = '<div class="cqa-meta">No document matches.</div>' if docs else '<div class="cqa-meta">The index is empty.</div>'
    else:
        heads = "".join(_sort_head(view, key, label) for key, label in COLUMNS)
        body = (f'<table class="cqa-docs"><thead><tr>{heads}<th class="cqa-num cqa-col-chunks">Chunks</th>'
                f'<th class="cqa-col-remove"></th></tr></thead><tbody>{"".join(rows)}</tbody></table>')
    return (f'<div class="cqa-doclist"><div class="cqa-meta">{summary}</div>{_pager(view, pages, first, len(shown))}'
            f"{body}</div>")


def _also_in(d: StoredDocument) -> str:
    """' · copy of a, b · near-copy of c': the other documents holding the same article."""
    parts = [f"{label} {', '.join(names)}" for label, names in (("copy of", d.copies), ("near-copy of", d.near_copies))
             if names]
    return "".join(f' <span class="cqa-also-in">· {_esc(p)}</span>' for p in parts)


def _sort_head(view: ListView, key: str, label: str) -> str:
    """A column header that sorts by it (dates newest first; a second click reverses)."""
    on = view.sort == key
    descending = (not view.descending) if on else key == "date"
    arrow = (" ▼" if view.descending else " ▲") if on else ""
    sort = ' aria-sort="descending"' if on and view.descending else (' aria-sort="ascending"' if on else "")
    return (f'<th class="cqa-col-{key}"{sort}><button type="button" class="cqa-sort cqa-view-'
            f'{view.state(sort=key, descending=descending, page=1)}" title="Sort by {label.lower()}">'
            f"{label}{arrow}</button></th>")


def _pager(view: ListView, pages: int, first: int, total: int) -> str:
    """First / previous / "page n of m (rows)" / next / last, when there is more than one page."""
    if pages <= 1:
        return ""

    def go(label: str, page: int, name: str) -> str:
        off = " disabled" if page == view.page or not 1 <= page <= pages else ""
        return (f'<button type="button" class="cqa-page cqa-page-{name} cqa-view-{view.state(page=page)}"{off}>'
                f"{label}</button>")

    where = f"page {view.page:,} of {pages:,} ({first + 1:,}–{min(first + PAGE_SIZE, total):,})"
    return (f'<div class="cqa-pager">{go("« First", 1, "first")}{go("‹ Prev", view.page - 1, "prev")}'
            f'<span class="cqa-meta cqa-where">{where}</span>{go("Next ›", view.page + 1, "next")}'
            f'{go("Last »", pages, "last")}</div>')


def _count(n: int, what: str) -> str:
    """'1 chunk', '2 chunks' (an s for any count but one)."""
    return f"{n:,} {what}{'' if n == 1 else 's'}"


def _report_text(report: IngestReport) -> str:
    parts = []
    for n, what in ((report.added, "added"), (report.updated, "updated"), (report.unchanged, "unchanged")):
        if n:
            parts.append(f"{n:,} {what}")
    if parts:
        parts[0] = _count(report.added + report.updated + report.unchanged, "document") + ": " + parts[0]
    if report.chunks:
        parts.append(_count(report.chunks, "chunk"))
    if report.skipped:
        parts.append(f"{len(report.skipped):,} skipped")
    return ", ".join(parts) or "nothing to index"


def _reasons(report: IngestReport, name: Callable[[str], str] = str) -> str:
    """' (path: reason; ...)' for the first three skipped inputs, '' for none; a skip of the
    input itself (`name` gives '') is its reason alone."""
    if not report.skipped:
        return ""
    shown = [f"{name(s.path)}: {s.reason}" if name(s.path) else s.reason for s in report.skipped[:3]]
    return f" ({'; '.join(shown)}{'; …' if len(report.skipped) > 3 else ''})"


def ingest_uploads(qa: QA, paths: list[str], progress: Callable[[float, str], None] | None = None) -> tuple[str, bool]:
    """Index uploaded files one by one, each under its own file name, through QA.ingest
    (a .jsonl through QA.ingest_jsonl); the uploaded copies are deleted afterwards.
    Returns (the per-file result as HTML, whether anything changed)."""
    paths = [p for p in (paths or []) if p]
    if not paths:
        return "", False
    try:
        if len(paths) > MAX_UPLOAD_FILES:
            return (f'<div class="cqa-error">Too many files: {len(paths)} at once (limit {MAX_UPLOAD_FILES}); '
                    "upload them in smaller groups.</div>"), False
        rows, changed = [], False
        stage = Path(tempfile.mkdtemp(prefix="corpus-qa-upload-"))
        try:
            for i, upload in enumerate(paths):
                name = Path(upload).name
                if progress:
                    progress(i / len(paths), f"indexing file {i + 1} of {len(paths)}")
                ok, text = _ingest_one(qa, Path(upload), name, stage)
                changed |= ok and not text.startswith("unchanged")
                cls = "cqa-ok" if ok else "cqa-bad"
                rows.append(f'<tr class="{cls}"><td>{_esc(name)}</td><td>{_esc(text)}</td></tr>')
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        if progress:
            progress(1.0, "done")
        return (f'<table class="cqa-upload-result"><thead><tr><th>File</th><th>Result</th></tr></thead>'
                f'<tbody>{"".join(rows)}</tbody></table>'), changed
    finally:
        for upload in paths:  # nothing uploaded stays on the server to be fetched back
            try:
                os.remove(upload)
                os.rmdir(os.path.dirname(upload))
            except OSError:
                pass


def _ingest_one(qa: QA, upload: Path, name: str, stage: Path) -> tuple[bool, str]:
    suffix = Path(name).suffix.lower()
    if suffix not in UPLOAD_TYPES:
        return False, f"refused: unsupported file type {suffix or '(none)'}; use {', '.join(UPLOAD_TYPES)}"
    try:
        size = upload.stat().st_size
    except OSError:
        return False, "refused: the upload did not arrive; try again"
    if size > MAX_UPLOAD_MB * 1024 * 1024:
        return False, f"refused: {size / 1e6:.1f} MB (limit {MAX_UPLOAD_MB} MB per file)"
    folder = stage / str(len(list(stage.iterdir())))
    folder.mkdir()
    path = folder / name
    shutil.copyfile(upload, path)
    try:
        report = qa.ingest_jsonl(path) if suffix == ".jsonl" else qa.ingest([path])
    except CorpusQAError as err:
        return False, "refused: " + str(err).replace(str(path), name).replace(str(folder), "")
    except Exception as err:  # the index failing: say so, keep serving
        logger.exception("upload %s failed", name)
        return False, f"failed: the index could not be written ({type(err).__name__}); try again"
    text = _report_text(report) + _reasons(report, lambda p: "" if p == str(path) else p.replace(str(path), name))
    ok = bool(report.added or report.updated or report.unchanged)
    return ok, text if ok else "refused: " + text


MAX_PAGE_URLS = 5  # URLs at once from the page's "Add from URL"


def ingest_from_urls(qa: QA, text: str, web: WebSettings,
                     progress: Callable[[float, str], None] | None = None) -> tuple[str, bool]:
    """Index what the URLs in `text` (one per line or space-separated: pages, feeds,
    sitemaps, home pages) name, through QA.ingest under `web` (which refuses private
    addresses unless the operator allowed them). Returns (a result per URL as HTML,
    whether anything changed)."""
    urls = (text or "").split()
    if not urls:
        return "", False
    if len(urls) > MAX_PAGE_URLS:
        return (f'<div class="cqa-error">Too many URLs: {len(urls)} at once (limit {MAX_PAGE_URLS}); '
                "add them in smaller groups.</div>"), False
    rows, changed = [], False
    for i, url in enumerate(urls):
        def pages(p, i=i) -> None:
            if progress:
                progress(i / len(urls), f"{url}: {p.fetched} fetched, {p.indexed} indexed, {p.skipped} skipped "
                                        f"of {p.total} found")

        try:
            report = qa.ingest_urls([url], web=web, progress=pages)  # URLs only: never a server file
        except CorpusQAError as err:
            ok, result = False, f"refused: {err}"
        except Exception as err:  # the index failing: say so, keep serving
            logger.exception("adding %s failed", url)
            ok, result = False, f"failed: the index could not be written ({type(err).__name__}); try again"
        else:
            ok = bool(report.added or report.updated or report.unchanged)
            changed |= bool(report.added or report.updated)
            result = _report_text(report) + _reasons(report, lambda p, url=url: "" if p == url else p)
            result = result if ok else "refused: " + result
        cls = "cqa-ok" if ok else "cqa-bad"
        rows.append(f'<tr class="{cls}"><td>{_esc(url)}</td><td>{_esc(result)}</td></tr>')
    if progress:
        progress(1.0, "done")
    return (f'<table class="cqa-url-result"><thead><tr><th>URL</th><th>Result</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>'), changed
