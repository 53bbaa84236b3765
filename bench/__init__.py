"""Benchmarks over the real pipeline.

Math libraries are pinned to one thread here, before numpy, faiss or torch load, so latencies are
comparable on a small shared machine (one thread per core is badly slow when a core is busy).
"""

import argparse
import json
import os
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
from index.reader import Reader  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.state import real_encoder  # noqa: E402


def add_backend_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend", choices=BACKENDS, default=DEFAULT_BACKEND, help="encoder backend"
    )


def bench_encoder(backend: Backend, model: str | None = None) -> Encoder:
    """The real encoder as the service loads it by default, but with one thread; ``model``: another
    embedding model (a name or a local directory) instead of the bundled one."""
    name = DEFAULT_MODEL if model is None else model
    return real_encoder(Settings(model=name, backend=backend, threads=1))


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
    """Each target with what was measured and whether it is met, for the printed report; a
    measure that was skipped (not in ``result``: its data is missing) is neither."""
    checked = []
    for path, relation, limit in targets:
        value: Any = result
        for key in path.split("."):
            value = value.get(key) if isinstance(value, Mapping) else None
        met = None
        if value is not None:
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
        help="reader file (default: the one the service serves, index/data/reader.json)",
    )


def bench_reader(args: argparse.Namespace, answerability: bool = True) -> Reader | None:
    """The reader as the service loads it (one thread; ``--reader`` or the shipped one), unless
    ``--no-reader``; ``answerability=False``: without its answerability model (to
    be fitted)."""
    if args.no_reader:
        return None
    return Reader(args.reader, threads=1, answerability=answerability)


def needs_shared(path: Path) -> str | None:
    """Why a benchmark (or part of one) is skipped: ``path``, from ``../shared``, is missing (a
    fresh clone has none beside it); None when it is there."""
    if path.exists():
        return None
    return f"skipped: needs {path} (the shared data beside the project, ../shared)"


def skip_without_shared(path: Path) -> None:
    """End a benchmark that cannot run without ``path`` (from ``../shared``) with one JSON line
    saying so, and exit status 0: a fresh clone skips it instead of failing."""
    if (reason := needs_shared(path)) is not None:
        print(json.dumps({"skipped": reason}))
        raise SystemExit(0)
