"""HTML of the page's pieces: an answer with its compact sources, an error, the article
viewer, the filters line, and an answer as Markdown (for "Copy as Markdown").

Every piece of document, question or file-name text goes through `_esc`, so an article
holding <script> shows as text. Clickable pieces carry what they point at in class names
(`cqa-ref-<doc>-<start>-<end>-<a>-<b>`): the chat's sanitizer drops data-* attributes
but keeps classes; ui/page.py's script reads them and fires a Gradio event.
"""

from __future__ import annotations

import html
import re

from rag import Answer, Article, Filters, Passage

_MARKER = re.compile(r"&#91;(\d+)&#93;")  # an [n] marker, as _esc leaves it
_DOC_ID = re.compile(r"^[0-9a-f]{8,64}$")
_SENTENCE = re.compile(r"[^.!?…]+(?:[.!?…]+[\"'”’)\]]*|$)\s*")
CONTEXT = 50  # characters of context either side of a source line's sentence


def _esc(text: str) -> str:
    """HTML-escaped, with markdown's brackets as entities too: the chat renders markdown,
    and `![x](http://host/p.png)` in a question made the browser fetch from that host
    (a link or image in an article is inert only because a reply is one HTML block).
    Markdown takes entities as text, never as syntax."""
    return html.escape(str(text)).replace("[", "&#91;").replace("]", "&#93;")


def _line(text: str) -> str:
    """Whitespace (newlines too) folded to single spaces: a source line stays one line."""
    return " ".join(text.split())


def ref_class(p: Passage) -> str:
    """The class naming a passage's article and spans: passage [start, end) and the
    highlighted sentence [a, b) (absolute offsets; a == b == start when none)."""
    if not p.doc_id or not _DOC_ID.match(p.doc_id):
        return ""
    a, b = (p.start + p.highlight[0], p.start + p.highlight[1]) if p.highlight else (p.start, p.start)
    return f" cqa-ref-{p.doc_id}-{p.start}-{p.end}-{a}-{b}"


def _http_url(url: str | None) -> str | None:
    return url if url and re.match(r"^https?://[^\s\"'<>]+$", url) else None


def meta_parts(source: str, outlet: str | None, published: str | None) -> list[str]:
    return [x for x in (source, outlet, (published or "")[:10] or None) if x]


def render_answer(answer: Answer) -> str:
    """The reply as HTML: the answer with [n] markers, then one line per source (the full
    passage on demand), then the answer as Markdown for the copy button. With a written
    answer (answer.generated): its supported sentences, each with a check mark, are the
    answer (the sentence being written after them, greyed); the sentences the check did
    not support are shown apart, struck and marked "not in the cited passage"; the
    extractive answer follows under its own label."""
    esc = _esc
    cited = set(cited_numbers(answer))
    if answer.abstained:
        head = f'<div class="cqa-answer cqa-abstain"><strong>No answer in the corpus.</strong> {esc(answer.text)}</div>'
    elif answer.generated is not None:
        head = _written(answer, cited)
    else:
        head = '<div class="cqa-answer">' + _markers(esc(answer.text), cited) + "</div>"
    first: dict[object, int] = {}  # an article's first source number (its copies and near-copies are the article)
    items = []
    for p in answer.passages:
        article = frozenset((p.source, *p.also_in)) if p.also_in else p.doc_id
        again = first.get(article) if p.doc_id else None
        items.append(_source_item(p, answer.question, also=again, cited=p.n in cited))
        first.setdefault(article, p.n)
    sources = ""
    if items:
        title = "Closest passages (low relevance)" if answer.abstained else "Sources"
        sources = f'<div class="cqa-meta">{title}</div><ol class="cqa-sources">{"".join(items)}</ol>'
    tools = ""
    if not answer.abstained and answer.passages and (answer.generated is None or answer.generated.done):
        md = esc(answer_markdown(answer)).replace("\n", "&#10;")
        tools = ('<div class="cqa-tools"><span class="cqa-copy" role="button" tabindex="0" '
                 f'title="Copy the answer and its sources as Markdown">Copy as Markdown</span>'
                 f'<div class="cqa-md">{md}</div></div>')
    notes = "".join(f'<div class="cqa-note">{esc(note)}</div>' for note in answer.notes)
    return (head + notes + sources + tools).replace("\n", "<br>")


