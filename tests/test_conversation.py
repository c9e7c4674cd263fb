"""Follow-up questions: QA.ask(history=...), `ask --conversation`, and eval of conversation
files, on the bundled corpus with the real model and Chroma."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

from rag.conversation import is_follow_up, resolve
from rag.evaluate import evaluate_conversations, load_questions

CHAIR = "Who chairs the Ukraine Defense Contact Group now?"
HANDED = "Who handed the leadership to him?"
HEGSETH_DOC = "002_404fe9b87144756a.txt"


@pytest.mark.parametrize("question, expected", [
    (HANDED, True),
    ("What did that plan prohibit?", True),
    ("Who said those moves were temporary?", True),
    ("What city did she decline to comment on?", True),
    ("And the year before?", True),
    ("How many?", True),
    ("By how much did Qantas reduce its costs in the first half?", False),  # "its" is Qantas's
    ("On what date did Viktor Makarov end his hunger strike?", False),
    ("Which analyst said that the writeback hurt credibility?", False),  # "that" opens a clause
    ("Where did Biden move U.S. troops?", False),
])
def test_what_counts_as_a_follow_up(question, expected):
    assert is_follow_up(question) is expected


def test_a_question_without_history_or_standing_alone_is_searched_as_it_is():
    assert resolve(CHAIR, []).text == CHAIR
    assert resolve("Where did Biden move U.S. troops?", [CHAIR]).text == "Where did Biden move U.S. troops?"
    carried = resolve(HANDED, [CHAIR])
    assert carried.follow_up and CHAIR in carried.text and HANDED in carried.text


@pytest.mark.slow
def test_a_follow_up_is_answered_from_the_earlier_turns_article(bundled_qa):
    first = bundled_qa.ask(CHAIR)
    assert "Healey" in first.text and first.passages[0].source.endswith(HEGSETH_DOC)
    follow = bundled_qa.ask(HANDED, history=[first])
    assert "Hegseth" in follow.text, follow.text
    cited = [p for p in follow.passages if p.highlight]
    assert cited and all(p.source.endswith(HEGSETH_DOC) for p in cited)
    also = bundled_qa.ask(HANDED, history=[CHAIR])  # history given as questions only
    assert "Hegseth" in also.text, also.text


@pytest.mark.slow
def test_a_follow_up_answers_something_new_not_what_the_last_turn_said(bundled_qa):
    first = bundled_qa.ask("Which general told the New York Times that sending NATO trainers was inevitable?")
    assert "Brown" in first.text, first.text
    follow = bundled_qa.ask("What did he say had to happen first?", history=[first])
    assert follow.text.split(" [")[0] not in first.text, "the follow-up repeats the last answer"
    assert "stabilized" in follow.text, follow.text


@pytest.mark.slow
def test_a_standalone_question_with_history_is_answered_as_without_it(bundled_qa):
    history = [bundled_qa.ask(CHAIR)]
    for question in ("Into which Baltic countries did Biden move U.S. troops?",
                     "How many points did the peace plan reviewed in Geneva have?"):
        alone, after = bundled_qa.ask(question), bundled_qa.ask(question, history=history)
        assert (after.text, [p.source for p in after.passages]) == (alone.text, [p.source for p in alone.passages])


def conversation_file(tmp_path):
    path = tmp_path / "chats.jsonl"
    path.write_text("\n".join(json.dumps(c) for c in [
        {"id": "c1", "turns": [
            {"question": CHAIR, "answers": ["Healey"], "evidence": [{"doc": HEGSETH_DOC, "text": "John Healey, is now the chairman"}]},
            {"question": HANDED, "answers": ["Hegseth"], "evidence": [{"doc": HEGSETH_DOC, "text": "Mr. Hegseth handed leadership"}]},
        ]},
    ]) + "\n", encoding="utf-8")
    return path


@pytest.mark.slow
def test_eval_scores_conversations_with_follow_up_turns_apart(bundled_qa, tmp_path):
    conversations = load_questions(conversation_file(tmp_path))
    assert [[q.kind for q in c] for c in conversations] == [["first", "follow-up"]]
    metrics, judgements = evaluate_conversations(bundled_qa, conversations)
    assert [j.correct for j in judgements] == [True, True], judgements
    assert metrics["by_kind"]["follow-up"]["answer_accuracy"] == 1.0


@pytest.mark.slow
def test_cli_ask_conversation_reads_json_turns_and_plain_blocks(tmp_path):
    index = tmp_path / "index"
    out = run_cli(["--index", str(index), "--demo", "ask", "--json", "--conversation", "--file",
                   str(conversation_file(tmp_path))])
    assert out.returncode == 0, out.stderr
    turns = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(t["conversation"], t["turn"]) for t in turns] == [("c1", 1), ("c1", 2)]
    assert "Hegseth" in turns[1]["answer"]
    plain = tmp_path / "plain.txt"
    plain.write_text(f"{CHAIR}\n{HANDED}\n\nWhere did Biden move U.S. troops?\n", encoding="utf-8")
    out = run_cli(["--index", str(index), "--demo", "ask", "--json", "--conversation", "--file", str(plain)])
    turns = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(t["conversation"], t["turn"]) for t in turns] == [("1", 1), ("1", 2), ("2", 1)]
    assert "Hegseth" in turns[1]["answer"]
    evaluated = run_cli(["--index", str(index), "eval", "--json", str(conversation_file(tmp_path))])
    assert json.loads(evaluated.stdout)["by_kind"]["follow-up"]["answer_accuracy"] == 1.0
