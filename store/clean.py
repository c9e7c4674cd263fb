"""Turn an extracted web page into (title, article body): page furniture goes.

News pages extracted to text carry furniture around the article: a section label
above the headline, the headline repeated, image captions, and below the body
related-story lists, share counts, comment prompts and "Skip to footer" links.

The rules, in order:
1. Lines are stripped and blank lines dropped; each line is a paragraph.
2. Lines that are known furniture anywhere ("Leave a Reply", "0 Shares:", ...) go.
3. The tail: below the last line that ends like a sentence, everything is furniture
   (headline lists carry no full stop) -- provided the run holds a furniture marker or
   looks like a list of headlines (two lines or more).
4. The title is the first line of at least three words, unless that line is plainly
   a body sentence (no headline: the file name is the title); short labels above it
   ("Politics") and repeats of it go.
5. Inside the body, a short line that is not a sentence (a caption, a label of a few
   words) goes; longer lines stay whatever their punctuation.
"""

from __future__ import annotations

import re
import unicodedata

from .chunking import is_abbreviation

_MARKERS = re.compile(
    r"""^(?:
        latest\ news(?:\ stories)? | you\ may\ also\ like | related(?:\ (?:stories|articles|posts|news))?
      | leave\ a\ (?:reply|comment) | \d+\ (?:shares?|comments?):? | shares?:?
      | your\ email\ address\ will\ not\ be\ published.* | required\ fields\ are\ marked.*
      | topics\ in\ this\ article | skip\ to\ (?:footer|content|main\ content|navigation)
      | (?:share|tweet|email|print)(?:\ (?:this|on\ \w+))? | advertisement | read\ more:?
      | sign\ up\ for\ (?:our\ )?newsletters?.* | click\ here\ to\ .* | more\ from\ .{0,40}
      | recommended(?:\ for\ you)? | trending(?:\ now)? | most\ (?:read|popular) | comments
      | post\ navigation | previous\ article | next\ article | -+ | [•·|*]+
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
# "Science4 weeks agoUniversity of ..." / "2 hours ago": a teaser with its age. (?<!\d): tried
# from the first digit of a run only, so a line of 20,000 digits takes no time (it took 2 min).
_AGE = re.compile(r"(?<!\d)\d+\s*(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?)\s+ago", re.I)
# A line that ends as a sentence does: . ! ? or an ellipsis, then closing quotes/brackets.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*$")
_FULL_STOP = re.compile(r"\.[\"'”’)\]]*$")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u3000]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def normalize_line(line: str) -> str:
    line = _CONTROL.sub("", unicodedata.normalize("NFC", line))
    return _SPACES.sub(" ", line).strip()


def is_furniture(line: str) -> bool:
    return bool(_MARKERS.match(line)) or bool(_AGE.search(line))


def is_sentence(line: str) -> bool:
    return bool(_SENTENCE_END.search(line)) and not is_abbreviation(line)


def _words(line: str) -> int:
    return len(line.split())


def _is_body_sentence(line: str) -> bool:
    """A first line that cannot be a headline: a long sentence, or a sentence of ten words
    or more ending with a full stop (headlines carry none)."""
    return is_sentence(line) and (_words(line) > 20 or (bool(_FULL_STOP.search(line)) and _words(line) >= 10))


def clean_article(raw: str, fallback_title: str = "") -> tuple[str, str]:
    """Return (title, body) with body paragraphs joined by blank lines.

    `fallback_title` (the file name, say) is used when the text has no headline line.
    """
    lines = [normalize_line(line) for line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    lines = [line for line in lines if line]

    # 3. the tail: trailing non-sentence lines, when they look like furniture.
    cut = len(lines)
    while cut > 0 and not is_sentence(lines[cut - 1]):
        cut -= 1
    tail = lines[cut:]
    if tail and (any(is_furniture(line) for line in tail) or len(tail) >= 2) and cut > 0:
        lines = lines[:cut]

    lines = [line for line in lines if not is_furniture(line)]

    # 4. the title: the first line of three words or more.
    title_at = next((i for i, line in enumerate(lines) if _words(line) >= 3), None)
    if title_at is None or _is_body_sentence(lines[title_at]):
        # no headline: the text starts with its body
        body = [line for line in lines if is_sentence(line) or _words(line) >= 7]
        return fallback_title, "\n\n".join(body)
    title = lines[title_at].lstrip("#").strip()
    body = [line for line in lines[title_at + 1 :] if line.lstrip("#").strip() != title]

    # 5. short non-sentences inside the body: captions, labels.
    body = [line for line in body if is_sentence(line) or _words(line) >= 7]
    return title, "\n\n".join(body)
