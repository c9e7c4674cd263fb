"""The claim check (rag/claims.py) with the real embedding model: hand-made sentences
(a number changed, a name swapped, a negation, a miscite corrected) and claims-dev
examples, plus the splitting of a written answer into cited sentences."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.claims import CLAIM_WEIGHTS, Checker, Claim, check, complete, load_model, numbers, split

REPO = Path(__file__).resolve().parents[1]
CLAIMS_DEV = REPO.parent / "shared" / "qa" / "claims-dev.jsonl"
BBC_DEV = REPO.parent / "shared" / "qa" / "bbc-dev.jsonl"

UMBRO = ("Umbro, which recently lost sponsorship deals with Chelsea and Celtic, said on Thursday it had signed a new "
         "four-year agreement with Scottish club Rangers. The firm, which is to receive a payment from Chelsea of "
         "£24.5m, said it is appraising a number of additional investment opportunities. Chief executive Peter "
         "McGuigan said the firm plans to grow sales both in the UK and internationally. The firm said the UK "
         "market had seen sales growth of 8% last year.")
STUDENTS = ("Teenagers from well-off backgrounds are six times more likely to go to university than those from the "
            "most deprived areas, a report says. The Higher Education Funding Council for England said more people "
            "went to university between 1994 and 2000. Tuition fees and student loans made no major difference.")
QUESTION = "How much is Umbro due to receive from Chelsea?"


@pytest.fixture(scope="module")
def checker(embedder) -> Checker:
    return Checker([UMBRO, STUDENTS], embedder, question=QUESTION)


def test_split_reads_markers_where_models_put_them():
    assert split("Umbro gets £24.5m [1]. McGuigan wants growth. [2] Fees made no difference [1, 2].") == [
        Claim("Umbro gets £24.5m.", (1,)), Claim("McGuigan wants growth.", (2,)),
        Claim("Fees made no difference.", (1, 2))]
    assert split("**Answer:** it rose [1][3]. Then it fell [2-4].") == [
        Claim("Answer: it rose.", (1, 3)), Claim("Then it fell.", (2, 3, 4))]
    # a sentence without a marker takes the next one's, but not across a line break
    assert split("It rose. It fell [2].\nNo marker here.") == [
        Claim("It rose.", (2,)), Claim("It fell.", (2,)), Claim("No marker here.", ())]


def test_complete_holds_back_a_sentence_whose_marker_may_still_come():
    assert complete("It rose [1]. It fell") == 1
    assert complete("It rose [1]. It fell. [") == 1
    assert complete("It rose [1]. It fell. [2") == 1
    assert complete("It rose [1]. It fell [2]. Then") == 2
    assert complete("It rose [1]. It fell. Then it") == 1  # "It fell." may take the next sentence's marker
    assert complete("It rose [1]. It fell.\nThen it") == 2  # not across a line break


def test_numbers_are_normalised():
    assert numbers("£24.5m") == numbers("24.5 million pounds") == [frozenset({24.5, 24_500_000.0})]
    assert numbers("30,000 fans") == numbers("30000 fans") == [frozenset({30000.0})]
    assert numbers("six times") == [frozenset({6.0})]


def test_a_sentence_the_passage_holds_is_supported(checker):
    [verdict] = checker.check("Umbro is to receive a payment of £24.5m from Chelsea [1].")
    assert verdict.supported and verdict.cites == (1,) and verdict.reason == "", verdict
    [verdict] = checker.check("Umbro will get 24.5 million pounds from Chelsea [1].")
    assert verdict.supported, verdict


def test_a_changed_number_is_caught(checker):
    [verdict] = checker.check("Umbro is to receive a payment of £34.5m from Chelsea [1].")
    assert not verdict.supported and verdict.reason == "£34.5m is not in [1]", verdict


def test_a_swapped_name_is_caught(checker):
    [verdict] = checker.check("The firm, which is to receive a payment from Leeds of £24.5m, said it is appraising "
                              "a number of additional investment opportunities [1].")
    assert not verdict.supported and "Leeds" in verdict.reason, verdict


@pytest.mark.parametrize("sentence", [
    "The firm, which is not to receive a payment from Chelsea of £24.5m, said it is appraising a number of "
    "additional investment opportunities [1].",
    "Tuition fees and student loans made a major difference [2].",
])
def test_a_negation_put_in_or_taken_out_is_caught(checker, sentence):
    [verdict] = checker.check(sentence)
    assert not verdict.supported and "negation" in verdict.reason, verdict


def test_a_miscited_sentence_gets_its_marker_corrected(checker):
    [verdict] = checker.check("Umbro is to receive a payment of £24.5m from Chelsea [2].")
    assert verdict.supported and verdict.cites == (1,) and verdict.reason == "cited [2]; [1] holds it", verdict


def test_a_sentence_of_another_article_is_not_moved_to_its_passage(checker):
    # [2] holds it, but it is not about the question: it is not made part of the answer
    [verdict] = checker.check("Tuition fees and student loans made no major difference [1].")
    assert not verdict.supported and verdict.cites == (1,), verdict


def test_without_the_question_a_miscite_is_corrected_to_any_passage_that_holds_it(embedder):
    [verdict] = check("Tuition fees and student loans made no major difference [1].", [UMBRO, STUDENTS], embedder)
    assert verdict.supported and verdict.cites == (2,), verdict


def test_an_invented_sentence_and_bad_markers_are_not_supported(checker):
    invented, uncited, unknown = checker.check(
        "Umbro was bought by Nike for an undisclosed sum [1].\nThe deal pleased fans.\nSales fell [7].")
    assert not invented.supported, invented
    assert (uncited.supported, uncited.reason) == (False, "cites no passage"), uncited
    assert (unknown.supported, unknown.reason) == (False, "cites [7], which is not among the 2 passages"), unknown


def test_the_shipped_weights_say_where_they_came_from_and_meet_the_targets():
    data = json.loads(CLAIM_WEIGHTS.read_text(encoding="utf-8"))
    assert data["trained_by"] == "benchmarks/train_claims.py" and data["data"] == "claims-dev.jsonl", data
    held = data["held_out"]
    assert held["unsupported_caught"] >= 0.95 and held["supported_kept"] >= 0.90, held
    for kind, v in held["per_kind"].items():
        floor = 1.0 if kind in ("verbatim", "moved") else 0.85
        assert v["rate"] >= floor, f"{kind}: held-out {v['rate']} < {floor}"
    assert load_model().threshold == data["model"]["threshold"]


@pytest.mark.skipif(not CLAIMS_DEV.is_file(), reason=f"no claim set at {CLAIMS_DEV}")
def test_claims_dev_examples_of_every_kind(embedder):
    """The first 6 claims of each kind: verbatim and moved all kept, at most 1 of 6
    wrong for the others (held out, the check does better: benchmarks/RESULTS.md)."""
    asked = {json.loads(x)["id"]: json.loads(x)["question"] for x in BBC_DEV.read_text().splitlines() if x.strip()}
    rows = [json.loads(x) for x in CLAIMS_DEV.read_text(encoding="utf-8").splitlines() if x.strip()]
    seen: dict[str, int] = {}
    wrong = []
    for c in rows:
        if seen.get(c["kind"], 0) >= 6:
            continue
        seen[c["kind"]] = seen.get(c["kind"], 0) + 1
        verdicts = check(c["text"], c["passages"], embedder, question=asked.get(c["question"]))
        ok = all(v.supported for v in verdicts)
        cited = {n for v in verdicts for n in v.cites}
        if c["supported"]:
            good = ok and c["cite"] in cited
        else:
            good = not ok or (c["kind"] == "miscite" and c["cite"] not in cited)
        if not good:
            wrong.append((c["id"], c["kind"], verdicts))
    assert len(seen) == 9, seen
    for kind in seen:
        missed = [w for w in wrong if w[1] == kind]
        assert len(missed) <= (0 if kind in ("verbatim", "moved") else 1), missed
