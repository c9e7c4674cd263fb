"""What a question names: the outlets the index holds, dates and periods.

    "as reported by both The Verge and TechCrunch"     outlets  The Verge, TechCrunch
    "the Sporting News report on December 12, 2023"     outlet Sporting News, date 2023-12-12
    "in March 2005", "in 2023"                          a month, a year
    "last week", "latest", "recently"                   relative to the newest indexed date

Outlets are matched against the outlets the index actually holds (case, punctuation, a
leading "the" and a possessive 's ignored; "The Independent" names every "The
Independent - ..." outlet). Nothing here filters: each reading becomes a soft preference,
features of the learned ranker (rag.retrieve) and extra searches restricted to what was
named, and a note that shows how the question was read. An archive with no outlets or
dates (BBC, SciFact) reads nothing and changes nothing.
"""

from __future__ import annotations

import bisect
import calendar
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from datetime import date, timedelta

_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
_MONTHS["sept"] = 9
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DAY_FIRST = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH})\.?,?\s+(\d{{4}})\b", re.I)
_MONTH_FIRST = re.compile(rf"\b({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?\b", re.I)
_MONTH_YEAR = re.compile(rf"\b({_MONTH})\.?,?\s+(\d{{4}})\b", re.I)
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_YEAR = re.compile(r"\b(?:in|during|of|from|since|before|after)\s+((?:19|20)\d\d)\b", re.I)
_RELATIVE = {"last week": 7, "past week": 7, "this week": 7, "last month": 31, "past month": 31, "this month": 31,
             "last year": 366, "past year": 366, "yesterday": 2, "today": 1}
_LATEST = re.compile(r"\b(?:latest|most recent(?:ly)?|newest|recently)\b", re.I)


@dataclass(frozen=True)
class Reading:
    outlets: tuple[str, ...] = ()  # as the index stores them
    dates: tuple[tuple[str, str], ...] = ()  # named periods, each (first, last) ISO day
    latest: bool = False  # the question asks for the most recent
    absent: tuple[str, ...] = ()  # what it names that the index holds nothing of, said as a clause
    no_period: bool = False  # it names periods and the index has no article from any of them
    unchecked: tuple[str, ...] = ()  # names in an outlet's place, over an index that records no outlets

    @property
    def empty(self) -> bool:
        return not (self.outlets or self.dates or self.latest or self.absent or self.unchecked)

    def describe(self) -> str:
        parts = []
        if self.outlets:
            parts.append("outlet " + ", ".join(self.outlets))
        if self.dates:
            parts.append("published " + ", ".join(a if a == b else f"{a} to {b}" for a, b in self.dates))
        if self.latest:
            parts.append("the most recent articles first")
        held = "Read from the question: " + "; ".join(parts) + "." if parts else ""
        missing = "".join(f" {a[0].upper()}{a[1:]}." for a in self.absent)
        unchecked = (" This index records no outlets: " + " and ".join(repr(u) for u in self.unchecked)
                     + " as the source could not be checked." if self.unchecked else "")
        return (held + missing + unchecked).strip()

    def date_match(self, published: str | None) -> bool:
        return bool(published) and any(a <= published[:10] <= b for a, b in self.dates)


def plain(text: str) -> str:
    """Lower case, no possessive 's, punctuation as spaces, no leading "the", padded with spaces:
    how outlet names are compared ("The Verge's" -> " verge ")."""
    text = re.sub(r"[’'`]s\b", "", text.lower())
    text = re.sub(r"[^\w]+", " ", text)
    return f" {re.sub(r'^the ', '', text.strip())} "


@lru_cache(maxsize=8)
def outlet_names(outlets: tuple[str, ...]) -> dict[str, frozenset[str]]:
    """Normalised name -> the stored outlets it names: each outlet by its whole name, and by
    the part before " - " or " | " ("The Independent - Sports" -> "independent")."""
    names: dict[str, set[str]] = {}
    for outlet in outlets:
        if not outlet:
            continue
        for name in {outlet, re.split(r"\s+[-|:]\s+", outlet)[0]}:
            key = plain(name)
            if len(key.strip()) >= 3:
                names.setdefault(key, set()).add(outlet)
    return {key: frozenset(found) for key, found in names.items()}


# "according to Reuters", "as reported by the Verge", "the Wired article", "what did Reuters report":
# a name in an outlet's place
_OUTLET_PLACE = re.compile(
    r"\b(?i:according to|reported (?:by|in|on)|published (?:by|in)|(?:article|report|story|piece|coverage)s? "
    r"(?:from|by|in))\s+(?:the\s+|both\s+(?:the\s+)?)?([A-Z][\w.&'-]*(?:\s+[A-Z][\w.&'-]*){0,3})"
    r"|\b([A-Z][\w.&-]*(?:\s+[A-Z][\w.&-]*){0,2})(?:'s|’s)?\s+(?:article|report(?:s|ed)?|story|coverage)\b")