def _written(answer: Answer, cited: set[int]) -> str:
    """The written answer's block: supported sentences (check mark, [n] superscripts), the
    sentence being written, then those not supported, apart; the extractive answer last
    (it is the answer when no written sentence is supported)."""
    esc, g = _esc, answer.generated
    kept = [s for s in g.sentences if s.supported]
    parts = [f'<span class="cqa-ok" title="{esc(s.reason or "held by the passage it cites")}">'
             + _markers(esc(f"{s.text} {_marks(s.cites)}"), cited) + ' <span class="cqa-tick">✓</span></span>'
             for s in kept]
    if not g.done:
        parts.append(f'<span class="cqa-pending">{esc(g.pending) or "…"}</span>')
    out = []
    if parts:
        out.append(f'<div class="cqa-answer cqa-written">{" ".join(parts)}</div>')
    dropped = [s for s in g.sentences if not s.supported]
    if dropped:
        items = "".join(f'<li><s>{esc(s.text)} {esc(_marks(s.cites))}</s> <span class="cqa-why">not in the cited '
                        f"passage: {esc(s.reason)}</span></li>" for s in dropped)
        out.append(f'<div class="cqa-unsupported"><div class="cqa-meta">Written by {esc(g.model)}, not shown as '
                   f'the answer:</div><ul>{items}</ul></div>')
    label = "Extractive answer" if kept or not g.done else "Answer (no written sentence held up: the extractive one)"
    out.append(f'<div class="cqa-meta">{label}</div><div class="cqa-answer cqa-extractive">'
               + _markers(esc(answer.text), set(_extractive_numbers(answer))) + "</div>")
    return "".join(out)


def _marks(cites) -> str:
    return "".join(f"[{n}]" for n in cites)


def cited_numbers(answer: Answer) -> list[int]:
    """The [n] the shown answer cites, in order, each once: a written answer's supported
    sentences' markers, else the extractive answer's (below). The one list that the page's
    superscripts, the marked source lines and Copy as Markdown all follow."""
    if answer.abstained:
        return []
    if answer.generated is not None and answer.generated.text:
        return list(dict.fromkeys(n for s in answer.generated.sentences if s.supported for n in s.cites))
    return _extractive_numbers(answer)


def _extractive_numbers(answer: Answer) -> list[int]:
    """The [n] the extractive answer text puts after its sentences (" [n]" at a part's end), in
    order, each once, and only those naming a passage with an answer sentence. A bracketed
    number inside a quoted sentence ("as shown [12].") is no marker."""
    if answer.abstained:
        return []
    has = {p.n for p in answer.passages if p.highlight}
    out: list[int] = []
    for m in re.finditer(r" \[(\d+)\](?= |$)", answer.text):
        n = int(m.group(1))
        if n in has and n not in out:
            out.append(n)
    return out


