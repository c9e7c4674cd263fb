"""QA.ask end to end over the bundled corpus: real model, real Chroma, real BM25.

Passages carry exact spans of the cleaned articles, [n] markers resolve, abstention is
plain, page furniture is never shown, bad questions are refused; and the dev-set target
of the issue (right article cited first, answer words, abstention)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import rag
import store
from conftest import HEALEY

pytestmark = pytest.mark.slow  # the real model and Chroma

UNANSWERABLE = ["Who won the 2022 FIFA World Cup?", "Which singer launched a candle called Burn the Baggage?"]
QUESTIONS = [
    HEALEY,
    "Into which Baltic countries did Biden move U.S. troops?",
    "How many points did the peace plan reviewed in Geneva have?",
    "What did Gen. Charles Q. Brown Jr. say about sending NATO trainers into Ukraine?",
    "Who said that U.S. boots will not be on the ground in Ukraine?",
]
MARKER = re.compile(r"\[(\d+)\]")
# Page furniture of the bundled articles: none of it may ever be shown in a passage.
FURNITURE = [
    "Latest News Stories", "You May Also Like", "Leave a Reply", "Shares", "Your email address",
    "Required fields", "Topics in this article", "Skip to footer", "WATCH:", "Illinois quick hits",
    "Burn the Baggage", "Kelsea Ballerini", "University of Hawaiʻi", "BOYNEXTDOOR", "Politics\n",
]
# "Science4 weeks agoUniversity ...": a teaser's age glued to its headline. ("ago" alone
# is no furniture: "three years ago" is in an article, "Pentagon" holds "ago".)
TEASER_AGE = re.compile(r"\d+\s*(?:minutes?|hours?|days?|weeks?|months?|years?)\s+ago(?=[A-Z])")


def first_cited(answer: rag.Answer) -> rag.Passage | None:
    match = MARKER.search(answer.text)
    return answer.passages[int(match.group(1)) - 1] if match else None


def check_passages(answer: rag.Answer, docs: dict[str, store.Document], k: int) -> None:
    assert [p.n for p in answer.passages] == list(range(1, k + 1)), [p.n for p in answer.passages]
    for p in answer.passages:
        name = Path(p.source).name
        assert name in docs, f"passage [{p.n}] from unknown source {p.source!r}"
        doc = docs[name]
        assert p.source == doc.source
        assert p.title == doc.title
        assert p.text == doc.text[p.start : p.end], f"passage [{p.n}] of {name} is not text[{p.start}:{p.end}]"
        assert isinstance(p.score, float)
        if p.highlight is not None:
            a, b = p.highlight
            assert 0 <= a < b <= len(p.text), f"highlight {p.highlight} outside passage [{p.n}] of {len(p.text)} chars"
            spans = [(s - p.start, e - p.start) for s, e in store.sentence_spans(doc.text)]
            starts, ends = [s for s, _ in spans], [e for _, e in spans]
            # one sentence, or a run of whole consecutive sentences
            assert a in starts and b in ends and starts.index(a) <= ends.index(b), (
                f"highlight {p.highlight} of [{p.n}] is not whole sentences: {p.text[a:b]!r}")


def check_markers(answer: rag.Answer) -> None:
    cited = [int(n) for n in MARKER.findall(answer.text)]
    if answer.abstained:
        assert cited == [], f"an abstention cites {cited}"
        return
    assert cited, f"an answer without a citation: {answer.text!r}"
    for n in cited:
        assert 1 <= n <= len(answer.passages), f"[{n}] points at no passage ({len(answer.passages)} passages)"
        p = answer.passages[n - 1]
        assert p.highlight is not None, f"[{n}] is cited but its passage highlights nothing"
    # each answer sentence is the highlighted sentence of the passage it cites
    for sentence, n in re.findall(r"(.+?) \[(\d+)\]\s*", answer.text):
        p = answer.passages[int(n) - 1]
        a, b = p.highlight
        shown = sentence.rstrip("…")
        # the highlight may span a paragraph break (a pronoun's antecedent): the answer shows it as one space
        assert " ".join(p.text[a:b].split()).startswith(shown), \
            f"answer sentence {sentence!r} is not the highlight of [{n}]"


@pytest.mark.parametrize("question", QUESTIONS)
def test_answer_passages_are_exact_spans_and_markers_resolve(bundled_qa, bundled_docs, question):
    answer = bundled_qa.ask(question, k=5)
    assert isinstance(answer, rag.Answer)
    assert answer.question == question
    assert not answer.abstained, f"{question!r} abstained"
    check_passages(answer, bundled_docs, 5)
    check_markers(answer)
    assert len(answer.text) <= 400


def test_passages_reload_equal_to_the_files_on_disk(bundled_qa, corpus_dir):
    answer = bundled_qa.ask(HEALEY, k=5)
    for p in answer.passages:
        doc = store.load(corpus_dir / Path(p.source).name, p.source)
        assert p.text == doc.text[p.start : p.end]


def test_k_sets_the_number_of_passages(bundled_qa, bundled_docs):
    for k in (1, 3, 8):
        answer = bundled_qa.ask(HEALEY, k=k)
        check_passages(answer, bundled_docs, k)
        check_markers(answer)


def test_k_below_one_is_refused(bundled_qa):
    with pytest.raises(store.InputError, match=r"^k must be at least 1, got 0$"):
        bundled_qa.ask(HEALEY, k=0)


def test_chairman_question_cites_the_hegseth_article_first(bundled_qa):
    answer = bundled_qa.ask(HEALEY)
    assert not answer.abstained
    assert answer.passages[0].source == "002_404fe9b87144756a.txt", [p.source for p in answer.passages]
    cited = first_cited(answer)
    assert cited is not None and cited.source == "002_404fe9b87144756a.txt", answer.text
    assert "Healey" in answer.text, answer.text
    # the answer sentence, alone or after the adjacent one it completes (the learned choice), cited [1]
    assert answer.text.endswith("Britain’s defense secretary, John Healey, is now the chairman. [1]"), answer.text


@pytest.mark.parametrize("question", UNANSWERABLE)
def test_abstains_when_the_corpus_does_not_answer(bundled_qa, bundled_docs, question):
    answer = bundled_qa.ask(question)
    assert answer.abstained is True, f"{question!r} answered: {answer.text!r}"
    assert answer.text == rag.NO_ANSWER == "The corpus does not answer this question."
    assert answer.passages, "the closest passages are still shown"
    assert all(p.low_relevance for p in answer.passages), [(p.n, p.score) for p in answer.passages]
    assert all(p.highlight is None for p in answer.passages)
    check_passages(answer, bundled_docs, 5)
    check_markers(answer)


def test_no_passage_ever_shows_page_furniture(bundled_qa, dev_questions):
    for q in dev_questions:
        answer = bundled_qa.ask(q["question"], k=10)
        for p in answer.passages:
            shown = f"{p.title}\n{p.text}\n"
            found = [f for f in FURNITURE if f in shown]
            assert not found, f"{q['id']}: passage [{p.n}] of {p.source} shows furniture {found}"
            assert not TEASER_AGE.search(shown), f"{q['id']}: passage [{p.n}] shows a teaser: {p.text[:80]!r}"
        assert not any(f in answer.text for f in FURNITURE), f"{q['id']}: answer shows furniture: {answer.text!r}"


@pytest.mark.parametrize(
    "question, message",
    [
        ("", r"^empty question: type a question, e\.g\. 'Who chairs the Ukraine Defense Contact Group\?'$"),
        ("   \n\t ", r"^empty question: type a question"),
        ("x" * 100_000, r"^question too long: 100,000 characters \(limit 2,000\); ask it in fewer words$"),
        ("why " * 25_000, r"^question too long: 99,999 characters \(limit 2,000\)"),  # counted after strip()
    ],
    ids=["empty", "whitespace", "100000-chars", "100000-chars-of-words"],
)
def test_bad_questions_are_refused(bundled_qa, question, message):
    with pytest.raises(store.InputError, match=message):
        bundled_qa.ask(question)


def test_a_question_of_the_limit_length_is_answered(bundled_qa):
    question = (HEALEY + " ") * (2000 // (len(HEALEY) + 1))
    assert len(question.strip()) <= 2000
    answer = bundled_qa.ask(question)
    assert answer.passages[0].source.endswith("002_404fe9b87144756a.txt")


def test_stats_of_the_bundled_index(bundled_qa, bundled_docs):
    expected = sum(len(store.chunk_text(d.id, d.text)) for d in bundled_docs.values())
    stats = bundled_qa.stats()
    assert (stats.documents, stats.chunks, stats.model, stats.collection) == (5, expected, "all-MiniLM-L6-v2", "corpus")
    assert Path(stats.index).is_dir()


def test_qa_open_creates_the_index_and_counts(tmp_path, make_qa):
    path = tmp_path / "new-index"
    qa = rag.QA.open(index=path)
    assert (path / "corpus-qa.json").is_file()
    assert qa.stats() == rag.Stats(documents=0, chunks=0, model="all-MiniLM-L6-v2", index=str(path), collection="corpus")

    # fill it through the session model, then a fresh QA.open sees the counts
    filled = make_qa(reopen=qa)
    article = tmp_path / "articles" / "bridge.txt"
    article.parent.mkdir()
    article.write_text(
        "Harbour Bridge Reopens After Repairs\n\nThe city reopened the Harbour Bridge on Monday after six months "
        "of repairs. Engineers replaced all 112 cables and resurfaced the deck.\n"
    )
    assert filled.ingest([article]) == store.IngestReport(1, 0, 0, 0, 1)
    assert rag.QA.open(index=path).stats() == rag.Stats(1, 1, "all-MiniLM-L6-v2", str(path), "corpus")


def test_asking_an_empty_index_abstains_with_no_passages(make_qa):
    answer = make_qa().ask(HEALEY)
    assert answer == rag.Answer(HEALEY, rag.NO_ANSWER, True, (), ("No passage was found: the index holds none.",))


def test_ask_through_each_backend(backend, make_qa, corpus_dir, tmp_path):
    folder = tmp_path / "two"
    folder.mkdir()
    for name in ("002_404fe9b87144756a.txt", "004_245c95dc91bbb165.txt"):
        (folder / name).write_bytes((corpus_dir / name).read_bytes())
    qa = make_qa(backend)
    assert qa.ingest([folder]).added == 2
    answer = qa.ask(HEALEY, k=3)
    assert not answer.abstained
    assert answer.passages[0].source == "002_404fe9b87144756a.txt"
    assert "Healey" in answer.text
    answer = qa.ask("How many points did the peace plan reviewed in Geneva have?", k=3)
    assert first_cited(answer).source == "004_245c95dc91bbb165.txt"
    assert "28" in answer.text
    assert qa.ask(UNANSWERABLE[0]).abstained


# -- the target on the dev set ------------------------------------------------


def test_dev_set_target(bundled_qa, dev_questions):
    """Right article cited first for >= 13 of 15 answerable questions, an expected answer
    word in the answer for >= 12, abstention on both unanswerable ones."""
    answerable = [q for q in dev_questions if q["kind"] not in ("none", "boilerplate")]
    unanswerable = [q for q in dev_questions if q["kind"] in ("none", "boilerplate")]
    assert (len(answerable), len(unanswerable)) == (15, 2), "the dev set changed; update the target"
    right_first, has_word, report = 0, 0, []
    for q in answerable:
        answer = bundled_qa.ask(q["question"])
        cited = first_cited(answer)
        docs = {e["doc"] for e in q["evidence"]}
        ok_doc = cited is not None and Path(cited.source).name in docs
        ok_word = not answer.abstained and any(w.lower() in answer.text[:400].lower() for w in q["answers"])
        right_first += ok_doc
        has_word += ok_word
        if not (ok_doc and ok_word):
            report.append(f"{q['id']}: cited {cited.source if cited else None}, want {sorted(docs)}; "
                          f"word {ok_word}; answer {answer.text[:120]!r}")
    abstained = [q["id"] for q in unanswerable if bundled_qa.ask(q["question"]).abstained]
    summary = (f"right article cited first {right_first}/15 (target 13), answer word {has_word}/15 (target 12), "
               f"abstained {len(abstained)}/2\n" + "\n".join(report))
    assert right_first >= 13 and has_word >= 12 and len(abstained) == 2, summary
