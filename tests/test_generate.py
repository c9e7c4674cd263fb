"""Written answers (rag/generate.py) through the Python API: with no model everything is as
before; an endpoint that is down, silent or not OpenAI's gives a one-line note and the
extractive answer (real HTTP servers on loopback, no mock); the real llama.cpp server with
Gemma 3 270M writes answers whose every sentence is checked, streamed sentence by sentence."""

from __future__ import annotations

import http.server
import socket
import threading

import pytest

import rag
from conftest import HEALEY, free_port
from rag.claims import numbers
from rag.generate import Client, messages

# ARTICLE_5 last: the check test writes it last, and tests/test_mcp_generate.py asks it next,
# which the server then answers without reading the prompt anew (it keeps the last one it read)
ARTICLE_5 = "What does NATO's Article 5 say?"
QUESTIONS = [HEALEY, "Into which Baltic countries did Biden move U.S. troops?",
             "How many soldiers did Britain offer to send to Ukraine?", ARTICLE_5]


def test_without_a_model_an_answer_is_as_before(bundled_qa):
    answer = bundled_qa.ask(HEALEY)
    assert answer.generated is None and answer.shown == answer.text, answer
    assert "generated" not in rag.answer_dict(answer)


def test_asking_for_a_written_answer_without_a_model_is_one_clear_error(bundled_qa):
    with pytest.raises(rag.InputError, match=r"no language model .*--llm-url URL or set CORPUS_QA_LLM_URL"):
        bundled_qa.ask(HEALEY, generate=True)


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "ftp://127.0.0.1/v1", ""])
def test_a_bad_url_is_refused_with_the_fix(url):
    with pytest.raises(rag.LLMError, match=r"bad language model URL .*e\.g\. http://127\.0\.0\.1:8080/v1"):
        rag.LLM(url)


def test_the_model_gets_the_passages_numbered_as_they_are_shown(bundled_qa):
    answer = bundled_qa.ask(HEALEY)
    [turn] = messages(answer.question, answer.passages)
    content = turn["content"]
    at = [content.index(f"[{p.n}] {p.title}\n") for p in answer.passages]
    assert at == sorted(at) and len(at) == len(answer.passages) >= 3, at
    first = answer.passages[0]
    assert f"{' '.join(first.text.split()[:6])}" in content and f". [{first.n}]" in content, content[:600]
    assert f"Question: {HEALEY}\n" in content and "like [1]" in content.split("Question:")[1], content[-600:]


def _with(bundled_qa, url: str, timeout: float = 5.0) -> rag.QA:
    return rag.QA(bundled_qa.index, bundled_qa.embedder, llm=rag.LLM(url, model="any", timeout=timeout))


def test_an_endpoint_that_is_down_leaves_the_extractive_answer_and_one_note(bundled_qa):
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    answer = _with(bundled_qa, url).ask(HEALEY, generate=True)
    assert answer.generated is not None and answer.generated.sentences == () and answer.generated.done, answer
    assert answer.shown == answer.text and "Healey" in answer.text, answer.text
    [note] = [n for n in answer.notes if n.startswith("No written answer")]
    assert f"the language model at {url} cannot be reached" in note and "make llm" in note, note


@pytest.fixture
def silent_server():
    """A real TCP server on loopback that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    listener.close()


def test_an_endpoint_that_never_answers_times_out_with_one_note(bundled_qa, silent_server):
    answer = _with(bundled_qa, silent_server, timeout=1).ask(HEALEY, generate=True)
    assert answer.shown == answer.text and answer.generated.sentences == (), answer
    assert any(f"the language model at {silent_server} did not answer within 1 s" in n for n in answer.notes), answer.notes


class _NotOpenAI(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_error(404)

    do_POST = do_GET  # noqa: N815

    def log_message(self, *args):
        pass


@pytest.fixture
def plain_http_server():
    """A real HTTP server on loopback that is not an OpenAI endpoint (404 for everything)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_server_that_is_not_openai_compatible_is_named_with_the_fix(bundled_qa, plain_http_server):
    answer = _with(bundled_qa, plain_http_server).ask(HEALEY, generate=True)
    assert answer.shown == answer.text, answer
    assert any("has no /chat/completions (404)" in n and "ending in /v1" in n for n in answer.notes), answer.notes


# --- the real model ---------------------------------------------------------------


@pytest.fixture(scope="module")
def written_answers() -> dict[str, rag.Answer]:
    """The written answers of this module's tests, by question, for the tests after them: the
    server reads a prompt it has not just read for most of a minute on a busy 2-core machine
    (Gemma 3 270M's prompt evaluation), and at temperature 0 an answer is the same whichever
    test asks for it (`ask(generate=True)` is the last state of `ask_stream`)."""
    return {}


def written_answer(written_qa, written_answers, question: str) -> rag.Answer:
    if question not in written_answers:
        written_answers[question] = written_qa.ask(question, generate=True)
    return written_answers[question]


@pytest.mark.slow
def test_the_endpoint_names_its_model(llm_server):
    client = Client(rag.LLM(llm_server))
    try:
        assert client.model() == "gemma-3-270m"
    finally:
        client.close()


@pytest.mark.slow
def test_a_written_answer_is_checked_sentence_by_sentence(written_qa, written_answers):
    answer = written_qa.ask(HEALEY, generate=True)
    written_answers[HEALEY] = answer
    g = answer.generated
    assert g is not None and g.done and g.model == "gemma-3-270m" and g.sentences, (answer.notes, g)
    by_n = {p.n: p for p in answer.passages}
    for s in g.sentences:
        assert isinstance(s.supported, bool) and s.reason is not None, s
        if s.supported:  # what the check lets through: its numbers are in the passages it cites
            assert s.cites and all(n in by_n for n in s.cites), s
            held = set().union(*(v for n in s.cites for v in numbers(by_n[n].text)))
            assert all(found & held for found in numbers(s.text, checked_only=True)), s
        else:
            assert s.reason, s
    assert answer.shown == (g.text or answer.text)
    out = rag.answer_dict(answer)
    assert out["answer"] == answer.text and out["generated"]["model"] == "gemma-3-270m", out
    assert [set(x) for x in out["generated"]["sentences"]] == [{"text", "cites", "supported", "reason"}] * len(g.sentences)


@pytest.mark.slow
def test_the_answer_streams_extractive_first_then_checked_sentences(written_qa, written_answers):
    states = list(written_qa.ask_stream(QUESTIONS[1]))
    assert states[0].generated is None and states[0].text, states[0]
    written = [a.generated for a in states[1:]]
    assert written and written[-1].done and not any(g.done for g in written[:-1]), written
    counts = [len(g.sentences) for g in written]
    assert counts == sorted(counts), counts
    assert any(g.pending for g in written[:-1]), "nothing was seen while it was being written"
    written_answers[QUESTIONS[1]] = states[-1]


@pytest.mark.slow
def test_the_check_catches_what_the_small_model_gets_wrong(written_qa, written_answers):
    """Gemma 3 270M writes poor answers: over a few questions the check rejects some of its
    sentences, and every sentence it keeps has its numbers in the passage it cites. (The
    answers the tests above wrote are reused; the others are written here.)"""
    kept, rejected = [], []
    for question in QUESTIONS:
        answer = written_answer(written_qa, written_answers, question)
        for s in answer.generated.sentences:
            (kept if s.supported else rejected).append((question, s))
    assert rejected, f"the check rejected none of {len(kept)} sentences: {kept}"
    assert all(s.reason for _, s in rejected), rejected
