"""Each written sentence checked against the passage it cites.

A written answer is split into sentences, each with the `[n]` markers it carries
(`[n]` is passages[n-1]; a sentence without one takes the next sentence's, "A. B [1].").
A sentence is supported by a passage when

- every number, date and amount in it is in the passage (normalised: "30,000" is 30000,
  "£24.5m" is 24.5 million, and so is "24.5 million pounds"; "six" is 6),
- no proper name in it stands where the passage sentence it follows has another name,
- it adds no negation to, and drops none from, that passage sentence, and
- the learned model says the passage holds it: a logistic regression over the embedding
  cosines to the passage's best sentence, best pair of adjacent sentences and whole
  text, the share of its content words the passage holds, the words and names in it
  that neither the passage nor the question holds, fitted on
  ../shared/qa/claims-dev.jsonl by benchmarks/train_claims.py and shipped with its
  threshold and held-out figures as rag/claims.json (plain numpy here).

When the question is known, the names and numbers it states are given (the person who
asked said them; a restated question is not an invention), and a sentence's marker is
moved to another passage only when the sentence is about the question (its cosine to it
at least the fitted `relevance`): a sentence of another article that a shown passage
happens to hold is not made part of the answer.

A sentence that cites no passage, or one that is not shown, is not supported. When its
cited passages do not hold it but another shown passage does, its marker is corrected to
that passage. The check needs no index: only the embedding model.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from store import Embedder, sentence_spans
from store.keyword import terms

from .scoring import Model
from .types import CheckedSentence

CLAIM_WEIGHTS = Path(__file__).with_name("claims.json")
MAX_PASSAGES = 50
MAX_TEXT_CHARS = 20_000

# A citation marker: [1], [1, 2], [1][2], [1-3], [1; 2]
_MARKER = re.compile(r"\[\s*(\d{1,3}(?:\s*(?:,|;|-|–|and)\s*\d{1,3})*)\s*\]")
# markers written after the sentence's full stop ("... fell. [1]") go before it
_AFTER_STOP = re.compile(r"([.!?…]+[\"'”’)]*)((?:\s*" + _MARKER.pattern + r")+)")
_MARKDOWN = re.compile(r"\*\*|__|^[ \t]*(?:[-*•]|\d+[.)]|#+)[ \t]+", re.M)
_SPACE_BEFORE = re.compile(r"\s+([.,;:!?…])")

_MULTIPLIERS = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "bn": 1e9, "billion": 1e9,
                "tn": 1e12, "trillion": 1e12}
_NUMBER = re.compile(
    r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?:(?:st|nd|rd|th|s)\b)?"
    r"(?:(k|m|mn|bn|tn)\b|\s+(thousand|million|billion|trillion)\b)?", re.I)
_WORD_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "dozen": 12, "first": 1, "second": 2, "third": 3,
    "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "half": 0.5,
}
# word numbers a sentence must find in its passage ("one", "first", "second" are too often not numbers)
_CHECKED_WORDS = frozenset(w for w, v in _WORD_NUMBERS.items() if v >= 2 and not w.endswith(("st", "nd", "rd", "th"))
                           and w not in {"hundred", "dozen"})
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
# words of an amount: "24.5 million pounds" says what "£24.5m" says (not new words)
_AMOUNT_WORDS = frozenset(terms("pounds pound dollars dollar euros euro yen cents cent percent per million "
                                "millions billion billions thousand thousands trillion"))
_NEGATORS = frozenset("not no never nobody nothing none neither nor cannot without".split())
_OPENERS = "\"“‘'([«"


@dataclass(frozen=True)
class Claim:
    """One sentence as written: its text without markers, and the passages it cites (1-based)."""

    text: str
    cites: tuple[int, ...]


@dataclass(frozen=True)
class ClaimModel:
    model: Model  # P(the passage holds the sentence) over FEATURES
    threshold: float  # a probability: below it, a sentence is not supported
    relevance: float = 0.0  # cosine to the question a sentence needs to have its marker corrected


FEATURES = ("cos_best", "cos_pair", "cos_passage", "share", "novel", "names_missing", "given")


@lru_cache(maxsize=2)
def load_model(path: str | Path = CLAIM_WEIGHTS) -> ClaimModel:
    """The shipped claim model (rag/claims.json, read once per process)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return model_of(data)
    except (OSError, ValueError, KeyError) as err:
        raise RuntimeError(f"the claim check's weights {path} cannot be read ({err}); reinstall corpus-qa "
                           f"or run benchmarks/train_claims.py") from None


