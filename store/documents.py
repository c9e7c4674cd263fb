"""Load article files into Documents: text, markdown and HTML, cleaned of page furniture."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from .clean import clean_article, normalize_line
from .errors import InputError

SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")
MAX_FILE_BYTES = 50_000_000
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")  # an image: its alt text is a caption, not body
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


@dataclass(frozen=True)
class Document:
    """A cleaned article. `id` is the sha256 of its source name and cleaned text."""

    id: str
    source: str  # what a citation shows: "<folder>/<file>" (or the file name)
    path: str  # absolute path of the file, used to notice a file that is gone
    title: str
    text: str


def find_files(paths: list[str | Path]) -> list[tuple[Path, str]]:
    """Expand files and folders into (file, source name) pairs, sorted, no duplicates.

    A folder yields its supported files recursively (hidden ones skipped).
    """
    found: dict[Path, str] = {}
    for given in paths:
        path = Path(given).expanduser()
        if not path.exists():
            raise InputError(f"no such file or folder: {given} (check the path)")
        if path.is_file():
            found.setdefault(path.resolve(), path.name)
            continue
        files = [
            f
            for f in sorted(path.rglob("*"))
            if f.is_file()
            and f.suffix.lower() in SUFFIXES
            and not any(part.startswith(".") for part in f.relative_to(path).parts)
        ]
        if not files:
            raise InputError(
                f"no articles in folder {given}: it holds no {', '.join(SUFFIXES)} files"
            )
        root = path.resolve()
        for f in files:
            found.setdefault(f.resolve(), f"{root.name}/{f.relative_to(path).as_posix()}")
    return sorted(found.items(), key=lambda item: item[1])


def read_text(path: Path) -> str:
    """The file's text, or an InputError naming why it cannot be an article."""
    if path.suffix.lower() not in SUFFIXES:
        raise InputError(f"{path}: unsupported file type {path.suffix or '(none)'}; use {', '.join(SUFFIXES)}")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InputError(f"{path}: {size:,} bytes is too large for one article (limit {MAX_FILE_BYTES:,}); split it")
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise InputError(f"{path}: looks binary (NUL bytes); only text, markdown or HTML articles can be indexed")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(
            f"{path}: not UTF-8 (byte {err.start}); convert it, e.g. iconv -f latin1 -t utf-8"
        ) from None


def html_to_text(html: str) -> str:
    """Main text of an HTML page through trafilatura (keeps the headline as first line)."""
    import trafilatura

    text = trafilatura.extract(html, include_comments=False, include_tables=False, favor_precision=True) or ""
    meta = trafilatura.extract_metadata(html)
    title = (meta.title if meta else None) or ""
    return f"{title}\n{text}" if title and not text.startswith(title) else text


def parse(raw: str, source: str, path: str = "", suffix: str = ".txt") -> Document:
    """Clean one article's raw text into a Document."""
    suffix = suffix.lower()
    if suffix in (".html", ".htm"):
        raw = html_to_text(raw)
    elif suffix in (".md", ".markdown"):
        raw = _MD_LINK.sub(r"\1", _MD_IMAGE.sub("", raw))
    title, text = clean_article(raw, fallback_title=Path(source).stem)
    digest = hashlib.sha256(f"{source}\x00{title}\x00{text}".encode()).hexdigest()
    return Document(id=digest[:32], source=source, path=path, title=title, text=text)


def from_record(doc_id: str, title: str, text: str) -> Document:
    """A Document given as (id, title, text), e.g. a BEIR corpus line: `source` is the id.

    The text is kept as given (no furniture removal: records are not web pages), its lines
    only normalised as articles' are."""
    doc_id = str(doc_id).strip()
    if not doc_id:
        raise InputError("a document record needs a non-empty id")
    title = normalize_line(title or "")
    lines = (normalize_line(line) for line in (text or "").replace("\r\n", "\n").split("\n"))
    body = "\n".join(line for line in lines if line)
    if not body and not title:
        raise InputError(f"document record {doc_id!r} has neither title nor text")
    digest = hashlib.sha256(f"{doc_id}\x00{title}\x00{body}".encode()).hexdigest()
    return Document(id=digest[:32], source=doc_id, path="", title=title, text=body or title)


def load(path: Path, source: str) -> Document:
    doc = parse(read_text(path), source, str(path), path.suffix)
    if not doc.text.strip():
        raise InputError(f"{path}: no article text left after cleaning (empty file, or only page furniture)")
    return doc
