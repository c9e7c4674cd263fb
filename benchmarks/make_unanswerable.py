"""Make unanswerable questions from answerable dev questions, as training data for the
abstention model (benchmarks/train_scoring.py). Never a dev figure: quality.py leaves them out.

    .venv/bin/python benchmarks/make_unanswerable.py [--out benchmarks/data]

Each made question is an answerable dev question with one thing changed to something
its archive does not hold, so the archive no longer answers it:

    year     a year it names becomes one the archive's articles never get to (BBC, 2004-05:
             2011-2024; MultiHop-RAG, Sept.-Dec. 2023: 2017-2021); a BBC question naming no
             year gets " in <year>" before its question mark
    name     its rarest capitalised name (by document frequency in the archive) becomes a
             name that appears nowhere in the archive, taken from the other archive's titles
             (BBC questions get 2023 names from MultiHop-RAG, MultiHop-RAG questions 2004-05
             names from BBC)
    number   (BBC) a number it names (not a year) becomes another (x 7 + 3; "six" -> "seventeen")

Sources: bbc-dev's answerable questions (kinds fact, paraphrase, multi) and multihop-dev's
answerable queries (every 4th of MultiHop-RAG, the dev split). Output, one question a line
in the format of qa/README.md (kind "none", no answers, no evidence) plus "from" (the
source question's id) and "how" (year / name / number):

    benchmarks/data/unanswerable-bbc.jsonl        over the bbc index
    benchmarks/data/unanswerable-multihop.jsonl   over the multihop index

A made question may, rarely, still be answered by the archive (a changed number the
story also gives); they are labels with a little noise, which is why they only train.
Deterministic: the same seed makes the same files.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(1, str(Path(__file__).resolve().parent))
import sets as S  # noqa: E402

OUT = Path(__file__).resolve().parent / "data"
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
_NAME = re.compile(r"(?<![\w’'-])[A-Z][\w’'-]*(?:\s+(?:of\s+|de\s+|the\s+)?[A-Z][\w’'-]*)*")
_WORDS = re.compile(r"[a-z0-9]+")
_NUMBER_WORDS = {"two": "nine", "three": "eleven", "four": "fourteen", "five": "fifteen", "six": "seventeen",
                 "seven": "nineteen", "eight": "twenty", "nine": "twenty-one", "ten": "twenty-three",
                 "twelve": "thirty"}
_DIGITS = re.compile(r"(?<![\w.,])(\d[\d,]*)(?:\.\d+)?(?![\d,]*\d)")
_QUESTION_WORDS = {"who", "what", "which", "when", "where", "how", "why", "whom", "whose", "did", "does", "do", "is",
                   "was", "were", "are", "in", "at", "on", "by", "with", "from", "for", "to", "under", "until",
                   "roughly", "according", "the", "a", "an", "and", "after", "before", "since", "between"}


def bbc_texts() -> list[str]:
    return [p.read_text(encoding="utf-8", errors="replace") for p in sorted(S.BBC.rglob("*.txt"))]


def multihop_texts() -> list[str]:
    return [f"{r['title']}\n{r['text']}" for r in S.multihop_records()]


def document_frequency(texts: list[str]) -> Counter:
    df: Counter = Counter()
    for t in texts:
        df.update(set(_WORDS.findall(t.lower())))
    return df


def absent_names(titles: list[str], df: Counter, rng: random.Random) -> list[str]:
    """Capitalised names (one to three words) of `titles` none of whose words the other
    archive holds (`df`), shuffled."""
    names: set[str] = set()
    for title in titles:
        for m in _NAME.finditer(title):
            words = m.group(0).split()
            if m.start() == 0 or not 1 <= len(words) <= 3 or any(w.lower() in _QUESTION_WORDS for w in words):
                continue
            lowered = _WORDS.findall(m.group(0).lower())
            if lowered and all(df[w] == 0 for w in lowered) and all(len(w) >= 3 for w in lowered):
                names.add(m.group(0).strip(" ’'"))
    out = sorted(names)
    rng.shuffle(out)
    return out


def names_in(question: str) -> list[tuple[int, int, str]]:
    """The capitalised runs of a question, not its first word (a question word), nor a
    run that is only a question word."""
    out = []
    for m in _NAME.finditer(question):
        words = m.group(0).split()
        start = m.start()
        if start == 0 or question[:start].strip() == "":
            if len(words) == 1:
                continue
            first = len(words[0]) + 1  # drop the opening word ("Which Goldman Sachs" -> "Goldman Sachs")
            start, words = start + first, words[1:]
        text = " ".join(words).rstrip("’'s").rstrip("’'")
        if words and not all(w.lower() in _QUESTION_WORDS for w in words) and not _YEAR.fullmatch(text):
            out.append((start, start + len(text), text))
    return out


def rarest_name(question: str, df: Counter) -> tuple[int, int, str] | None:
    """The question's name whose rarest word the archive holds in the fewest documents."""
    scored = []
    for start, end, text in names_in(question):
        counts = [df[w] for w in _WORDS.findall(text.lower()) if w not in _QUESTION_WORDS]
        if counts and min(counts) > 0:
            scored.append((min(counts), start, end, text))
    if not scored:
        return None
    _, start, end, text = min(scored)
    return start, end, text


