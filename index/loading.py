"""The real encoder the settings ask for: int8 ONNX (served by default) or PyTorch."""

from __future__ import annotations

from pathlib import Path

from index.encoder import (
    BACKENDS,
    DEFAULT_BACKEND,
    DEFAULT_CACHE,
    DEFAULT_MODEL,
    Backend,
    Encoder,
    ModelUnavailableError,
)
from index.onnx_encoder import OnnxEncoder
from index.torch_encoder import SentenceTransformerEncoder  # imports PyTorch only when built


def load_encoder(
    name: str = DEFAULT_MODEL,
    backend: Backend = DEFAULT_BACKEND,
    threads: int = 1,
    cache_dir: Path = DEFAULT_CACHE,
    ingest_threads: int = 2,
) -> Encoder:
    """The real encoder: int8 ONNX (fast; the default) or PyTorch (the float reference).

    ``cache_dir`` holds the shipped model's assembly and the one-time ONNX export;
    ``ingest_threads`` applies to ONNX only
    (PyTorch's thread count is global to the process).
    """
    if backend == "torch":
        return SentenceTransformerEncoder(name, threads=threads, cache_dir=cache_dir)
    if backend == "onnx":
        return OnnxEncoder(name, cache_dir, threads=threads, ingest_threads=ingest_threads)
    raise ModelUnavailableError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
