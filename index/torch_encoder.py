"""MiniLM through sentence-transformers: the float reference.

``ARTICLE_QA_BACKEND=torch`` serves it; it is also what the ONNX export is checked against.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.encoder import (
    DEFAULT_CACHE,
    DEFAULT_MODEL,
    PROGRESS_CHUNK,
    Embedding,
    ModelUnavailableError,
    Progress,
    TokenMatrix,
    Vectors,
    document_model,
    encode_in_chunks,
    resolve_model_path,
)

logger = logging.getLogger(__name__)


class SentenceTransformerEncoder:
    """sentence-transformers model loaded from local files, with math threads pinned."""

    def __init__(
        self,
        name: str = DEFAULT_MODEL,
        threads: int = 1,
        batch_size: int = 64,
        cache_dir: Path = DEFAULT_CACHE,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        # No weight-loading progress bar in CLI output (the function is untyped upstream).
        transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]

        # One thread per core by default is badly slow when another process holds a core.
        torch.set_num_threads(threads)
        path = resolve_model_path(name, cache_dir)
        logger.info("loading embedding model %s from %s", name, path)
        self._model = SentenceTransformer(str(path), device="cpu")
        student = document_model(name, cache_dir)
        self._articles = (
            SentenceTransformer(str(student[0]), device="cpu") if student else self._model
        )
        self.name = name + (f"+{student[1]}" if student else "")
        dim = self._model.get_embedding_dimension()
        if dim is None:
            raise ModelUnavailableError(f"model {name!r} does not report an embedding size")
        self.dim = int(dim)
        self._batch_size = batch_size

    def _encode(self, texts: Sequence[str], model: Any) -> tuple[Vectors, list[TokenMatrix]]:
        """Unit pooled vectors and each text's unit token vectors, from one forward pass of
        ``model`` (the questions' or the articles')."""
        if not texts:
            return np.zeros((0, self.dim), np.float32), []
        out: list[dict[str, Any]] = model.encode(
            list(texts),
            batch_size=self._batch_size,
            output_value=None,
            convert_to_numpy=False,
            show_progress_bar=False,
        )
        pooled = np.stack([o["sentence_embedding"].float().numpy() for o in out])
        pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
        tokens = []
        for o in out:
            states = o["token_embeddings"].float().numpy()[: int(o["attention_mask"].sum())]
            tokens.append(states / np.linalg.norm(states, axis=1, keepdims=True))
        return pooled.astype(np.float32), tokens

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts, self._model)[0]

    def encode_question(self, text: str) -> tuple[Vectors, TokenMatrix]:
        vectors, tokens = self._encode([text], self._model)
        return vectors, tokens[0]

    def encode_documents(self, texts: Sequence[str], progress: Progress | None = None) -> Embedding:
        def encode(chunk: Sequence[str]) -> tuple[Vectors, list[TokenMatrix]]:
            return self._encode(chunk, self._articles)

        return encode_in_chunks(texts, encode, self.dim, PROGRESS_CHUNK, progress)