def _source_item(p: Passage, question: str, also: int | None = None, cited: bool = True) -> str:
    """`[n] title source · outlet · date  …context <mark>sentence</mark> context…`, then
    the whole passage (shown when "passage" is clicked). `also`: the number of the source
    above from the same article; the line says "also from [m]" next to the title, so a
    quote is never read as coming from the story listed just above it. `cited`: the
    answer text cites this passage (its answer sentence is marked)."""
    esc = _esc
    if p.highlight and cited:
        a, b = p.highlight
        full = f"{esc(p.text[:a])}<mark>{esc(p.text[a:b])}</mark>{esc(p.text[b:])}"
    else:
        a, b = best_sentence(p.text, question)
        full = esc(p.text)
    before, after = p.text[:a], p.text[b:]
    if len(before) > CONTEXT:
        before = "…" + before[-CONTEXT:].split(" ", 1)[-1]
    if len(after) > CONTEXT:
        after = after[:CONTEXT].rsplit(" ", 1)[0] + "…"
    sentence = esc(_line(p.text[a:b]))
    sentence = f"<mark>{sentence}</mark>" if p.highlight and cited else f'<span class="cqa-best">{sentence}</span>'
    snippet = f"{esc(_line(before))} {sentence} {esc(_line(after))}".strip()
    low = " cqa-low" if p.low_relevance else ""
    label = " · low relevance" if p.low_relevance else ""
    meta = " · ".join(esc(x) for x in meta_parts(p.source, p.outlet, p.published))
    if p.also_in:  # the same article under other names (copies, near-copies): one source
        meta += f' <span class="cqa-also-in">· also in: {esc(", ".join(p.also_in))}</span>'
    return (
        f'<li value="{p.n}" class="cqa-source cqa-n-{p.n}{low}">'
        f'<span class="cqa-cite{ref_class(p)}" role="button" tabindex="0" title="Open the article at this passage">'
        f"&#91;{p.n}&#93;</span> "
        + (f'<span class="cqa-again">also from &#91;{also}&#93;:</span> ' if also else "")
        + f'<strong class="cqa-title">{esc(p.title)}</strong> '
        # a repeat's source, outlet and date are on its first line [m]: kept in the markup
        # (benchmarks/load.py reads a source per line), not shown again
        + (f'<span class="cqa-meta-again"><span class="cqa-meta">{meta}{label}</span></span> ' if also else
           f'<span class="cqa-meta">{meta}{label}</span> ')
        + f'<span class="cqa-snippet">{snippet}</span> '
        f'<span class="cqa-more" role="button" tabindex="0">passage</span>'
        f'<div class="cqa-passage"><div class="cqa-meta">chars {p.start}–{p.end} · score {p.score:.2f}</div>'
        f"{full}</div></li>"
    )


def best_sentence(text: str, question: str) -> tuple[int, int]:
    """The span of the passage sentence sharing most of the question's words (the first
    on a tie): what a source line shows when the passage holds no answer sentence."""
    from store.keyword import terms

    wanted = set(terms(question or ""))
    best, span = -1, (0, min(len(text), 240))
    for m in _SENTENCE.finditer(text):
        if not m.group().strip():
            continue
        score = len(wanted & set(terms(m.group())))
        if score > best:
            best, span = score, (m.start(), m.start() + len(m.group().rstrip()))
    return span


def _markers(escaped: str, cited: set[int]) -> str:
    """Superscript the answer's own [n] markers: for each cited passage, the last [n] (the
    answer puts it after that passage's sentence). A bracketed number that an article
    itself holds ("as shown [12]", common in abstracts) stays text: it pointed nowhere."""
    last = {}
    for m in _MARKER.finditer(escaped):
        if int(m.group(1)) in cited:
            last[int(m.group(1))] = m.span()
    out, at = [], 0
    for n, (a, b) in sorted(last.items(), key=lambda item: item[1]):
        out += [escaped[at:a], f"<sup><b>[{n}]</b></sup>"]
        at = b
    return "".join(out) + escaped[at:]


def render_error(message: str) -> str:
    return f'<div class="cqa-error"><strong>Cannot answer:</strong> {_esc(message)}</div>'


def answer_markdown(answer: Answer) -> str:
    """The answer as Markdown, to paste into notes or a draft: the question, the shown
    answer (a written answer's supported sentences only, else the extractive answer) with
    its [n] markers, then "Sources:" with exactly the [n] the answer holds, each with the
    sentence the extractive answer quotes (in quotation marks; not under a written answer,
    whose sentences are the quotes), the title, outlet, date and the link (or the file),
    and the other documents holding the same article; then the other passages shown,
    under "Other passages:" (title, outlet, date, link)."""
    by_n = {p.n: p for p in answer.passages}
    cited = [by_n[n] for n in cited_numbers(answer)]
    others = [p for p in answer.passages if p not in cited]
    written = bool(answer.generated and answer.generated.text)
    lines = [f"**Q:** {_md_text(answer.question)}", "", _md_text(answer.shown, keep_markers=True)]
    for heading, group in (("Sources:", cited), ("Other passages:", others)):
        if group:
            lines += ["", heading, ""] + [_md_source(p, quoted=group is cited and not written) for p in group]
    return "\n".join(lines)


