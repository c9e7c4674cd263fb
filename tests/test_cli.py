"""The corpus-qa command end to end, as a subprocess: the `ask --json` schema, questions
from a file or stdin, stats, ingest, and bad input (exit 2, one line, no traceback).

Each call that answers or embeds loads the model (seconds), so those calls are few; the
bad-input cases and --help run in the test process (conftest.run_cli), but for the
model's failures, which run as processes side by side.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import EXE, HEALEY, cli_env, run_cli

from store.embedder import resolve_model

pytestmark = pytest.mark.slow

FIFA = "Who won the 2022 FIFA World Cup?"
BALTIC = "Into which Baltic countries did Biden move U.S. troops?"


def start(args: list[str], stdin: str | None = None, cwd: Path | None = None) -> subprocess.Popen:
    proc = subprocess.Popen(
        [EXE, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, encoding="utf-8", env=cli_env(), cwd=cwd,
    )
    proc.given = (args, stdin)  # type: ignore[attr-defined]
    return proc


def finish(proc: subprocess.Popen, timeout: float = 240) -> subprocess.CompletedProcess:
    args, stdin = proc.given  # type: ignore[attr-defined]
    out, err = proc.communicate(stdin, timeout=timeout)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def run(args: list[str], stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return finish(start(args, stdin, cwd))


def run_many(calls: list[list[str]], cwd: Path | None = None) -> list[subprocess.CompletedProcess]:
    procs = [start(args, cwd=cwd) for args in calls]
    return [finish(p) for p in procs]


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"corpus-qa {result.args} exited {result.returncode}:\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory):
    """An index folder the CLI fills with the bundled corpus on its first `ask`."""
    return tmp_path_factory.mktemp("cli") / "index"


@pytest.fixture(scope="module")
def asked(cli_index):
    """`ask --json Q1 Q2` on an empty index: it indexes the bundled corpus first."""
    return ok(run(["--index", str(cli_index), "--demo", "ask", "--json", HEALEY, FIFA]))


PASSAGE_KEYS = {"n", "source", "title", "text", "start", "end", "score", "highlight", "low_relevance", "doc_id",
                "published", "outlet", "url", "also_in"}


def check_answer_object(obj: dict, question: str, docs) -> None:
    assert set(obj) == {"question", "answer", "abstained", "passages", "notes"}, sorted(obj)
    assert obj["question"] == question
    assert isinstance(obj["abstained"], bool)
    if obj["abstained"]:  # an abstention says why, in one line
        assert len(obj["notes"]) == 1 and "\n" not in obj["notes"][0], obj["notes"]
    else:  # an answer over the bundled corpus has nothing unusual to note
        assert obj["notes"] == [], obj["notes"]
    assert isinstance(obj["answer"], str) and obj["answer"]
    assert isinstance(obj["abstained"], bool)
    assert isinstance(obj["passages"], list) and obj["passages"]
    for i, p in enumerate(obj["passages"], 1):
        assert set(p) == PASSAGE_KEYS, sorted(p)
        assert p["n"] == i and type(p["n"]) is int
        assert isinstance(p["source"], str) and isinstance(p["title"], str) and isinstance(p["text"], str)
        assert type(p["start"]) is int and type(p["end"]) is int and 0 <= p["start"] < p["end"]
        assert isinstance(p["score"], float)
        name = Path(p["source"]).name
        assert p["source"].endswith(name) and name in docs, p["source"]
        assert p["title"] == docs[name].title
        assert p["text"] == docs[name].text[p["start"] : p["end"]], f"passage {i} is not the cleaned text's span"
        h = p["highlight"]
        assert h is None or (isinstance(h, list) and len(h) == 2 and all(type(x) is int for x in h)), h
        if h is not None:
            assert 0 <= h[0] < h[1] <= len(p["text"]), f"highlight {h} outside passage {i}"


def test_ask_json_prints_one_object_per_question(asked, bundled_docs):
    lines = asked.stdout.splitlines()
    assert len(lines) == 2, f"expected 2 lines of JSON, got {len(lines)}:\n{asked.stdout[:2000]}"
    first, second = (json.loads(line) for line in lines)
    check_answer_object(first, HEALEY, bundled_docs)
    check_answer_object(second, FIFA, bundled_docs)
    assert first["abstained"] is False
    assert first["passages"][0]["source"].endswith("002_404fe9b87144756a.txt")
    assert "Healey" in first["answer"] and "[1]" in first["answer"]
    assert first["passages"][0]["highlight"] is not None
    assert second["abstained"] is True
    assert second["answer"] == "The corpus does not answer this question."
    assert all(p["highlight"] is None for p in second["passages"])


def test_ask_json_reads_questions_from_stdin(asked, cli_index, bundled_docs):
    result = ok(run(["--index", str(cli_index), "--demo", "ask", "--json", "--file", "-"], stdin=f"{BALTIC}\n\n  \n{HEALEY}\n"))
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["question"] for o in objects] == [BALTIC, HEALEY]
    for obj, question in zip(objects, [BALTIC, HEALEY]):
        check_answer_object(obj, question, bundled_docs)
    assert any(word in objects[0]["answer"] for word in ("Estonia", "Latvia", "Lithuania")), objects[0]["answer"]


def test_ask_reads_questions_from_a_file_and_prints_text(asked, cli_index, tmp_path):
    questions = tmp_path / "questions.txt"
    questions.write_text(f"{HEALEY}\n{FIFA}\n", encoding="utf-8")
    result = ok(run(["--index", str(cli_index), "--demo", "ask", "--file", str(questions)]))
    out = result.stdout
    assert "John Healey, is now the chairman. [1]" in out, out[:1500]
    assert "[1] Hegseth to Attend Ukraine Defense Group Only Virtually (002_404fe9b87144756a.txt, chars " in out
    assert "The corpus does not answer this question." in out
    assert "Closest passages (low relevance):" in out


def test_stats_json_and_reingest(asked, cli_index, corpus_dir, bundled_docs):
    import store

    stats = json.loads(ok(run(["--index", str(cli_index), "stats", "--json"])).stdout)
    assert stats["documents"] == 5
    assert stats["chunks"] == sum(len(store.chunk_text(d.id, d.text)) for d in bundled_docs.values())
    assert stats["model"] == "all-MiniLM-L6-v2"
    assert stats["index"] == str(cli_index)
    # ingest of the same files into the index the bundled corpus went into: all unchanged
    again = ok(run(["--index", str(cli_index), "ingest", "--json", str(corpus_dir)]))
    assert json.loads(again.stdout) == {"added": 0, "updated": 0, "unchanged": 5, "removed": 0, "chunks": 0, "copies": 0,
                                        "skipped": []}


ARTICLE = (
    "Harbour Bridge Reopens After Repairs\n\n"
    "The city reopened the Harbour Bridge on Monday after six months of repairs. "
    "Engineers replaced all 112 cables and resurfaced the deck.\n"
)


def test_ingest_then_reingest_then_bad_input_changes_nothing(tmp_path):
    index = tmp_path / "index"
    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "bridge.txt").write_text(ARTICLE, encoding="utf-8")
    (articles / "notes.md").write_text("# Orchard Festival Draws Record Crowd\n\nMore than twelve thousand visitors "
                                       "came to the orchard festival on Saturday.\n", encoding="utf-8")
    first = ok(run(["--index", str(index), "ingest", str(articles)]))
    assert first.stdout.strip() == "added 2, updated 0, unchanged 0, removed 0 documents; 2 chunks written"
    second = ok(run(["--index", str(index), "ingest", str(articles)]))
    assert second.stdout.strip() == "added 0, updated 0, unchanged 2, removed 0 documents; 0 chunks written"

    # bad input, all at once: exit 2, one line on stderr, the index untouched
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02binary\x00" * 50)
    (tmp_path / "latin.txt").write_bytes("Café Society Returns\n\nThe café reopened.\n".encode("latin-1"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "thesis").mkdir()
    (tmp_path / "thesis" / "chapter1.txt").write_text("my thesis")
    (tmp_path / "long.txt").write_text("why " * 25_000 + "?\n", encoding="utf-8")
    (tmp_path / "blank.txt").write_text("\n  \n", encoding="utf-8")
    # another model of the same width: its vectors would be compared with the index's, silently wrong
    other = tmp_path / "other-model"
    shutil.copytree(resolve_model(None), other, symlinks=True,
                    ignore=lambda folder, names: [n for n in names if n.endswith((".safetensors", ".bin", ".onnx"))])
    (other / "config.json").write_text(json.dumps({**json.loads((other / "config.json").read_text()), "layer_norm_eps": 1e-5}))
    i = ["--index", str(index)]
    cases = [
        (i + ["ask", ""], r"empty question: type a question"),
        (i + ["ask", "   "], r"empty question: type a question"),
        (i + ["ask"], r"no question given: corpus-qa ask \"your question\" \(or --file FILE\)"),
        (i + ["ask", "--file", str(tmp_path / "long.txt")], r"question too long: 100,001 characters \(limit 2,000\); ask it in fewer words"),
        (i + ["ask", "--file", str(tmp_path / "blank.txt")], r"no question given"),
        (i + ["ask", "--file", str(tmp_path / "nope.txt")], r"cannot read questions from .*nope\.txt \(FileNotFoundError\)"),
        (i + ["ingest", str(tmp_path / "missing")], r"no such file or folder: .*missing \(check the path\)"),
        (i + ["ingest", str(tmp_path / "binary.txt")], r"binary\.txt: looks binary \(NUL bytes\)"),
        (i + ["ingest", str(tmp_path / "latin.txt")], r"latin\.txt: not UTF-8 \(byte 3\); convert it, e\.g\. iconv -f latin1 -t utf-8"),
        (i + ["ingest", str(tmp_path / "empty")], r"no articles in folder .*empty: it holds no \.txt"),
        (i + ["ingest", str(articles), str(tmp_path / "latin.txt")], r"latin\.txt: not UTF-8"),
        (["--index", str(tmp_path / "thesis"), "stats"], r"thesis is not a corpus-qa index \(no corpus-qa\.json\) and is not empty"),
        (["--index", str(tmp_path / "thesis"), "ask", HEALEY], r"thesis is not a corpus-qa index"),
        # the model loads in a second thread while the index opens: its failure is still one line
        (i + ["--model", str(tmp_path / "no-model"), "ask", HEALEY],
         r"cannot load embedding model '.*no-model' \(FileNotFoundError\); pass --model with a local model folder"),
        (i + ["--model", str(other), "ask", HEALEY],
         r"the index at .* was built with the embedding model 'all-MiniLM-L6-v2', not '.*other-model': pass --model all-MiniLM-L6-v2"),
        (i + ["--model", str(other), "ingest", str(articles)], r"was built with the embedding model 'all-MiniLM-L6-v2'"),
    ]
    # in this process (conftest.run_cli), but for the model's failures: real processes, where the
    # model's loading thread and its native code write to the process's own stderr
    processes = [n for n, (args, _) in enumerate(cases) if "--model" in args]
    started = run_many([cases[n][0] for n in processes])
    results = [started[processes.index(n)] if n in processes else run_cli(args) for n, (args, _) in enumerate(cases)]

    for (args, pattern), result in zip(cases, results):
        label = " ".join(a if len(a) < 60 else a[:57] + "..." for a in args[2:])
        assert result.returncode == 2, f"{label}: exit {result.returncode}, stderr {result.stderr[-500:]!r}"
        assert "Traceback" not in result.stderr, f"{label}: traceback:\n{result.stderr[-2000:]}"
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, f"{label}: stderr should be one line, got {lines}"
        assert lines[0].startswith("corpus-qa: error: "), f"{label}: {lines[0]!r}"
        assert re.search(pattern, lines[0]), f"{label}: {lines[0]!r} does not match {pattern!r}"
        assert result.stdout == "", f"{label}: printed {result.stdout[:200]!r}"
    assert sorted(p.name for p in (tmp_path / "thesis").iterdir()) == ["chapter1.txt"]
    assert (tmp_path / "thesis" / "chapter1.txt").read_text() == "my thesis"

    stats = json.loads(ok(run(["--index", str(index), "stats", "--json"])).stdout)
    assert (stats["documents"], stats["chunks"]) == (2, 2), stats


def test_help_of_every_command_exits_zero():
    commands = [[], ["ingest"], ["ask"], ["serve"], ["stats"], ["eval"]]
    results = [run_cli(c + ["--help"]) for c in commands]
    for command, result in zip(commands, results):
        ok(result)
        assert result.stdout.startswith(f"usage: corpus-qa {' '.join(command)}".rstrip()), result.stdout[:200]
    assert "--index DIR" in results[0].stdout and "CORPUS_QA_INDEX" in results[0].stdout
    assert "--json" in results[2].stdout and "--file FILE" in results[2].stdout
    assert "--prune" in results[1].stdout