def model_of(data: Mapping) -> ClaimModel:
    model = Model.from_dict("claims", data["model"])
    if tuple(model.features) != FEATURES:
        raise ValueError(f"claim model features {model.features} are not {FEATURES}")
    return ClaimModel(model, float(data["model"]["threshold"]), float(data["relevance"]))


# --- splitting ---------------------------------------------------------------------


def _cites(marker: str) -> list[int]:
    out: list[int] = []
    for part in re.split(r"\s*(?:,|;|and)\s*", marker.strip()):
        bounds = re.split(r"\s*[-–]\s*", part)
        if len(bounds) == 2 and bounds[0].isdigit() and bounds[1].isdigit():
            a, b = int(bounds[0]), int(bounds[1])
            out.extend(range(a, b + 1) if 0 < b - a < MAX_PASSAGES else (a, b))
        elif part.isdigit():
            out.append(int(part))
    return out


def _prepare(text: str) -> str:
    text = _MARKDOWN.sub("", text)
    return _AFTER_STOP.sub(lambda m: m.group(2) + m.group(1), text)


def split(text: str) -> list[Claim]:
    """The sentences of a written answer with the passages each cites, in order. A marker
    standing alone (after the last full stop, or on a line of its own) goes to the
    sentence before it; a sentence without a marker takes the next one's when no line
    break parts them ("A. B [1]." cites [1] for both: each is still checked against [1])."""
    return _split(text)[0]


def _split(text: str) -> tuple[list[Claim], list[bool]]:
    """The claims, and for each whether a line break comes before it."""
    text = _prepare(text)
    claims: list[Claim] = []
    ends: list[int] = []  # where each claim's sentence ends
    breaks: list[bool] = []  # whether a line break comes before each claim's sentence
    for a, b in sentence_spans(text):
        piece = text[a:b]
        cites: list[int] = []
        for m in _MARKER.finditer(piece):
            cites += [n for n in _cites(m.group(1)) if n not in cites]
        bare = _SPACE_BEFORE.sub(r"\1", _MARKER.sub("", piece)).strip()
        bare = re.sub(r"\s{2,}", " ", bare)
        rest = re.sub(r"\[[\d\s,;–-]*$", "", _MARKER.sub("", piece))  # a marker still being written
        if not re.search(r"\w", rest):  # markers (and punctuation) alone
            if claims and cites:
                last = claims[-1]
                claims[-1] = Claim(last.text, last.cites + tuple(n for n in cites if n not in last.cites))
            continue
        claims.append(Claim(bare, tuple(cites)))
        breaks.append("\n" in text[ends[-1] if ends else 0 : a] if claims[:-1] else False)
        ends.append(b)
    for i in range(len(claims) - 2, -1, -1):
        if not claims[i].cites and claims[i + 1].cites and not breaks[i + 1]:
            claims[i] = Claim(claims[i].text, claims[i + 1].cites)
    return claims, breaks


def complete(text: str) -> int:
    """How many sentences of a partly written answer are settled: all but the last (more
    words or markers may still come), and none from a sentence without a marker on
    whose next sentence's marker it may still wait (split: "A. B [1].")."""
    claims, breaks = _split(text)
    n = max(0, len(claims) - 1)
    while n > 0 and not claims[n - 1].cites and not breaks[n]:
        n -= 1
    return n


# --- what a text holds -------------------------------------------------------------


def numbers(text: str, checked_only: bool = False) -> list[frozenset[float]]:
    """Each number, date or amount in `text` as the values it may stand for ("£24.5m":
    {24.5, 24500000}; "30,000": {30000}; "six": {6}). `checked_only`: the word numbers a
    sentence must find in its passage (not "one", "first", "second")."""
    out: list[frozenset[float]] = []
    for m in _NUMBER.finditer(text):
        raw = float(m.group(1).replace(",", "") + (m.group(2) or ""))
        scale = _MULTIPLIERS.get((m.group(3) or m.group(4) or "").lower())
        out.append(frozenset({round(raw, 6)} | ({round(raw * scale, 3)} if scale else set())))
    words = [w.lower() for w in _WORD.findall(text)]
    for i, w in enumerate(words):
        value = _WORD_NUMBERS.get(w)
        if value is None or (checked_only and w not in _CHECKED_WORDS):
            continue
        nxt = _MULTIPLIERS.get(words[i + 1]) if i + 1 < len(words) else None
        out.append(frozenset({float(value)} | ({float(value * nxt)} if nxt else set())))
    return out


