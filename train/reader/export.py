"""The trained reader as the product reads it: ONNX, weights quantised to int8 per output
channel; and back, so a shipped reader can be fine-tuned further."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from index.onnx_encoder import quantize_int8


def export_float(model: Any, target: Path) -> None:
    """The trained model as a float ONNX graph (its outputs: relevance, start, end)."""
    import warnings

    import torch

    names = ["input_ids", "attention_mask", "token_type_ids"]
    example = torch.ones((2, 12), dtype=torch.int64)
    types = torch.zeros_like(example)
    types[:, 6:] = 1
    axes = {n: {0: "batch", 1: "tokens"} for n in names} | {
        "relevance": {0: "batch"},
        "start": {0: "batch", 1: "tokens"},
        "end": {0: "batch", 1: "tokens"},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example, torch.ones_like(example), types),
            str(target),
            input_names=names,
            output_names=["relevance", "start", "end"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )


def export(model: Any, target: Path) -> None:
    """ONNX of the trained model, weights quantised to int8 per output channel; atomically."""
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        plain = Path(tmp) / "float.onnx"
        export_float(model, plain)
        partial = Path(tmp) / "int8.onnx"
        quantize_int8(plain, partial)
        partial.replace(target)


def dequantised(onnx_path: Path, model: Any) -> dict[str, Any]:
    """The state dict of ``model`` (``train.reader.model.build_model``'s architecture) with the
    weights of an int8 reader ONNX written by ``export``, dequantised.

    The exporter names most matrix weights by graph position (``onnx::MatMul_542``), so they are
    matched through a float export of ``model`` itself, whose initializers are its own weights
    transposed. The frozen word embeddings are kept as they are in ``model`` (never trained)."""
    import onnx
    import torch
    from onnx import numpy_helper

    def arrays(path: Path) -> dict[str, np.ndarray[Any, Any]]:
        graph = onnx.load(str(path)).graph
        return {t.name: numpy_helper.to_array(t) for t in graph.initializer}

    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    with tempfile.TemporaryDirectory() as tmp:
        export_float(model, Path(tmp) / "float.onnx")
        plain = arrays(Path(tmp) / "float.onnx")
    quantised = arrays(onnx_path)

    def weight(name: str) -> np.ndarray[Any, Any]:
        if name in quantised:
            return quantised[name].astype(np.float32)
        data = quantised[f"{name}_quantized"].astype(np.float32)
        zero = quantised[f"{name}_zero_point"].astype(np.float32)
        return np.asarray((data - zero) * quantised[f"{name}_scale"], dtype=np.float32)

    by_value = {}
    for name, array in plain.items():
        if array.dtype == np.float32 and array.ndim == 2:
            by_value[array.T.tobytes()] = name
    for key, tensor in state.items():
        if key == "bert.embeddings.word_embeddings.weight":
            continue
        if f"{key}_Transposed_quantized" in quantised:  # a Gemm's weight, quantised as MatMul's
            value = weight(f"{key}_Transposed").T
        elif f"{key}_quantized" in quantised or key in quantised:
            value = weight(key)
        else:
            found = by_value.get(tensor.numpy().astype(np.float32).tobytes())
            if found is None:
                raise ValueError(f"{onnx_path}: no weight for {key}")
            value = weight(found).T
        if tuple(value.shape) != tuple(tensor.shape):
            raise ValueError(f"{onnx_path}: {key} is {value.shape}, not {tuple(tensor.shape)}")
        state[key] = torch.from_numpy(np.ascontiguousarray(value))
    return state
