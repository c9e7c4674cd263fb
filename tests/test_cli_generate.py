"""`corpus-qa ask --generate` and `corpus-qa check` (in the test process: conftest.run_cli):
a written answer through the real llama.cpp server beside today's JSON fields, the claim
check on stdin with no index, and a user's mistakes (no model, a model that is down, bad
JSON) as one line."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import HEALEY, LLM_TOKENS, free_port, run_cli
from test_cli import ok

pytestmark = pytest.mark.slow

PASSAGES = ["Umbro, which recently lost sponsorship deals with Chelsea and Celtic, said on Thursday it had signed "
            "a new four-year agreement with Scottish club Rangers. The firm, which is to receive a payment from "
            "Chelsea of £24.5m, said it is appraising a number of additional investment opportunities.",
            "Teenagers from well-off backgrounds are six times more likely to go to university than those from "
            "the most deprived areas, a report says."]


def run_llm(args: list[str]) -> subprocess.CompletedProcess:
    """corpus-qa with the tests' answer length (CORPUS_QA_LLM_MAX_TOKENS)."""
    return run_cli(args, env={"CORPUS_QA_LLM_MAX_TOKENS": str(LLM_TOKENS)})


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory):
    """An index folder the CLI fills with the bundled corpus (--demo) on its first `ask`."""
    return tmp_path_factory.mktemp("cli-generate") / "index"


def test_ask_generate_adds_the_checked_written_answer_beside_todays_fields(cli_index, llm_server):
    result = ok(run_llm(["--index", str(cli_index), "--demo", "--llm-url", llm_server, "ask", "--generate", "--json",
                         HEALEY]))
    out = json.loads(result.stdout)
    assert {"question", "answer", "abstained", "passages", "notes", "generated"} == set(out), out.keys()
    assert "Healey" in out["answer"], out["answer"]  # the extractive answer, as today
    g = out["generated"]
    assert g["model"] == "gemma-3-270m" and g["sentences"], g
    numbered = [p["n"] for p in out["passages"]]
    assert numbered == list(range(1, len(numbered) + 1)), numbered
    for s in g["sentences"]:
        assert set(s) == {"text", "cites", "supported", "reason"} and all(n in numbered for n in s["cites"]) or \
            not s["supported"], s
    shown = " ".join(f"{s['text']} {''.join(f'[{n}]' for n in s['cites'])}" for s in g["sentences"] if s["supported"])
    assert g["text"] == shown, g


def test_ask_generate_text_shows_the_written_answer_and_the_check(cli_index, llm_server):
    result = ok(run_llm(["--index", str(cli_index), "--demo", "--llm-url", llm_server, "ask", "--generate", HEALEY]))
    assert "written by gemma-3-270m are held by the passage they cite" in result.stdout, result.stdout
    assert "[1]" in result.stdout, result.stdout


def test_check_reads_json_lines_and_needs_no_index(tmp_path):
    lines = [{"text": "Umbro is to receive £34.5m from Chelsea [1]. Umbro is to receive £24.5m from Chelsea [2].",
              "passages": PASSAGES},
             {"text": "Teenagers from well-off backgrounds are six times more likely to go to university [2].",
              "passages": PASSAGES, "question": "How much likelier are well-off teenagers to go to university?"}]
    result = ok(run_cli(["check", "--json"], input="\n".join(json.dumps(x) for x in lines) + "\n", cwd=tmp_path))
    first, second = [json.loads(x) for x in result.stdout.splitlines()]
    assert first == {"sentences": [
        {"text": "Umbro is to receive £34.5m from Chelsea.", "cites": [1], "supported": False,
         "reason": "£34.5m is not in [1]"},
        {"text": "Umbro is to receive £24.5m from Chelsea.", "cites": [1], "supported": True,
         "reason": "cited [2]; [1] holds it"}]}, first
    assert [s["supported"] for s in second["sentences"]] == [True], second
    assert list(tmp_path.iterdir()) == [], "check created an index"


@pytest.mark.parametrize("stdin, says", [
    ("not json\n", "line 1 of stdin is not JSON"),
    ('{"text": "x [1]"}\n', 'line 1 of stdin has no "passages" list of strings'),
    ('["x"]\n', "line 1 of stdin is not a JSON object"),
])
def test_check_bad_input_is_one_line(stdin, says, tmp_path):
    result = run_cli(["check", "--json"], input=stdin, cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == "", result
    assert result.stderr.count("\n") == 1 and says in result.stderr and '{"text":' in result.stderr, result.stderr


def test_generate_without_a_model_or_with_one_that_is_down_is_one_line(cli_index):
    no_model = run_cli(["--index", str(cli_index), "--demo", "ask", "--generate", HEALEY])
    assert no_model.returncode == 2 and no_model.stderr.count("\n") == 1, no_model
    assert "--generate needs a language model: pass --llm-url URL" in no_model.stderr, no_model.stderr
    down = f"http://127.0.0.1:{free_port()}/v1"
    result = ok(run_cli(["--index", str(cli_index), "--demo", "--llm-url", down, "--llm-model", "m", "ask", "--generate",
                         HEALEY]))
    assert "Healey" in result.stdout.splitlines()[0], result.stdout
    assert f"Note: No written answer: the language model at {down} cannot be reached" in result.stdout, result.stdout
