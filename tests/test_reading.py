"""Reading outlets and dates from a question (rag.reading), with the outlet names of a
real news benchmark (MultiHop-RAG), and end to end on the newsroom archive (conftest's
bbc_qa: BBC stories and MultiHop-RAG records)."""

from __future__ import annotations

import json

import pytest

from conftest import MULTIHOP
from rag import Filters
from rag.reading import read
from store import from_record

OUTLETS = ["Sporting News", "TechCrunch", "The Verge", "The Guardian", "The Independent - Life and Style",
           "The Independent - Sports", "Fortune", "The Age", "CBSSports.com", "Cnbc | World Business News Leader",
           "The Roar | Sports Writers Blog", "FOX News - Health"]
DATES = ["2023-09-26", "2023-10-07", "2023-10-10", "2023-12-01", "2023-12-12", "2023-12-21", "2023-12-25"]


def test_outlets_are_matched_against_the_index_whatever_their_case_possessive_or_article():
    r = read("Does 'The Guardian' article suggest X, while TechCrunch's report says Y, as the verge wrote?", OUTLETS)
    assert r.outlets == ("TechCrunch", "The Guardian"), r  # "the verge" in lower case is no name
    assert read("as reported by both The Verge and TechCrunch", OUTLETS).outlets == ("TechCrunch", "The Verge")
    assert read("What did the Independent say?", OUTLETS).outlets == (
        "The Independent - Life and Style", "The Independent - Sports")
    assert read("What did CBSSports.com and CNBC report?", OUTLETS).outlets == (
        "CBSSports.com", "Cnbc | World Business News Leader")


def test_common_words_are_not_outlets_unless_written_as_names():
    assert read("What is the age of the universe, and what fortune did he make?", OUTLETS).outlets == ()
    assert read("What did The Age report about Fortune's list?", OUTLETS).outlets == ("Fortune", "The Age")


def test_dates_and_periods():
    r = read("Between the report published on October 10, 2023, and the one of 7 October 2023, what changed?",
             OUTLETS, DATES[-1], DATES)
    assert r.dates == (("2023-10-07", "2023-10-07"), ("2023-10-10", "2023-10-10")), r
    assert read("What happened in December 2023?", OUTLETS, DATES[-1], DATES).dates == (("2023-12-01", "2023-12-31"),)
    r = read("What was the latest news last week?", OUTLETS, DATES[-1], DATES)
    assert r.latest and r.dates == (("2023-12-19", "2023-12-25"),), r
    assert read("Who chairs the group?", OUTLETS, DATES[-1], DATES).empty


def test_what_the_index_lacks_is_said_not_guessed():
    r = read("According to Reuters, what did the Fed say in March 2022?", OUTLETS, DATES[-1], DATES)
    assert r.no_period and not r.outlets and not r.dates, r
    assert r.describe() == ("No indexed outlet matches 'Reuters'. "
                            "No indexed article was published from 2022-03-01 to 2022-03-31."), r.describe()
    # an archive with no outlets at all (BBC, SciFact) filters nothing, and says the outlet could not be checked
    r = read("According to Reuters, who won?", [], None, [])
    assert not r.outlets and not r.dates and r.unchecked == ("Reuters",), r
    assert r.describe() == "This index records no outlets: 'Reuters' as the source could not be checked.", r
    assert read("Who won, as reported by Reuters?", [], None, []).unchecked == ("Reuters",)
    assert read("What did Reuters report about the winner?", [], None, []).unchecked == ("Reuters",)
    assert read("What did Tony Blair say?", [], None, []).empty


@pytest.fixture(scope="module")
def multihop_qa(bbc_qa):
    """The newsroom archive (conftest's bbc_qa): with the BBC stories (no outlets, no dates),
    MultiHop-RAG records of several outlets, among them every one whose title names Sam
    Bankman-Fried."""
    return bbc_qa, [d for d in bbc_qa.documents() if d.outlet]


def test_a_question_naming_an_outlet_gets_that_outlets_article_first(multihop_qa):
    qa, picked = multihop_qa
    outlets = sorted({d.outlet for d in picked if "Bankman-Fried" in d.title})
    assert len(outlets) >= 2, f"the subset needs the story from two outlets, got {outlets}"
    for outlet in outlets:
        answer = qa.ask(f"What did {outlet} report about Sam Bankman-Fried's trial?", k=5)
        assert answer.passages[0].outlet == outlet, (outlet, [(p.outlet, p.title) for p in answer.passages])
        assert any(f"outlet {outlet}" in note for note in answer.notes), answer.notes


def test_a_question_naming_an_absent_outlet_or_period_says_so(multihop_qa, make_qa):
    qa, _ = multihop_qa
    answer = qa.ask("According to Reuters, what did Sam Bankman-Fried say at his trial?", k=5)
    assert "No indexed outlet matches 'Reuters'." in answer.notes, answer.notes
    # an archive whose every article is dated (the newsroom's BBC stories are not: there a
    # period no article has is said, and the undated ones still answer)
    records = [r for r in json.loads(MULTIHOP.read_text(encoding="utf-8")) if "Bankman-Fried" in r["title"]][:3]
    dated = make_qa()
    dated.ingest_documents([from_record(r["url"], r["title"], r["body"], r["published_at"], r["source"], r["url"])
                            for r in records])
    answer = dated.ask("What did Sam Bankman-Fried say in March 2021?", k=5)
    assert answer.abstained and any("no indexed article was published" in n.lower() for n in answer.notes), answer
    # a filter the user set is obeyed and the reading adds nothing beyond it
    answer = qa.ask("What did TechCrunch report about Sam Bankman-Fried?", k=5, filters=Filters(since="2030-01-01"))
    assert answer.abstained and "No indexed document matches the filters" in answer.text
