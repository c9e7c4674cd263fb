"""corpus-qa mcp: the corpus as Model Context Protocol tools, for assistants that speak MCP.

A few lines over rag.QA on the official SDK's MCPServer (mcp >= 2): typed tool functions
(the SDK derives each input and output JSON schema from the hints), an answer's JSON
from rag.answer_dict (the CLI's --json has the same fields, with the same meanings:
rag.PASSAGE_FIELDS), no retrieval logic of its own.

    ask(question, k, since, until, outlets, sources, history, generate)  the answer and its cited passages
                                                                (generate: also a written answer, checked)
    check(text, passages, question)                             each sentence of a text against the passage it cites
    search(question, k, since, until, outlets, sources, history)  the passages only
    documents(since, until, outlets, sources, query, limit, offset)  what is indexed, a page at a time
    show(document)                                              one article's text and metadata

Transports: stdio (the default: stdout carries only the protocol, everything else goes to
stderr) or streamable HTTP at http://127.0.0.1:PORT/mcp (loopback only, with the SDK's
Host/Origin checks against DNS rebinding). The model loads once, at start.

A mistake the caller can fix (a bad date, an empty question, an unknown document) comes
back as a tool error (isError) carrying corpus-qa's one-line message, never a traceback.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_serializer

from rag import (PASSAGE_FIELDS, QA, CorpusQAError, Filters, InputError, UnknownDocument, answer_dict, sentence_dict,
                 text_matches)
from rag.claims import MAX_PASSAGES, MAX_TEXT_CHARS, Checker

from .app import bind_error

try:
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.types import ToolAnnotations
except ImportError as err:  # mcp 1.x has FastMCP instead
    raise InputError(f"corpus-qa mcp needs the mcp package version 2 or later ({err}); "
                     "pip install 'mcp>=2.3'") from None

HOST = "127.0.0.1"
PATH = "/mcp"
MAX_K = 50
MAX_LIMIT = 500  # documents per page of the documents tool


def _about(name: str):
    return Field(description=PASSAGE_FIELDS[name])


class PassageOut(BaseModel):
    """One cited passage (rag.passage_dict): `text` is the cleaned article's [start, end)."""

    n: int = _about("n")
    source: str = _about("source")
    title: str = _about("title")
    text: str = _about("text")
    start: int = _about("start")
    end: int = _about("end")
    score: float = _about("score")
    highlight: tuple[int, int] | None = _about("highlight")
    low_relevance: bool = _about("low_relevance")
    doc_id: str = _about("doc_id")
    published: str | None = _about("published")
    outlet: str | None = _about("outlet")
    url: str | None = _about("url")
    also_in: list[str] = _about("also_in")


class SentenceOut(BaseModel):
    text: str = Field(description="the sentence, without its [n] markers")
    cites: list[int] = Field(description="the passages it cites (n of [n]), after any correction")
    supported: bool = Field(description="true when the passage it cites holds it (claim check)")
    reason: str = Field(description="why it is not supported, or which marker was corrected; empty otherwise")


class GeneratedOut(BaseModel):
    text: str = Field(description="the written answer's supported sentences with their [n] markers: the answer "
                                  "to show ('' when none: then show `answer`)")
    model: str = Field(description="the language model that wrote it")
    sentences: list[SentenceOut] = Field(description="every written sentence with the check's verdict; those "
                                                     "not supported are not part of the answer")


class AskResult(BaseModel):
    answer: str = Field(description="the extractive answer; [n] cites passages[n-1]")
    abstained: bool = Field(description="true when the corpus does not answer (the answer says so)")
    passages: list[PassageOut]
    notes: list[str] = Field(default=[], description="how the answer was made, when not as usual")
    generated: GeneratedOut | None = Field(default=None, description="with generate: the answer the language "
                                                                     "model wrote from the passages, checked")

    @model_serializer(mode="wrap")
    def _without_unasked(self, handler):
        out = handler(self)
        if out.get("generated") is None:  # not asked for: the answer is exactly as without a language model
            out.pop("generated", None)
        return out


class CheckResult(BaseModel):
    sentences: list[SentenceOut]


class SearchResult(BaseModel):
    passages: list[PassageOut]


class DocumentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read straight from store.StoredDocument

    id: str
    source: str
    title: str
    published: str | None
    outlet: str | None
    url: str | None
    author: str | None
    chunks: int
    chars: int
    copies: list[str] = Field(description="sources of other documents with the same text")
    near_copies: list[str] = Field(description="sources of other documents with the same article lightly edited "
                                               "(word 5-gram Jaccard >= 0.5); an answer folds their passages into one")
    extra: dict[str, Any] = Field(description="other metadata the article carried")


class DocumentsResult(BaseModel):
    documents: list[DocumentOut] = Field(description="this page of the documents that match, by source")
    total: int = Field(description="how many documents match (all pages)")
    offset: int
    next_offset: int | None = Field(description="the offset of the next page, or null after the last")


class ArticleOut(DocumentOut):
    text: str = Field(description="the cleaned text, exactly as indexed: passages' start/end point into it")


Question = Annotated[str, Field(description="the question, in plain words")]


def _range(low: int, high: int | None, description: str):
    """A bounded integer's schema (minimum, maximum) without pydantic's check: the tool
    checks it and says so in one line (`within`), not in a validation report."""
    bounds = {"minimum": low, **({"maximum": high} if high is not None else {})}
    return Field(description=description, json_schema_extra=bounds)


def within(name: str, value: int, low: int, high: int | None = None) -> int:
    if value < low or (high is not None and value > high):
        allowed = f"between {low} and {high}" if high is not None else f"{low} or more"
        raise ToolError(f"{name} must be {allowed}, got {value}")
    return value


K = Annotated[int, _range(1, MAX_K, f"how many passages to return ({1}-{MAX_K})")]
Since = Annotated[str | None, Field(description="only articles published on or after this date, YYYY-MM-DD")]
Until = Annotated[str | None, Field(description="only articles published on or before this date, YYYY-MM-DD")]
Outlets = Annotated[list[str] | None, Field(description="only these outlets (any of them; case-insensitive)")]
Sources = Annotated[list[str] | None, Field(description="only sources matching any of these globs, e.g. 'business/*'")]
History = Annotated[list[str] | None, Field(description="the earlier questions of the same conversation, oldest "
                                                        "first: a follow-up is searched in their context")]

Generate = Annotated[bool, Field(description="also have the server's language model (corpus-qa --llm-url) write "
                                            "the answer from the passages, each sentence checked against the "
                                            "passage it cites")]

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """corpus-qa's one-line errors become tool errors (isError, the message for the model)."""
    try:
        yield
    except UnknownDocument as err:  # the command line's fix is no use to an assistant
        raise ToolError(str(err.with_fix("call the documents tool (its query finds words of titles and sources) to "
                                         "list sources and ids"))) from None
    except CorpusQAError as err:
        raise ToolError(str(err)) from None


def filters(since=None, until=None, outlets=None, sources=None) -> Filters | None:
    f = Filters(since=since, until=until, outlets=tuple(outlets or ()), sources=tuple(sources or ()))
    return None if f.empty else f


