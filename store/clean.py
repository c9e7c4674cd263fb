"""Turn an extracted web page into (title, article body): page furniture goes, body text stays.

News pages extracted to text carry furniture around the article: a section label above
the headline, the headline repeated, a caption under the standfirst, and below the body
related-story lists, teasers ("Science4 weeks agoUniversity of ..."), share counts and
comment prompts. Lines are judged by their place and shape, never by a phrase inside a
sentence: on clean text (a BBC story, a SciFact abstract) every line below the headline stays.

The rules, in order (each line is a paragraph; blank lines are dropped):
1. Furniture anywhere: a whole-line marker ("Leave a Reply", "0 Shares:", "-"), a teaser
   (an age glued to its neighbours, "Science4 weeks agoUniversity", or a line that is only
   an age, "2 hours ago"), or a line of `boilerplate` (lines repeating across a site's
   files, from `repeated_lines`).
2. The tail: the trailing run of headline-like lines (no closing full stop, 25 words at
   most) goes from its first furniture line down, if it holds a heading marker ("Latest
   News Stories", "You May Also Like", "Topics in this article") or a teaser. Without
   that evidence a trailing list (fixtures, award winners) is body.
3. The title is the first line of three words or more, unless it cannot be a headline
   (over 25 words, a sentence of over 20, or one of ten or more ending with a full stop:
   then the file name is the title and every line is body). Short labels above it ("Politics"), repeats of
   it and markdown sub-headings below it ("## Traffic") go. A text whose only line of
   three words or more would be the title keeps that line as its body, under the short
   line above it as the title ("Orchard Harvest"), or under the file name.
4. The head: between the title and the first line that ends as a sentence, a short line
   (eight words at most) below a standfirst (a line of 15 words or more) is the lead
   picture's caption and goes. Nothing else inside the body is dropped.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence

from .chunking import is_abbreviation

# Markers that head a block of furniture: below one of them, headline-like lines are links.
_HEADING_MARKERS = r"""
        latest\ news(?:\ stories)? | you\ may\ also\ like | related(?:\ (?:stories|articles|posts|news))?
      | leave\ a\ (?:reply|comment) | \d+\ (?:shares?|comments?):? | shares?:?
      | your\ email\ address\ will\ not\ be\ published.* | required\ fields\ are\ marked.*
      | topics\ in\ this\ article | sign\ up\ for\ (?:our\ )?newsletters?.* | more\ from\ .{0,40}
      | recommended(?:\ for\ you)? | trending(?:\ now)? | most\ (?:read|popular) | comments
      | post\ navigation
"""
# Markers of furniture on their own: share buttons, separators, navigation links.
_OTHER_MARKERS = r"""
        skip\ to\ (?:footer|content|main\ content|navigation)
      | (?:share|tweet|email|print)(?:\ (?:this|on\ \w+))? | advertisement | read\ more:?
      | click\ here\ to\ .* | previous\ article | next\ article | -+ | [•·|*]+
"""
_HEADING = re.compile(rf"^(?:{_HEADING_MARKERS})$", re.IGNORECASE | re.VERBOSE)
_MARKERS = re.compile(rf"^(?:{_HEADING_MARKERS}|{_OTHER_MARKERS})$", re.IGNORECASE | re.VERBOSE)
_UNIT = r"(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?)"
# A teaser's age glued to the section before it or the headline after it: "Science4 weeks
# agoUniversity". Each branch is tried from a letter or the first digit of a run only, so a
# line of 20,000 digits takes no time.
_GLUED_AGE = re.compile(rf"[^\W\d_]\d+\s*{_UNIT}\s+ago|(?<!\d)\d+\s*{_UNIT}\s+ago[^\W\d_]", re.I)
_AGE_ONLY = re.compile(rf"^(?:updated\ |published\ |posted\ )?\d+\s*{_UNIT}\s+ago$", re.I | re.X)
_MD_HEADING = re.compile(r"^#{1,6} ")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u3000]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

HEADLINE_MAX_WORDS = 25  # a longer line is a paragraph, never a headline or a link
CAPTION_MAX_WORDS = 8
STANDFIRST_MIN_WORDS = 15


def normalize_line(line: str) -> str:
    line = _CONTROL.sub("", unicodedata.normalize("NFC", line))
    return _SPACES.sub(" ", line).strip()


def is_teaser(line: str) -> bool:
    """A related-story teaser by its shape: an age glued to the words around it, or only an age."""
    if "ago" not in line.lower():  # the cheap test first: most lines hold no age
        return False
    return bool(_AGE_ONLY.match(line)) or bool(_GLUED_AGE.search(line))


def is_furniture(line: str) -> bool:
    """Furniture wherever it stands: a whole-line marker or a teaser."""
    return bool(_MARKERS.match(line)) or is_teaser(line)


def _last_mark(line: str) -> str:
    """The line's last character before closing quotes and brackets."""
    return line.rstrip("\"'”’)]")[-1:]


