"""Answer-type cues: what kind of answer a question asks for, and whether a sentence has one.

    "How many countries ...?"      count   a number next to the counted word ("30 countries")
    "When ...?", "On what date ...?" date  a date or year the question does not already hold
    "Who ...?", "Whose ...?"       person  a capitalised name the question does not hold
    "Which countries ...?"         list    an enumeration of names ("France, Italy and Finland")
    "How much does X cost?"        money   an amount of money ("£24.5m", "984m euros")
    "How quickly ...?", "By how much ...?", "What speed ...?"
                                   quantity  a number the question does not hold
    "Where ...?", "Which racecourse ...?", "Under what name ...?"
                                   name    a capitalised name none of whose words the question holds

Cues choose between sentences that are already relevant. One more use, `required`: a
question that asks for an amount of money ("How much does X cost?", "What salary ..."),
a date or a count cannot be answered by sentences that hold none: when the most relevant
sentences hold no such thing, the answer abstains. They read the question's form, never its topic.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection
from dataclasses import dataclass

from store.keyword import term_set, terms

_NUMBER = (r"\b(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|"
           r"forty|fifty|sixty|seventy|eighty|ninety|hundreds?|thousands?|millions?|billions?|dozens?)\b")
_WHEN = re.compile(r"^\W*when\b|\b(?:what|which)\s+(?:date|day|year|month|time)\b|\bsince\s+when\b", re.I)
_WHO = re.compile(r"^\W*(?:who|whom|whose)\b|^\W*(?:with|to|by|from|for)\s+whom\b", re.I)
# "Who is Steve Witkoff?" asks what he is; "Who is Ryanair's chief executive?" asks for a name
_WHO_IS = re.compile(r"^\W*(?i:who\s+(?:is|was|are|were))\s+(?:[A-Z][\w.’'-]*\s*)+(?:\?|$|\s+(?i:and|or)\b)")
# how quickly / long / far / deep ..., by how much: a measure, not a count of things
_HOW_ADJ = re.compile(r"\bhow\s+(?:quickly|fast|long|far|deep|big|large|old|high|tall|soon|often|heavy|wide|"
                      r"early|late|low|close|severe|bad)\b|\bby\s+how\s+much\b|\bhow\s+much\b", re.I)
# what / which + a measure noun: "What speed ...", "What stake ...", "What percentage ..."
_WHAT_MEASURE = re.compile(r"\b(?:what|which)\s+(?:[a-z]+\s+)?(?:speed|stake|share|percentage|proportion|rate|"
                           r"number|figure|total|sum|amount|age|size|distance|length|margin|score|height|weight|temperature|"
                           r"capacity|level|value)\b", re.I)
_WHERE = re.compile(r"^\W*where\b|\b(?:in|at|to|from|into)\s+(?:which|what)\s+(?:[a-z]+\s+)?(?:city|town|"
                    r"country|place|county|state|region|province|venue|stadium|ground|course|racecourse|village|"
                    r"capital|port|island)\b", re.I)
# what / which + a singular noun that names something: "Which energy drink company", "what pen name"
_WHICH_THING = re.compile(r"\b(?i:what|which)\s+(?:[A-Za-z][\w-]*\s+){0,3}?([A-Za-z]{2,})(?=\s+(?:did|does|do|is|was|"
                          r"are|were|has|have|had|will|would|could|can|should|said|says|came|told|won|made|took|"
                          r"runs?|leads?|owns?|[a-z]+ed)\b)")
_NOT_THINGS = {"kind", "type", "sort", "way", "reason", "role", "part", "effect", "impact", "extent", "happened",
               "point", "step", "action", "advice", "view", "message", "thing", "things", "one", "ones", "support",
               "problem", "issue", "question", "purpose", "change", "difference", "did", "does", "do", "is", "was", "are",
               "were", "has", "have", "had", "will", "would", "could", "can", "should"}
# "which countries", "what cities", "into which Baltic countries": a plural noun (lower case) after which/what
_WHICH_PLURAL = re.compile(r"\b(?i:which|what)\s+(?:[A-Za-z][\w-]*\s+)?([a-z]{3,}(?:ies|s))(?=\W|$)")
_NOT_PLURAL = {"does", "has", "was", "is", "this", "its", "his", "us", "as", "less", "unless", "news", "status",
               "process", "access", "address", "business", "class", "crisis", "basis", "analysis", "thus"}
_MONTHS = ("january|february|march|april|may|june|july|august|september|october|november|december|"
           "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec")
_DATE = re.compile(
    rf"\b(?:(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTHS})\b"
    rf"(?:\s+\d{{4}})?|(?:{_MONTHS})\s+\d{{4}}|(?:1[6-9]|20)\d\d|\d{{1,2}}/\d{{1,2}}/\d{{2,4}}|"
    rf"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday))\b",
    re.I,
)
_CALENDAR = re.compile(rf"(?:{_MONTHS}|monday|tuesday|wednesday|thursday|friday|saturday|sunday)")
# a run of capitalised words ("Queen of the Sky", "South Korea's Hyundai Motor"), not opening the sentence
_NAME_RUN = re.compile(r"(?<=[\w,;:’'”\"(]\s)[A-Z][\w’'.-]*(?:\s+(?:(?:of|the|de|la|von|van|and)\s+)?[A-Z][\w’'.-]*)*")
_TITLES = {"mr", "mrs", "ms", "dr", "sir", "lord", "lady", "mp", "the", "a", "an", "he", "she", "it", "they", "we", "i"}
_ENUMERATION = re.compile(
    r"\b[A-Z][\w.’'-]*(?:\s+[A-Z][\w.’'-]*)*,\s+(?:the\s+)?[A-Z][\w.’'-]*(?:\s+[A-Z][\w.’'-]*)*"
    r"(?:,\s+(?:and\s+|or\s+)?(?:the\s+)?[A-Z][\w.’'-]*|\s+(?:and|or)\s+(?:the\s+)?[A-Z][\w.’'-]*)"
)


_MONEY_WORDS = re.compile(
    r"\b(?:cost|costs|price|prices|priced|salary|salaries|wage|wages|fee|fees|paid|pay|earn|earns|earned|worth|"
    r"spend|spent|turnover|revenue|revenues|profit|profits|budget|fund|funds|raised|fine|fined)\b", re.I)
_MONEY = re.compile(
    r"(?:[$£€¥]|\b(?:US|A|C|NZ|HK)\$)\s?\d[\d,.]*(?:\s?(?:m|bn|k|million|billion|trillion)\b)?"
    r"|\b\d[\d,.]*\s?(?:m|bn|k|million|billion)?\s?(?:euros?|dollars?|pounds?|yen|yuan|rupees?|francs?|pence|cents|"
    r"roubles?|rubles?)\b|\b\d+p\b", re.I)
_ANY_NUMBER = re.compile(_NUMBER, re.I)
_QUANTITY = _NUMBER.replace("|one|", "|")  # "one of the ..." is seldom a measure


@dataclass(frozen=True)
class Cue:
    kind: str  # "money", "count", "quantity", "date", "person", "name", "list"
    question: str
    counted: str | None = None  # the stem a "how many" question counts, or a "which X" one names


def cue_of(question: str) -> Cue | None:
    """The kind of answer the question asks for, when its form says so."""
    if _asks_money(question):
        return Cue("money", question)
    match = re.search(r"\bhow\s+many\s+(?:of\s+the\s+)?([a-z][\w-]*)", question, re.I)
    if match:
        counted = terms(match.group(1))
        return Cue("count", question, counted[0] if counted else None)
    if _HOW_ADJ.search(question) or _WHAT_MEASURE.search(question):
        return Cue("quantity", question)
    if _WHEN.search(question):
        return Cue("date", question)
    if _WHO.search(question) and not _WHO_IS.search(question):
        return Cue("person", question)
    match = _WHICH_PLURAL.search(question)
    if match and match.group(1).lower() not in _NOT_PLURAL:
        return Cue("list", question)
    if _WHERE.search(question):
        return Cue("name", question)
    match = _WHICH_THING.search(question)
    if match and match.group(1).lower() not in _NOT_THINGS:
        focus = terms(match.group(1))  # "which general": a name next to "general" answers it
        return Cue("name", question, focus[0] if focus else None)
    return None


def offers(cue: Cue, sentence: str) -> bool:
    """Whether the sentence holds the kind of answer the cue asks for (and the question lacks)."""
    if cue.kind == "money":
        return bool(_MONEY.search(sentence))
    if cue.kind == "count":
        return counts(sentence, cue.counted) if cue.counted else _new(_NUMBER, sentence, cue.question)
    if cue.kind == "date":
        return _new(_DATE.pattern, sentence, cue.question)
    if cue.kind == "quantity":
        return _new(_QUANTITY, sentence, cue.question)
    if cue.kind in ("person", "name"):
        return new_name(sentence, cue.question, cue.counted)
    return bool(_ENUMERATION.search(sentence))


def new_name(sentence: str, question: str, focus: str | None = None) -> bool:
    """Whether the sentence names something (a run of capitalised words, not its opening
    word, not a date) none of whose words the question holds; with a `focus` stem (what
    "which general" asks for), only a name within three words of a word of that stem
    counts ("General Charles Q. Brown", "economy minister German Gref")."""
    if focus and not _has_stem(term_set(sentence), focus):
        return False  # no word of the focus anywhere, so none near a name (a window's terms are the sentence's)
    asked = _words(question)
    for start, end, words, calendar in _names(sentence):
        if focus and not _near(sentence, start, end, focus):
            continue
        if words and not any(w in asked for w in words) and not calendar:
            return True
    return False


@functools.lru_cache(maxsize=1 << 16)
def _names(sentence: str) -> tuple[tuple[int, int, tuple[str, ...], bool], ...]:
    """The sentence's names (runs of capitalised words): where each stands, its words
    (lower case, titles and particles out) and whether they are all days or months. Kept
    for the next questions, like the sentence's terms (store.keyword.term_set)."""
    out = []
    for m in _NAME_RUN.finditer(sentence):
        words = [w.strip("’'.").lower() for w in re.findall(r"[\w’'.-]+", m.group(0))]
        words = [re.sub(r"[’']s$", "", w) for w in words if w not in _TITLES and w not in ("of", "de", "la", "von", "van", "and")]
        out.append((m.start(), m.end(), tuple(words), all(_CALENDAR.fullmatch(w) for w in words)))
    return tuple(out)


