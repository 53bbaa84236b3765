"""The machine report printed beside every figure: the CPU flags that pick the encoder and
reader paths."""

from __future__ import annotations

import os

from index.machine import cpu_features, machine
from index.onnx_encoder import bf16_available

SAPPHIRE_RAPIDS = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_bf16 amx_bf16 amx_tile amx_int8

processor\t: 1
model name\t: a second processor, not read
"""
EPYC_GENOA = "model name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni avx512_bf16\n"
AVX2_ONLY = "model name\t: AMD EPYC 7B12\nflags\t\t: fpu sse2 avx avx2 fma\n"


def test_cpu_features_name_the_extensions_that_pick_the_encoder_path() -> None:
    assert cpu_features(SAPPHIRE_RAPIDS) == {
        "cpu": "Intel(R) Xeon(R) Platinum 8480+",
        "amx": True,
        "avx512": True,
        "avx2": True,
        "bf16": True,
        "int8_dot": True,
    }
    assert cpu_features(EPYC_GENOA) == {
        "cpu": "AMD EPYC",
        "amx": False,
        "avx512": True,
        "avx2": True,
        "bf16": True,
        "int8_dot": True,
    }
    assert cpu_features(AVX2_ONLY) == {
        "cpu": "AMD EPYC 7B12",
        "amx": False,
        "avx512": False,
        "avx2": True,
        "bf16": False,
        "int8_dot": False,
    }


def test_machine_reports_this_cpu_and_the_encoder_path_chosen_here() -> None:
    report = machine("onnx")
    assert report["cores"] == os.cpu_count()
    assert report["cpu"]
    assert report["encoder"]["questions"] == "int8 ONNX Runtime"
    ingests = "bf16 OpenVINO" if bf16_available() else "int8 ONNX Runtime"
    assert report["encoder"]["ingests"] == ingests
    assert machine("torch")["encoder"] == {"questions": "float PyTorch", "ingests": "float PyTorch"}
    assert "encoder" not in machine()
