"""QA: the facade. Open an index, ingest files or records, ask questions (with the
earlier turns of a conversation and filters), list, show and remove documents.

A question's path, one stage a module, each taking what the one before returned:

    QA.ask -> question.analyse -> search.search -> features.candidates -> scoring.rank, top
           -> features.sentences -> scoring.score_sentences -> answer.compose -> Answer
           [-> generate.write (a language model writes from the passages) -> claims (each sentence checked)]
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from store import (
    Article,
    ChunkingOptions,
    Document,
    Embedder,
    Filters,
    Index,
    IngestReport,
    InputError,
    SentenceTransformerEmbedder,
    Skipped,
    StoredDocument,
    WebProgress,
    WebSettings,
    add_reports,
    check_web,
    ingest_documents,
    ingest_urls,
    is_url,
    load_paths,
    read_jsonl,
    remove_documents,
)

from store.documents import strict_error

from . import features
from .answer import AnswerSettings, compose
from .generate import LLM, Client, write
from .question import analyse
from .scoring import Models, load, rank, score_sentences, top
from .search import SearchSettings, search
from .types import Answer, Candidate, Found, Question, Sentence

logger = logging.getLogger(__name__)
DEFAULT_INDEX = ".corpus-qa"


def bundled_corpus() -> Path:
    """The five news articles shipped with corpus-qa (in the wheel, or in the checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "store" / "corpus", here.parent / "corpus"):
        if candidate.is_dir():
            return candidate
    raise InputError("the bundled corpus is missing from this installation; reinstall corpus-qa")


@dataclass(frozen=True)
class Stats:
    documents: int
    chunks: int
    model: str
    index: str  # folder or server URL
    collection: str


@dataclass(frozen=True)
class Trace:
    """Every stage's result for one question (QA.trace): what `ask` answers from."""

    question: Question
    found: Found
    candidates: list[Candidate]  # every chunk found, with its features, unranked
    ranked: list[Candidate]  # the top k by the ranker (overlaps and copies folded)
    sentences: list[Sentence]  # the sentences of the first passages, scored
    answer: Answer


@dataclass(frozen=True)
class Settings:
    search: SearchSettings = field(default_factory=SearchSettings)
    answer: AnswerSettings = field(default_factory=AnswerSettings)
    chunking: ChunkingOptions = field(default_factory=ChunkingOptions)