@functools.lru_cache(maxsize=256)
def _words(question: str) -> frozenset[str]:
    return frozenset(re.findall(r"[\w’'-]+", question.lower()))


def _near(sentence: str, start: int, end: int, stem: str, words: int = 3) -> bool:
    before = re.findall(r"[\w’'-]+", sentence[:start])[-words:]
    inside = re.findall(r"[\w’'-]+", sentence[start:end])
    after = re.findall(r"[\w’'-]+", sentence[end:])[:words]
    return _has_stem(terms(" ".join(before + inside + after)), stem)


def _has_stem(words: Collection[str], stem: str) -> bool:
    """Whether a word of that stem is among `words`: the stem itself, or (a stem of five
    letters or more) one it begins."""
    return stem in words or (len(stem) >= 5 and any(t.startswith(stem) for t in words))


def counts(sentence: str, stem: str) -> bool:
    """Whether the sentence puts a number just before a word with that stem: "30 countries",
    "a 28-point plan", "150,000 Russian soldiers"."""
    if stem not in term_set(sentence):  # the words after a number are the sentence's words
        return False
    for match in re.finditer(rf"{_NUMBER}(?=(?:-|\s+)((?:[\w’'-]+\s+){{0,2}}[\w’'-]+))", sentence, re.I):
        if stem in terms(match.group(1)):
            return True
    return False


