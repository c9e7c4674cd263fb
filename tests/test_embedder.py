"""The ONNX encoder gives the model's own vectors, exports once, and survives a bad cache.

Real model, real export: the first test in a module pays one export (a few seconds)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from store.embedder import (
    OnnxEncoder,
    SentenceTransformerEmbedder,
    export_key,
    export_path,
    model_identity,
    resolve_model,
)

REPO = Path(__file__).resolve().parents[1]
TEXTS = [
    "Who chairs the Ukraine Defense Contact Group?",
    "a",
    "",
    "   spaces around   ",
    "Élan vital, naïve café, 東京 🙂",
    "Trump said Tuesday that the U.S. may provide air support for Ukraine. " * 40,  # past 256 tokens
]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def cache(tmp_path_factory, embedder) -> Path:
    """A cache folder holding the default model's export: a copy of the one the session's
    model made or found in its own cache (exporting again would take seconds; the export
    itself is tested below: two processes at once, and a corrupt file made again)."""
    path = tmp_path_factory.mktemp("onnx-cache")
    made = export_path(Path(resolve_model(None)), embedder.cache_dir)
    assert made.is_file(), f"the session's model left no export at {made}"
    shutil.copy(made, path / made.name)
    return path


@pytest.mark.slow
def test_onnx_vectors_match_sentence_transformers(embedder, cache):
    onnx = SentenceTransformerEmbedder(cache_dir=cache)
    reference = embedder.model.encode(TEXTS, convert_to_numpy=True, normalize_embeddings=True)
    batched = onnx.encode(TEXTS)
    one_by_one = np.stack([onnx.encode([t])[0] for t in TEXTS])
    assert isinstance(onnx._onnx, OnnxEncoder)
    assert onnx._model is None, "encode() should not have loaded sentence-transformers"
    assert onnx.dimension == 384 and onnx._model is None
    for name, got in (("batched", batched), ("one by one", one_by_one)):
        assert got.shape == (len(TEXTS), 384) and got.dtype == np.float32
        cos = cosines(got, reference)
        assert cos.min() >= 0.9999, f"{name}: cosine to SentenceTransformer.encode {cos.round(6).tolist()}"
        assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_the_export_is_cached_and_reused_and_questions_import_no_torch(cache):
    (model_file,) = cache.glob("*.onnx")
    assert model_file == export_path(Path(resolve_model(None)), cache)
    before = model_file.stat()
    again = SentenceTransformerEmbedder(cache_dir=cache)
    again.encode(["Who chairs the Ukraine Defense Contact Group?"])
    after = model_file.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), "the export was redone"
    assert sorted(p.name for p in cache.iterdir()) == [model_file.name], "a temp file was left behind"

    # a fresh process: the question path loads the cached file with onnxruntime alone
    code = (
        "import sys; from store.embedder import SentenceTransformerEmbedder as E; "
        f"v = E(cache_dir={str(cache)!r}).encode(['Who chairs the group?']); "
        "print(v.shape, sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(1, 384) []", out.stdout


def test_a_model_folder_that_does_not_exist_is_refused_before_torch_loads(tmp_path):
    """A mistyped --model path: the one-line error comes at once, not after importing
    torch and sentence-transformers (~5 s) to find out."""
    code = (
        "import sys; from store.embedder import SentenceTransformerEmbedder as E\n"
        "try:\n"
        f"    E(model={str(tmp_path / 'no-model')!r}).model\n"
        "except Exception as err:\n"
        "    print(type(err).__name__, '|', err)\n"
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr
    error, loaded = out.stdout.strip().splitlines()
    assert error.startswith("StoreError | cannot load embedding model ") and "(FileNotFoundError)" in error, error
    assert loaded == "[]", f"loaded to learn that a folder is missing: {loaded}"


def test_the_cache_key_follows_the_model_folder(tmp_path):
    folder = Path(resolve_model(None))
    copy = tmp_path / "model"
    copy.mkdir()
    for p in folder.iterdir():
        (copy / p.name).symlink_to(p)
    assert export_key(folder) == export_key(folder)
    assert export_key(copy) != export_key(folder), "another folder must not reuse the export"
    (copy / "config.json").unlink()
    config = json.loads((folder / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "layer_norm_eps": 1e-6}))
    changed = export_key(copy)
    (copy / "config.json").write_text(json.dumps(config))
    assert changed != export_key(copy), "a changed config must change the key"
    assert export_path(folder, tmp_path, quantize=True).name.endswith(".int8.onnx")


def test_the_model_an_index_records_is_the_same_under_another_path_and_differs_for_another(tmp_path):
    folder = Path(resolve_model(None))
    copy = tmp_path / "model"
    shutil.copytree(folder, copy, symlinks=True, ignore=lambda d, names: ["config.json"] if Path(d) == folder else [])
    config = json.loads((folder / "config.json").read_text())
    (copy / "config.json").write_text((folder / "config.json").read_text())
    assert model_identity(None) == model_identity(str(copy)) == model_identity("all-MiniLM-L6-v2")
    assert model_identity(None, quantize=True) != model_identity(None), "int8 vectors drift"
    (copy / "config.json").write_text(json.dumps({**config, "hidden_act": "relu"}))
    assert model_identity(str(copy)) != model_identity(None)
    assert model_identity(str(tmp_path / "no-model")) is None  # cannot load: its load says so


@pytest.mark.slow
def test_a_corrupt_cached_export_is_exported_again(embedder, cache, tmp_path, caplog):
    good = export_path(Path(resolve_model(None)), cache)
    bad = export_path(Path(resolve_model(None)), tmp_path)
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # as if cut off mid-copy
    with caplog.at_level(logging.WARNING, logger="store.embedder"):
        vectors = SentenceTransformerEmbedder(cache_dir=tmp_path).encode(TEXTS[:2])
    assert "does not load" in caplog.text, caplog.text
    assert bad.stat().st_size == good.stat().st_size, "the torn file should have been replaced"
    reference = embedder.model.encode(TEXTS[:2], convert_to_numpy=True, normalize_embeddings=True)
    assert cosines(vectors, reference).min() >= 0.9999


@pytest.mark.slow
def test_two_processes_exporting_at_once_leave_one_whole_file(tmp_path):
    code = ("from store.embedder import SentenceTransformerEmbedder as E; "
            f"print(E(cache_dir={str(tmp_path)!r}).encode(['x']).shape)")
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    assert [out.strip() for out, _ in outs] == ["(1, 384)"] * 2
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [export_path(Path(resolve_model(None)), tmp_path).name], files
    assert OnnxEncoder.open(resolve_model(None), tmp_path) is not None


@pytest.mark.slow
def test_spans_pool_to_the_same_chunk_and_sentence_vectors_as_torch(embedder, cache):
    texts = [
        "Austin met allies in Brussels. They pledged air defence. Ukraine asked for more.",
        "One sentence only, with a café in it.",
        "No spans here.",
        "A long opening sentence about the contact group and its members. " * 30 + "A sentence past the limit.",
    ]
    spans = []
    for text in texts[:2]:
        at, cuts = 0, []
        for part in text.split(". "):
            end = text.index(part, at) + len(part)
            cuts.append((text.index(part, at), end))
            at = end
        spans.append(cuts)
    spans.append([])
    spans.append([(0, 65), (len(texts[3]) - 26, len(texts[3]))])  # the second one is truncated away
    onnx = SentenceTransformerEmbedder(cache_dir=cache, batch_size=2)
    torch_path = SentenceTransformerEmbedder(cache_dir=cache, batch_size=2, onnx_ingest=False)
    torch_path._model = embedder.model
    done = []
    got_chunks, got_spans = onnx.encode_with_spans(texts, spans, progress=done.append)
    want_chunks, want_spans = torch_path.encode_with_spans(texts, spans)
    assert sum(done) == len(texts)
    assert onnx._model is None, "ingest through ONNX should not load sentence-transformers"
    reference = embedder.model.encode(texts, convert_to_numpy=True, normalize_embeddings=True)
    assert cosines(got_chunks, reference).min() >= 0.9999
    assert cosines(want_chunks, reference).min() >= 0.9999
    for i, (got, want) in enumerate(zip(got_spans, want_spans)):
        assert got.shape == want.shape == (len(spans[i]), 384), (i, got.shape, want.shape)
        if len(got):
            cos = cosines(got, want)
            assert cos.min() >= 0.9999, f"text {i}: sentence vectors' cosine to torch's {cos.tolist()}"
    # the truncated sentence was encoded on its own
    alone = embedder.model.encode([texts[3][spans[3][1][0]:]], convert_to_numpy=True, normalize_embeddings=True)
    assert cosines(got_spans[3][1:], alone).min() >= 0.9999


@pytest.mark.slow
def test_int8_is_an_option_cached_apart(cache):
    fp32 = SentenceTransformerEmbedder(cache_dir=cache)
    int8 = SentenceTransformerEmbedder(cache_dir=cache, quantize=True)
    a, b = fp32.encode(TEXTS), int8.encode(TEXTS)
    assert int8._onnx.model_file.name.endswith(".int8.onnx")
    assert int8._onnx.model_file != fp32._onnx.model_file
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    cos = cosines(a, b)
    assert 0.7 < cos.min() and cos.mean() < 0.9999, f"int8 against fp32: {cos.round(4).tolist()}"


def test_other_architectures_fall_back_to_sentence_transformers(tmp_path, caplog):
    (tmp_path / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "xlm-roberta", "hidden_act": "gelu"}))
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    (tmp_path / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 128}))
    with caplog.at_level(logging.INFO, logger="store.embedder"):
        assert OnnxEncoder.open(str(tmp_path), tmp_path / "cache") is None
        assert OnnxEncoder.open("some-hub-name/not-a-folder", tmp_path / "cache") is None
    assert "model_type 'xlm-roberta'" in caplog.text and "not a local model folder" in caplog.text, caplog.text
    assert not (tmp_path / "cache").exists(), "nothing should have been exported"
