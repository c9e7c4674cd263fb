"""Read articles into Documents: text, Markdown (with front matter), HTML, JSON Lines.

Each Document keeps what its input says about itself: `published` (ISO date), `outlet`,
`url`, `author` and any other fields (`extra`). Unknown stays None, never guessed:
    .html   trafilatura's metadata (date, sitename, url, author) and main text
    .md     front matter between '---' lines: title, date/published, source/outlet/site, url, author
    .txt    none (the first line is the headline)
    .jsonl  one record per line: id, title, text|body, published|date, outlet|source, url, author
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .clean import clean_article, normalize_line, repeated_lines
from .errors import InputError

SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")
MAX_FILE_BYTES = 50_000_000
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")  # an image: its alt text is a caption, not body
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)
# field names of each input kind -> ours (the first one present wins)
_ALIASES = {
    "title": ("title", "headline"),
    "published": ("published", "date", "published_at", "pubdate"),
    "outlet": ("outlet", "source", "site", "sitename", "publisher"),
    "url": ("url", "link", "canonical_url"),
    "author": ("author", "authors", "byline"),
}


@dataclass(frozen=True)
class Document:
    """A cleaned article. `id` is the sha256 of its source name and cleaned text."""

    id: str
    source: str  # what a citation shows: the path relative to the folder ingested, the file name, or a record's id
    path: str  # absolute path of the file ("" for records), used to notice a file that is gone
    title: str
    text: str
    published: str | None = None  # ISO date, YYYY-MM-DD
    outlet: str | None = None
    url: str | None = None
    author: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)  # other fields of the input
    # set at ingest (store.nearcopies): the near-copy group it joins (None: its own) and its LSH bands
    near: str | None = field(default=None, compare=False)
    bands: tuple[int, ...] = field(default=(), compare=False, repr=False)

    @property
    def content(self) -> str:
        """Hash of the title and text: equal for copies of one article under other names."""
        return hashlib.sha256(f"{self.title}\x00{self.text}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Skipped:
    """An input that could not be indexed, and why (one line). For a web page: whether
    the reason may pass by itself (`transient`: no connection, HTTP 5xx or 429), and the
    day an earlier run first reported the same page for the same lasting reason (`known`)."""

    path: str
    reason: str
    transient: bool = False
    known: str | None = None


def make_document(source: str, path: str, title: str, text: str, meta: dict[str, Any] | None = None) -> Document:
    meta = dict(meta or {})
    fields = {name: meta.pop(name, None) for name in ("published", "outlet", "url", "author")}
    digest = hashlib.sha256(
        json.dumps([source, title, text, fields], ensure_ascii=False, default=str).encode()
    ).hexdigest()
    return Document(id=digest[:32], source=source, path=path, title=title, text=text, extra=meta, **fields)


# -- files ----------------------------------------------------------------------------
def find_files(paths: list[str | Path]) -> list[tuple[Path, str]]:
    """Expand files and folders into (file, source name) pairs, sorted, no duplicates.

    A folder yields its supported files recursively (hidden ones skipped), each named by
    its path relative to that folder (`ingest articles/` -> `business/001.txt`), so the
    name a user sees in the folder is the name `--source`, `show` and `remove` take; a
    file given by itself is named by its file name."""
    return [(path, source) for path, source, _ in _find(paths)]


def _find(paths: list[str | Path]) -> list[tuple[Path, str, bool]]:
    """find_files, each file with whether it was named in `paths` (not found in a folder)."""
    found: dict[Path, tuple[str, bool]] = {}
    for given in paths:
        path = Path(given).expanduser()
        if not path.exists():
            raise InputError(f"no such file or folder: {given} (check the path)")
        if path.is_file():
            found[path.resolve()] = (path.name, True)
            continue
        files = [
            f
            for f in sorted(path.rglob("*"))
            if f.is_file()
            and f.suffix.lower() in SUFFIXES
            and not any(part.startswith(".") for part in f.relative_to(path).parts)
        ]
        if not files:
            raise InputError(f"no articles in folder {given}: it holds no {', '.join(SUFFIXES)} files")
        for f in files:
            found.setdefault(f.resolve(), (f.relative_to(path).as_posix(), False))
    return sorted(((p, s, named) for p, (s, named) in found.items()), key=lambda item: item[1])


def read_text(path: Path) -> str:
    """The file's text, or an InputError naming why it cannot be an article."""
    if path.suffix.lower() not in SUFFIXES:
        raise InputError(f"{path}: unsupported file type {path.suffix or '(none)'}; use {', '.join(SUFFIXES)}")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(f"{path}: {size:,} bytes is too large for one article (limit {MAX_FILE_BYTES:,}); split it")
        data = path.read_bytes()
    except OSError as err:
        raise InputError(f"{path}: cannot be read ({err.strerror or type(err).__name__}); check its permissions") from None
    if b"\x00" in data[:8192]:
        raise InputError(f"{path}: looks binary (NUL bytes); only text, markdown or HTML articles can be indexed")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(
            f"{path}: not UTF-8 (byte {err.start}); convert it, e.g. iconv -f latin1 -t utf-8"
        ) from None


