"""The benchmark scripts' scoring: MultiHop-RAG's measures as the paper defines them
(../shared/benchmarks/multihop-rag/README.md), on hand-made answers; and the peer
script's fusion and windows (benchmarks/peers.py) on a tiny corpus with the real model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rag import Answer, Passage

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import peers  # noqa: E402
import quality as Q  # noqa: E402
import sets as S  # noqa: E402

FACTS = ("Alpha rose by 4 %.", "Beta fell\nsharply.", "Gamma stayed flat.")


def answer(*texts: str, abstained: bool = False) -> Answer:
    passages = tuple(Passage(n, f"doc{n}", "", t, 0, len(t), 0.5, None, False) for n, t in enumerate(texts, 1))
    return Answer("q", "", abstained, passages)


def multihop_item(*facts: str) -> S.Item:
    return S.Item("multihop-dev", "mh0", "inference_query" if facts else "null_query", "q", ("x",),
                  tuple((f"url{i}", f) for i, f in enumerate(facts)))


def scores(record: dict) -> dict[str, float | None]:
    return {m: Q.value(record, m) for m in ("hits@1", "hits@4", "hits@10", "mrr@10", "map@10", "recall@10")}


def test_multihop_measures_follow_the_papers_definitions():
    # 3 gold facts: the first found at rank 1; the other two at rank 4, spaced and wrapped
    # differently (the paper removes spaces and newlines before matching); rank 11 never counts.
    found = answer("x Alpha rose by 4 %. y", "noise", "more noise", "BetafellSharply? no. Beta fell sharply. Gamma\n"
                   "stayed  flat.", *["filler"] * 6, "Alpha rose by 4 %.")
    got = scores(Q.record(multihop_item(*FACTS), found))
    # MAP@10 = (1 new fact / rank 1 + 2 new facts / rank 4) / min(3 facts, 10) = (1 + 0.5) / 3
    assert got == pytest.approx({"hits@1": 1.0, "hits@4": 1.0, "hits@10": 1.0, "mrr@10": 1.0, "map@10": 0.5,
                                 "recall@10": 1.0}), got


def test_multihop_first_hit_at_rank_4_and_a_fact_missed():
    found = answer("a", "b", "c", "Beta fell sharply.", "Beta fell sharply.", *["d"] * 5, "Gamma stayed flat.")
    got = scores(Q.record(multihop_item(*FACTS), found))
    # one fact first found at rank 4 (the repeat at 5 adds nothing; Gamma at rank 11 is too late)
    assert got == pytest.approx({"hits@1": 0.0, "hits@4": 1.0, "hits@10": 1.0, "mrr@10": 0.25, "map@10": 0.25 / 3,
                                 "recall@10": 1 / 3}), got
    # case counts: the paper's match is case-sensitive
    assert Q.record(multihop_item("beta fell sharply."), found)["rank"] is None


def test_null_questions_count_only_for_abstention():
    record = Q.record(multihop_item(), answer("anything", abstained=True))
    assert {m: Q.value(record, m) for m in ("hits@10", "map@10", "none_abstained", "answerable_abstained")} == \
        {"hits@10": None, "map@10": None, "none_abstained": 1.0, "answerable_abstained": None}


def test_rrf_sums_reciprocal_ranks():
    # both lists' first is first; second in both (2/62) beats first in one only (1/61)
    assert peers.rrf([1, 2, 3], [1, 2, 4]) == [1, 2, 3, 4]
    assert peers.rrf([7, 8], [9, 8]) == [8, 7, 9]


def test_windows_are_slices_of_the_text():
    text = " ".join(f"w{i}" for i in range(500))
    by_words = peers.cut(text, peers.Windows(190, 0, words=True))
    assert [len(w.split()) for w in by_words] == [190, 190, 120] and all(w in text for w in by_words)
    by_chars = peers.cut("x" * 2500, peers.CHARS)
    assert [len(w) for w in by_chars] == [1000, 1000, 900]
    with pytest.raises(ValueError, match="overlap < size"):
        peers.Windows(100, 100)


def test_a_window_both_retrievers_rank_first_is_on_top(embedder, tmp_path):
    docs = [
        ("rail.txt", "The new high-speed rail line between Leeds and Manchester opens in May, cutting journeys."),
        ("film.txt", "The film festival in Cannes gave its top prize to a French drama about a family farm."),
        ("bank.txt", "The central bank raised interest rates by a quarter point to curb inflation."),
        ("match.txt", "The football club won the cup final after extra time and a late penalty."),
    ]
    peer = peers.Peer(docs, embedder, cache_dir=tmp_path)
    question = "When does the high-speed rail line between Leeds and Manchester open?"
    vectors = embedder.encode([question]) @ peer.vectors.T
    keyword, _ = peer._bm25.retrieve(peer._tokens([question]), k=1, show_progress=False)
    assert int(vectors.argmax()) == 0 and int(keyword[0][0]) == 0, "both retrievers should rank rail.txt first"
    (top, *_), = peer.search([question], k=3)
    assert (top.n, top.source) == (1, "rail.txt"), top
    cached = list(tmp_path.glob("*.npy"))
    assert len(cached) == 1, cached
    again = peers.Peer(docs, embedder, cache_dir=tmp_path)  # read back from the cache, not re-embedded
    assert (again.vectors == peer.vectors).all()


def test_training_reads_no_set_kept_for_judging_and_quality_no_made_set():
    import argparse

    def default(training: bool) -> set[str]:
        p = argparse.ArgumentParser()
        S.add_options(p, training=training)
        return set(p.parse_args([]).sets.split(","))

    trained, judged = default(True), default(False)
    assert not trained & S.NOT_TRAINED, trained & S.NOT_TRAINED  # the switch conversations were trained on
    assert "bbc-made" in trained and not judged & set(S.MADE)
    assert "followups-switch-bbc-dev" in judged
