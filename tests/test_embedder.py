"""The question encoder that skips sentence-transformers gives the model's own vectors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from store.embedder import BertMeanEncoder, SentenceTransformerEmbedder, resolve_model

TEXTS = [
    "Who chairs the Ukraine Defense Contact Group?",
    "a",
    "",
    "   spaces around   ",
    "Élan vital, naïve café, 東京 🙂",
    "Trump said Tuesday that the U.S. may provide air support for Ukraine. " * 40,  # past 256 tokens
]


@pytest.mark.slow
def test_fast_encoder_matches_sentence_transformers(embedder):
    fast = BertMeanEncoder.load(resolve_model(None))
    assert fast is not None, "the default model folder should be run by BertMeanEncoder"
    reference = embedder.model.encode(TEXTS, convert_to_numpy=True, normalize_embeddings=True)
    batched = fast.encode(TEXTS)
    one_by_one = np.stack([fast.encode([t])[0] for t in TEXTS])
    for name, got in (("batched", batched), ("one by one", one_by_one)):
        diff = np.abs(got - reference).max()
        assert diff < 1e-5, f"{name}: max abs difference {diff} from SentenceTransformer.encode"


@pytest.mark.slow
def test_embedder_encode_uses_the_fast_path_and_loads_no_sentence_transformer():
    embedder = SentenceTransformerEmbedder()
    vectors = embedder.encode(["Who chairs the Ukraine Defense Contact Group?"])
    assert vectors.shape == (1, 384) and vectors.dtype == np.float32
    assert abs(float(np.linalg.norm(vectors[0])) - 1.0) < 1e-5
    assert isinstance(embedder._fast, BertMeanEncoder)
    assert embedder._model is None, "encode() should not have loaded sentence-transformers"


def test_other_architectures_fall_back_to_sentence_transformers(tmp_path):
    (tmp_path / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "xlm-roberta", "hidden_act": "gelu"}))
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    (tmp_path / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 128}))
    assert BertMeanEncoder.load(str(tmp_path)) is None
    assert BertMeanEncoder.load("some-hub-name/not-a-folder") is None


@pytest.mark.slow
def test_after_an_ingest_questions_use_the_loaded_weights(embedder):
    fresh = SentenceTransformerEmbedder()
    fresh._model = embedder.model  # as after an ingest in this process
    vector = fresh.encode([TEXTS[0]])
    reference = embedder.model.encode([TEXTS[0]], convert_to_numpy=True, normalize_embeddings=True)
    assert isinstance(fresh._fast, BertMeanEncoder)
    assert fresh._fast.w["embeddings.word_embeddings.weight"].data_ptr() == (
        embedder.model[0].auto_model.embeddings.word_embeddings.weight.data_ptr()
    ), "the fast encoder should share the loaded model's weights, not hold a copy"
    assert np.abs(vector - reference).max() < 1e-5
