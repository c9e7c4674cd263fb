"""Issue 27, part 2 (in part): the shown answer names who was asked for. A sentence that
opens with "he" or "it" starts at the sentence before it that names someone, over a real
index of a few BBC tech stories read in place from ../shared."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import rag
import store

from conftest import BBC_ARTICLES

pytestmark = pytest.mark.slow

STORIES = ["tech/119.txt", "tech/114.txt", "tech/057.txt", "tech/046.txt", "tech/126.txt", "tech/154.txt"]


@pytest.fixture(scope="module")
def games_qa(tmp_path_factory, embedder) -> rag.QA:
    if not BBC_ARTICLES.is_dir():
        pytest.skip(f"no BBC archive at {BBC_ARTICLES}")
    folder = tmp_path_factory.mktemp("games") / "articles"
    for story in STORIES:
        (folder / story).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(BBC_ARTICLES / story, folder / story)
    qa = rag.QA(store.Index.open(path=tmp_path_factory.mktemp("games-index")), embedder)
    assert qa.ingest([folder]).added == len(STORIES)
    return qa


def test_a_who_answer_that_says_he_starts_where_he_is_named(games_qa):
    # the Argonaut story names Jez San, then says "He founded Argonaut in 1982 ..."
    answer = games_qa.ask("Who founded Argonaut Games?")
    assert not answer.abstained and "Jez San" in answer.text, answer.text
    assert answer.text.rstrip().endswith("]") and "\n" not in answer.text, answer.text


def test_only_a_full_name_the_question_lacks_stands_for_he():
    from rag.answer import names_someone

    assert names_someone("Jez San is one of the most successful figures in the industry.", "Who founded Argonaut Games?")
    assert not names_someone("The firm was founded in London.", "Who founded Argonaut Games?")
    assert not names_someone("Argonaut Games went into administration.", "Who founded Argonaut Games?")
