"""Benchmarks over the real pipeline.

Math libraries are pinned to one thread here, before numpy, faiss or torch load, so latencies are
comparable on a small shared machine (one thread per core is badly slow when a core is busy).
"""

import argparse
import os
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from typing import Any

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")


import httpx  # noqa: E402

from index.encoder import BACKENDS, DEFAULT_BACKEND, Backend, Encoder, load_encoder  # noqa: E402


def add_backend_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend", choices=BACKENDS, default=DEFAULT_BACKEND, help="encoder backend"
    )


def bench_encoder(backend: Backend) -> Encoder:
    """The real encoder as the service loads it by default, but with one thread."""
    from service.settings import Settings

    return load_encoder(backend=backend, threads=1, cache_dir=Settings().model_cache)


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