def is_sentence(line: str) -> bool:
    """Whether the line ends as a sentence does: . ! ? or an ellipsis, then closing quotes/brackets."""
    return _last_mark(line) in (".", "!", "?", "…") and not is_abbreviation(line)


def _words(line: str) -> int:
    return len(line.split())


def _headline_like(line: str) -> bool:
    return _words(line) <= HEADLINE_MAX_WORDS and _last_mark(line) != "."


def _cannot_be_headline(line: str) -> bool:
    """A first line that is a body paragraph: more than 25 words, a sentence of more than 20,
    or a sentence of ten words or more ending with a full stop (headlines carry none)."""
    words = _words(line)
    return words > HEADLINE_MAX_WORDS or (
        is_sentence(line) and (words > 20 or (_last_mark(line) == "." and words >= 10))
    )


def _split_lines(raw: str) -> list[str]:
    lines = (normalize_line(line) for line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return [line for line in lines if line]


def _tail_start(lines: list[str]) -> int:
    """Where the furniture below the body starts (len(lines) if there is none)."""
    run = len(lines)
    while run > 0 and (is_furniture(lines[run - 1]) or _headline_like(lines[run - 1])):
        run -= 1
    tail = lines[run:]
    if not any(_HEADING.match(line) or is_teaser(line) for line in tail):
        return len(lines)
    return run + next(i for i, line in enumerate(tail) if is_furniture(line))


def clean_article(raw: str, fallback_title: str = "", *, boilerplate: Iterable[str] = frozenset()) -> tuple[str, str]:
    """Return (title, body) with body paragraphs joined by blank lines.

    `fallback_title` (the file name, say) is used when the text has no headline line.
    `boilerplate`: normalised lines known to repeat across the site's files (see
    `repeated_lines`); they go wherever they stand.
    """
    boilerplate = frozenset(boilerplate)
    lines = [line for line in _split_lines(raw) if line not in boilerplate]

    # 2. the tail, then 1. furniture anywhere.
    lines = [line for line in lines[: _tail_start(lines)] if not is_furniture(line)]

    # 3. the title: the first line of three words or more.
    title_at = next((i for i, line in enumerate(lines) if _words(line) >= 3), None)
    if title_at is None or _cannot_be_headline(lines[title_at]):
        return fallback_title, "\n\n".join(lines)  # no headline: the text starts with its body
    title = lines[title_at].lstrip("#").strip()
    body = [line for line in lines[title_at + 1 :] if line.lstrip("#").strip() != title]
    body = [line for line in body if not _MD_HEADING.match(line)]
    if not body:  # one line of text: it is the body, under a short headline if one stands above it
        return (lines[title_at - 1].lstrip("#").strip() if title_at else fallback_title), lines[title_at]

    # 4. the head: a caption below the standfirst, above the first sentence.
    head = next((i for i, line in enumerate(body) if is_sentence(line)), len(body))
    if head >= 2 and _words(body[0]) >= STANDFIRST_MIN_WORDS:
        body = body[:1] + [line for line in body[1:head] if _words(line) > CAPTION_MAX_WORDS] + body[head:]
    return title, "\n\n".join(body)


def repeated_lines(texts: Sequence[str], min_files: int = 5, min_share: float = 0.2) -> frozenset[str]:
    """Normalised lines that repeat across the files of one site (one folder of an ingest):
    navigation, footers, newsletter prompts. Pass the result to `clean_article(boilerplate=)`.

    A line is boilerplate when it stands in at least `min_files` distinct stories and in at
    least `min_share` of them. Stories are counted, not files: identical texts count once,
    and texts sharing a paragraph of more than 25 words (versions of one story) count once.
    Such a long paragraph is never boilerplate.
    """
    docs = list({"\n".join(lines): set(lines) for lines in map(_split_lines, texts) if lines}.values())
    if not docs:
        return frozenset()
    parent = list(range(len(docs)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    holders: dict[str, list[int]] = {}
    for i, lines in enumerate(docs):
        for line in lines:
            holders.setdefault(line, []).append(i)
    for line, where in holders.items():
        if _words(line) > HEADLINE_MAX_WORDS:
            for j in where[1:]:
                parent[find(j)] = find(where[0])
    stories = len({find(i) for i in range(len(docs))})
    need = max(min_files, math.ceil(min_share * stories))
    return frozenset(
        line
        for line, where in holders.items()
        if _words(line) <= HEADLINE_MAX_WORDS and len(where) >= need and len({find(i) for i in where}) >= need
    )
