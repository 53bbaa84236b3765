"""MiniLM through sentence-transformers: the float reference.

``ARTICLE_QA_BACKEND=torch`` serves it; it is also what the ONNX export is checked against.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from index.encoder import (
    DEFAULT_CACHE,
    DEFAULT_MODEL,
    PROGRESS_CHUNK,
    ModelUnavailableError,
    Progress,
    Vectors,
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
        self.name = name
        dim = self._model.get_embedding_dimension()
        if dim is None:
            raise ModelUnavailableError(f"model {name!r} does not report an embedding size")
        self.dim = int(dim)
        self._batch_size = batch_size

    def _encode(self, texts: Sequence[str]) -> Vectors:
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts)

    def encode_documents(self, texts: Sequence[str], progress: Progress | None = None) -> Vectors:
        return encode_in_chunks(texts, self._encode, self.dim, PROGRESS_CHUNK, progress)
