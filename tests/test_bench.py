"""The benchmarks' target check and machine report: printed beside the numbers."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from bench import check_targets, cpu_features, machine
from index.encoder import DEFAULT_CACHE
from index.onnx_encoder import bf16_available


def test_targets_are_checked_in_both_directions() -> None:
    result = {"p50": 7.5, "ingest": {"per_s": 380}}
    checked = check_targets(result, [("p50", "<=", 8), ("ingest.per_s", ">=", 400)])
    assert checked == [
        {"measure": "p50", "target": "<= 8", "measured": 7.5, "met": True},
        {"measure": "ingest.per_s", "target": ">= 400", "measured": 380, "met": False},
    ]


def test_a_target_on_the_limit_is_met() -> None:
    assert check_targets({"recall": 0.95}, [("recall", ">=", 0.95)])[0]["met"] is True


# /proc/cpuinfo's first processor on three kinds of machine, trimmed to the fields read.
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


def test_speed_serves_the_baseline_path_from_the_other_checkout(tmp_path: Path) -> None:
    """The build before is measured in the same run as today's: its server runs that
    checkout's code with this checkout's model cache (no second export)."""
    from bench import speed

    args = argparse.Namespace(baseline=tmp_path / "before", reader=tmp_path / "r.json")
    settings, code = speed.path_settings("baseline", args)
    assert code == (tmp_path / "before").resolve()
    assert settings == speed.PATHS["product"] | {
        "ARTICLE_QA_MODEL_CACHE": str(DEFAULT_CACHE.resolve())
    }
    settings, code = speed.path_settings("reader-file", args)
    assert code is None
    assert settings["ARTICLE_QA_READER_WEIGHTS"] == str((tmp_path / "r.json").resolve())
    assert speed.path_settings("product", args) == (speed.PATHS["product"], None)
    with pytest.raises(SystemExit, match="--baseline DIR"):
        speed.path_settings("baseline", argparse.Namespace(baseline=None, reader=None))
