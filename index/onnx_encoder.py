"""MiniLM through ONNX Runtime with int8 weights: the serving encoder, about 10x faster per query.

The ONNX file is exported once from the same local weights the PyTorch encoder uses (on first
start, or by ``article-qa export-model`` at install), with pooling and normalisation inside the
graph, then its matrix weights are quantised to int8 per output channel. Serving imports only
ONNX Runtime and the Rust tokenizer: no PyTorch, so start-up is fast too. Vectors differ slightly
from the float model's, so the encoder has its own name and stored vectors are rebuilt on a switch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.encoder import (
    DEFAULT_MODEL,
    ModelUnavailableError,
    Progress,
    Vectors,
    encode_in_chunks,
    resolve_model_path,
)

logger = logging.getLogger(__name__)

# Bump when the export or quantisation changes: cached files are then rebuilt.
EXPORT_VERSION = 1
BACKEND_SUFFIX = "#onnx-int8"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _pooling(model_path: Path) -> str:
    """Mean or CLS pooling, as the sentence-transformers config says."""
    config_path = model_path / "1_Pooling" / "config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    if config.get("pooling_mode_cls_token"):
        return "cls"
    if config.get("pooling_mode_mean_tokens", True):
        return "mean"
    raise ModelUnavailableError(
        f"{model_path} uses a pooling the ONNX backend does not export; "
        "set ARTICLE_QA_BACKEND=torch"
    )


def _max_tokens(model_path: Path) -> int:
    config_path = model_path / "sentence_bert_config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    return int(config.get("max_seq_length", 256))


def cached_model_path(model_path: Path, cache_dir: Path) -> Path:
    """Where the int8 export of these weights lives: keyed by the weights' size and mtime."""
    weights = sorted(
        (p.name, p.stat().st_size, p.stat().st_mtime_ns)
        for p in model_path.iterdir()
        if p.suffix in {".safetensors", ".bin", ".json"}
    )
    key = hashlib.sha256(repr((str(model_path), weights, EXPORT_VERSION)).encode()).hexdigest()
    return cache_dir / f"{model_path.name}-{key[:12]}" / "model-int8.onnx"


def export_int8(model_path: Path, target: Path) -> None:
    """Export the model with its pooling to ONNX and quantise it; written atomically.

    Needs PyTorch and transformers, which are imported here only (offline: the weights are local).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

    pooling = _pooling(model_path)
    model = AutoModel.from_pretrained(str(model_path)).eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model  # a submodule, so its weights export as parameters

        def forward(self, ids: Any, mask: Any, types: Any) -> Any:
            hidden = self.model(input_ids=ids, attention_mask=mask, token_type_ids=types)
            states = hidden.last_hidden_state
            if pooling == "cls":
                pooled = states[:, 0]
            else:
                weights = mask.unsqueeze(-1).to(states.dtype)
                pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    target.parent.mkdir(parents=True, exist_ok=True)
    example = torch.ones((1, 8), dtype=torch.int64)
    axes = {name: {0: "batch", 1: "tokens"} for name in _INPUTS} | {"embedding": {0: "batch"}}
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
        float_path, prepared = Path(tmp) / "float.onnx", Path(tmp) / "prepared.onnx"
        torch.onnx.export(
            Pooled().eval(),
            (example, example, torch.zeros_like(example)),
            str(float_path),
            input_names=list(_INPUTS),
            output_names=["embedding"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
        quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
        # Per-channel int8 keeps cosines to the float model at ~0.99 (per-tensor: ~0.96).
        partial = Path(tmp) / "int8.onnx"
        quantize_dynamic(prepared, partial, weight_type=QuantType.QInt8, per_channel=True)
        partial.replace(target)


class OnnxEncoder:
    """Int8 MiniLM on ONNX Runtime, with its threads pinned.

    Two sessions over the same file: questions on ``threads`` (one is fastest for a single short
    text on a busy machine), ingests on ``ingest_threads`` (big batches use every core).
    """

    def __init__(
        self,
        name: str = DEFAULT_MODEL,
        cache_dir: Path = Path("var/models"),
        threads: int = 1,
        ingest_threads: int = 2,
        batch_size: int = 32,
    ) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        model_path = resolve_model_path(name)
        onnx_path = cached_model_path(model_path, cache_dir)
        if not onnx_path.is_file():
            logger.info("exporting %s to int8 ONNX at %s (once)", name, onnx_path)
            export_int8(model_path, onnx_path)

        def session(threads: int) -> Any:
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
            return onnxruntime.InferenceSession(
                str(onnx_path), options, providers=["CPUExecutionProvider"]
            )

        self._queries = session(threads)
        self._documents = session(ingest_threads) if ingest_threads != threads else self._queries
        self._tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        self._tokenizer.enable_truncation(_max_tokens(model_path))
        self._tokenizer.enable_padding()
        self.name = name + BACKEND_SUFFIX
        self.dim = int(self._encode(self._queries, ["dimension probe"]).shape[1])
        self._batch_size = batch_size

    def _encode(self, session: Any, texts: Sequence[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        feeds = {
            "input_ids": ids,
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.zeros_like(ids),
        }
        (vectors,) = session.run(["embedding"], feeds)
        return np.asarray(vectors, dtype=np.float32)

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encode(self._queries, texts)

    def encode_documents(self, texts: Sequence[str], progress: Progress | None = None) -> Vectors:
        # Sorted by length, so each batch pads to similar lengths (much less wasted work).
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = encode_in_chunks(
            [texts[i] for i in order],
            lambda batch: self._encode(self._documents, batch),
            self.dim,
            self._batch_size,
            progress,
        )
        result = np.empty_like(vectors)
        result[order] = vectors
        return result
