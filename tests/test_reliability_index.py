"""A corrupted or foreign index folder: one clear line naming the problem and the way to
rebuild (CLI: exit 2, no traceback), and the folder is never changed, let alone wiped.
A damaged keyword index is a cache: it is rebuilt and questions are answered."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import store
from conftest import EXE, HEALEY, cli_env, run_cli

pytestmark = pytest.mark.slow


def run_all(calls: list[list[str]], processes: bool = False) -> list[subprocess.CompletedProcess]:
    """Run corpus-qa commands: in this process (conftest.run_cli), or as processes side by
    side (each start-up costs a second of imports)."""
    if not processes:
        return [run_cli(args) for args in calls]
    procs = [subprocess.Popen([EXE, *args], env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for args in calls]
    out = []
    for args, proc in zip(calls, procs):
        stdout, stderr = proc.communicate(timeout=240)
        out.append(subprocess.CompletedProcess(args, proc.returncode, stdout, stderr))
    return out


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` (or the file itself) with a hash of its bytes."""
    if folder.is_file():
        return {folder.name: hashlib.sha256(folder.read_bytes()).hexdigest()}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def garbage_sqlite(index: Path) -> None:
    db = index / "chroma" / "chroma.sqlite3"
    db.write_bytes(os.urandom(db.stat().st_size))


def truncated_sqlite(index: Path) -> None:
    db = index / "chroma" / "chroma.sqlite3"
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 3])


def missing_sqlite(index: Path) -> None:
    (index / "chroma" / "chroma.sqlite3").unlink()


def garbage_marker(index: Path) -> None:
    (index / "corpus-qa.json").write_text("garbage")


def future_marker(index: Path) -> None:
    (index / "corpus-qa.json").write_text(json.dumps({"format": 5}))


def previous_marker(index: Path) -> None:
    """An index built before the sentence vectors moved into their chunks (issue 26)."""
    (index / "corpus-qa.json").write_text(json.dumps({"format": 2}))


def chroma_is_a_file(index: Path) -> None:
    shutil.rmtree(index / "chroma")
    (index / "chroma").write_text("not a folder")


DAMAGE = {
    "garbage sqlite": (garbage_sqlite, r"cannot open the index in .*; move it aside and run 'corpus-qa --index .* ingest \.\.\.' to rebuild"),
    "truncated sqlite": (truncated_sqlite, r"cannot open the index in .*; move it aside and run 'corpus-qa --index .* ingest \.\.\.' to rebuild"),
    "sqlite missing": (missing_sqlite, r"the index in .* is damaged: .*chroma\.sqlite3 is missing; move .* aside and run 'corpus-qa --index .* ingest \.\.\.' to rebuild it"),
    "garbage marker": (garbage_marker, r"corpus-qa\.json is damaged or of another corpus-qa version \(format None, expected one of 3, 4\); move .* aside and run"),
    "future marker": (future_marker, r"corpus-qa\.json is damaged or of another corpus-qa version \(format 5, expected one of 3, 4\); move .* aside and run"),
    "previous marker": (previous_marker, r"corpus-qa\.json is damaged or of another corpus-qa version \(format 2, expected one of 3, 4\); move .* aside and run"),
    "chroma is a file": (chroma_is_a_file, r"cannot open the index in .*; move it aside and run 'corpus-qa --index .* ingest \.\.\.' to rebuild"),
}


@pytest.fixture
def index_copy(bundled_qa, tmp_path) -> Path:
    """A copy of the bundled index, to damage."""
    copy = tmp_path / "index"
    shutil.copytree(bundled_qa.index.where, copy)
    return copy


@pytest.mark.parametrize("damage, processes", [(d, False) for d in DAMAGE] + [("garbage sqlite", True)])
def test_a_damaged_index_is_one_clear_line_and_left_as_it_is(index_copy, damage, processes):
    """Each damage through the CLI in this process; one of them also as real processes, where
    anything Chroma's native code wrote to the process's stderr would show."""
    make, message = DAMAGE[damage]
    make(index_copy)
    before = snapshot(index_copy)
    calls = [["--index", str(index_copy), *args] for args in (["stats", "--json"], ["ingest", str(index_copy.parent)], ["ask", HEALEY])]
    for result in run_all(calls, processes):
        args = result.args
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2, f"{damage} {args}: exit {result.returncode}\n{result.stderr[-2000:]}"
        assert "Traceback" not in result.stderr and len(lines) == 1, f"{damage} {args}: {result.stderr[-2000:]}"
        assert lines[0].startswith("corpus-qa: error: "), lines
        import re

        assert re.search(message, lines[0]), f"{damage}: {lines[0]}"
        assert result.stdout == ""
        assert snapshot(index_copy) == before, f"{damage} {args}: the index folder was changed"


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_the_python_api_raises_store_error(index_copy, damage):
    DAMAGE[damage][0](index_copy)
    before = snapshot(index_copy)
    with pytest.raises(store.StoreError):
        store.Index.open(path=index_copy)
    assert snapshot(index_copy) == before