def package_version() -> str:
    """corpus-qa's installed version, which the server reports to clients ("" when not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("corpus-qa")
    except PackageNotFoundError:
        return ""


def build_server(qa: QA) -> MCPServer:
    server = MCPServer(
        "corpus-qa",
        instructions="Questions over an indexed corpus of news articles. `ask` answers with [n] citations of "
                     "passages (source, title, character span, date); `search` returns the passages only; "
                     "`documents` lists what is indexed; `show` gives an article's text; `check` tells whether "
                     "each sentence of a text is held by the passage it cites (check your own answers written "
                     "from `search`'s passages). When the corpus does not answer, `ask` says so (abstained) "
                     "rather than guessing.",
        log_level="WARNING",
        version=package_version(),
    )

    @server.tool(annotations=READ_ONLY)
    def ask(question: Question, k: K = 5, since: Since = None, until: Until = None, outlets: Outlets = None,
            sources: Sources = None, history: History = None, generate: Generate = False) -> AskResult:
        """Answer a question from the corpus: a short extractive answer whose [n] markers cite the
        returned passages, or an abstention when the articles do not answer. With `generate`, also
        a written answer whose sentences were each checked against the passage they cite."""
        with user_errors():
            answer = qa.ask(question, k=within("k", k, 1, MAX_K), history=history or (),
                            filters=filters(since, until, outlets, sources), generate=generate)
        return AskResult.model_validate(answer_dict(answer))

    @server.tool(annotations=READ_ONLY)
    def check(text: Annotated[str, Field(description="sentences to check, each ending in [n] markers: [n] is "
                                                     "passages[n-1]")],
              passages: Annotated[list[str], Field(min_length=1, max_length=MAX_PASSAGES,
                                                   description="the passages the text cites, in order")],
              question: Annotated[str | None, Field(description="the question the text answers, when there is one "
                                                                "(its own names and numbers are then given)")] = None,
              ) -> CheckResult:
        """Check each sentence of a text against the passage it cites (numbers, names, negation and
        meaning): whether that passage holds it, with the reason when not, and its marker corrected
        when another of the passages holds it. Needs no index: give the passages, e.g. from `search`."""
        if len(text) > MAX_TEXT_CHARS:
            raise ToolError(f"text too long: {len(text):,} characters (limit {MAX_TEXT_CHARS:,})")
        verdicts = Checker(passages, qa.embedder, question=question).check(text)
        return CheckResult(sentences=[SentenceOut.model_validate(sentence_dict(v)) for v in verdicts])

    @server.tool(annotations=READ_ONLY)
    def search(question: Question, k: K = 5, since: Since = None, until: Until = None, outlets: Outlets = None,
               sources: Sources = None, history: History = None) -> SearchResult:
        """The passages of the corpus that best answer a question (no answer text), best first."""
        with user_errors():
            answer = qa.ask(question, k=within("k", k, 1, MAX_K), history=history or (),
                            filters=filters(since, until, outlets, sources))
        return SearchResult.model_validate(answer_dict(answer))

    @server.tool(annotations=READ_ONLY)
    def documents(since: Since = None, until: Until = None, outlets: Outlets = None, sources: Sources = None,
                  query: Annotated[str | None, Field(description="only documents whose title, source, outlet, "
                                                                 "date or author hold every word of this")] = None,
                  limit: Annotated[int, _range(1, MAX_LIMIT, f"documents per page (1-{MAX_LIMIT})")] = 50,
                  offset: Annotated[int, _range(0, None, "how many matching documents to skip")] = 0,
                  ) -> DocumentsResult:
        """The indexed articles (those matching the filters and `query`, when given), by source, one
        page at a time: `total` says how many match, `next_offset` where the next page starts."""
        within("limit", limit, 1, MAX_LIMIT)
        within("offset", offset, 0)
        with user_errors():
            docs = [d for d in qa.documents(filters(since, until, outlets, sources)) if text_matches(d, query)]
        page = docs[offset:offset + limit]
        following = offset + limit if offset + limit < len(docs) else None
        return DocumentsResult(documents=[DocumentOut.model_validate(d) for d in page], total=len(docs),
                               offset=offset, next_offset=following)

    @server.tool(annotations=READ_ONLY)
    def show(document: Annotated[str, Field(description="a source, path or id from documents, or a passage's doc_id")]
             ) -> ArticleOut:
        """One article's cleaned text and metadata, exactly as indexed (passages' start/end point into the text)."""
        with user_errors():
            article = qa.document(document)
        return ArticleOut.model_validate(article)

    return server


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Anything written to stdout (Python or C level) goes to stderr meanwhile: over stdio,
    stdout is the protocol."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def check_port(port: int) -> None:
    if not 1 <= port <= 65535:
        raise InputError(f"bad --port {port}: give a port between 1 and 65535, e.g. --port 8765")
    error = bind_error(HOST, port)
    if error is not None:
        raise InputError(f"cannot listen on {HOST}:{port} ({error}); pick another --port")


def serve(open_qa: Callable[[], QA], port: int | None = None) -> None:
    """Open the index (`open_qa` fills an empty one with the bundled corpus, or refuses
    it: see cli.open_filled), load the model, then serve over stdio (port None) or
    streamable HTTP on 127.0.0.1:port until stopped."""
    if port is not None:
        check_port(port)
    with stdout_to_stderr():
        qa = open_qa()
        qa.embedder.encode(["warm up"])  # the model loads once, now, not in the first call
        server = build_server(qa)
    if port is None:
        if sys.stdin.isatty():
            print("corpus-qa mcp: speaking MCP on stdin/stdout, for an MCP client to start (Ctrl-D ends)",
                  file=sys.stderr, flush=True)
        server.run("stdio")
        return
    print(f"corpus-qa mcp: streamable HTTP at http://{HOST}:{port}{PATH} (this machine only)", file=sys.stderr,
          flush=True)
    server.run("streamable-http", host=HOST, port=port, streamable_http_path=PATH)