def names(text: str) -> list[str]:
    """The proper names of a sentence: capitalised words (acronyms too) that do not open
    the sentence or a quotation, lower-cased, possessive "'s" dropped."""
    out = []
    for m in _WORD.finditer(text):
        word = m.group(0)
        if not word[0].isupper() or len(word) < 2:
            continue
        before = text[: m.start()].rstrip()
        if not before or before[-1] in _OPENERS:
            continue
        out.append(_name_key(word))
    return out


def _name_key(word: str) -> str:
    word = word.lower().replace("’", "'")
    return word[:-2] if word.endswith("'s") else word


def _has_name(name: str, words: frozenset[str]) -> bool:
    """Whether a passage holds a name, or the same name with another ending (Russia and
    Russian, Germany and German)."""
    if name in words:
        return True
    if len(name) < 4:
        return False
    return any(len(w) >= 4 and abs(len(w) - len(name)) <= 3 and (w.startswith(name) or name.startswith(w))
               for w in words)


class PassageFacts:
    """What one passage (or the question) holds, computed once per check: its sentences,
    numbers, words, content terms and, on first use, its sentence vectors (one forward
    pass over the whole passage, pooled per sentence, as the index makes them)."""

    def __init__(self, text: str, embedder: Embedder | None):
        self.text = text
        self._embedder = embedder
        self.spans = sentence_spans(text) or [(0, len(text))]
        self.sentences = [text[a:b] for a, b in self.spans]
        self.tokens = [[w.lower() for w in _tokens(s)] for s in self.sentences]
        self.values = frozenset(v for found in numbers(text) for v in found)
        self.words = frozenset(_name_key(w) for w in _WORD.findall(text))
        self.terms = frozenset(terms(text))

    @cached_property
    def vectors(self) -> np.ndarray:
        if self._embedder is None:
            return np.zeros((len(self.sentences), 1), np.float32)
        _, spans = self._embedder.encode_with_spans([self.text], [self.spans])
        return np.asarray(spans[0], dtype=np.float32)

    @cached_property
    def pairs(self) -> np.ndarray:
        v = self.vectors
        if len(v) < 2:
            return v
        s = v[:-1] + v[1:]
        return s / np.maximum(np.linalg.norm(s, axis=1, keepdims=True), 1e-12)

    @cached_property
    def whole(self) -> np.ndarray:
        s = self.vectors.sum(axis=0)
        return s / max(float(np.linalg.norm(s)), 1e-12)

    def closest(self, tokens: list[str]) -> tuple[float, int]:
        """The sentence whose words the sentence follows most closely (difflib's ratio)."""
        best = (-1.0, 0)
        for i, other in enumerate(self.tokens):
            matcher = difflib.SequenceMatcher(None, tokens, other, autojunk=False)
            if matcher.real_quick_ratio() > best[0] and matcher.quick_ratio() > best[0]:
                best = max(best, (matcher.ratio(), i))
        return best


@dataclass(frozen=True)
class Support:
    """How one passage (or several cited together) stands to one sentence."""

    features: dict[str, float]
    missing_numbers: tuple[str, ...]  # not in the passages (nor stated by the question)
    missing_names: tuple[str, ...]  # the same, names
    swapped_names: tuple[str, ...]  # missing names that stand where the matched sentence has another name
    negation: str  # "" or how the sentence's negation differs from the sentence it matches


def _tokens(text: str) -> list[str]:
    return re.findall(r"[\w'’-]+", text)


def _is_negator(word: str) -> bool:
    w = word.lower()
    return w in _NEGATORS or w.endswith(("n't", "n’t"))


def _alignment(sentence: str, matched: str):
    a, b = _tokens(sentence), _tokens(matched)
    return a, b, difflib.SequenceMatcher(None, [w.lower() for w in a], [w.lower() for w in b], autojunk=False)


def _swapped(aligned, missing: set[str]) -> tuple[str, ...]:
    """Missing names that replace a capitalised word of the passage sentence the sentence
    otherwise follows (a name swapped for another)."""
    a, b, matcher = aligned
    if matcher.ratio() < 0.5:
        return ()
    out = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "replace" and any(w[:1].isupper() for w in b[j1:j2]):
            out += [w for w in a[i1:i2] if _name_key(w) in missing]
    return tuple(dict.fromkeys(out))


