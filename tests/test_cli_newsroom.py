"""The command line as a newsroom meets it in its first hour (issue 20, points 2, 4 and 9):
a mistyped --index is an error that creates nothing (the sample corpus fills only the
default ./.corpus-qa, or any index with --demo); sources are named by their path inside
the folder given to `ingest`, the same in --source, show, remove and documents, and an
index made with the old names is renamed on re-ingest without embedding again; `show`
prints a header; `ask --conversation` takes its turns as arguments or from stdin and
repeats each question in plain text.

Real BBC stories (read from ../shared in place, a few copied into a temporary folder to
give it the archive's category folders), the real model, a real embedded Chroma.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import EXE, REPO, cli_env, run_cli
from test_cli import ok, run, run_many
from test_ingest import CountingEmbedder

import rag
import store

pytestmark = pytest.mark.slow

BBC = REPO.parent / "shared" / "benchmarks" / "bbc-news" / "articles"
PICK = {"business": ("001.txt", "002.txt", "003.txt"), "sport": ("001.txt", "002.txt")}
GREENSPAN = "What did Greenspan say about the dollar?"


def bbc_folder(root: Path) -> Path:
    """A folder shaped like the BBC archive (category/NNN.txt) holding five of its stories."""
    if not BBC.is_dir():
        pytest.skip(f"no BBC archive at {BBC}")
    folder = root / "articles"
    for category, names in PICK.items():
        (folder / category).mkdir(parents=True)
        for name in names:
            shutil.copyfile(BBC / category / name, folder / category / name)
    return folder


@pytest.fixture(scope="module")
def bbc_index(tmp_path_factory):
    root = tmp_path_factory.mktemp("newsroom")
    folder = bbc_folder(root)
    index = root / "bbc-ix"
    ok(run_cli(["--index", str(index), "ingest", str(folder)]))
    return index


def one_error_line(result, *needles: str) -> str:
    assert result.returncode == 2, f"{result.args}: exit {result.returncode}, {result.stderr[-500:]!r}"
    assert "Traceback" not in result.stderr and result.stdout == "", result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("corpus-qa: error: "), lines
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


def test_a_mistyped_index_is_an_error_naming_the_path_and_creates_nothing(bbc_index, tmp_path):
    typo = tmp_path / "bbc-ixy"
    i = ["--index", str(typo)]
    results = run_many([i + ["ask", "Who won the Australian Open?"], i + ["stats"], i + ["documents"],
                        i + ["show", "business/001.txt"], i + ["remove", "business/001.txt"], i + ["serve"],
                        i + ["eval", str(REPO.parent / "shared" / "qa" / "dev.jsonl")]])
    for result in results:
        one_error_line(result, f"no index at {typo}", f"corpus-qa --index {typo} ingest FOLDER")
    assert not typo.exists(), "a command on a mistyped index created the folder"

    env = {**cli_env(), "CORPUS_QA_INDEX": str(typo)}  # the same through the environment
    by_env = subprocess.run([EXE, "ask", "Who won the Australian Open?"], capture_output=True, text=True, env=env,
                            timeout=240)
    one_error_line(by_env, f"no index at {typo}")
    assert not typo.exists()
    with pytest.raises(rag.InputError, match=f"no index at {typo}"):
        rag.QA.open(index=typo, create=False)
    assert not typo.exists()

    # an index folder that exists but holds nothing is not filled with the sample either
    empty = tmp_path / "empty"
    rag.QA.open(index=empty)  # created (as an ingest would), nothing ingested
    asked = run(["--index", str(empty), "ask", "Who won the Australian Open?"])
    one_error_line(asked, f"the index at {empty} is empty", "ingest FOLDER")
    assert rag.QA.open(index=empty).stats().documents == 0


def test_the_default_location_still_fills_itself_on_a_fresh_clone(tmp_path):
    """`make run` on a fresh clone: ./.corpus-qa is made from the bundled corpus; reading
    commands before that say how to start, and create nothing."""
    stats = run(["stats"], cwd=tmp_path)
    one_error_line(stats, "no index at .corpus-qa", "corpus-qa ingest FOLDER")
    assert not (tmp_path / ".corpus-qa").exists()
    answer = json.loads(ok(run(["ask", "--json", "Who is now the chairman of the Ukraine Defense Contact Group?"],
                               cwd=tmp_path)).stdout)
    assert "Healey" in answer["answer"] and (tmp_path / ".corpus-qa").is_dir()


def test_sources_are_paths_inside_the_folder_ingested_everywhere(bbc_index):
    i = ["--index", str(bbc_index)]
    listed, business, asked, shown = [run_cli(i + args) for args in (
        ["documents", "--json"], ["documents", "--json", "--source", "business/*"],
        ["ask", "--json", "--source", "business/*", GREENSPAN], ["show", "business/002.txt"])]
    sources = sorted(json.loads(line)["source"] for line in ok(listed).stdout.splitlines())
    assert sources == ["business/001.txt", "business/002.txt", "business/003.txt", "sport/001.txt", "sport/002.txt"]
    assert [json.loads(line)["source"] for line in ok(business).stdout.splitlines()] == [
        "business/001.txt", "business/002.txt", "business/003.txt"]
    passages = json.loads(ok(asked).stdout)["passages"]
    assert passages and {p["source"] for p in passages} <= {"business/001.txt", "business/002.txt", "business/003.txt"}
    # show: a header (title, then source), a blank line, then the text exactly as indexed
    text = ok(shown).stdout
    assert text.startswith("Dollar gains on Greenspan speech\nbusiness/002.txt\n\nThe dollar has hit its highest level"), \
        text[:300]
    plain = ok(run_cli(i + ["show", "--text-only", "business/002.txt"])).stdout
    assert plain.startswith("The dollar has hit its highest level") and text.endswith(plain)
    removed = ok(run_cli(i + ["remove", "sport/002.txt"])).stdout
    assert removed.startswith("removed sport/002.txt ("), removed


def test_an_index_with_the_old_names_is_renamed_on_re_ingest_without_embedding_again(make_qa, embedder, tmp_path):
    folder = bbc_folder(tmp_path)
    counter = CountingEmbedder(embedder)
    qa = make_qa(model=counter)
    # as the code before issue 20 named them: "<folder name>/<path inside it>"
    old = [store.load(path, f"articles/{source}") for path, source in store.find_files([folder])]
    assert qa.ingest_documents(old).added == 5
    embedded, chunks = counter.texts, qa.index.count()
    report = qa.ingest([folder])
    assert (report.added, report.updated, report.unchanged) == (0, 5, 0), report
    assert counter.texts == embedded, "a renamed document was embedded again"
    assert qa.index.count() == chunks, "a renamed document left its old chunks behind (or lost some)"
    assert sorted(d.source for d in qa.documents()) == [
        "business/001.txt", "business/002.txt", "business/003.txt", "sport/001.txt", "sport/002.txt"]
    answer = qa.ask(GREENSPAN)
    assert answer.passages[0].source == "business/002.txt" and not answer.abstained
    assert qa.ingest([folder]).unchanged == 5


def test_a_conversation_from_arguments_or_stdin_repeats_its_questions_in_plain_text(bbc_index):
    i = ["--index", str(bbc_index)]
    follow = "What happened to the dollar after that?"
    by_args = run_cli(i + ["ask", "--conversation", GREENSPAN, follow])
    by_stdin = run_cli(i + ["ask", "--conversation", "-"], input=f"{GREENSPAN}\n{follow}\n")
    by_json = run_cli(i + ["ask", "--json", "--conversation", "--file", "-"], input=f"{GREENSPAN}\n{follow}\n")
    for result in (by_args, by_stdin):
        lines = ok(result).stdout.splitlines()
        assert lines[0] == f"[conversation 1, turn 1] Q: {GREENSPAN}", lines[:3]
        assert f"[conversation 1, turn 2] Q: {follow}" in lines, lines
        assert "business/002.txt" in result.stdout
    turns = [json.loads(line) for line in ok(by_json).stdout.splitlines()]
    assert [(t["conversation"], t["turn"], t["question"]) for t in turns] == [("1", 1, GREENSPAN), ("1", 2, follow)]
    assert by_args.stdout == by_stdin.stdout