class QA:
    """Ask a corpus questions and get cited, extractive answers.

    >>> qa = QA.open()                       # ./.corpus-qa, the bundled model
    >>> qa.ingest(["~/articles"])            # IngestReport(added=..., ...)
    >>> qa.ask("Who chairs the Ukraine Defense Contact Group?").text
    """

    def __init__(self, index: Index, embedder: Embedder, settings: Settings | None = None,
                 models: Models | None = None, llm: LLM | None = None):
        index.check_model(getattr(embedder, "identity", None), embedder.name)  # else silently wrong answers
        self.index = index
        self.embedder = embedder
        self.settings = settings or Settings()
        self.models = models or load()  # rag/weights.json: the learned ranker, sentence choice, abstention
        self.llm = llm  # an OpenAI-compatible endpoint that writes answers (ask(generate=True)); None: extractive only
        self._client: Client | None = None
        self._catalog: tuple[str, list[str], list[str], int] | None = None  # (version, outlets, sorted dates, documents)

    @classmethod
    def open(
        cls,
        index: str | Path | None = None,
        model: str | None = None,
        chroma_url: str | None = None,
        collection: str | None = None,
        token: str | None = None,
        settings: Settings | None = None,
        create: bool | None = True,
        llm: LLM | None = None,
        load_model: bool = False,
    ) -> QA:
        """Open (or create) an index: embedded in folder `index`, or the collection on the
        Chroma server at `chroma_url`. Loads no model yet, unless `load_model`: then the model
        loads in a second thread while the index opens (the CLI's commands that embed: it
        hides ~0.14 s of a cold start behind chromadb's import). With `create=False`, a folder
        that does not exist raises InputError naming it (and nothing is created): what
        reading commands use, so a mistyped path is an error, not a new empty index. With
        `create=None`, only the default location (./.corpus-qa) is created.

        Arguments left out come from the environment, as for the CLI: CORPUS_QA_INDEX
        (default ./.corpus-qa), CORPUS_QA_MODEL, CORPUS_QA_CHROMA_URL,
        CORPUS_QA_COLLECTION (default "corpus"), CORPUS_QA_CHROMA_TOKEN, CORPUS_QA_ONNX_CACHE
        (where the model's ONNX export is kept; default ~/.cache/corpus-qa/onnx) and
        CORPUS_QA_INT8=1 (the int8-quantised encoder: faster, vectors drift; only for an
        index built with it). `llm`: the language model that writes answers when asked
        (rag.LLM; the doors build it from --llm-url and CORPUS_QA_LLM_*).
        """
        env = os.environ.get
        index = index or env("CORPUS_QA_INDEX") or None
        chroma_url = chroma_url or env("CORPUS_QA_CHROMA_URL") or None
        if create is None:
            create = not chroma_url and _is_default(index or DEFAULT_INDEX)
        if not create and not chroma_url and not Path(index or DEFAULT_INDEX).expanduser().exists():
            raise InputError(missing_index(index or DEFAULT_INDEX, "no index at"))
        embedder = open_embedder(model)
        loading = threading.Thread(target=load_quietly, args=(embedder,)) if load_model else None
        if loading:
            loading.start()
        try:
            store = Index.open(
                path=None if chroma_url else (index or DEFAULT_INDEX),
                url=chroma_url,
                collection=collection or env("CORPUS_QA_COLLECTION") or "corpus",
                token=token or env("CORPUS_QA_CHROMA_TOKEN") or None,
                cache=Path(index) / "cache" if (chroma_url and index) else None,
            )
        finally:
            if loading:
                loading.join()
        return cls(store, embedder, settings, llm=llm)

    def ingest(
        self,
        paths: Iterable[str | Path],
        prune: bool = False,
        progress: Callable[[int, int], None] | None = None,
        strict: bool = False,
        web: WebSettings | None = None,
        since: str | None = None,
        limit: int | None = None,
        web_progress: Callable[[WebProgress], None] | None = None,
    ) -> IngestReport:
        """Index the articles under `paths` (files or folders). Every file is read and
        checked before anything is written. A file named in `paths` that cannot be an
        article raises InputError; one found in a folder is skipped and listed in the
        report's `skipped` (with `strict`, it raises: nothing is written).

        An http(s) URL in `paths` is an article page, a feed, a sitemap or a home page,
        fetched under `web` (store.WebSettings: delay, robots.txt, limits); `since` and
        `limit` bound what a feed or sitemap brings in; a page that cannot be indexed is
        skipped and listed (store.web)."""
        paths = list(paths)
        urls = [str(p).strip() for p in paths if is_url(p)]
        files = [p for p in paths if not is_url(p)]
        check_web(urls, since, limit)  # before any file is written
        report = None
        if files:
            loaded = load_paths(files, strict=strict)
            report = ingest_documents(
                self.index, self.embedder, loaded.documents, prune=prune, chunking=self.settings.chunking,
                progress=progress, skipped=loaded.skipped,
            )
        if urls or not files:
            fetched = self.ingest_urls(urls, web, since=since, limit=limit, progress=web_progress)
            report = add_reports(report, fetched) if report else fetched
        return report

    def ingest_urls(
        self,
        urls: Iterable[str],
        web: WebSettings | None = None,
        since: str | None = None,
        limit: int | None = None,
        progress: Callable[[WebProgress], None] | None = None,
    ) -> IngestReport:
        """Index what http(s) URLs name (article pages, feeds, sitemaps, home pages); anything
        else raises InputError before a request is sent (the page's "Add from URL" must never
        read a server file)."""
        return ingest_urls(self.index, self.embedder, list(urls), web, since=since, limit=limit,
                           chunking=self.settings.chunking, progress=progress)

    def ingest_jsonl(
        self,
        path: str | Path,
        progress: Callable[[int, int], None] | None = None,
        strict: bool = False,
    ) -> IngestReport:
        """Index the records of a JSON Lines file (README: the format); a line that cannot
        be a document is skipped and reported (with `strict`, one InputError names every
        bad line and nothing is written)."""
        documents, skipped = load_records(path, strict)
        return ingest_documents(self.index, self.embedder, documents, chunking=self.settings.chunking,
                                progress=progress, skipped=skipped)

    def ingest_documents(
        self,
        documents: Iterable[Document],
        prune: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> IngestReport:
        """Index documents given as records (see store.from_record) rather than files:
        the same chunking, embedding and idempotence as `ingest`."""
        return ingest_documents(
            self.index, self.embedder, list(documents), prune=prune, chunking=self.settings.chunking,
            progress=progress,
        )

    def documents(self, filters: Filters | None = None) -> list[StoredDocument]:
        """The indexed documents, by source (those matching `filters`, when given)."""
        self.index.refresh()
        docs = self.index.documents()
        return [d for d in docs if filters.matches(d)] if filters else docs

    def find(self, source_or_id: str) -> list[StoredDocument]:
        """Documents whose id, source or path is `source_or_id` (or whose source ends with
        '/' + it); an unknown one raises InputError naming what to run."""
        key = str(source_or_id).strip()
        docs = self.documents()
        exact = [d for d in docs if key in (d.id, d.source, d.path)]
        found = exact or [d for d in docs if d.source.endswith("/" + key) or (len(key) >= 8 and d.id.startswith(key))]
        if not found:
            raise UnknownDocument(key)
        return found

    def document(self, source_or_id: str) -> Article:
        """One document with its cleaned text, exactly as indexed (every passage's
        start/end point into `text`)."""
        found = self.find(source_or_id)
        if len(found) > 1:
            raise InputError(f"{source_or_id!r} names {len(found)} documents ({', '.join(d.source for d in found[:3])}"
                             f"{', ...' if len(found) > 3 else ''}); give a full source or an id")
        article = self.index.article(found[0].id)
        if article is None:
            raise UnknownDocument(str(source_or_id).strip(), removed=True)
        return article

    def remove(self, sources_or_ids: Iterable[str]) -> list[StoredDocument]:
        """Delete documents from every index; returns what was removed. Every name is
        checked first: an unknown one raises InputError and nothing is removed."""
        targets: dict[str, StoredDocument] = {}
        for key in sources_or_ids:
            for d in self.find(key):
                targets[d.id] = d
        remove_documents(self.index, list(targets))
        return list(targets.values())

    def ensure_corpus(self, progress: Callable[[int, int], None] | None = None,
                      demo: bool = False) -> IngestReport | None:
        """Make sure the index has something to answer from. An empty index at the default
        location (./.corpus-qa, what `make run` uses on a fresh clone) gets the bundled
        sample corpus, and so does any empty index when `demo` is set; any other empty
        index raises InputError naming its path and how to ingest: a mistyped --index
        must not answer from five articles on Ukraine."""
        if self.index.count():
            return None
        if not (demo or self.at_default_location()):
            raise InputError(missing_index(self.index.where, "the index at", "is empty"))
        return self.ingest([bundled_corpus()], progress=progress)

    def at_default_location(self) -> bool:
        """Whether this is the embedded index in ./.corpus-qa (of the current folder)."""
        return not self.index.remote and _is_default(self.index.where)

    def ask(
        self,
        question: str,
        k: int = 5,
        history: Sequence[str | Answer] = (),
        filters: Filters | None = None,
        generate: bool = False,
    ) -> Answer:
        """Answer `question` from the index. `history`: the earlier turns of the same
        conversation (their questions, or their Answers), oldest first: a follow-up
        ("Who handed the leadership to him?") is searched in their context. `filters`:
        only documents that match (store.Filters) are searched; when none match, the
        Answer abstains and says so. `generate`: the language model (`llm`) also writes
        an answer from the passages, each sentence checked (`Answer.generated`)."""
        answer = self.trace(question, k, history, filters).answer
        if not generate:
            return answer
        for answer in self.write(answer):
            pass
        return answer

    def ask_stream(
        self,
        question: str,
        k: int = 5,
        history: Sequence[str | Answer] = (),
        filters: Filters | None = None,
    ) -> Iterator[Answer]:
        """`ask(generate=True)` as it happens: the extractive Answer first, then the same
        Answer each time the model's written answer grows (`generated.pending`, the
        sentence being written; `generated.sentences`, those complete and checked), the
        last with `generated.done`. Closing the iterator stops the model."""
        answer = self.trace(question, k, history, filters).answer
        yield answer
        yield from self.write(answer)

    def write(self, answer: Answer) -> Iterator[Answer]:
        """The written answer for an Answer, as it grows (rag.generate.write)."""
        if self.llm is None:
            raise InputError("no language model to write the answer: pass --llm-url URL or set CORPUS_QA_LLM_URL "
                             "(make llm starts one), or QA.open(llm=LLM(url))")
        if self._client is None:
            self._client = Client(self.llm)
        yield from write(answer, self._client, self.embedder)

    def trace(
        self,
        question: str,
        k: int = 5,
        history: Sequence[str | Answer] = (),
        filters: Filters | None = None,
    ) -> Trace:
        """`ask`, with what every stage of the question's path returned on the way."""
        self.index.refresh()  # documents another process (a corpus-qa ingest) added since
        keywords = self.index.keyword_index(wait=False, save_later=True)  # None while a large one is built
        outlets, published, documents = self._catalogue()
        asked = analyse(question, list(history or ()), outlets, published, keywords, filters, documents)
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}")
        found = search(self.index, asked, keywords, self.embedder.encode, max(self.settings.search.candidates, k),
                       self.settings.search)
        candidates = features.candidates(asked, found)
        documents = self.index.by_id()  # which articles are copies or near-copies of which
        ranked = top(rank(candidates, self.models.ranker), k, documents)
        sentences = score_sentences(features.sentences(asked, found, ranked, self.settings.answer.passages),
                                    self.models.sentence)
        answer = compose(asked, found, candidates, ranked, sentences, self.models, self.settings.answer, documents)
        return Trace(asked, found, candidates, ranked, sentences, answer)

    def retrieve(
        self,
        question: str,
        k: int = 5,
        history: Sequence[str | Answer] = (),
        filters: Filters | None = None,
    ) -> list[Candidate]:
        """The k best chunks, ranked: the passages `ask` answers from (the BEIR evaluation ranks them)."""
        return self.trace(question, k, history, filters).ranked

    def _catalogue(self) -> tuple[list[str], list[str], int]:
        """The outlets the index holds, its articles' dates (sorted) and how many articles
        it holds, read once per index version."""
        version = self.index.version()
        if self._catalog is None or self._catalog[0] != version:
            docs = self.index.documents()
            outlets = sorted({d.outlet for d in docs if d.outlet})
            published = sorted(d.published[:10] for d in docs if d.published)
            self._catalog = (version, outlets, published, len(docs))
        return self._catalog[1], self._catalog[2], self._catalog[3]

    def stats(self) -> Stats:
        return Stats(
            documents=len(self.index.documents()),
            chunks=self.index.count(),
            model=self.embedder.name,
            index=self.index.where,
            collection=self.index.name,
        )


