"""Near-copies: the same article under two names with small edits (a wire story another
outlet retouched, a corrected figure, a changed paragraph).

Two documents are near-copies when the Jaccard similarity of their sets of word
5-grams (title and text, lower-cased) is at least `THRESHOLD` (chosen on the BBC archive:
benchmarks/nearcopies.py, benchmarks/RESULTS.md). Candidates come from MinHash LSH
(datasketch's MinHash): each document's band hashes are integer metadata (`lsh0`,
`lsh1`, ...) of its record in the index's `-near` collection (store.index), so the
candidates for a new document are one Chroma `where` query away, nothing is held in
memory between runs, and listing the documents never reads them (24 more keys on each
document record doubled the time of that read); every candidate is then checked with the
exact Jaccard of the two texts.

A document's near-copy group is recorded at ingest (`near`: the content hash of the
group's first document), so a question pays only a dictionary lookup. Exact copies share
a content hash and so a group too.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

THRESHOLD = 0.5  # Jaccard of word 5-gram sets at or above which two texts are one article
SHINGLE = 5  # words per shingle
# MinHash LSH: 24 bands of 3 rows. A pair shares a band with probability 1 - (1 - J^3)^24:
# 0.96 at J = 0.5, 0.99 at 0.6, 0.0002 at 0.02 (two unrelated stories); a false candidate
# costs only the exact check. On the BBC archive they propose every pair at or above 0.5.
BANDS, ROWS = 24, 3
NUM_PERM = BANDS * ROWS
SEED = 1
BAND_KEY = "lsh"  # metadata keys lsh0 .. lsh{b-1}; NEAR_KEY: the group
NEAR_KEY = "near"
_WORD = re.compile(r"\w+")


def shingles(title: str, text: str, size: int = SHINGLE) -> frozenset[str]:
    """The set of `size`-word runs of the title and text, lower-cased (a text shorter than
    `size` words is one shingle)."""
    words = _WORD.findall(f"{title}\n{text}".lower())
    if len(words) <= size:
        return frozenset([" ".join(words)]) if words else frozenset()
    return frozenset(" ".join(words[i : i + size]) for i in range(len(words) - size + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def containment(a: frozenset[str], b: frozenset[str]) -> float:
    """The share of the smaller set that the other holds (0 when either is empty)."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


@functools.cache
def _empty():
    from datasketch import MinHash

    return MinHash(num_perm=NUM_PERM, seed=SEED)


def bands(grams: Iterable[str]) -> tuple[int, ...]:
    """The MinHash signature of a shingle set cut into bands, each hashed to a signed
    64-bit integer (Chroma metadata). Two sets share a band with probability about
    1 - (1 - J^r)^b."""
    sketch = _empty().copy()
    sketch.update_batch([g.encode() for g in grams])
    values = np.asarray(sketch.hashvalues, dtype="<u4")
    b, r = BANDS, ROWS
    return tuple(int.from_bytes(hashlib.blake2b(values[i * r : (i + 1) * r].tobytes(), digest_size=8).digest(),
                                "little", signed=True) for i in range(b))


def band_metadata(values: tuple[int, ...]) -> dict[str, int]:
    return {f"{BAND_KEY}{i}": v for i, v in enumerate(values)}


def band_where(many: Iterable[tuple[int, ...]]) -> dict | None:
    """A Chroma `where` matching any record that shares a band with any of `many`."""
    per_band: dict[int, set[int]] = {}
    for values in many:
        for i, v in enumerate(values):
            per_band.setdefault(i, set()).add(v)
    clauses = [{f"{BAND_KEY}{i}": {"$in": sorted(vs)}} for i, vs in sorted(per_band.items())]
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


@dataclass(frozen=True)
class Fingerprint:
    """What near-copy detection needs of one text: its shingles and their band hashes."""

    grams: frozenset[str]
    bands: tuple[int, ...]

    @classmethod
    def of(cls, title: str, text: str) -> Fingerprint:
        grams = shingles(title, text)
        return cls(grams, bands(grams))


@dataclass(frozen=True)
class Known:
    """A text near-copy detection has seen: the group it belongs to and its fingerprint."""

    group: str
    fingerprint: Fingerprint


class Buckets:
    """Texts by band: the candidates of a fingerprint are the texts that share a band with it."""

    def __init__(self) -> None:
        self._by_band: dict[tuple[int, int], list[Known]] = {}

    def add(self, known: Known) -> None:
        for i, v in enumerate(known.fingerprint.bands):
            self._by_band.setdefault((i, v), []).append(known)

    def best(self, fp: Fingerprint, threshold: float = THRESHOLD) -> tuple[Known, float] | None:
        """The most similar text at or above `threshold` by exact Jaccard, with its score."""
        seen: set[int] = set()
        best = None
        for i, v in enumerate(fp.bands):
            for known in self._by_band.get((i, v), ()):
                if id(known) in seen:
                    continue
                seen.add(id(known))
                score = jaccard(fp.grams, known.fingerprint.grams)
                if score >= threshold and (best is None or score > best[1]
                                           or (score == best[1] and known.group < best[0].group)):
                    best = (known, score)
        return best


def groups(
    texts: Sequence[tuple[str, str, str]],
    stored: Callable[[list[tuple[int, ...]]], Iterable[Known]] = lambda bands: (),
    threshold: float = THRESHOLD,
) -> list[tuple[str | None, tuple[int, ...]]]:
    """For each (title, text, content hash) of `texts`, in order: the group of its closest
    near-copy among the texts before it and the `stored` ones sharing a band (None: it
    starts a group of its own, named by its content hash), and its band hashes.
    `stored(bands)`: the indexed texts that share a band with any of these."""
    prints = [Fingerprint.of(title, text) for title, text, _ in texts]
    buckets = Buckets()
    for known in stored([fp.bands for fp in prints]) if prints else ():
        buckets.add(known)
    out = []
    for (_, _, content), fp in zip(texts, prints):
        best = buckets.best(fp, threshold)
        group = best[0].group if best else None
        out.append((group, fp.bands))
        buckets.add(Known(group or content, fp))
    return out


def known(title: str, text: str, meta: Mapping) -> Known:
    """An indexed document as detection sees it, from its record (its group: the one it
    recorded, else its own content hash; its bands: recorded, else computed)."""
    grams = shingles(title, text)
    recorded = tuple(meta.get(f"{BAND_KEY}{i}") for i in range(BANDS))
    fp = Fingerprint(grams, recorded if None not in recorded else bands(grams))
    return Known(meta.get(NEAR_KEY) or meta.get("content", ""), fp)