def test_an_index_repaired_while_the_process_runs_opens_again(index_copy, bundled_qa):
    """A page, an MCP server or a notebook meets a damaged index, the user puts the good copy
    back, and the same process opens it: Chroma keeps one client per folder in a process,
    and the one that failed to start must not be the one handed out again."""
    db = index_copy / "chroma" / "chroma.sqlite3"
    good = db.read_bytes()
    garbage_sqlite(index_copy)
    with pytest.raises(store.StoreError):
        store.Index.open(path=index_copy)
    db.write_bytes(good)
    index = store.Index.open(path=index_copy)
    assert sorted(d.source for d in index.documents()) == sorted(d.source for d in bundled_qa.index.documents())


@pytest.mark.parametrize("files", [
    {"notes.txt": "my notes", "photos/cat.jpg": "jpeg"},
    {"chroma.sqlite3": "someone else's Chroma", ".hidden": "x"},
])
def test_a_folder_of_someone_elses_files_is_refused_and_untouched(tmp_path, files):
    folder = tmp_path / "theirs"
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(content)
    before = snapshot(folder)
    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "a.txt").write_text("A title of words\nA sentence of the body.\n")
    calls = [["--index", str(folder), *args] for args in (["stats"], ["ingest", str(articles)], ["ask", HEALEY])]
    for result in run_all(calls):
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
        assert result.stderr.strip() == (f"corpus-qa: error: {folder} is not a corpus-qa index (no corpus-qa.json) "
                                         "and is not empty; pass --index with a new or empty folder")
    assert snapshot(folder) == before


def test_an_index_location_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "index"
    path.write_text("a file")
    result = run_cli(["--index", str(path), "stats"])
    assert result.returncode == 2 and result.stderr.strip() == (
        f"corpus-qa: error: index location {path} is a file, not a folder; pass --index with a folder")
    assert path.read_text() == "a file"


def _keyword_dir(index: Path) -> Path:
    return index / "keyword" / "corpus"


def _break_meta(index: Path, change) -> None:
    meta_path = _keyword_dir(index) / "meta.json"
    meta = json.loads(meta_path.read_text())
    change(meta)
    meta_path.write_text(json.dumps(meta))


KEYWORD_DAMAGE = {
    "missing": lambda i: shutil.rmtree(_keyword_dir(i)),
    "meta not json": lambda i: (_keyword_dir(i) / "meta.json").write_text("{not json"),
    "ids not a list": lambda i: _break_meta(i, lambda m: m.update(ids=5)),
    "ids of another collection, same count": lambda i: _break_meta(i, lambda m: m.update(ids=[f"x{n}" for n in range(len(m["ids"]))])),
    "copy name escapes": lambda i: _break_meta(i, lambda m: m.update(copy="../../..")),
    "matrices garbage": lambda i: [p.write_bytes(os.urandom(300)) for p in _keyword_dir(i).rglob("*.npy")],
    "matrices of fewer documents": lambda i: _break_meta(i, lambda m: m.update(ids=m["ids"] + ["extra"])),
}


@pytest.mark.parametrize("damage", list(KEYWORD_DAMAGE))
def test_a_damaged_keyword_index_is_rebuilt_and_questions_are_answered(index_copy, bundled_qa, damage):
    KEYWORD_DAMAGE[damage](index_copy)
    index = store.Index.open(path=index_copy)
    collection_ids = sorted(index.client.get_collection(index.name).get(include=[])["ids"])
    assert sorted(index.keyword_index().ids) == collection_ids
    hits = index.keyword("Ukraine Defense Contact Group chairman Healey", 5)
    assert hits and all(h.id in collection_ids for h in hits)
    assert hits == bundled_qa.index.keyword("Ukraine Defense Contact Group chairman Healey", 5), "same as undamaged"


def test_a_keyword_index_saved_with_other_bm25_parameters_is_rebuilt(index_copy, bundled_qa):
    """An index saved by a version of corpus-qa with other k1/b is rebuilt with the current ones."""
    from store.keyword import B, K1

    for params in _keyword_dir(index_copy).rglob("params.index.json"):
        saved = json.loads(params.read_text())
        params.write_text(json.dumps({**saved, "k1": 1.5, "b": 0.75}))
    index = store.Index.open(path=index_copy)
    query = "Ukraine Defense Contact Group chairman Healey"
    assert index.keyword(query, 5) == bundled_qa.index.keyword(query, 5)
    index.keywords.wait_saved()  # a question's path saves the rebuilt copy after answering
    current = json.loads((_keyword_dir(index_copy) / "meta.json").read_text())["copy"]
    params = json.loads((_keyword_dir(index_copy) / current / "bm25" / "params.index.json").read_text())
    assert (params["k1"], params["b"]) == (K1, B)
