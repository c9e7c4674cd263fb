"""Filters: which documents a question may be answered from.

One typed value, turned into a Chroma `where` (for both dense rankings) and a keyword-side
document set in one place each, so every ranking is restricted before its top N is taken.

    Filters(since=date(2005, 1, 1), outlets=("BBC",))       published on or after, that outlet
    Filters(sources=("business/*",))                         sources matching a glob
    Filters(documents=(doc_id, ...))                         a pick of documents
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass
from typing import Any

from .errors import InputError


def day_number(iso: str | dt.date | None) -> int | None:
    """2005-03-14 -> 20050314: dates as integers, which Chroma's $gte/$lte compare."""
    if iso is None:
        return None
    day = iso if isinstance(iso, dt.date) else dt.date.fromisoformat(str(iso)[:10])
    return day.year * 10000 + day.month * 100 + day.day


def outlet_key(outlet: str | None) -> str | None:
    """The form outlets are matched in: case and spacing do not matter."""
    return " ".join(outlet.casefold().split()) if outlet else None


def parse_day(value: Any, name: str) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise InputError(f"bad {name} date {str(value)[:40]!r}: write it as YYYY-MM-DD, e.g. 2005-03-14") from None


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval to matching documents. Empty fields restrict nothing; fields
    combine with AND, values within a field with OR. A document with no date never
    matches a date range."""

    since: dt.date | None = None  # published on or after
    until: dt.date | None = None  # published on or before
    outlets: tuple[str, ...] = ()  # any of these outlets (case-insensitive)
    sources: tuple[str, ...] = ()  # source globs: "business/*", "*.html", an exact source
    documents: tuple[str, ...] = ()  # document ids

    def __post_init__(self):
        object.__setattr__(self, "since", parse_day(self.since, "since"))
        object.__setattr__(self, "until", parse_day(self.until, "until"))
        for name in ("outlets", "sources", "documents"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = (value,)
            object.__setattr__(self, name, tuple(str(v).strip() for v in (value or ()) if str(v).strip()))
        if self.since and self.until and self.since > self.until:
            raise InputError(f"the date range is empty: since {self.since} is after until {self.until}; swap them")

    @property
    def empty(self) -> bool:
        return not (self.since or self.until or self.outlets or self.sources or self.documents)

    def describe(self) -> str:
        parts = []
        if self.since:
            parts.append(f"since {self.since}")
        if self.until:
            parts.append(f"until {self.until}")
        if self.outlets:
            parts.append("outlet " + " or ".join(self.outlets))
        if self.sources:
            parts.append("source " + " or ".join(self.sources))
        if self.documents:
            parts.append(f"{len(self.documents)} picked document(s)")
        return ", ".join(parts) or "none"

    def matches(self, doc) -> bool:
        """Whether a stored document (anything with source, path, id, published, outlet) passes."""
        if self.since or self.until:
            if not doc.published:
                return False
            day = dt.date.fromisoformat(doc.published[:10])
            if (self.since and day < self.since) or (self.until and day > self.until):
                return False
        if self.outlets and outlet_key(doc.outlet) not in {outlet_key(o) for o in self.outlets}:
            return False
        if self.sources and not any(
            fnmatch.fnmatchcase(doc.source, g) or (doc.path and fnmatch.fnmatchcase(doc.path, g)) for g in self.sources
        ):
            return False
        if self.documents and doc.id not in self.documents:
            return False
        return True

    def where(self, doc_ids: list[str] | None = None) -> dict | None:
        """The Chroma `where` for chunk and sentence records (they carry `day`,
        `outlet_key` and `doc_id`). Source globs and document picks cannot be said in
        Chroma's language: pass the ids of the documents they match as `doc_ids`."""
        clauses: list[dict] = []
        if self.since:
            clauses.append({"day": {"$gte": day_number(self.since)}})
        if self.until:
            clauses.append({"day": {"$lte": day_number(self.until)}})
        if self.outlets:
            keys = sorted({outlet_key(o) for o in self.outlets})
            clauses.append({"outlet_key": {"$in": keys}} if len(keys) > 1 else {"outlet_key": keys[0]})
        if doc_ids is not None:
            clauses.append({"doc_id": {"$in": list(doc_ids)}} if len(doc_ids) != 1 else {"doc_id": doc_ids[0]})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    @property
    def needs_ids(self) -> bool:
        """Whether `where` needs the matching documents' ids (globs, picks)."""
        return bool(self.sources or self.documents)


def text_matches(doc: Any, query: str | None) -> bool:
    """Whether every word of `query` occurs (case-insensitively) in the document's title,
    source, outlet, date or author: the documents list's search box and the MCP
    `documents` tool's `query`, one rule for both."""
    words = (query or "").casefold().split()
    fields = (doc.title, doc.source, doc.outlet, doc.published, getattr(doc, "author", None))
    hay = " ".join(x for x in fields if x).casefold()
    return all(word in hay for word in words)