def html_to_text(html: str) -> tuple[str, dict[str, Any]]:
    """Main text of an HTML page through trafilatura (the headline as first line), and
    its metadata (title, date, sitename, url, author)."""
    import trafilatura

    text = trafilatura.extract(html, include_comments=False, include_tables=False, favor_precision=True) or ""
    meta = trafilatura.extract_metadata(html)
    found = {}
    if meta is not None:
        for ours, theirs in (("title", "title"), ("published", "date"), ("outlet", "sitename"),
                             ("url", "url"), ("author", "author")):
            value = getattr(meta, theirs, None)
            if value:
                found[ours] = value
    title = found.get("title") or ""
    return (f"{title}\n{text}" if title and not text.startswith(title) else text), found


def front_matter(raw: str) -> tuple[dict[str, Any], str]:
    """A Markdown file's front matter (YAML between '---' lines) and the rest."""
    match = _FRONT_MATTER.match(raw)
    if not match:
        return {}, raw
    import yaml

    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return {}, raw  # not front matter after all: the text stays whole
    if not isinstance(data, dict):
        return {}, raw
    return {str(k).lower(): v for k, v in data.items()}, raw[match.end():]


def prepare(raw: str, suffix: str, where: str = "") -> tuple[str, dict[str, Any]]:
    """The text the cleaner reads (HTML's main text, Markdown without its front matter,
    links and images) and the metadata the input gives."""
    suffix = suffix.lower()
    meta: dict[str, Any] = {}
    if suffix in (".html", ".htm"):
        raw, meta = html_to_text(raw)
    elif suffix in (".md", ".markdown"):
        found, raw = front_matter(raw)
        meta = normalize_meta(found, where=where)
        raw = _MD_LINK.sub(r"\1", _MD_IMAGE.sub("", raw))
        if meta.get("title"):
            raw = f"{meta['title']}\n{raw}"
    return raw, normalize_meta(meta, where=where)


def parse(raw: str, source: str, path: str = "", suffix: str = ".txt", boilerplate: frozenset[str] = frozenset()) -> Document:
    """Clean one article's raw text into a Document (its metadata read from the input).
    `boilerplate`: lines its site repeats across files (store.clean.repeated_lines)."""
    text, meta = prepare(raw, suffix, where=path or source)
    return _finish(text, meta, source, path, boilerplate)


def _finish(prepared: str, meta: dict[str, Any], source: str, path: str, boilerplate: frozenset[str]) -> Document:
    title, text = clean_article(prepared, fallback_title=Path(source).stem, boilerplate=boilerplate)
    meta = {k: v for k, v in meta.items() if k != "title"}
    return make_document(source, path, title, text, meta)