def _negation(aligned) -> str:
    """Whether the sentence adds or drops a negation against the passage sentence it
    matches: negations in what differs between the two, within the stretch they share
    (passage text before or after it is what the sentence did not take up)."""
    a, b, matcher = aligned
    ops = matcher.get_opcodes()
    equal = [i for i, op in enumerate(ops) if op[0] == "equal"]
    first, last = (equal[0], equal[-1]) if equal else (0, len(ops) - 1)
    added = dropped = 0
    for i, (op, i1, i2, j1, j2) in enumerate(ops):
        if op == "equal":
            continue
        added += sum(map(_is_negator, a[i1:i2]))
        if first <= i <= last:
            dropped += sum(map(_is_negator, b[j1:j2]))
    if added > dropped:
        return "adds a negation to"
    if dropped > added:
        return "drops the negation of"
    return ""


_NOTHING = PassageFacts("", None)  # no question


def rules(sentence: str, passages: Sequence[PassageFacts], question: PassageFacts = _NOTHING) -> Support:
    """What the rules find, without vectors: numbers and names the passages lack (those
    the question itself states are given: the person asking said them), a name swapped
    for another and a negation added or dropped against the sentence it follows most
    closely."""
    values = frozenset().union(*(p.values for p in passages))
    words = frozenset().union(*(p.words for p in passages))
    missing_numbers, given = [], 0
    for text, found in zip(_number_texts(sentence), numbers(sentence, checked_only=True)):
        if not found & values:
            if found & question.values:
                given += 1
            else:
                missing_numbers.append(text)
    missing_names = []
    for name in dict.fromkeys(names(sentence)):
        if not _has_name(name, words):
            if _has_name(name, question.words):
                given += 1
            else:
                missing_names.append(name)
    own = [w.lower() for w in _tokens(sentence)]
    (_, at), i = max((p.closest(own), i) for i, p in enumerate(passages))
    aligned = _alignment(sentence, passages[i].sentences[at])
    return Support({"names_missing": float(len(missing_names)), "given": float(given)}, tuple(missing_numbers),
                   tuple(missing_names), _swapped(aligned, set(missing_names)), _negation(aligned))


def features(sentence: str, vector: np.ndarray, passages: Sequence[PassageFacts], found: Support,
             question: PassageFacts = _NOTHING) -> dict[str, float]:
    """The model's features: similarities, the share of the sentence's content words the
    passages hold, the new ones (in neither the passages nor the question), names."""
    held = frozenset().union(*(p.terms for p in passages))
    own = [t for t in terms(sentence) if t not in _AMOUNT_WORDS]
    return {
        "cos_best": max(float(np.max(p.vectors @ vector)) for p in passages),
        "cos_pair": max(float(np.max(p.pairs @ vector)) for p in passages),
        "cos_passage": max(float(p.whole @ vector) for p in passages),
        "share": sum(1 for t in own if t in held) / len(own) if own else 1.0,
        "novel": float(sum(1 for t in set(own) if t not in held and t not in question.terms)),
        **found.features,
    }


def _number_texts(sentence: str) -> list[str]:
    """The text of each number `numbers(sentence, checked_only=True)` finds, in the same order."""
    out = []
    for m in _NUMBER.finditer(sentence):
        start = m.start()
        while start > 0 and (sentence[start - 1] in "£$€¥" or (sentence[start - 1].isupper() and "$" in sentence[start:m.start()])):
            start -= 1  # the currency: "£24.5m", "A$245m", "US$5"
        out.append(sentence[start : m.end()].strip())
    out += [w for w in _WORD.findall(sentence) if w.lower() in _CHECKED_WORDS]
    return out


def _label(cites: Iterable[int]) -> str:
    return "".join(f"[{n}]" for n in cites)


