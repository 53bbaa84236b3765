"""Benchmarks over the real pipeline.

Math libraries are pinned to one thread here, before numpy, faiss or torch load, so latencies are
comparable on a small shared machine (one thread per core is badly slow when a core is busy).
"""

import argparse
import os
import platform
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")


import httpx  # noqa: E402

from index.encoder import BACKENDS, DEFAULT_BACKEND, DEFAULT_MODEL, Backend, Encoder  # noqa: E402
from index.loading import load_encoder  # noqa: E402
from index.onnx_encoder import INT8_DOT_FLAGS  # noqa: E402
from index.reader import Reader  # noqa: E402


def add_backend_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend", choices=BACKENDS, default=DEFAULT_BACKEND, help="encoder backend"
    )


def bench_encoder(backend: Backend, model: str | None = None) -> Encoder:
    """The real encoder as the service loads it by default, but with one thread; ``model``: another
    embedding model (a name or a local directory) instead of the bundled one."""
    from service.settings import Settings

    name = DEFAULT_MODEL if model is None else model
    return load_encoder(name, backend=backend, threads=1, cache_dir=Settings().model_cache)


def free_port() -> int:
    """A free TCP port on loopback, for a benchmark's own server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def wait_ready(
    client: httpx.Client, process: subprocess.Popen[bytes], timeout: float, poll: float = 0.02
) -> bool:
    """Poll /readyz until it answers 200 (True), or the server exits or time runs out (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if client.get("/readyz").status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(poll)
    return False


# A measure named by its dotted path in a benchmark's result, "<=" or ">=", and the limit.
Target = tuple[str, str, float]


def check_targets(result: Mapping[str, Any], targets: Sequence[Target]) -> list[dict[str, Any]]:
    """Each target with what was measured and whether it is met, for the printed report."""
    checked = []
    for path, relation, limit in targets:
        value: Any = result
        for key in path.split("."):
            value = value[key]
        met = value <= limit if relation == "<=" else value >= limit
        checked.append(
            {"measure": path, "target": f"{relation} {limit:g}", "measured": value, "met": met}
        )
    return checked


def add_reader_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-reader", action="store_true", help="the first stage alone (the cheaper mode)"
    )
    parser.add_argument(
        "--reader",
        type=Path,
        help="reader file (default: the one the service picks on this CPU, index.reader."
        "default_reader: reader.json or reader-fast.json)",
    )


def bench_reader(args: argparse.Namespace, answerability: bool = True) -> Reader | None:
    """The reader as the service loads it (one thread; ``--reader`` or the shipped one for this
    CPU), unless ``--no-reader``; ``answerability=False``: without its answerability model (to
    be fitted)."""
    if args.no_reader:
        return None
    return Reader(args.reader, threads=1, answerability=answerability)


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
    from index.onnx_encoder import bf16_available

    ingests = "bf16 OpenVINO" if bf16_available() else "int8 ONNX Runtime"
    return {"questions": "int8 ONNX Runtime", "ingests": ingests}


def machine(backend: str | None = None) -> dict[str, Any]:
    """The machine a benchmark ran on, printed beside every time and rate it reports: the same
    code is several times faster on a CPU with AMX than on one with AVX2 alone. With a backend,
    also the encoder path it takes here."""
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
