"""Sentence spans and chunks: whole sentences only, spans exact, no sentence shared by default."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import store
from conftest import examples
from store import chunk_text, sentence_spans


def sentences_of(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "Mr. Hegseth is expected to dial in. He will not attend.",
            ["Mr. Hegseth is expected to dial in.", "He will not attend."],
        ),
        (
            "The chairman, Gen. Charles Q. Brown Jr., chairman of the Joint Chiefs, spoke. Others did not.",
            ["The chairman, Gen. Charles Q. Brown Jr., chairman of the Joint Chiefs, spoke.", "Others did not."],
        ),
        (
            "U.S. boots will not be on the ground. Troops stay home.",
            ["U.S. boots will not be on the ground.", "Troops stay home."],
        ),
        (
            "“The president has definitely stated U.S. boots will not be on the ground in Ukraine,” Leavitt said. "
            "“But we can help.”",
            [
                "“The president has definitely stated U.S. boots will not be on the ground in Ukraine,” Leavitt said.",
                "“But we can help.”",
            ],
        ),
        ("He said it was “over.” Then he left.", ["He said it was “over.”", "Then he left."]),
        (
            "Held on Feb. 12. Britain’s defense secretary, John Healey, is now the chairman.",
            ["Held on Feb. 12.", "Britain’s defense secretary, John Healey, is now the chairman."],
        ),
        (
            "Mr. Hegseth’s predecessor, Lloyd J. Austin III, said goodbye. It was January.",
            ["Mr. Hegseth’s predecessor, Lloyd J. Austin III, said goodbye.", "It was January."],
        ),
        ("What is the deadline? When it’s over! Really…  Yes.", ["What is the deadline?", "When it’s over!", "Really…", "Yes."]),
        ("line one\nline two\n\nline three", ["line one", "line two", "line three"]),
        ("No full stop at the end", ["No full stop at the end"]),
        ("  leading and trailing space.  ", ["leading and trailing space."]),
        ("", []),
        ("   \n\n  ", []),
    ],
)
def test_sentence_spans_on_tricky_text(text, expected):
    assert sentences_of(text) == expected


def test_abbreviation_at_a_real_sentence_end_is_never_a_cut():
    # "U.S." may end a sentence; joining two sentences is safe, cutting "U.S." is not.
    got = sentences_of("It happened in the U.S. Then it spread.")
    assert all(not s.endswith("U.") and not s.startswith("S.") for s in got), got
    assert " ".join(got) == "It happened in the U.S. Then it spread."


# Sentences of the bundled articles that must come out whole, as one span each.
WHOLE_SENTENCES = {
    "000_56fede4640ca55dd.txt": [
        "“The president has definitely stated U.S. boots will not be on the ground in Ukraine,” Leavitt said.",
        "Delegations from France, the U.K., Italy and Finland were present.",
        "The meeting comes one day after Chairman of the Joint Chiefs of Staff Gen. Dan Caine hosted European "
        "military counterparts in Washington to continue talks on security guarantees.",
    ],
    "001_63c6af70c674f0c3.txt": [
        "The newspaper recalls that “so far the United States has said no,” but the chairman of the Joint Chiefs "
        "of Staff of the US Armed Forces, Gen. Charles Q. Brown Jr., said this development was ultimately "
        "inevitable: “We’ll get there eventually, over time.”",
    ],
    "002_404fe9b87144756a.txt": [
        "Mr. Hegseth handed leadership of the contact group to Britain before its last meeting, held on Feb. 12.",
        "Britain’s defense secretary, John Healey, is now the chairman.",
        "Mr. Hegseth’s predecessor, Lloyd J. Austin III, said goodbye to the organization in January during its "
        "26th meeting at Ramstein Air Base in Germany.",
        "“The coalition to support Ukraine must not flinch,” Mr. Austin said in his closing remarks at the summit.",
    ],
    "003_23bbd7ee625c1714.txt": [
        "“We have no intention of fighting Russia,” Biden said on Tuesday.",
    ],
    "004_245c95dc91bbb165.txt": [
        "U.S. Secretary of State Marco Rubio and Donald Trump‘s special envoy, Steve Witkof, are scheduled to meet "
        "with a Ukrainian delegation to explore a U.S.-backed framework intended to end hostilities that have "
        "plagued the region for decades.",
        "Yuri Ushakov, an aide to Putin, mentioned, “This isn’t an official one, but we do have the document.",
    ],
}


@pytest.mark.parametrize("name", sorted(WHOLE_SENTENCES))
def test_bundled_sentences_come_out_whole(bundled_docs, name):
    got = sentences_of(bundled_docs[name].text)
    missing = [s for s in WHOLE_SENTENCES[name] if s not in got]
    assert not missing, f"{name}: not split as one sentence each: {missing}"


@pytest.mark.parametrize(
    "name",
    [
        "000_56fede4640ca55dd.txt",
        "001_63c6af70c674f0c3.txt",
        "002_404fe9b87144756a.txt",
        "003_23bbd7ee625c1714.txt",
        "004_245c95dc91bbb165.txt",
    ],
)
def test_chunks_of_each_bundled_document(bundled_docs, name):
    doc = bundled_docs[name]
    sentences = sentence_spans(doc.text)
    starts = {a for a, _ in sentences}
    ends = {b for _, b in sentences}
    chunks = chunk_text(doc.id, doc.text)
    assert len(chunks) >= 2, f"{name}: expected several chunks, got {len(chunks)}"
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert len({c.id for c in chunks}) == len(chunks), "chunk ids must be unique"
    for c in chunks:
        assert c.doc_id == doc.id
        assert c.text == doc.text[c.start : c.end], f"{name} chunk {c.index}: text is not doc.text[start:end]"
        assert c.start in starts, f"{name} chunk {c.index} starts mid-sentence at {c.start}: {c.text[:40]!r}"
        assert c.end in ends, f"{name} chunk {c.index} ends mid-sentence at {c.end}: {c.text[-40:]!r}"
        inside = [s for s in sentences if c.start <= s[0] and s[1] <= c.end]
        assert list(c.sentences) == inside, f"{name} chunk {c.index}: sentences {c.sentences} != {inside}"
        assert 1 <= len(c.sentences) <= 10
        assert len(c.text) <= 1000 or len(c.sentences) == 1, f"{name} chunk {c.index}: {len(c.text)} chars"
        # no sentence is cut: each overlaps the chunk entirely or not at all
        for a, b in sentences:
            assert b <= c.start or a >= c.end or (c.start <= a and b <= c.end), (
                f"{name} chunk {c.index} cuts sentence {doc.text[a:b]!r}"
            )
    for prev, nxt in zip(chunks, chunks[1:]):  # no overlap: each chunk starts at the sentence after the last
        assert nxt.sentences[0] == sentences[sentences.index(prev.sentences[-1]) + 1], (
            f"{name}: chunk {nxt.index} should start right after chunk {prev.index}"
        )
    covered = {s for c in chunks for s in c.sentences}
    assert covered == set(sentences), f"{name}: sentences in no chunk: {set(sentences) - covered}"


def test_chunking_of_six_sentences_by_three_with_overlap_one():
    text = "One ant. Two bees. Three cats. Four dogs. Five eels. Six fish."
    chunks = chunk_text("doc", text, max_chars=1000, max_sentences=3, overlap=1)
    assert [c.text for c in chunks] == [
        "One ant. Two bees. Three cats.", "Three cats. Four dogs. Five eels.", "Five eels. Six fish."
    ]
    assert [(c.start, c.end) for c in chunks] == [(0, 30), (19, 52), (42, 62)]


def test_no_overlap_when_asked():
    text = "One ant. Two bees. Three cats. Four dogs."
    chunks = chunk_text("doc", text, max_chars=1000, max_sentences=2, overlap=0)
    assert [c.text for c in chunks] == ["One ant. Two bees.", "Three cats. Four dogs."]


def test_max_chars_closes_a_chunk_and_no_chunk_only_repeats_the_overlap():
    text = "One ant. Two bees. Three cats. Four dogs."
    chunks = chunk_text("doc", text, max_chars=20, max_sentences=4, overlap=1)
    # "Two bees. Three cats." is 21 characters: the overlap alone would be a chunk
    # holding nothing new, so the next chunk starts after it.
    assert [c.text for c in chunks] == ["One ant. Two bees.", "Three cats.", "Four dogs."]


def test_a_sentence_longer_than_max_chars_is_a_chunk_of_its_own_never_cut():
    long = "This sentence is " + "very " * 40 + "long."
    text = f"Short one. {long} Short two."
    chunks = chunk_text("doc", text, max_chars=100, max_sentences=4, overlap=1)
    assert long in [c.text for c in chunks], [c.text for c in chunks]
    for c in chunks:
        assert c.text == text[c.start : c.end]
    assert chunks[-1].text.endswith("Short two.")


def test_chunk_ids_derive_from_document_and_span():
    a = chunk_text("doc-a", "One ant. Two bees.")
    b = chunk_text("doc-a", "One ant. Two bees.")
    c = chunk_text("doc-b", "One ant. Two bees.")
    assert [x.id for x in a] == [x.id for x in b]
    assert a[0].id != c[0].id


def test_empty_text_has_no_chunks():
    assert chunk_text("doc", "") == []


@pytest.mark.parametrize(
    "options",
    [
        {"max_sentences": 0},
        {"max_chars": 0},
        {"overlap": -1},
        {"max_sentences": 2, "overlap": 2},
        {"max_sentences": 3, "overlap": 5},
    ],
)
def test_bad_chunking_options_raise_value_error(options):
    with pytest.raises(ValueError, match=r"chunking needs max_sentences >= 1, max_chars >= 1 and 0 <= overlap < max_sentences"):
        chunk_text("doc", "One ant. Two bees.", **options)


def test_bad_chunking_options_name_the_values():
    with pytest.raises(ValueError, match=r"got 2, 1000, 2$"):
        chunk_text("doc", "One ant. Two bees.", max_sentences=2, overlap=2)


@pytest.mark.slow
def test_bad_chunking_options_are_refused_by_ingest_before_anything_is_written(make_qa, corpus_dir):
    qa = make_qa()
    with pytest.raises(ValueError, match="overlap < max_sentences"):
        store.ingest_documents(
            qa.index, qa.embedder, store.load_paths([corpus_dir]), chunking=store.ChunkingOptions(max_sentences=1, overlap=1)
        )
    assert qa.index.count() == 0


WORDS = st.sampled_from(["alpha", "Beta", "gamma", "U.S.", "Mr.", "Dr. Smith", "“quoted,”", "3.5", "end"])
SENTENCE = st.builds(
    lambda words, stop: " ".join(words) + stop,
    st.lists(WORDS, min_size=1, max_size=8),
    st.sampled_from([".", "!", "?", ".”", ""]),
)
SEPARATOR = st.sampled_from([" ", "  ", "\n", "\n\n"])


@settings(max_examples=examples(150), deadline=None)
@given(
    parts=st.lists(st.tuples(SENTENCE, SEPARATOR), min_size=1, max_size=15),
    max_sentences=st.integers(1, 5),
    max_chars=st.integers(1, 200),
    data=st.data(),
)
def test_chunk_spans_hold_for_any_text(parts, max_sentences, max_chars, data):
    text = "".join(s + sep for s, sep in parts)
    overlap = data.draw(st.integers(0, max_sentences - 1))
    sentences = sentence_spans(text)
    for a, b in sentences:
        assert text[a:b] == text[a:b].strip() and b > a
    chunks = chunk_text("d", text, max_chars=max_chars, max_sentences=max_sentences, overlap=overlap)
    covered = set()
    for prev, nxt in zip(chunks, chunks[1:]):
        assert nxt.sentences[-1][1] > prev.sentences[-1][1], "a chunk must add a sentence its predecessor lacks"
        assert len(set(prev.sentences) & set(nxt.sentences)) <= overlap
    for c in chunks:
        assert c.text == text[c.start : c.end]
        assert (c.start, c.end) == (c.sentences[0][0], c.sentences[-1][1])
        assert len(c.sentences) <= max_sentences
        covered.update(c.sentences)
    assert covered == set(sentences)