def _md_source(p: Passage, quoted: bool) -> str:
    """One source of the Markdown, a list item:
    `- [n] “quoted sentence” — *Title*, Outlet, 2005-03-14, <link> (also in: a, b)`."""
    title = f"*{_md_text(p.title)}*" if p.title else _md_text(p.source)
    link = _http_url(p.url)
    where = f"<{link}>" if link else f"`{_line(p.source).replace('`', chr(39))}`"
    facts = ", ".join([title] + [_md_text(x) for x in (p.outlet, (p.published or "")[:10]) if x] + [where])
    quote = ""
    if quoted and p.highlight:
        a, b = p.highlight
        quote = f"“{_md_text(p.text[a:b])}” — "
    also = f" (also in: {', '.join(_md_text(s) for s in p.also_in)})" if p.also_in else ""
    return f"- [{p.n}] {quote}{facts}{also}"


def _md_text(text: str | None, keep_markers: bool = False) -> str:
    """Text for Markdown: one line, its syntax characters backslash-escaped (a pasted
    answer must not turn an article's `![x](http://…)` into an image); the answer's
    own [n] markers stay."""
    text = _line(text or "")
    out = re.sub(r"([\\`*_{}\[\]()<>#!|$~])", r"\\\1", text)
    if keep_markers:
        out = re.sub(r"\\\[(\d+)\\\]", r"[\1]", out)
    return out


def render_article(article: Article, start: int | None = None, end: int | None = None,
                   a: int | None = None, b: int | None = None) -> str:
    """The whole cleaned article (as QA.document gives it), the passage [start, end) in
    <mark>, its answer sentence [a, b) emphasized inside; offsets out of range are
    dropped (the article changed since the answer)."""
    esc = _esc
    text = article.text
    meta = [esc(x) for x in meta_parts(article.source, article.outlet, article.published)]
    if article.author:
        meta.append("by " + esc(article.author))
    url = _http_url(article.url)
    if url:
        meta.append(f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer nofollow">'
                    "original</a>")
    head = (f'<div class="cqa-article-head"><strong class="cqa-article-title">{esc(article.title or article.source)}'
            f'</strong><div class="cqa-meta">{" · ".join(meta)}</div></div>')
    if start is None or end is None or not 0 <= start < end <= len(text):
        body, note = esc(text), ""
    else:
        if a is None or b is None or not start <= a < b <= end:
            a = b = None
        inner = (esc(text[start:end]) if a is None else
                 f'{esc(text[start:a])}<b class="cqa-hit">{esc(text[a:b])}</b>{esc(text[b:end])}')
        body = f'{esc(text[:start])}<mark class="cqa-span">{inner}</mark>{esc(text[end:])}'
        note = f'<div class="cqa-meta">Cited passage: characters {start}–{end} of {len(text):,}</div>'
    return (f'<div class="cqa-article" data-doc="{esc(article.id)}">{head}{note}'
            f'<div class="cqa-article-text">{body}</div></div>')


def render_viewer_empty() -> str:
    return ('<div class="cqa-article cqa-empty">Click a citation <b>[n]</b> in an answer or its sources to read '
            "the whole article here, scrolled to the passage.</div>")


def render_filters(filters: Filters | None, error: str | None = None) -> str:
    """The line above the question box while filters are set."""
    if error:
        return f'<div class="cqa-filters cqa-filters-bad"><strong>Filters not applied:</strong> {_esc(error)}</div>'
    if filters is None or filters.empty:
        return ""
    return f'<div class="cqa-filters"><strong>Filters:</strong> {_esc(filters.describe())}</div>'