def open_embedder(model: str | None = None) -> SentenceTransformerEmbedder:
    """The embedding model `model` names (else CORPUS_QA_MODEL, else the default), with the
    ONNX cache and int8 choice of CORPUS_QA_ONNX_CACHE and CORPUS_QA_INT8, as QA.open
    opens it; loads nothing yet. For what needs the model and no index (the claim check)."""
    env = os.environ.get
    return SentenceTransformerEmbedder(model or env("CORPUS_QA_MODEL") or None,
                                       cache_dir=env("CORPUS_QA_ONNX_CACHE") or None,
                                       quantize=env("CORPUS_QA_INT8") == "1")


def load_quietly(embedder: SentenceTransformerEmbedder) -> None:
    """Load the model's ONNX encoder now; a failure is left for its first real use to raise."""
    try:
        embedder.onnx
    except Exception:
        pass


class UnknownDocument(InputError):
    """No indexed document has that source, path or id (or it was removed meanwhile). The
    message names the command line's fix; another door names its own (`key`, `removed`)."""

    def __init__(self, key: str, removed: bool = False, fix: str = "run 'corpus-qa documents' to list sources and ids"):
        self.key, self.removed = key, removed
        problem = f"document {key!r} was removed meanwhile" if removed else f"no indexed document {key!r}"
        super().__init__(f"{problem}: {fix}")

    def with_fix(self, fix: str) -> UnknownDocument:
        return UnknownDocument(self.key, self.removed, fix)


def load_records(path: str | Path, strict: bool = False) -> tuple[list[Document], list[Skipped]]:
    """The documents of a JSON Lines file and the lines that cannot be one; with `strict`,
    any such line is an InputError naming each of them with its reason."""
    documents: list[Document] = []
    skipped: list[Skipped] = []
    for item in read_jsonl(path):
        (skipped if isinstance(item, Skipped) else documents).append(item)
    if strict and skipped:
        raise strict_error(skipped, "records")
    return documents, skipped


def _is_default(folder: str | Path) -> bool:
    """Whether `folder` is the default index location, ./.corpus-qa of the current folder."""
    return Path(folder).expanduser().resolve() == Path(DEFAULT_INDEX).resolve()


def missing_index(where: str | Path, what: str, problem: str = "") -> str:
    """The one line for an index that is not there (or is empty): its path and the fix."""
    option = "" if str(where) == DEFAULT_INDEX else f"--index {where} "
    if "://" in str(where):
        option = "--chroma-url ... --collection ... "
    return (f"{what} {where}{' ' + problem if problem else ''}: add articles first "
            f"(corpus-qa {option}ingest FOLDER), check the path, or use --demo for the bundled sample corpus")

