"""Bad input never crashes or corrupts: property-based tests of loading, cleaning and
chunking on whatever a folder of "articles" may hold.

Arbitrary Unicode, empty and whitespace files, NUL bytes, CRLF and lone CR, byte-order
marks, Latin-1 and UTF-16 files, mixed encodings in one file, huge files and very long
lines. The properties:
- `store.load` returns a Document or raises `store.InputError` (a clear, one-line
  message); nothing else escapes;
- a loaded Document's text is clean (no CR, no control characters, no blank lines) and
  every chunk and sentence span satisfies `text == cleaned[start:end]`;
- the same bytes always give the same Document (ids are stable), whatever the line ends.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import examples
from rag import features
from store import Document, InputError, chunk_text, find_files, load, parse, sentence_spans
from store.documents import MAX_FILE_BYTES
from store.errors import one_line
from store.keyword import terms

SUFFIXES = [".txt", ".md", ".html"]

# Pieces that stress cleaning and sentence splitting, mixed into arbitrary Unicode.
PIECES = st.sampled_from([
    "\r\n", "\r", "\n", "\n\n", "\x00", "\ufeff", "\u2028", "\u00a0", "\t", "\x1b[31m", "\x7f",
    "Mr. ", "U.S. ", "e.g. ", "...", "!!!", "?” ", "“", "’", "5 hours ago", "Leave a Reply",
    "Share", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[x](javascript:alert(1))",
    "![i](x.png)", "# Heading", "- item", "&amp;", "<p>", "</p>", "é", "\u0301", "𝔘𝔫𝔦", "👍🏽", "\ud7ff",
    "The committee met on Monday. ", "It said so! ", "Why? ", "A long sentence about nothing in particular.",
])
TEXT = st.lists(st.one_of(st.text(max_size=40), PIECES), max_size=40).map("".join)


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def _check_document(doc: Document) -> None:
    """The invariants every loaded Document and its chunks keep."""
    assert isinstance(doc.title, str) and isinstance(doc.text, str)
    assert "\r" not in doc.text and "\n" not in doc.title, "line ends must be normalised"
    assert not any(ord(ch) < 32 and ch != "\n" for ch in doc.text), f"control characters left: {doc.text[:80]!r}"
    assert not doc.text or all(p.strip() for p in doc.text.split("\n\n")), "no blank paragraph"
    sentences = sentence_spans(doc.text)
    for a, b in sentences:
        assert 0 <= a < b <= len(doc.text) and doc.text[a:b] == doc.text[a:b].strip()
    chunks = chunk_text(doc.id, doc.text)
    assert len({c.id for c in chunks}) == len(chunks), "chunk ids must be unique"
    covered = set()
    for c in chunks:
        assert c.text == doc.text[c.start : c.end], f"span {c.start}:{c.end} does not hold"
        assert c.start == c.sentences[0][0] and c.end == c.sentences[-1][1]
        covered.update(c.sentences)
    assert covered == set(sentences), "every sentence is in some chunk"


def _load_or_input_error(path: Path) -> Document | None:
    try:
        doc = load(path, path.name)
    except InputError as err:
        message = str(err)
        assert message and "\n" not in message, f"the error must be one line: {message!r}"
        assert one_line(str(path)) in message or one_line(path.name) in message, f"the error must name the file: {message!r}"
        return None
    _check_document(doc)
    assert doc.text.strip(), "a loaded document has text"
    return doc


@settings(max_examples=examples(300), deadline=None)
@given(text=TEXT, suffix=st.sampled_from([".txt", ".md"]))
@example(text="", suffix=".txt")
@example(text="\r\n\r\n   \t\n", suffix=".md")
@example(text="Title line here\r\nFirst sentence.\rSecond one.\r\n", suffix=".txt")
def test_parse_of_any_unicode_keeps_spans(text, suffix):
    doc = parse(text, "a" + suffix, suffix=suffix)
    _check_document(doc)
    assert parse(text, "a" + suffix, suffix=suffix) == doc, "the same text gives the same Document"


@settings(max_examples=examples(40), deadline=None)
@given(text=TEXT)
@example(text="<html><head><title>Hostile <script>x</script></title></head><body><p>Body text is here, long enough to keep.</p></body></html>")
def test_parse_of_any_html_keeps_spans(text):
    _check_document(parse(text, "a.html", suffix=".html"))


ENCODED = st.one_of(
    st.binary(max_size=300),
    TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")),
    TEXT.map(lambda t: t.encode("latin-1", "replace")),
    TEXT.map(lambda t: t.encode("utf-16")),
    TEXT.map(lambda t: b"\xef\xbb\xbf" + t.encode("utf-8", "replace")),
    st.tuples(TEXT, TEXT).map(lambda p: p[0].encode("utf-8", "replace") + p[1].encode("cp1252", "replace")),
    st.tuples(TEXT, st.binary(max_size=8), TEXT).map(
        lambda p: p[0].encode("utf-8", "replace") + b"\x00" + p[1] + p[2].encode("utf-8", "replace")),
)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=ENCODED, suffix=st.sampled_from(SUFFIXES))
@example(data=b"", suffix=".txt")
@example(data=b"\x00\x01\x02binary", suffix=".md")
@example(data="Caf\u00e9 owners say prices rose sharply this year.".encode("latin-1"), suffix=".txt")
@example(data="Title of it\n".encode() + b"\x00" * 3 + b"Text after NUL bytes goes on here.", suffix=".txt")
def test_loading_any_bytes_gives_a_document_or_one_clear_error(data, suffix):
    with tempfile.TemporaryDirectory() as folder:
        _load_or_input_error(_write(Path(folder), "article" + suffix, data))


def test_line_ends_do_not_change_the_document():
    lf = "A headline of several words\nThe first sentence is here. The second follows it.\n\nA new paragraph starts.\n"
    with tempfile.TemporaryDirectory() as folder:
        docs = [
            load(_write(Path(folder), f"a{i}.txt", variant.encode()), "a.txt")
            for i, variant in enumerate([lf, lf.replace("\n", "\r\n"), lf.replace("\n", "\r"), "\ufeff" + lf])
        ]
    assert len({(d.id, d.title, d.text) for d in docs}) == 1, [d.text for d in docs]


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "no article text"),
        (b"   \n\t\r\n  ", "no article text"),
        (b"\x00\x00\x00\x00", "binary"),
        ("Caf\u00e9 is open.".encode("latin-1"), "not UTF-8"),
        ("Title here\nBody text of the article.".encode("utf-16"), "binary"),  # UTF-16 holds NUL bytes
    ],
)
def test_bad_files_name_the_problem(tmp_path, data, words):
    path = _write(tmp_path, "bad.txt", data)
    with pytest.raises(InputError, match=words) as caught:
        load(path, "bad.txt")
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_file_over_the_size_limit_is_refused_without_being_read(tmp_path):
    path = tmp_path / "huge.txt"
    with open(path, "wb") as f:  # sparse: no disk or memory used
        f.truncate(MAX_FILE_BYTES + 1)
    started = time.perf_counter()
    with pytest.raises(InputError, match="too large"):
        load(path, "huge.txt")
    assert time.perf_counter() - started < 1.0


def test_a_large_file_loads_and_chunks_in_linear_time(tmp_path):
    sentence = "The committee of the U.S. Senate met on Monday to discuss the budget again. "
    body = "\n\n".join(sentence * 20 for _ in range(2000))  # about 3 MB
    path = _write(tmp_path, "big.txt", f"A big article title\n{body}\n".encode())
    started = time.perf_counter()
    doc = load(path, "big.txt")
    chunks = chunk_text(doc.id, doc.text)
    elapsed = time.perf_counter() - started
    assert len(chunks) > 3_000 and all(c.text == doc.text[c.start : c.end] for c in chunks)
    assert elapsed < 60, f"3 MB took {elapsed:.1f} s to load and chunk"


@pytest.mark.parametrize(
    "line",
    [
        "1" * 200_000,  # digits: the "N hours ago" teaser pattern
        "!" * 200_000 + " x",  # punctuation runs: sentence boundaries
        "." * 200_000,
        "a." * 100_000 + " The end.",  # initials
        "x" * 400_000 + " end.",  # one very long word
        "word " * 100_000 + ".",
        "<script>alert(1)</script>" * 20_000,
    ],
    ids=["digits", "bangs", "dots", "initials", "long-word", "long-sentence", "script-tags"],
)
def test_very_long_lines_are_cleaned_and_chunked_quickly(tmp_path, line):
    path = _write(tmp_path, "long.txt", f"A hostile article title\n{line}\nA last normal sentence.\n".encode())
    started = time.perf_counter()
    doc = _load_or_input_error(path)
    elapsed = time.perf_counter() - started
    assert doc is not None
    assert elapsed < 10, f"a {len(line):,}-character line took {elapsed:.1f} s (quadratic pattern?)"


@settings(max_examples=examples(30), deadline=None)
@given(names=st.lists(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
                              min_size=1, max_size=20), min_size=1, max_size=6, unique=True),
       suffix=st.sampled_from(SUFFIXES + [".pdf", "", ".TXT"]))
def test_folders_of_odd_file_names_list_or_fail_clearly(names, suffix):
    with tempfile.TemporaryDirectory() as folder:
        made = []
        for name in names:
            try:
                _write(Path(folder), name + suffix, b"A title of words\nA sentence of the body.\n")
                made.append(name + suffix)
            except OSError:  # a name the file system refuses ("." or too long): not our input
                continue
        try:
            found = find_files([folder])
        except InputError as err:
            assert "no articles" in str(err)
            return
        for path, source in found:
            assert path.is_file() and source.endswith(path.name)
            assert not any(part.startswith(".") for part in Path(os.path.relpath(path, folder)).parts)
            _load_or_input_error(path)


def test_an_error_about_a_file_with_a_line_break_in_its_name_is_one_line(tmp_path):
    """Found by the test above (names=['\\n'], suffix='.html'): the name went into the message as is."""
    path = _write(tmp_path, "odd\nname.html", b"")
    with pytest.raises(InputError) as caught:
        load(path, path.name)
    message = str(caught.value)
    assert "\n" not in message and "odd\\nname.html" in message, message




_STEMS = st.text(alphabet="abcdefgh", min_size=2, max_size=9)


@st.composite
def _asked_and_held(draw):
    """A question's terms and a text's words, the words often cut from or grown out of the terms."""
    asked = draw(st.dictionaries(_STEMS, st.floats(0.1, 9.0), min_size=1, max_size=8))
    words = draw(st.lists(st.one_of(_STEMS, st.sampled_from(sorted(asked)), st.tuples(st.sampled_from(sorted(asked)), st.integers(2, 9), _STEMS).map(
        lambda x: x[0][: x[1]] if len(x[0]) > x[1] else x[0] + x[2])), max_size=12))
    return asked, " ".join(words)


@settings(max_examples=examples(300), deadline=None)
@given(_asked_and_held())
def test_matcher_finds_what_matched_finds(case):
    """The question's terms a text holds, by the Matcher's lookups, are those the plain
    definition (features.matched: the same stem, or one of 5+ letters beginning the other) finds."""
    asked, text = case
    assert features.Matcher(asked).held(text) == features.matched(asked, set(terms(text)))
