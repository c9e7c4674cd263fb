"""Sentence spans and sentence-aware chunks, each with its character span in the text."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

# Words whose full stop does not end a sentence.
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "gen", "lt", "col", "maj", "capt", "sgt", "adm", "gov",
    "sen", "rep", "rev", "st", "jr", "sr", "no", "vs", "etc", "e.g", "i.e", "fig", "al",
    "inc", "ltd", "co", "corp", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec", "approx", "dept", "est", "u.s", "u.k", "u.n", "e.u",
}
# A candidate boundary: terminal punctuation, closing quotes/brackets, then space.
# The patterns run in linear time on hostile text (a line of 20,000 "!" or one very long
# word took 10-30 s before): a run is only tried from its first character, never from
# each character inside it; they find exactly what the plain patterns found.
_BOUNDARY = re.compile(r"(?<![.!?…])[.!?…]+[\"'”’)\]]*(?=\s)|\n(?:[^\S\n]*\n)+|\n")
_NEXT_STARTS = re.compile(r"\s+[\"'“‘(\[]*[A-Z0-9À-ÖØ-Þ]")
_INITIALS = re.compile(r"\b[A-Za-z]\.$")  # ends with an initial: "Q.", "U.S."
_LAST_WORD = re.compile(r"(?<!\S)\S+$")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence; a line break always ends one. No span is empty."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.end()
        if text[match.start()] not in "\n" and not _ends_sentence(text, match.start(), end):
            continue
        _add(spans, text, start, end)
        start = end
    _add(spans, text, start, len(text))
    return spans


def _ends_sentence(text: str, at: int, end: int) -> bool:
    if not _NEXT_STARTS.match(text, end):
        return False
    if text[at] != ".":
        return True
    return not is_abbreviation(text[max(0, at - 40) : at + 1])


def is_abbreviation(text: str) -> bool:
    """Whether `text` ends with a full stop that belongs to a word: "Mr.", "Q.", "U.S."."""
    match = _LAST_WORD.search(text)
    if not match or not text.endswith("."):
        return False
    word = match.group(0).lstrip("\"'“‘([").lower()
    return word[:-1] in _ABBREVIATIONS or bool(_INITIALS.search(word))


def _add(spans: list[tuple[int, int]], text: str, start: int, end: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))


@dataclass(frozen=True)
class Chunk:
    """A run of whole sentences of one document: `text == document.text[start:end]`."""

    id: str
    doc_id: str
    index: int
    start: int
    end: int
    text: str
    sentences: tuple[tuple[int, int], ...]  # spans relative to the document text


def chunk_text(
    doc_id: str, text: str, max_chars: int = 1000, max_sentences: int = 10, overlap: int = 0
) -> list[Chunk]:
    """Group sentences into chunks of at most `max_sentences` and about `max_chars`,
    consecutive chunks sharing `overlap` sentences (fewer where the shared sentences and
    the next one would not fit in `max_chars`: no chunk repeats only its neighbour's tail).
    A sentence longer than `max_chars` is a chunk of its own (never cut)."""
    if max_sentences < 1 or max_chars < 1 or not 0 <= overlap < max_sentences:
        raise ValueError(
            f"chunking needs max_sentences >= 1, max_chars >= 1 and 0 <= overlap < max_sentences; "
            f"got {max_sentences}, {max_chars}, {overlap}"
        )
    sentences = sentence_spans(text)

    def group_end(i: int) -> int:
        j = i + 1
        while j < len(sentences) and j - i < max_sentences and sentences[j][1] - sentences[i][0] <= max_chars:
            j += 1
        return j

    groups: list[list[tuple[int, int]]] = []
    i, done = 0, 0  # done: sentences already in a chunk
    while i < len(sentences):
        j = group_end(i)
        if j <= done:  # only the overlap fits: it would repeat the last chunk's tail
            i, j = done, group_end(done)
        groups.append(sentences[i:j])
        if j >= len(sentences):
            break
        i, done = max(i + 1, j - overlap), j
    chunks = []
    for index, group in enumerate(groups):
        start, end = group[0][0], group[-1][1]
        chunk_id = hashlib.sha256(f"{doc_id}:{start}:{end}".encode()).hexdigest()[:32]
        chunks.append(Chunk(chunk_id, doc_id, index, start, end, text[start:end], tuple(group)))
    return chunks
