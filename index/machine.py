"""The machine the product runs on, as benchmarks and model cards record it.

The same code is several times faster on a CPU with AMX than on one with AVX2 alone, and the
encoder and reader pick their paths by these same flags, so every time, rate and trained model
is reported beside them.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from index.onnx_encoder import INT8_DOT_FLAGS, bf16_available


def cpu_features(cpuinfo: str) -> dict[str, Any]:
    """The CPU model and the extensions that decide the encoder and reader paths and their speed,
    from the text of /proc/cpuinfo (its first processor)."""
    first = cpuinfo.split("\n\n", 1)[0]
    fields = {
        k.strip(): v.strip() for k, _, v in (line.partition(":") for line in first.split("\n"))
    }
    flags = set(fields.get("flags", "").split())
    return {
        "cpu": fields.get("model name") or platform.processor() or platform.machine(),
        "amx": {"amx_tile", "amx_bf16"} <= flags,
        "avx512": "avx512f" in flags,
        "avx2": "avx2" in flags,
        "bf16": bool({"avx512_bf16", "amx_bf16"} & flags),
        "int8_dot": bool(INT8_DOT_FLAGS & flags),
    }


def encoder_paths(backend: str) -> dict[str, str]:
    """What runs questions and what runs ingests for ``backend`` on this CPU, chosen as the
    service chooses (``OnnxEncoder`` ingests in bf16 where ``bf16_available()``)."""
    if backend == "torch":
        return {"questions": "float PyTorch", "ingests": "float PyTorch"}
    ingests = "bf16 OpenVINO" if bf16_available() else "int8 ONNX Runtime"
    return {"questions": "int8 ONNX Runtime", "ingests": ingests}


def machine(backend: str | None = None) -> dict[str, Any]:
    """This machine's CPU, cores and extensions; with a backend, also the encoder path it takes
    here."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux
        cpuinfo = ""
    info = {**cpu_features(cpuinfo), "cores": os.cpu_count()}
    if isa := os.environ.get("ONEDNN_MAX_CPU_ISA"):  # an older CPU emulated, for OpenVINO only
        info["onednn_max_cpu_isa"] = isa
    if backend is not None:
        info["encoder"] = encoder_paths(backend)
    return info
