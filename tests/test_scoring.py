"""The learned decisions: the shipped weights load and name real features; the training
path (scikit-learn -> the JSON the package reads -> numpy) reproduces a known decision;
features have the values they say on one example."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from rag import features, scoring
from rag.cues import cue_of
from rag.features import matched, required_missing, share, unmatched_idf
from rag.question import analyse
from rag.types import Candidate, Found
from store import StoredChunk, sentence_id

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import train_scoring  # noqa: E402


def test_shipped_weights_load_and_name_the_features_the_code_makes():
    data = json.loads(scoring.WEIGHTS.read_text())
    models = scoring.load()
    assert set(models.ranker.features) == set(features.RANKER), models.ranker.features
    assert set(models.sentence.features) == set(features.SENTENCE), models.sentence.features
    assert set(models.abstain.features) == set(features.ABSTAIN), models.abstain.features
    assert train_scoring.RANKER is features.RANKER, "training must fit the names rag.features builds"
    assert 0 < models.abstain.threshold < 1, f"abstention needs an operating point, got {models.abstain.threshold}"
    assert data["trained_by"] == "benchmarks/train_scoring.py" and data["commit"] and data["held_out"], \
        "the weights file must say which script, commit and held-out figures produced it"


def test_a_bad_weights_file_names_itself_and_the_fix(tmp_path):
    bad = tmp_path / "weights.json"
    bad.write_text('{"models": {"ranker": {"features": ["dense"], "mean": [0, 1], "scale": [1], "coef": [1], '
                   '"intercept": 0}}}')
    with pytest.raises(RuntimeError, match="weights.json cannot be read.*train_scoring"):
        scoring.load(bad)


def test_training_reproduces_a_known_decision_and_the_shipped_form_scores_as_sklearn():
    # a tiny fixture: evidence chunks have the higher cosine and hold more of the question's words
    rng = np.random.default_rng(7)
    n = 200
    y = np.arange(n) % 4 == 0
    x = np.column_stack([0.3 + 0.3 * y + rng.normal(0, 0.1, n), 0.2 + 0.4 * y + rng.normal(0, 0.2, n)])
    scaler, model = train_scoring.fit(x, y, np.ones(n))
    shipped = train_scoring.as_model("ranker", ("dense", "share"), scaler, model)
    again = scoring.Model.from_dict("ranker", json.loads(json.dumps(shipped.to_dict())))
    rows = [{"dense": a, "share": b} for a, b in x]
    assert np.allclose(again.logits(rows), model.decision_function(scaler.transform(x)), atol=1e-4)
    evidence, other = {"dense": 0.62, "share": 0.6}, {"dense": 0.31, "share": 0.2}
    assert again.logits([evidence])[0] > again.logits([other])[0], "the fitted ranker must put the evidence first"
    assert all(c > 0 for c in again.coef), f"both signals point the same way in this fixture, got {again.coef}"


def test_feature_values_on_one_example():
    asked = {"chair": 2.0, "contact": 1.0, "group": 1.0}
    assert matched(asked, {"chairman", "group"}) == {"chair", "group"}, "chair/chairman match by prefix"
    assert share(asked, frozenset({"chair", "group"})) == pytest.approx(0.75)
    assert unmatched_idf({"qatar": 8.0, "cup": 3.0}, {"cup"}, 10.0) == pytest.approx(0.8)
    assert unmatched_idf({"cup": 3.0}, {"cup"}, 10.0) == 0.0
    cue = cue_of("How much did the firm pay for the stake?")
    assert required_missing(cue, ["The firm bought a stake."]) == 1.0
    assert required_missing(cue, ["The firm paid £24.5m for the stake."]) == 0.0
    assert required_missing(cue_of("Why did the firm buy the stake?"), ["No number here."]) == 0.0
    text = "The defence secretary, John Healey, is now the chairman of the group."
    chunk = StoredChunk("c1", "d1", "a.txt", "Contact group", text, 0, len(text), ((0, len(text)),))
    unit = np.ones(2, np.float32) / np.sqrt(2)
    found = Found(unit, unit, np.zeros((0, 2), np.float32), (chunk,), unit[None, :],
                  {sentence_id("d1", (0, len(text))): unit}, {}, {})
    [sentence] = features.sentences(analyse("Who chairs the contact group?"), found,
                                    [Candidate(chunk, 1.5, None, None, {})], passages=5)
    f = sentence.features
    assert f["cue"] == 1.0 and f["cue_missing"] == 0.0, f
    assert sentence.covers == {"chair", "group"} and f["first_passage"] == 1.0 and f["passage"] == 1.5, f
    assert f["cos"] == pytest.approx(1.0) and set(f) == set(features.SENTENCE), f


def _weights(**change) -> dict:
    data = json.loads(scoring.WEIGHTS.read_text())
    for name, features_of in change.items():
        m = data["models"][name]
        keep = [i for i, f in enumerate(m["features"]) if f in features_of]
        m["features"] = list(features_of)
        for key in ("mean", "scale", "coef"):
            m[key] = [m[key][i] for i in keep] + [0.0 if key != "scale" else 1.0] * (len(features_of) - len(keep))
    return data


def test_weights_naming_a_feature_the_code_does_not_build_are_refused(tmp_path):
    renamed = tuple("dense_cosine" if f == "dense" else f for f in features.RANKER)
    path = tmp_path / "weights.json"
    path.write_text(json.dumps(_weights(ranker=renamed)))
    with pytest.raises(RuntimeError, match="ranker model weighs features rag.features does not build: dense_cosine"):
        scoring.load(path)
    fewer = tuple(f for f in features.SENTENCE if f != "said")
    path.write_text(json.dumps(_weights(sentence=fewer)))
    with pytest.raises(RuntimeError, match="sentence model lacks features rag.features builds: said"):
        scoring.load(path)


def test_a_row_lacking_a_feature_of_the_model_is_refused():
    ranker = scoring.load().ranker
    row = {f: 0.0 for f in ranker.features if f != "share"}
    with pytest.raises(ValueError, match="ranker model weighs feature 'share', which a row lacks"):
        ranker.logits([row])


def test_abstention_features_see_what_the_archive_lacks():
    """Issue 27: the question's names that no candidate holds (and that the index never
    holds), a year far from every year the passages speak of, a period no dated article
    covers weighed by how much of the archive is dated."""
    from dataclasses import replace

    from rag.reading import Reading

    text = "Sony's PlayStation Portable will go on sale in Japan on 12 December 2004, a year after 2003's launch."
    chunk = StoredChunk("c1", "d1", "tech/112.txt", "Portable PlayStation ready to go", text, 0, len(text),
                        ((0, len(text)),))
    cand = Candidate(chunk, 1.0, None, None, {"dense_own": 0.5})
    asked = analyse("How much did Google pay for Fitbit in 2019?")
    asked = replace(asked, terms={"googl": 6.0, "pay": 2.0, "fitbit": 9.0, "2019": 8.5}, max_idf=9.0)
    assert features.question_names(asked) == ["Google", "Fitbit", "2019"]
    f = features.question_features(asked, [cand], [cand], [])
    assert f["name_missing"] == pytest.approx(8.5 / 9) and f["name_unknown"] == pytest.approx(9.0), f  # fitbit: in no chunk
    assert f["top_names"] == 0.0 and f["year_gap"] == pytest.approx(1.0) and f["year_idf"] == pytest.approx(8.5 / 9)
    assert features.missing_names(asked, [cand]) == [("Fitbit", True), ("2019", False), ("Google", False)]
    assert features.year_gap("Who won in 2005?", [chunk]) == 1.0 and features.year_gap("Who won?", [chunk]) == 0.0
    assert set(f) == set(features.ABSTAIN), set(f) ^ set(features.ABSTAIN)
    # a period no dated article covers counts only as far as the archive is dated
    period = replace(asked, reading=Reading(no_period=True), dated=0.002)
    assert features.question_features(period, [cand], [cand], [])["period_uncovered"] == pytest.approx(0.002)
    assert features.question_features(replace(period, dated=1.0), [cand], [cand], [])["period_uncovered"] == 1.0


def test_a_name_of_several_words_no_passage_holds_together_is_seen():
    """bbc-outside-dev's "How much did Disney pay for 21st Century Fox?": the archive speaks
    of Disney, of Fox and of the 21st century, never of the company in one passage; a
    camel-cased name ("iPad") is a name too."""
    def candidate(n: int, text: str, question) -> Candidate:
        chunk = StoredChunk(f"c{n}", f"d{n}", f"business/00{n}.txt", "Media", text, 0, len(text), ((0, len(text)),))
        return Candidate(chunk, 1.0, None, None, {"dense_own": 0.5}, covers=features.Matcher(question.terms).held(text))

    asked = analyse("How much did Disney pay for 21st Century Fox?")
    apart = [candidate(1, "Disney said the 21st century belongs to cable.", asked),
             candidate(2, "Fox agreed to buy the network.", asked)]
    assert features.names_apart(asked, apart) == ["21st Century Fox"]
    assert features.question_features(asked, apart, apart, [])["name_apart"] == 1.0
    held = apart + [candidate(3, "Shares in 21st Century Fox rose.", asked)]
    assert features.names_apart(asked, held) == []
    assert features.question_features(asked, held, held, [])["name_apart"] == 0.0
    one = analyse("What did Disney say about Fox?")  # names of one word are name_missing's
    assert features.names_apart(one, [candidate(1, "Disney said so.", one), candidate(2, "Fox did.", one)]) == []
    assert "iPad" in features.question_names(analyse("When was the first iPad released?"))