_NOT_OUTLETS = {"the", "a", "an", "this", "that", "which", "what", "another", "both", "each", "an", "one", "its"}


def read(question: str, outlets: Iterable[str] = (), newest: str | None = None,
         published: Sequence[str] = ()) -> Reading:
    """The outlets (of `outlets`, those the index holds), dates and periods `question` names.
    `newest`: the newest indexed date (ISO), for "last week" and "latest". `published`: the
    indexed dates, sorted (a period none falls in is reported absent). A name in an
    outlet's place ("according to X") that no indexed outlet matches is reported absent,
    when the index has outlets at all."""
    asked = plain(question)
    names = outlet_names(tuple(outlets))  # the index's outlets: the same tuple question after question
    named: set[str] = set()
    taken: list[str] = []
    for key in sorted(names, key=len, reverse=True):  # "the independent sports" before "independent"
        if key in asked and not any(key in t for t in taken) and _capitalised(question, key):
            taken.append(key)
            named |= names[key]
    absent = []
    if names:
        for name in outlet_places(question):
            key = plain(name)
            if not any(key in k or k in key for k in names):
                absent.append(f"no indexed outlet matches {name!r}")
    periods = _periods(question, newest)
    if published:
        for a, b in periods:
            if bisect.bisect_right(published, b) == bisect.bisect_left(published, a):
                absent.append(f"no indexed article was published {'on ' + a if a == b else f'from {a} to {b}'}")
    held = [p for p in periods if not published or bisect.bisect_right(published, p[1]) > bisect.bisect_left(published, p[0])]
    return Reading(tuple(sorted(named)), tuple(held), bool(_LATEST.search(question)), tuple(dict.fromkeys(absent)),
                   bool(periods) and not held, () if names else outlet_places(question))


def outlet_places(question: str) -> tuple[str, ...]:
    """The names a question puts in an outlet's place ("according to Reuters", "as
    reported by the BBC", "the Wired article"), in order, each once. Over an index that
    records no outlets they can be neither matched nor ruled out (Reading.unchecked: said
    in a note, never a filter)."""
    out: list[str] = []
    for m in _OUTLET_PLACE.finditer(question):
        name = (m.group(1) or m.group(2) or "").strip(" .'")
        if name and name.lower() not in _NOT_OUTLETS and name not in out:
            out.append(name)
    return tuple(out)


def _capitalised(question: str, key: str) -> bool:
    """Whether the question writes the name as a name somewhere (its first letter upper
    case): "The Age" names an outlet, "the age of the Earth" does not."""
    words = key.split()
    pattern = r"(?<!\w)" + r"[^\w]+".join(rf"(?i:{re.escape(w)})" for w in words) + r"(?!\w)"
    return any(m.group(0)[:1].isupper() or m.group(0)[:1].isdigit() for m in re.finditer(pattern, question))


def _periods(question: str, newest: str | None) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    used: list[tuple[int, int]] = []

    def add(first: date, last: date, span: tuple[int, int]) -> None:
        if not any(a <= span[0] < b for a, b in used):
            out.append((first.isoformat(), last.isoformat()))
            used.append(span)

    for m in _ISO.finditer(question):
        day = _date(int(m[1]), int(m[2]), int(m[3]))
        if day:
            add(day, day, m.span())
    for m in _DAY_FIRST.finditer(question):
        day = _date(int(m[3]), _MONTHS[m[2].lower()], int(m[1]))
        if day:
            add(day, day, m.span())
    for m in _MONTH_FIRST.finditer(question):
        year = int(m[3]) if m[3] else (int(newest[:4]) if newest else None)
        day = _date(year, _MONTHS[m[1].lower()], int(m[2])) if year else None
        if day and (m[3] or m[1].lower() not in ("may", "march")):  # "may 5 people" is no date without a year
            add(day, day, m.span())
    for m in _MONTH_YEAR.finditer(question):
        month, year = _MONTHS[m[1].lower()], int(m[2])
        first = _date(year, month, 1)
        if first:
            add(first, first.replace(day=calendar.monthrange(year, month)[1]), m.span())
    for m in _YEAR.finditer(question):
        year = int(m[1])
        add(date(year, 1, 1), date(year, 12, 31), m.span(1))
    if newest:
        end = date.fromisoformat(newest[:10])
        lowered = question.lower()
        for phrase, days in _RELATIVE.items():
            at = lowered.find(phrase)
            if at >= 0:
                add(end - timedelta(days=days - 1), end, (at, at + len(phrase)))
    return out


def _date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None
