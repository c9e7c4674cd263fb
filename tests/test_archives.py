"""A news archive's own facts: metadata read from HTML, Markdown front matter and JSON Lines,
kept to the citation; filters on every ranking; documents / show / remove; copies embedded
once. Real model, embedded Chroma and a `chroma run` server; the CLI in the test process (conftest.run_cli)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import run_cli

import rag
from rag import Filters

pytestmark = pytest.mark.slow

RECORDS = [
    {"id": "wire-001", "title": "Zorblat wins the Golden Widget prize",
     "text": "The Zorblat company won the Golden Widget prize on Monday. Its chief executive, Ann Vell, thanked the staff.",
     "published": "2024-03-01", "outlet": "Reuters", "url": "https://example.org/zorblat-prize", "author": "Kim Lee",
     "section": "Business"},
    {"id": "wire-002", "title": "Harbour bridge reopens",
     "text": "The city reopened the harbour bridge on Tuesday after six months of repairs. Engineers replaced 112 cables.",
     "date": "March 9, 2025", "source": "AP"},
    {"id": "wire-003", "title": "Orchard harvest",
     "text": "The Ledbury orchard pressed a record cider harvest this autumn. Volunteers picked 40 tonnes of apples.",
     "published": "2025-10-02", "outlet": "Reuters"},
]
PRIZE = "Which prize did the Zorblat company win?"


def write_jsonl(path: Path, records) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def wire(make_qa, tmp_path, backend):
    qa = make_qa(backend)
    report = qa.ingest_jsonl(write_jsonl(tmp_path / "wire.jsonl", RECORDS))
    assert (report.added, report.skipped) == (3, ()), report
    return qa


def test_jsonl_records_keep_their_metadata_to_the_citation(wire):
    docs = {d.source: d for d in wire.documents()}
    assert set(docs) == {"wire-001", "wire-002", "wire-003"}
    prize = docs["wire-001"]
    assert (prize.title, prize.published, prize.outlet, prize.url, prize.author) == (
        "Zorblat wins the Golden Widget prize", "2024-03-01", "Reuters", "https://example.org/zorblat-prize", "Kim Lee")
    assert prize.extra == {"section": "Business"}, "an unknown field is kept as metadata"
    assert (docs["wire-002"].published, docs["wire-002"].outlet) == ("2025-03-09", "AP"), "date/source are aliases"
    answer = wire.ask(PRIZE)
    assert not answer.abstained and "Golden Widget" in answer.text, answer.text
    p = answer.passages[0]
    assert (p.source, p.published, p.outlet, p.url) == ("wire-001", "2024-03-01", "Reuters",
                                                        "https://example.org/zorblat-prize")
    article = wire.document(p.doc_id)
    assert article.text[p.start:p.end] == p.text, "a passage's span points into the article as `show` gives it"


def test_an_outlet_or_a_period_is_looked_up_as_every_document_tested_would_find(wire):
    """Index.matching answers an outlet or a period from a catalogue built once per version
    (cheap at 100,000 documents, benchmarks/named_filters.py): the same documents, in the
    same order, as testing every one; and a new version is seen."""
    filters = [Filters(outlets=("reuters",)), Filters(outlets=(" AP ", "Nobody")), Filters(outlets=("Nobody",)),
               Filters(since="2025-01-01"), Filters(until="2025-03-09"), Filters(since="2024-03-01", until="2024-03-01"),
               Filters(since="2030-01-01"), Filters(until="2025-06-30", outlets=("AP", "Reuters")),
               Filters(sources=("wire-00[23]",)), Filters(since="2025-01-01", sources=("wire-003",))]
    for f in filters:
        assert wire.index.matching(f) == [d for d in wire.index.documents() if f.matches(d)], f.describe()
    assert [d.source for d in wire.index.matching(Filters(outlets=("Reuters",)))] == ["wire-001", "wire-003"]
    wire.remove(["wire-003"])
    assert [d.source for d in wire.index.matching(Filters(outlets=("Reuters",)))] == ["wire-001"]


@pytest.mark.parametrize("by_ids", [1000, 0])
def test_a_named_period_is_searched_among_its_own_articles_only(wire, monkeypatch, by_ids):
    """A period the question names gets a search of its own (rag.search; by its articles'
    ids when they are few, else by Chroma's filter on the day): it proposes chunks of
    articles published in it and no other."""
    monkeypatch.setattr(rag.search, "PERIOD_IDS", by_ids)
    named = wire.trace("What did the city do to the harbour bridge in March 2025?").found.ranks["named"]
    assert named and {c.source for c in wire.index.chunks(list(named)).values()} == {"wire-002"}


def test_filters_restrict_every_ranking_and_a_question_outside_abstains(wire):
    for filters, allowed in [
        (Filters(outlets=("reuters",)), {"wire-001", "wire-003"}),
        (Filters(since="2025-01-01"), {"wire-002", "wire-003"}),
        (Filters(until="2025-06-30", outlets=("AP", "Reuters")), {"wire-001", "wire-002"}),
        (Filters(sources=("wire-00[23]",)), {"wire-002", "wire-003"}),
    ]:
        for question in (PRIZE, "When did the bridge reopen?", "How many tonnes of apples were picked?"):
            candidates = wire.retrieve(question, k=10, filters=filters)
            sources = {c.chunk.source for c in candidates}
            assert sources <= allowed, f"{filters.describe()}: {question} -> {sources}"
            hits = wire.index.keyword(question, 10, [d.id for d in wire.index.matching(filters)])
            assert {c.source for c in wire.index.chunks([h.id for h in hits]).values()} <= allowed
    inside = wire.ask(PRIZE, filters=Filters(outlets=("AP",)))
    assert inside.abstained, f"answered from outside the filter: {inside.text}"
    assert all(p.outlet == "AP" for p in inside.passages)
    assert not wire.ask(PRIZE, filters=Filters(outlets=("Reuters",))).abstained


def test_a_filter_that_matches_nothing_says_so(wire):
    answer = wire.ask(PRIZE, filters=Filters(since="2030-01-01"))
    assert answer.abstained and answer.passages == ()
    assert answer.text == "No indexed document matches the filters (since 2030-01-01)."
    with pytest.raises(rag.InputError, match=r"bad since date '2025-13-45': write it as YYYY-MM-DD"):
        Filters(since="2025-13-45")
    with pytest.raises(rag.InputError, match="the date range is empty"):
        Filters(since="2025-02-01", until="2025-01-01")


def test_remove_deletes_from_every_index(wire):
    removed = wire.remove(["wire-001"])
    assert [d.source for d in removed] == ["wire-001"]
    assert {d.source for d in wire.documents()} == {"wire-002", "wire-003"}
    assert all(c.chunk.source != "wire-001" for c in wire.retrieve(PRIZE, k=10))
    assert not [h for h in wire.index.keyword("Zorblat Golden Widget", 10)]
    assert wire.ask(PRIZE).abstained
    with pytest.raises(rag.InputError, match=r"no indexed document 'wire-001': run 'corpus-qa documents'"):
        wire.remove(["wire-001"])


def test_jsonl_reingest_is_idempotent_and_bad_lines_are_named(make_qa, tmp_path):
    qa = make_qa()
    path = write_jsonl(tmp_path / "w.jsonl", RECORDS + [
        {"id": "bad-date", "title": "x", "text": "Some text here.", "date": "yesterday-ish"},
        {"id": "no-text", "title": "Only a title"},
        "[1, 2]", "{not json", {"id": "wire-002", "title": "Another", "text": "A second record with a used id."},
    ])
    first = qa.ingest_jsonl(path)
    assert first.added == 3
    reasons = [(s.path.rsplit(":", 1)[1], s.reason) for s in first.skipped]
    assert reasons == [
        ("4", "record 'bad-date': published date 'yesterday-ish' is not a date; write it as YYYY-MM-DD"),
        ("5", "record 'no-text' has no text: give it a \"text\" (or \"body\") string"),
        ("6", 'not a JSON object; expected {"id", "title", "text", ...}'),
        ("7", "not JSON (Expecting property name enclosed in double quotes); one JSON object per line"),
        ("8", "id 'wire-002' is already used on line 2; give each record its own id"),
    ], reasons
    again = qa.ingest_jsonl(path)
    assert (again.added, again.updated, again.unchanged, again.chunks) == (0, 0, 3, 0), again
    changed = [dict(RECORDS[0], outlet="Reuters UK")] + RECORDS[1:]
    update = qa.ingest_jsonl(write_jsonl(path, changed))
    assert (update.added, update.updated, update.unchanged) == (0, 1, 2), update
    assert {d.source: d.outlet for d in qa.documents()}["wire-001"] == "Reuters UK"
    with pytest.raises(rag.InputError, match=r"^--strict: 1 record cannot be indexed, so nothing was written: .*w\.jsonl:1 \(record 'bad-date'"):
        qa.ingest_jsonl(write_jsonl(path, [{"id": "bad-date", "text": "Some text.", "date": "soon"}]), strict=True)


HTML = """<!doctype html><html><head><title>Harbour Bridge Reopens | The Daily Example</title>
<meta property="og:site_name" content="The Daily Example">
<meta property="og:title" content="Harbour Bridge Reopens After Repairs">
<meta property="og:url" content="https://daily.example.org/2025/03/bridge">
<meta name="author" content="Ann Writer">
<meta property="article:published_time" content="2025-03-14T09:30:00Z">
</head><body><nav><a href="/">Home</a> <a href="/news">News</a></nav>
<article><h1>Harbour Bridge Reopens After Repairs</h1>
<p>The city reopened the Harbour Bridge on Monday after six months of repairs that closed the main road into the old town.</p>
<p>Engineers replaced all 112 cables and resurfaced the deck, the council said in a statement on Monday morning.</p>
</article><footer>Copyright The Daily Example</footer></body></html>"""
MARKDOWN = """---
title: Orchard Presses a Record Harvest
date: 2025-10-02
source: Ledbury Gazette
url: https://gazette.example.org/orchard
author: Tom Baker
tags: [cider, autumn]
---
The Ledbury orchard pressed a record cider harvest this autumn, the growers' cooperative said.

Volunteers picked 40 tonnes of apples over three weekends.
"""


def test_html_and_markdown_metadata(make_qa, tmp_path):
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "bridge.html").write_text(HTML, encoding="utf-8")
    (folder / "orchard.md").write_text(MARKDOWN, encoding="utf-8")
    (folder / "plain.txt").write_text("Plain Story Title\n\nA plain text story has no metadata at all.\n")
    qa = make_qa()
    assert qa.ingest([folder]).added == 3
    docs = {Path(d.source).name: d for d in qa.documents()}
    html = docs["bridge.html"]
    assert (html.published, html.outlet, html.url, html.author) == (
        "2025-03-14", "The Daily Example", "https://daily.example.org/2025/03/bridge", "Ann Writer"), html
    md = docs["orchard.md"]
    assert (md.title, md.published, md.outlet, md.url, md.author) == (
        "Orchard Presses a Record Harvest", "2025-10-02", "Ledbury Gazette", "https://gazette.example.org/orchard",
        "Tom Baker"), md
    assert md.extra == {"tags": ["cider", "autumn"]}
    text = qa.document(md.id).text
    assert text.startswith("The Ledbury orchard pressed") and "---" not in text and "tags:" not in text
    plain = docs["plain.txt"]
    assert (plain.published, plain.outlet, plain.url, plain.author) == (None, None, None, None)


def test_copies_are_embedded_once_listed_and_never_cited_twice(make_qa, tmp_path, embedder):
    from test_ingest import CountingEmbedder

    folder = tmp_path / "news"
    folder.mkdir()
    story = "Harbour Bridge Reopens After Repairs\n\nThe city reopened the Harbour Bridge on Monday after repairs.\n"
    for name in ("a.txt", "b.txt", "c.txt"):
        (folder / name).write_text(story, encoding="utf-8")
    (folder / "other.txt").write_text("Orchard Has a Record Harvest\n\nThe Ledbury orchard pressed a record cider harvest.\n")
    counter = CountingEmbedder(embedder)
    qa = make_qa(model=counter)
    report = qa.ingest([folder])
    assert (report.added, report.copies) == (4, 2), report
    assert counter.texts == 2, f"the three copies were embedded {counter.texts - 1} times, not once"
    docs = {Path(d.source).name: d for d in qa.documents()}
    assert docs["a.txt"].copies == ("b.txt", "c.txt")
    answer = qa.ask("When did the Harbour Bridge reopen?", k=5)
    texts = [p.text for p in answer.passages]
    assert len(texts) == len(set(texts)), f"a passage's text was listed twice: {texts}"
    qa.remove(["a.txt"])
    assert {Path(d.source).name for d in qa.documents()} == {"b.txt", "c.txt", "other.txt"}
    assert not qa.ask("When did the Harbour Bridge reopen?").abstained, "the copies still answer"


def cli(args: list[str]) -> subprocess.CompletedProcess:
    return run_cli(args)


def test_cli_ingest_partial_exit_code_documents_show_remove_and_filters(tmp_path):
    index = tmp_path / "index"
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "good.txt").write_text("Harbour Bridge Reopens\n\nThe city reopened the Harbour Bridge on Monday.\n")
    (folder / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00" + bytes(range(256)))
    jsonl = write_jsonl(tmp_path / "wire.jsonl", RECORDS)
    partial = cli(["--index", str(index), "ingest", str(folder), "--jsonl", str(jsonl)])
    assert partial.returncode == 1, partial
    assert partial.stderr.strip().splitlines() == [
        f"corpus-qa: skipped {folder / 'photo.txt'}: looks binary (NUL bytes); only text, markdown or HTML articles "
        "can be indexed"], partial.stderr
    assert "skipped 1" in partial.stdout
    strict = cli(["--index", str(index), "ingest", "--strict", str(folder)])
    assert strict.returncode == 2 and "photo.txt (looks binary" in strict.stderr, strict.stderr
    named = cli(["--index", str(index), "ingest", str(folder / "photo.txt")])
    assert named.returncode == 2 and len(named.stderr.strip().splitlines()) == 1
    # --strict with a bad record in a JSON Lines file after good files: checked before any file is written
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"id": "x", "text": "Some text.", "date": "soon"}, {"id": "y"}])
    fresh = tmp_path / "fresh"
    mixed = cli(["--index", str(fresh), "ingest", "--strict", str(folder / "good.txt"), "--jsonl", str(bad)])
    assert mixed.returncode == 2 and "--strict: 2 records cannot be indexed" in mixed.stderr, mixed.stderr
    assert "bad.jsonl:1 (record 'x'" in mixed.stderr and "bad.jsonl:2 (" in mixed.stderr, mixed.stderr
    assert cli(["--index", str(fresh), "documents"]).stdout == "", "nothing may be written"

    listed = [json.loads(line) for line in cli(["--index", str(index), "documents", "--json"]).stdout.splitlines()]
    assert sorted(d["source"] for d in listed) == ["good.txt", "wire-001", "wire-002", "wire-003"]
    assert {d["source"]: d["outlet"] for d in listed}["wire-001"] == "Reuters"
    shown = json.loads(cli(["--index", str(index), "show", "wire-001", "--json"]).stdout)
    assert shown["text"].startswith("The Zorblat company won") and shown["published"] == "2024-03-01"
    assert cli(["--index", str(index), "show", "good.txt"]).stdout.startswith("Harbour Bridge Reopens\ngood.txt\n\nThe city reopened")

    asked = json.loads(cli(["--index", str(index), "ask", "--json", "--outlet", "reuters", PRIZE]).stdout)
    assert {p["outlet"] for p in asked["passages"]} == {"Reuters"}
    assert asked["passages"][0]["url"] == "https://example.org/zorblat-prize"
    text = cli(["--index", str(index), "ask", PRIZE]).stdout
    assert "Reuters, 2024-03-01, wire-001" in text and "https://example.org/zorblat-prize" in text
    nothing = cli(["--index", str(index), "ask", "--since", "2030-01-01", PRIZE])
    assert nothing.returncode == 0 and nothing.stdout.startswith("No indexed document matches the filters")
    bad = cli(["--index", str(index), "ask", "--since", "last week", PRIZE])
    assert bad.returncode == 2 and bad.stderr.startswith("corpus-qa: error: bad since date 'last week'")

    gone = cli(["--index", str(index), "remove", "wire-001", "good.txt"])
    assert gone.returncode == 0 and gone.stdout.count("removed") == 2
    unknown = cli(["--index", str(index), "remove", "wire-001"])
    assert unknown.returncode == 2 and "no indexed document 'wire-001'" in unknown.stderr