class Checker:
    """Checks written sentences against numbered passages (`passages[n-1]` is `[n]`).

    `embedder`: the embedding model (store.Embedder: `encode`, `encode_with_spans`).
    `question`, when known, is what the answer answers: the names and numbers it states
    are given, and a sentence is moved to another passage (its marker corrected) only
    when it is about the question (a sentence of another article that a shown passage
    happens to hold is not made part of the answer).

    >>> checker = Checker(["Umbro is to receive £24.5m from Chelsea."], embedder)
    >>> checker.check("Umbro gets £34.5m from Chelsea [1].")
    [CheckedSentence(text='Umbro gets £34.5m from Chelsea.', cites=(1,), supported=False,
                     reason='£34.5m is not in [1]')]
    """

    def __init__(self, passages: Sequence[str], embedder: Embedder, model: ClaimModel | None = None,
                 question: str | None = None):
        if len(passages) > MAX_PASSAGES:
            raise ValueError(f"at most {MAX_PASSAGES} passages can be checked against, got {len(passages)}")
        self.passages = [PassageFacts(str(p), embedder) for p in passages]
        self.embedder = embedder
        self.model = model or load_model()
        self.question = PassageFacts(question, embedder) if question and question.strip() else _NOTHING

    def check(self, text: str) -> list[CheckedSentence]:
        """Every sentence of a written answer, checked."""
        return [self.verdict(c) for c in split(text)]

    def verdict(self, claim: Claim) -> CheckedSentence:
        text, cites = claim.text, claim.cites
        if not cites:
            return CheckedSentence(text, cites, False, "cites no passage")
        unknown = [n for n in cites if not 1 <= n <= len(self.passages)]
        if unknown:
            return CheckedSentence(text, cites, False, f"cites {_label(unknown)}, which is not among the "
                                                       f"{len(self.passages)} passages")
        sentence = _Sentence(text, self.embedder)
        alone = {n: self.judge(sentence, [n]) for n in cites}
        holding = tuple(n for n in cites if not alone[n])
        if holding:
            return CheckedSentence(text, holding, True, "")
        if len(cites) > 1 and not self.judge(sentence, list(cites)):
            return CheckedSentence(text, cites, True, "")
        others = [n for n in range(1, len(self.passages) + 1) if n not in cites]
        if others and self.about_question(sentence):
            for n in others:
                if not self.judge(sentence, [n]):
                    return CheckedSentence(text, (n,), True, f"cited {_label(cites)}; {_label([n])} holds it")
        return CheckedSentence(text, cites, False, alone[cites[0]])

    def about_question(self, sentence: _Sentence) -> bool:
        if self.question is _NOTHING:
            return True
        return self.relevance(sentence) >= self.model.relevance

    def judge(self, sentence: _Sentence, cites: Sequence[int]) -> str:
        """"" when the passages `cites` hold the sentence, else the reason they do not."""
        found, p = self.support(sentence, cites)
        where = _label(cites)
        if found.missing_numbers:
            return f"{found.missing_numbers[0]} is not in {where}"
        if found.swapped_names:
            return f"{found.swapped_names[0]} is not in {where}"
        if found.negation:
            return f"{found.negation} what {where} says"
        if p < self.model.threshold:
            if found.missing_names:
                return f"{_name_word(sentence.text, found.missing_names[0])} is not in {where}"
            return f"not close enough to what {where} says"
        return ""

    def support(self, sentence: _Sentence | str, cites: Sequence[int]) -> tuple[Support, float]:
        """What the rules find against passages `cites` and, when they find nothing, the
        model's probability that the passages hold the sentence (0.0 otherwise)."""
        if isinstance(sentence, str):
            sentence = _Sentence(sentence, self.embedder)
        passages = [self.passages[n - 1] for n in cites]
        found = rules(sentence.text, passages, self.question)
        if found.missing_numbers or found.swapped_names or found.negation:
            return found, 0.0
        row = features(sentence.text, sentence.vector, passages, found, self.question)
        found = Support(row, found.missing_numbers, found.missing_names, found.swapped_names, found.negation)
        return found, float(self.model.model.probabilities([row])[0])

    def relevance(self, sentence: _Sentence | str) -> float:
        """The sentence's cosine to the question."""
        if isinstance(sentence, str):
            sentence = _Sentence(sentence, self.embedder)
        return float(np.max(self.question.vectors @ sentence.vector))


class _Sentence:
    def __init__(self, text: str, embedder: Embedder):
        self.text = text
        self._embedder = embedder

    @cached_property
    def vector(self) -> np.ndarray:
        return np.asarray(self._embedder.encode([self.text]), dtype=np.float32)[0]


def _name_word(text: str, key: str) -> str:
    for w in _WORD.findall(text):
        if _name_key(w) == key:
            return w
    return key


def check(text: str, passages: Sequence[str], embedder: Embedder, model: ClaimModel | None = None,
          question: str | None = None) -> list[CheckedSentence]:
    """Check a written answer against its numbered passages (`[n]` is passages[n-1])."""
    return Checker(passages, embedder, model, question).check(text)