def load(path: Path, source: str, boilerplate: frozenset[str] = frozenset()) -> Document:
    doc = parse(read_text(path), source, str(path), path.suffix, boilerplate)
    if not doc.text.strip():
        raise InputError(f"{path}: no article text left after cleaning (empty file, or only page furniture)")
    return doc


# -- records ----------------------------------------------------------------------------
def from_record(
    doc_id: str, title: str, text: str, published: Any = None, outlet: str | None = None,
    url: str | None = None, author: str | None = None, extra: dict[str, Any] | None = None,
) -> Document:
    """A Document given as fields, e.g. a BEIR corpus line or a JSON Lines record: `source`
    is the id. The text is kept as given (no furniture removal: records are not web pages),
    its lines only normalised as articles' are."""
    doc_id = str(doc_id).strip() if doc_id is not None else ""
    if not doc_id:
        raise InputError("a document record needs a non-empty id")
    title = normalize_line(str(title or ""))
    lines = (normalize_line(line) for line in str(text or "").replace("\r\n", "\n").split("\n"))
    body = "\n\n".join(line for line in lines if line)
    if not body and not title:
        raise InputError(f"document record {doc_id!r} has neither title nor text")
    meta = normalize_meta({"published": published, "outlet": outlet, "url": url, "author": author, **(extra or {})},
                          where=f"record {doc_id!r}")
    return make_document(doc_id, "", title, body or title, meta)


def read_jsonl(path: str | Path) -> Iterator[Document | Skipped]:
    """The records of a JSON Lines file as Documents; a line that cannot be one is a
    Skipped naming the line and why. The file itself must be readable UTF-8."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"no such JSON Lines file: {path} (check the path)")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot be read as UTF-8 text ({type(err).__name__}); pass a UTF-8 .jsonl file") from None
    first_line: dict[str, int] = {}
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            record = json.loads(line)
        except ValueError as err:
            yield Skipped(where, f"not JSON ({err.msg}); one JSON object per line")
            continue
        if not isinstance(record, dict):
            yield Skipped(where, "not a JSON object; expected {\"id\", \"title\", \"text\", ...}")
            continue
        try:
            doc = record_document(record)
        except InputError as err:
            yield Skipped(where, str(err))
            continue
        if doc.source in first_line:
            yield Skipped(where, f"id {doc.source!r} is already used on line {first_line[doc.source]}; give each record its own id")
            continue
        first_line[doc.source] = n
        yield doc


def record_document(record: dict[str, Any]) -> Document:
    """One JSON Lines record -> Document: id, title, text or body, published or date, outlet
    or source, url, author (normalize_meta maps the aliases); any other field is kept in `extra`."""
    record = dict(record)
    doc_id = record.pop("id", None) if "id" in record else record.pop("_id", None)
    text = record.pop("text", None)
    if text is None:
        text = record.pop("body", None)
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"record {doc_id!r} has no text: give it a \"text\" (or \"body\") string")
    title = next((record.pop(name) for name in _ALIASES["title"] if name in record), "")
    return from_record(doc_id, str(title or ""), text, extra=record)


# -- metadata -------------------------------------------------------------------------------
def normalize_meta(meta: dict[str, Any], where: str) -> dict[str, Any]:
    """Our field names and forms: `published` an ISO date, the others trimmed strings
    (None when empty); other fields kept as they are (JSON values)."""
    out: dict[str, Any] = {}
    taken = set()
    for ours, names in _ALIASES.items():
        for name in names:
            if name in meta and meta[name] not in (None, "", []) and ours not in out:
                out[ours] = meta[name]
                taken.add(name)
    for key, value in meta.items():
        if key not in taken and key not in out and value is not None:
            out[str(key)] = _jsonable(value)
    if "published" in out:
        out["published"] = normalize_date(out["published"], where)
    for key in ("outlet", "url", "author", "title"):
        if key in out:
            value = out[key]
            if isinstance(value, (list, tuple)):
                value = ", ".join(str(v) for v in value if v)
            value = normalize_line(str(value))
            out[key] = value or None
    return {k: v for k, v in out.items() if v is not None}


def normalize_date(value: Any, where: str = "") -> str | None:
    """An ISO date (YYYY-MM-DD) from a date, a datetime or a date string; a value that is
    no date is an InputError naming it (a wrong date is worse than none)."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            pass
    else:
        from dateutil import parser as dateparser

        try:
            default = dt.datetime(1, 1, 1)
            parsed = dateparser.parse(text, default=default, fuzzy=False)
            if parsed.year > 1:
                return parsed.date().isoformat()
        except (ValueError, OverflowError):
            pass
    label = f"{where}: " if where else ""
    raise InputError(f"{label}published date {text[:40]!r} is not a date; write it as YYYY-MM-DD")