def _new(pattern: str, sentence: str, question: str) -> bool:
    """Whether the sentence has a match of `pattern` (any case) that the question does not contain."""
    asked = question.lower()
    return any(m not in asked for m in _matches(pattern, sentence))


@functools.lru_cache(maxsize=1 << 16)
def _matches(pattern: str, sentence: str) -> tuple[str, ...]:
    """The matches of `pattern` (any case) in the sentence, lower case; kept for the next questions."""
    return tuple(m.group(0).lower() for m in re.finditer(pattern, sentence, re.I))


def _asks_money(question: str) -> bool:
    """How much money, or what/how much with a word of price or pay (cost, salary, paid, ...)."""
    return bool(re.search(r"\bhow\s+much\s+money\b", question, re.I) or (
        _MONEY_WORDS.search(question) and re.match(r"^\W*(?:what|how\s+much)\b", question, re.I)))


def required(question: str) -> Cue | None:
    """The cue, when the question's form demands that an answer hold a thing of its kind:
    "money" (how much + a word of price or pay, how much money, what salary/price ...),
    "date" (when, on what date), "count" (how many) or "quantity" (how much, how quickly,
    what speed: some number)."""
    cue = cue_of(question)
    return cue if cue and cue.kind in ("money", "date", "count", "quantity") else None


def holds(cue: Cue, sentence: str) -> bool:
    """Whether the sentence holds a thing of the cue's kind: `offers`, but any number
    counts for a count or a quantity (the counted word may be put another way: "300 homes";
    the question's own number may be the answer's scale)."""
    return bool(_ANY_NUMBER.search(sentence)) if cue.kind in ("count", "quantity") else offers(cue, sentence)