def change_year(question: str, years: list[int], rng: random.Random, append: bool) -> str | None:
    if _YEAR.search(question):
        new = rng.choice(years)
        return _YEAR.sub(lambda m: str(new) if int(m.group(0)) != new else str(new + 1), question)
    if append and question.rstrip().endswith("?"):
        return question.rstrip()[:-1].rstrip() + f" in {rng.choice(years)}?"
    return None


def change_name(question: str, df: Counter, pool: list[str], rng: random.Random) -> str | None:
    found = rarest_name(question, df)
    if not found or not pool:
        return None
    start, end, _ = found
    return question[:start] + rng.choice(pool) + question[end:]


def change_number(question: str) -> str | None:
    for m in _DIGITS.finditer(question):
        if _YEAR.fullmatch(m.group(0)):
            continue
        value = int(m.group(1).replace(",", ""))
        return question[: m.start()] + f"{value * 7 + 3:,}" + question[m.end():]
    for word, other in _NUMBER_WORDS.items():
        m = re.search(rf"\b{word}\b", question, re.I)
        if m:
            return question[: m.start()] + other + question[m.end():]
    return None


def made(item: S.Item, how: str, question: str) -> dict:
    return {"id": f"{item.id}~{how}", "kind": "none", "question": question, "answers": [], "evidence": [],
            "from": item.id, "how": how}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--seed", type=int, default=27)
    args = p.parse_args()
    rng = random.Random(args.seed)
    bbc, multihop = bbc_texts(), multihop_texts()
    bbc_df, multihop_df = document_frequency(bbc), document_frequency(multihop)
    names_for_bbc = absent_names([r["title"] for r in S.multihop_records()], bbc_df, rng)
    names_for_multihop = absent_names([t.split("\n", 1)[0] for t in bbc], multihop_df, rng)

    out_bbc = []
    for item in S.items("bbc-dev"):
        if not item.answerable:
            continue
        year = change_year(item.question, list(range(2011, 2025)), rng, append=rng.random() < 0.5)
        if year:
            out_bbc.append(made(item, "year", year))
        name = change_name(item.question, bbc_df, names_for_bbc, rng)
        if name:
            out_bbc.append(made(item, "name", name))
        number = change_number(item.question)
        if number:
            out_bbc.append(made(item, "number", number))
    out_multihop = []
    for item in S.items("multihop-dev"):
        if not item.answerable:
            continue
        year = change_year(item.question, list(range(2017, 2022)), rng, append=False)
        if year:
            out_multihop.append(made(item, "year", year))
        if rng.random() < 0.4:  # a share of them, so the made questions do not outnumber the real ones
            name = change_name(item.question, multihop_df, names_for_multihop, rng)
            if name:
                out_multihop.append(made(item, "name", name))
    args.out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("unanswerable-bbc.jsonl", out_bbc), ("unanswerable-multihop.jsonl", out_multihop)):
        (args.out / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        print(f"{args.out / name}: {len(rows)} questions ({dict(Counter(r['how'] for r in rows))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
