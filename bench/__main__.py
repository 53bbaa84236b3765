"""The benchmark suite (``make bench``): the quick one runs on a fresh clone, bundled data only.

    .venv/bin/python -m bench [--full] [--out var/bench]

Quick (the default; a few minutes on two cores, well inside ten): ``bench.speed`` on the product
path (``--quick``: 100 questions, ingest of 1 MB), ``bench.default_article``,
``bench.conversation``, ``bench.news`` (36 news stories, bundled) and ``bench.extraction`` (130
real pages, bundled).
Parts that need ``../shared`` (the SQuAD ingest, the SQuAD dialogues) are skipped, and said to
be, where it is missing. ``--full`` adds the benchmarks that need ``../shared`` and take long
(``bench.quality``, about an hour; ``bench.ingest``; ``bench.scale``; ``bench.speed`` on every
default path; ``bench.spans``): each is skipped with a line saying so when the data is missing.

Each benchmark runs in its own process, as ``python -m bench.NAME`` (as a person would run it);
its whole report goes to ``--out``/NAME.json. The suite prints one JSON object: the machine,
and per benchmark its wall time, its headline figures and its targets, or why it was skipped.
The exit status is 1 when a benchmark failed (not when one was skipped or missed a target).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from index.machine import machine


@dataclass(frozen=True, slots=True)
class Benchmark:
    name: str  # of its report file, NAME.json
    module: str  # run as python -m bench.MODULE
    arguments: tuple[str, ...]
    headline: tuple[str, ...]  # its headline measures, as dotted paths into its report
    timeout_s: float = 3600.0


QUICK = (
    Benchmark(
        "speed",
        "speed",
        ("--quick",),
        tuple(f"product.{m}" for m in ("ask_ms_p50", "ask_ms_p99", "rps_c8", "ingest_1mb")),
    ),
    Benchmark("default_article", "default_article", (), ("product", "dense_lines", "bm25_lines")),
    Benchmark("conversation", "conversation", (), ("all.turns", "all.hit@1")),
    Benchmark("news", "news", (), ("all.single", "all.turns", "held-out.single", "held-out.turns")),
    Benchmark(
        "extraction",
        "extraction",
        (),
        (
            "product.f1",
            "product.held-out.f1",
            "product.refused",
            "product.ms_p50",
            "trafilatura.f1",
            "readability.f1",
        ),
        timeout_s=900.0,
    ),
)
FULL = (
    Benchmark("quality", "quality", (), ("product", "dense", "bm25"), timeout_s=4 * 3600.0),
    Benchmark("ingest", "ingest", (), ("per_s", "speed_vs_shipped")),
    Benchmark("scale", "scale", (), ("sizes",)),
    Benchmark("speed_all_paths", "speed", (), ("product", "first-stage", "naive", "speedup")),
    Benchmark("spans", "spans", (), ("new-wiki-held-out", "qed-dev")),
)
ROOT = Path(__file__).resolve().parent.parent


def headline(report: dict[str, Any], paths: tuple[str, ...]) -> dict[str, Any]:
    """The measures named by ``paths`` that the report has, and its targets and skip note."""
    out: dict[str, Any] = {}
    for path in (*paths, "targets", "skipped"):
        value: Any = report
        for key in path.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            out[path] = value
    return out


def run(benchmark: Benchmark, out: Path) -> dict[str, Any]:
    """One benchmark in its own process; its report written to ``out``/NAME.json."""
    command = [sys.executable, "-m", f"bench.{benchmark.module}", *benchmark.arguments]
    print(f"bench: {' '.join(command[1:])}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=benchmark.timeout_s
        )
    except subprocess.TimeoutExpired:
        return {"failed": "timed out", "seconds": round(time.perf_counter() - started)}
    seconds = round(time.perf_counter() - started, 1)
    if done.returncode != 0:
        return {"failed": done.stderr.strip().splitlines()[-1:], "seconds": seconds}
    report: dict[str, Any] = json.loads(done.stdout)
    (out / f"{benchmark.name}.json").write_text(json.dumps(report, indent=1) + "\n", "utf-8")
    return {"seconds": seconds, **headline(report, benchmark.headline)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--full", action="store_true", help="also the long ../shared ones")
    parser.add_argument("--out", type=Path, default=Path("var/bench"), help="full reports")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    suite = (*QUICK, *FULL) if args.full else QUICK
    started = time.perf_counter()
    results = {benchmark.name: run(benchmark, args.out) for benchmark in suite}
    summary = {
        "command": " ".join(["python", "-m", "bench", *(argv or sys.argv[1:])]),
        "machine": machine("onnx"),
        "minutes": round((time.perf_counter() - started) / 60, 1),
        "reports": str(args.out),
        "benchmarks": results,
    }
    print(json.dumps(summary, indent=1))
    if any("failed" in result for result in results.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
