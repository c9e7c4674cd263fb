"""Optional: a language model writes the answer from the passages, each sentence checked.

Any OpenAI-compatible chat endpoint (llama.cpp's server, Ollama, vLLM, LM Studio,
OpenAI) through httpx: `LLM(url)` takes the base URL as OpenAI clients do
(`http://127.0.0.1:8080/v1`), a model name (left empty: the first the endpoint lists at
/models) and an API key. The model gets the answer's passages numbered as they are
shown (`[n]` is passages[n-1]), is told to answer only from them with a `[n]` after each
sentence and to say so when they do not answer. `write` streams: as each sentence
completes it is checked against the passage it cites (rag.claims), so a page can mark it
while the model writes the next.

Nothing here reads the environment: the doors (ui/) build the LLM from their options.
A mistake or failure a user can fix (a bad URL, an endpoint that is down, slow or answers
in another format) is an LLMError with one line naming it and the fix.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from store import CorpusQAError, Embedder, sentence_spans

from .claims import Checker, ClaimModel, complete, split
from .types import Answer, CheckedSentence, Passage, Written

logger = logging.getLogger(__name__)
NO_ANSWER_SAID = "The passages do not answer this question."
STEP = 24  # characters: while a sentence is being written, it is passed on this many at a time
RULES = (
    "Answer the question in at most three short sentences, using only the passages above. End each sentence "
    "with the number of the passage it comes from in square brackets, as the passages do, like [1]. Copy names "
    f"and numbers exactly. If the passages do not answer the question, write only: {NO_ANSWER_SAID}"
)


class LLMError(CorpusQAError):
    """The language model could not be reached or did not answer usably: one line, with the fix."""


@dataclass(frozen=True)
class LLM:
    """An OpenAI-compatible chat endpoint. `url`: the base URL (ending in /v1 for most
    servers); `model`: "" asks the endpoint's /models for its first; `timeout`: seconds to
    connect and between two pieces of the reply."""

    url: str
    model: str = ""
    api_key: str | None = None
    timeout: float = 60.0
    max_tokens: int = 200
    temperature: float = 0.0
    passages: int = 5  # the model reads the first this many of the shown passages

    def __post_init__(self):
        parts = urlsplit(self.url or "")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise LLMError(f"bad language model URL {self.url!r}: give the base URL of an OpenAI-compatible "
                           f"endpoint, e.g. http://127.0.0.1:8080/v1")
        if not self.timeout > 0:
            raise LLMError(f"the language model timeout must be more than 0 seconds, got {self.timeout}")
        if self.max_tokens < 1 or self.passages < 1:
            raise LLMError("max_tokens and passages must be at least 1")

    @property
    def base(self) -> str:
        return self.url.rstrip("/")


def messages(question: str, passages: Sequence[Passage]) -> list[dict]:
    """The chat the model gets: one user turn (some chat formats drop a system turn,
    Gemma's among them): the passages numbered as they are shown, each of their sentences
    ending in its passage's marker (the form the answer should take), the question, then
    the rules."""
    numbered = "\n\n".join(f"[{p.n}] {' '.join(p.title.split())}\n{_marked(p)}" for p in passages)
    return [{"role": "user", "content": f"Passages:\n\n{numbered}\n\nQuestion: {question}\n\n{RULES}"}]


def _marked(p: Passage) -> str:
    return " ".join(f"{' '.join(p.text[a:b].split())} [{p.n}]" for a, b in sentence_spans(p.text))


class Client:
    """Talks to one endpoint (httpx; one connection pool per Client)."""

    def __init__(self, llm: LLM):
        import httpx

        self.llm = llm
        self._httpx = httpx
        self._client = httpx.Client(timeout=httpx.Timeout(llm.timeout), follow_redirects=True,
                                    headers={"Authorization": f"Bearer {llm.api_key}"} if llm.api_key else {})
        self._model = llm.model

    def close(self) -> None:
        self._client.close()

    def model(self) -> str:
        """The model name: the configured one, or the first the endpoint lists."""
        if not self._model:
            data = self._json(self._call("GET", "/models"), "/models")
            try:
                self._model = str(data["data"][0]["id"])
            except (KeyError, IndexError, TypeError):
                raise LLMError(f"the language model at {self.llm.url} lists no model at /models: name one with "
                               f"--llm-model or CORPUS_QA_LLM_MODEL") from None
        return self._model

    def stream(self, chat: list[dict]) -> Iterator[str]:
        """The reply, piece by piece as the endpoint sends it."""
        body = {"model": self.model(), "messages": chat, "stream": True, "max_tokens": self.llm.max_tokens,
                "temperature": self.llm.temperature}
        httpx = self._httpx
        try:
            with self._client.stream("POST", self.llm.base + "/chat/completions", json=body) as reply:
                self._check(reply, "/chat/completions")
                if "json" in reply.headers.get("content-type", ""):  # an endpoint that does not stream
                    reply.read()
                    yield self._content(self._json(reply, "/chat/completions"))
                    return
                for line in reply.iter_lines():
                    line = line.strip()
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    try:
                        piece = json.loads(data)
                    except ValueError:
                        raise LLMError(f"the language model at {self.llm.url} sent a reply that is not "
                                       f"OpenAI's streaming format: {data[:80]!r}") from None
                    if isinstance(piece, dict) and piece.get("error"):
                        raise LLMError(f"the language model at {self.llm.url} failed: {_message(piece['error'])}")
                    delta = ((piece.get("choices") or [{}])[0].get("delta") or {}) if isinstance(piece, dict) else {}
                    if delta.get("content"):
                        yield delta["content"]
        except httpx.TimeoutException:
            raise LLMError(self._slow()) from None
        except httpx.HTTPError as err:
            raise LLMError(self._down(err)) from None

    def _call(self, method: str, path: str):
        httpx = self._httpx
        try:
            reply = self._client.request(method, self.llm.base + path)
        except httpx.TimeoutException:
            raise LLMError(self._slow()) from None
        except httpx.HTTPError as err:
            raise LLMError(self._down(err)) from None
        self._check(reply, path)
        return reply

    def _check(self, reply, path: str) -> None:
        if reply.status_code < 400:
            return
        reply.read()
        where = f"the language model at {self.llm.url}"
        if reply.status_code in (401, 403):
            raise LLMError(f"{where} refused the request ({reply.status_code}): set its API key in "
                           f"CORPUS_QA_LLM_API_KEY")
        if reply.status_code == 404:
            raise LLMError(f"{where} has no {path} ({reply.status_code}): give the base URL OpenAI clients take, "
                           f"usually ending in /v1 (e.g. http://127.0.0.1:8080/v1), and a model it serves")
        detail = ""
        try:
            detail = _message(reply.json().get("error")) or ""
        except (ValueError, AttributeError):
            detail = reply.text[:120]
        raise LLMError(f"{where} answered {reply.status_code} {reply.reason_phrase}"
                       + (f": {detail}" if detail else ""))

    def _json(self, reply, path: str) -> dict:
        try:
            return reply.json()
        except ValueError:
            raise LLMError(f"the language model at {self.llm.url} answered {path} with something that is not JSON: "
                           f"is this the base URL of an OpenAI-compatible endpoint?") from None

    @staticmethod
    def _content(data: dict) -> str:
        try:
            return str(data["choices"][0]["message"]["content"] or "")
        except (KeyError, IndexError, TypeError):
            return ""

    def _slow(self) -> str:
        return (f"the language model at {self.llm.url} did not answer within {self.llm.timeout:g} s: "
                f"it may be busy or too slow; try again, or raise CORPUS_QA_LLM_TIMEOUT")

    def _down(self, err) -> str:
        return (f"the language model at {self.llm.url} cannot be reached ({type(err).__name__}): start it "
                f"(make llm starts one on 127.0.0.1) or fix --llm-url / CORPUS_QA_LLM_URL")


def _message(error) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)[:200]
    return str(error or "")[:200]


def write(answer: Answer, client: Client, embedder: Embedder, model: ClaimModel | None = None) -> Iterator[Answer]:
    """The answer again and again as the model writes: `generated` grows by one checked
    sentence at a time (its `pending` is the sentence being written); the last one has
    `generated.done`. A question the corpus does not answer (the extractive answer
    abstains) is not sent to the model. A failure ends it with the sentences checked so
    far and a one-line note; the extractive answer stays."""
    name = client.llm.model or "language model"
    if answer.abstained or not answer.passages:
        yield replace(answer, generated=Written((), name), notes=answer.notes + (
            "No written answer: the passages do not answer the question.",))
        return
    passages = answer.passages[: client.llm.passages]
    checker = Checker([p.text for p in passages], embedder, model, question=answer.question)
    checked: list[CheckedSentence] = []
    text, shown = "", 0  # shown: how much of the text the last yield carried
    try:
        name = client.model()
        yield replace(answer, generated=Written((), name, done=False))
        for piece in client.stream(messages(answer.question, passages)):
            text += piece
            ready = complete(text)
            claims = split(text)
            grew = len(checked) < ready
            while len(checked) < ready:
                checked.append(checker.verdict(claims[len(checked)]))
            if grew or len(text) - shown >= STEP:  # a new verdict, or a few more words
                shown = len(text)
                pending = " ".join(c.text for c in claims[len(checked):])
                yield replace(answer, generated=Written(tuple(checked), name, done=False, pending=pending))
    except LLMError as err:
        yield replace(answer, generated=Written(tuple(checked), name), notes=answer.notes + (
            f"No written answer: {err}",))
        return
    claims = split(text)
    checked += [checker.verdict(c) for c in claims[len(checked):]]
    notes = answer.notes
    if not claims:
        notes += ("No written answer: the model's reply held no sentence.",)
    elif not any(c.supported for c in checked):
        said_none = any(NO_ANSWER_SAID.lower().rstrip(".") in c.text.lower() for c in checked)
        notes += ("The model found no answer in the passages." if said_none else
                  "No written sentence is held by the passage it cites: the extractive answer is shown.",)
    yield replace(answer, generated=Written(tuple(checked), name), notes=notes)
