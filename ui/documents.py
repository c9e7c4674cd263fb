"""The documents panel: the list of indexed documents (searchable), and uploads indexed
through the same checks as the CLI (QA.ingest / QA.ingest_jsonl), with a result per file.

File names, titles and outlets are shown escaped (ui.render._esc)."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from rag import QA, CorpusQAError, IngestReport, StoredDocument, text_matches

from .render import _esc

logger = logging.getLogger(__name__)

UPLOAD_TYPES = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl")
MAX_UPLOAD_FILES = 20
MAX_UPLOAD_MB = 10
MAX_LISTED = 200  # rows shown at once; the search narrows a longer list


def render_documents(docs: list[StoredDocument], query: str = "", removable: bool = False) -> str:
    """A table: title (opens the article), outlet, date, chunks, source; a remove button
    per row when the page may change the index."""
    query = (query or "").strip()
    shown = [d for d in docs if text_matches(d, query)] if query else list(docs)
    chunks = sum(d.chunks for d in docs)
    summary = f"{len(docs):,} document{'s' if len(docs) != 1 else ''} · {chunks:,} chunks"
    if query:
        summary = f"{len(shown):,} of {summary} match “{_esc(query)}”"
    rows = []
    for d in shown[:MAX_LISTED]:
        remove = (f'<button type="button" class="cqa-doc-remove cqa-doc-{d.id}" title="Remove from the index">'
                  "Remove</button>") if removable else ""
        rows.append(
            f'<tr class="cqa-doc"><td><button type="button" class="cqa-doc-open cqa-doc-{d.id}" '
            f'title="Read the article">{_esc(d.title or d.source)}</button>'
            f'<div class="cqa-meta">{_esc(d.source)}</div></td>'
            f"<td>{_esc(d.outlet or '')}</td><td>{_esc((d.published or '')[:10])}</td>"
            f'<td class="cqa-num">{d.chunks}</td><td>{remove}</td></tr>'
        )
    more = ""
    if len(shown) > MAX_LISTED:
        more = f'<div class="cqa-meta">{len(shown) - MAX_LISTED:,} more not shown: search to narrow the list</div>'
    if not rows:
        body = '<div class="cqa-meta">No document matches.</div>' if docs else '<div class="cqa-meta">The index is empty.</div>'
    else:
        body = ('<table class="cqa-docs"><thead><tr><th>Title</th><th>Outlet</th><th>Date</th><th>Chunks</th><th></th>'
                f'</tr></thead><tbody>{"".join(rows)}</tbody></table>')
    return f'<div class="cqa-doclist"><div class="cqa-meta">{summary}</div>{body}{more}</div>'


def _report_text(report: IngestReport) -> str:
    parts = []
    for n, what in ((report.added, "added"), (report.updated, "updated"), (report.unchanged, "unchanged")):
        if n:
            parts.append(f"{n} {what}")
    if report.chunks:
        parts.append(f"{report.chunks} chunks")
    if report.skipped:
        parts.append(f"{len(report.skipped)} skipped")
    return ", ".join(parts) or "nothing to index"


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
    text = _report_text(report)
    if report.skipped:
        reasons = "; ".join(f"{s.path.replace(str(path), name)}: {s.reason}" for s in report.skipped[:3])
        text += f" ({reasons}{'; …' if len(report.skipped) > 3 else ''})"
    ok = bool(report.added or report.updated or report.unchanged)
    return ok, text if ok else "refused: " + text
