"""Issue 27 over a real index of a few dozen BBC stories (the ones that hold the issue's
examples and their near neighbours) and three dated local articles: a question the archive
cannot answer is told so, with the reason; a year in the question is no trap once some
articles are dated; an outlet, however phrased, gets a note over an archive that records none."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import rag
import store

from conftest import BBC_ARTICLES as BBC

pytestmark = pytest.mark.slow

STORIES = [  # the examples, and stories near them (same topics, same words)
    "tech/281.txt", "tech/217.txt", "tech/257.txt", "tech/008.txt", "tech/039.txt", "tech/400.txt",  # cyber crime
    "tech/119.txt", "tech/114.txt",  # Argonaut
    "tech/057.txt", "tech/046.txt", "tech/126.txt", "tech/154.txt", "tech/195.txt", "tech/160.txt",  # Baftas, games
    "tech/287.txt", "tech/372.txt",  # text messages
    "tech/112.txt", "tech/317.txt", "tech/363.txt", "tech/238.txt", "tech/351.txt", "tech/084.txt",  # PSP, DS
    "tech/240.txt", "sport/132.txt", "sport/387.txt", "sport/405.txt", "sport/114.txt",  # World Cups
    "business/135.txt", "politics/289.txt", "entertainment/256.txt",
]
LOCAL = [  # dated articles of another time: a few dated ones must not make the undated unanswerable
    {"id": "local-1", "title": "Library extends opening hours",
     "text": "The town library will open until 8pm on weekdays from next month, the council said. "
             "Staff numbers rise by four.", "published": "2025-03-02"},
    {"id": "local-2", "title": "New cycle lane opens",
     "text": "A two-mile cycle lane along the river opened on Saturday. Cyclists welcomed the route.",
     "published": "2025-05-17"},
    {"id": "local-3", "title": "School wins robotics prize",
     "text": "Pupils at Hill Street school won a regional robotics prize with a robot that sorts recycling.",
     "published": "2025-06-30"},
]


@pytest.fixture(scope="module")
def bbc(tmp_path_factory, embedder):
    if not BBC.is_dir():
        pytest.skip(f"no BBC archive at {BBC}")
    folder = tmp_path_factory.mktemp("bbc-subset") / "articles"
    for story in STORIES:
        (folder / story).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(BBC / story, folder / story)
    qa = rag.QA(store.Index.open(path=tmp_path_factory.mktemp("bbc-index")), embedder)
    report = qa.ingest([folder])
    assert report.added == len(STORIES), report
    records = tmp_path_factory.mktemp("local") / "local.jsonl"
    records.write_text("".join(json.dumps(r) + "\n" for r in LOCAL), encoding="utf-8")
    assert qa.ingest_jsonl(records).added == 3
    return qa


def test_a_year_in_the_question_is_no_trap_when_only_a_few_articles_are_dated(bbc):
    answer = bbc.ask("What happened to cyber crime in 2004?")
    assert not answer.abstained, f"abstained though undated articles answer: {answer.notes}"
    assert answer.passages[0].source.endswith("tech/281.txt"), [p.source for p in answer.passages]


@pytest.mark.parametrize("question", ["Who won the 2022 FIFA World Cup?", "When did Twitter rebrand as X?",
                                      "How much did Google pay for Fitbit?"])
def test_a_question_the_archive_cannot_answer_is_told_so_and_why(bbc, question):
    answer = bbc.ask(question)
    assert answer.abstained, f"{question!r} answered {answer.text!r}"
    assert answer.text == "The corpus does not answer this question."
    reasons = [n for n in answer.notes if "passage" in n.lower() or "archive" in n.lower()]
    assert len(reasons) == 1 and "\n" not in reasons[0], answer.notes


@pytest.mark.parametrize("question, lacks", [("How much did Google pay for Fitbit?", "Fitbit"),
                                             ("When was the first iPhone released?", "iPhone")])  # camel-cased
def test_an_abstention_names_what_the_archive_lacks(bbc, question, lacks):
    answer = bbc.ask(question)
    assert answer.abstained and f"The archive never mentions {lacks!r}." in answer.notes, answer.notes


def test_an_abstention_names_the_name_no_passage_holds_together(bbc):
    answer = bbc.ask("Who won the 2010 FIFA World Cup?")  # 2010, FIFA and the World Cup, never in one passage
    assert answer.abstained and "No passage found speaks of '2010 FIFA World Cup'." in answer.notes, \
        (answer.text, answer.notes)


@pytest.mark.parametrize("question", ["Who founded Argonaut Games?", "How many texts were sent in the UK in 2004?",
                                      "When does the Sony PSP go on sale in the US?"])
def test_questions_the_archive_answers_are_answered(bbc, question):
    answer = bbc.ask(question)
    assert not answer.abstained, f"{question!r} abstained: {answer.notes}"


@pytest.mark.parametrize("question", [
    "According to Reuters, how many texts were sent in the UK in 2004?",
    "How many texts were sent in the UK in 2004, as reported by Reuters?",
    "What did Reuters report about the number of texts sent in the UK in 2004?",
])
def test_an_outlet_however_phrased_is_said_unchecked_over_an_archive_without_outlets(bbc, question):
    answer = bbc.ask(question)
    assert any("records no outlets: 'Reuters' as the source could not be checked" in n for n in answer.notes), \
        answer.notes
    assert not answer.abstained, f"the outlet alone made it abstain: {answer.notes}"


NOT_YET = pytest.mark.xfail(strict=True, reason="issue 27 part 2, still wrong: the sentence model picks another "
                                                "sentence (benchmarks/RESULTS.md); strict, so a fix shows here")


@pytest.mark.parametrize("question, named", [
    ("Who founded Argonaut Games?", "Jez San"),  # "He founded Argonaut in 1982 ..." names him two sentences on
    pytest.param("Which game won six Bafta awards?", "Half-Life 2", marks=NOT_YET),  # "It collected six Baftas ..."
    pytest.param("How many texts were sent in the UK in December 2004?", "2.4 billion",  # not the year's 26 billion
                 marks=NOT_YET),
    pytest.param("When does the Sony PSP go on sale in the US?", "24 March", marks=NOT_YET),  # not the Japanese date
])
def test_the_answer_names_what_was_asked(bbc, question, named):
    answer = bbc.ask(question)
    assert not answer.abstained and named in answer.text, f"{question!r} -> {answer.text!r}"


def test_a_who_answer_that_says_he_starts_where_he_is_named(bbc):
    # the Argonaut story names Jez San, then says "He founded Argonaut in 1982 ..."
    answer = bbc.ask("Who founded Argonaut Games?")
    assert not answer.abstained and "Jez San" in answer.text, answer.text
    assert answer.text.rstrip().endswith("]") and "\n" not in answer.text, answer.text


def test_only_a_full_name_the_question_lacks_stands_for_he():
    from rag.answer import names_someone

    assert names_someone("Jez San is one of the most successful figures in the industry.", "Who founded Argonaut Games?")
    assert not names_someone("The firm was founded in London.", "Who founded Argonaut Games?")
    assert not names_someone("Argonaut Games went into administration.", "Who founded Argonaut Games?")
