"""Lossless cleaning on clean text: every BBC story and every SciFact abstract, read in place
from ../shared, keeps every line below its headline verbatim, through `clean_article` alone
and with `repeated_lines` applied per folder as an ingest of that folder would."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pytest

from store.clean import clean_article, normalize_line, repeated_lines

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks"
BBC = SHARED / "bbc-news" / "articles"
SCIFACT = SHARED / "scifact" / "corpus.jsonl"


@pytest.fixture(scope="module")
def bbc() -> dict[str, dict[str, str]]:
    """{category: {"business/417.txt": raw text}}, all 2,225 files (duplicates included)."""
    if not BBC.is_dir():
        pytest.skip(f"{BBC} is absent (it sits beside the clone in CI)")
    folders = {d.name: {f"{d.name}/{p.name}": p.read_text(encoding="utf-8") for p in sorted(d.glob("*.txt"))}
               for d in sorted(BBC.iterdir()) if d.is_dir()}
    assert sum(map(len, folders.values())) == 2225
    return folders


@pytest.fixture(scope="module")
def scifact() -> dict[str, str]:
    """{_id: "title\\n\\nabstract"}: each abstract as a user saving it to a .txt file has it."""
    if not SCIFACT.is_file():
        pytest.skip(f"{SCIFACT} is absent (it sits beside the clone in CI)")
    with SCIFACT.open(encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines if line.strip()]
    assert len(records) == 5183
    return {r["_id"]: f"{r['title']}\n\n{r['text']}" for r in records}


def lines_of(raw: str) -> list[str]:
    return [line for line in map(normalize_line, raw.splitlines()) if line]


def losses(files: dict[str, str], boilerplate: Iterable[str] = frozenset(), title_is_headline: bool = True):
    """`name: lost line` for every line below the headline that is not a body paragraph,
    and `name: title ...` where the title is not the headline."""
    lost = []
    for name, raw in files.items():
        lines = lines_of(raw)
        title, body = clean_article(raw, fallback_title=Path(name).stem, boilerplate=boilerplate)
        paragraphs = set(body.split("\n\n"))
        if title_is_headline and title != lines[0]:
            lost.append(f"{name}: title {title!r}, not the headline {lines[0]!r}")
        headline_kept = title == lines[0] or lines[0] in paragraphs
        lost += [f"{name}: lost {line!r}" for line in lines[int(headline_kept):] if line not in paragraphs]
    return lost


def report(lost: list[str]) -> str:
    return f"{len(lost)} lines lost, e.g.:\n" + "\n".join(lost[:25])


def test_every_bbc_paragraph_survives(bbc):
    lost = [loss for files in bbc.values() for loss in losses(files)]
    assert not lost, report(lost)


def test_every_bbc_paragraph_survives_per_folder_boilerplate_detection(bbc):
    lost = []
    for category, files in bbc.items():
        boilerplate = repeated_lines(list(files.values()))
        assert not boilerplate, f"{category}: body lines taken for boilerplate: {sorted(boilerplate)[:5]}"
        lost += losses(files, boilerplate)
    assert not lost, report(lost)


def test_every_scifact_sentence_survives(scifact):
    # A title ending with a full stop reads as a sentence: it is then the first body paragraph
    # (the file name is the title), so only "nothing lost" is asserted, not the title.
    files = {f"scifact/{doc_id}.txt": raw for doc_id, raw in scifact.items()}
    lost = losses(files, repeated_lines(list(files.values())), title_is_headline=False)
    assert not lost, report(lost)


def test_the_issue_cases_survive(bbc, scifact):
    _, body = clean_article(bbc["business"]["business/417.txt"])
    assert "UK banking icon Barclays was founded more than 300 years ago;" in body
    _, body = clean_article(bbc["business"]["business/159.txt"])
    assert "- Expanded service tax net" in body.split("\n\n")
    _, body = clean_article(scifact["1499964"], "1499964")
    assert "NF-κB was discovered 30 years ago" in body