def _jsonable(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return str(value)


@dataclass(frozen=True)
class Loaded:
    """What `load_paths` read: the documents, and the folder files it could not use."""

    documents: list[Document]
    skipped: list[Skipped]

    def __iter__(self):
        return iter(self.documents)

    def __len__(self) -> int:
        return len(self.documents)


def load_paths(paths: list[str | Path], strict: bool = False) -> Loaded:
    """Every document under `paths`, loaded and cleaned.

    A file named in `paths` that cannot be an article raises InputError. A file found in a
    folder that cannot be (binary, not UTF-8, unreadable, empty after cleaning) is skipped
    and reported, unless `strict`: then every file is still read, and one InputError names
    each bad one with its reason. Nothing is written either way.
    Lines repeated across many files of one folder (a site's boilerplate) are passed to
    the cleaner as furniture of that folder."""
    found = _find(list(paths))
    raws: dict[Path, str] = {}
    skipped: list[Skipped] = []
    for path, source, named in found:
        try:
            raws[path] = read_text(path)
        except InputError as err:
            if named and not strict:
                raise
            skipped.append(Skipped(str(path), _reason(err, path)))
    prepared: dict[Path, tuple[str, dict[str, Any]]] = {}
    for path, source, named in found:
        if path not in raws:
            continue
        try:
            prepared[path] = prepare(raws.pop(path), path.suffix, where=str(path))
        except InputError as err:
            if named and not strict:
                raise
            skipped.append(Skipped(str(path), _reason(err, path)))
    boilerplate = _boilerplate_by_folder({p: prepared[p][0] for p, _, named in found if p in prepared and not named})
    documents = []
    for path, source, named in found:
        if path not in prepared:
            continue
        try:
            text, meta = prepared.pop(path)
            doc = _finish(text, meta, source, str(path), boilerplate.get(path.parent, frozenset()))
            if not doc.text.strip():
                raise InputError(f"{path}: no article text left after cleaning (empty file, or only page furniture)")
        except InputError as err:
            if named and not strict:
                raise
            skipped.append(Skipped(str(path), _reason(err, path)))
            continue
        documents.append(doc)
    if strict and skipped:
        raise strict_error(skipped, "files")
    return Loaded(documents, skipped)


def strict_error(skipped: list[Skipped], what: str) -> InputError:
    """One line naming every input --strict refused, each with its reason, and the fix."""
    listed = "; ".join(f"{s.path} ({s.reason})" for s in sorted(skipped, key=lambda s: s.path))
    return InputError(f"--strict: {len(skipped)} {what if len(skipped) > 1 else what[:-1]} cannot be indexed, so "
                      f"nothing was written: {listed}. Fix or remove them, or leave out --strict to index the rest "
                      "and skip these")


def _reason(err: InputError, path: Path) -> str:
    """The error's message without the path it starts with (the report names the file)."""
    message = str(err)
    prefix = f"{path}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def _boilerplate_by_folder(texts: dict[Path, str]) -> dict[Path, frozenset[str]]:
    """Per folder, the lines its files repeat: a site's furniture (store.clean.repeated_lines)."""
    folders: dict[Path, list[str]] = {}
    for path, text in texts.items():
        folders.setdefault(path.parent, []).append(text)
    return {folder: repeated_lines(group) for folder, group in folders.items()}
