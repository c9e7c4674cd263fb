"""The MCP server's written answers and claim check through the SDK's client over stdio:
`ask` with `generate` through the real llama.cpp server (Gemma 3 270M), and `check`, which
needs no index, against passages the caller gives."""

from __future__ import annotations

import pytest
from anyio.from_thread import start_blocking_portal
from mcp import StdioServerParameters, stdio_client

from conftest import EXE, HEALEY, LLM_TOKENS, cli_env
from test_generate import ARTICLE_5
from test_mcp import Connected, error_text, ok, session_over

pytestmark = pytest.mark.slow

PASSAGES = ["Umbro, which recently lost sponsorship deals with Chelsea and Celtic, said on Thursday it had signed "
            "a new four-year agreement with Scottish club Rangers. The firm, which is to receive a payment from "
            "Chelsea of £24.5m, said it is appraising a number of additional investment opportunities.",
            "Tuition fees and student loans made no major difference."]


@pytest.fixture(scope="module")
def written(tmp_path_factory, llm_server):
    index = tmp_path_factory.mktemp("mcp-llm") / "index"
    log = tmp_path_factory.mktemp("mcp-llm-log") / "stdio-server.log"
    params = StdioServerParameters(command=EXE, args=["--index", str(index), "--demo", "--llm-url", llm_server, "mcp"],
                                   env={**cli_env(), "CORPUS_QA_LLM_MAX_TOKENS": str(LLM_TOKENS)})
    with open(log, "w") as errlog, start_blocking_portal() as portal:
        try:
            with portal.wrap_async_context_manager(session_over(stdio_client(params, errlog=errlog))) as session:
                yield Connected(portal, session, log)
        except BaseException:
            errlog.flush()
            print(f"server stderr:\n{log.read_text(errors='replace')[-3000:]}")
            raise


def test_ask_with_generate_returns_the_written_answer_checked(written):
    # the question tests/test_generate.py wrote an answer to last: the server need not read its prompt anew
    out = ok(written.call("ask", question=ARTICLE_5, generate=True))
    assert "an attack against them all" in out["answer"], out["answer"]
    g = out["generated"]
    assert g["model"] == "gemma-3-270m" and g["sentences"], g
    numbered = {p["n"] for p in out["passages"]}
    assert all(set(s["cites"]) <= numbered for s in g["sentences"] if s["supported"]), g
    assert "generated" not in ok(written.call("ask", question=HEALEY))


def test_check_verifies_sentences_against_the_given_passages(written):
    out = ok(written.call("check", text="Umbro gets £34.5m from Chelsea [1]. Umbro gets £24.5m from Chelsea [2].",
                          passages=PASSAGES, question="How much will Umbro receive from Chelsea?"))
    assert out == {"sentences": [
        {"text": "Umbro gets £34.5m from Chelsea.", "cites": [1], "supported": False, "reason": "£34.5m is not in [1]"},
        {"text": "Umbro gets £24.5m from Chelsea.", "cites": [1], "supported": True,
         "reason": "cited [2]; [1] holds it"}]}, out


def test_check_without_passages_is_a_tool_error(written):
    assert "passages" in error_text(written.call("check", text="x [1]", passages=[]))
