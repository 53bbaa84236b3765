"""End-to-end latency of /v1/ask on the default article, measured from a client on loopback.

Starts the real server (``article-qa serve``) in a fresh data directory on a free loopback port,
waits for /readyz, then asks the default-article questions in ``bench/default_questions.json``
(answerable and off-topic, cycled, never the same one twice in a row) sequentially and prints one
JSON line: start-up time to ready, and p50/p90/p99 latency.

    .venv/bin/python -m bench.speed [--requests 300]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

QUESTIONS = Path(__file__).with_name("default_questions.json")
READY_TIMEOUT_S = 180


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _wait_ready(client: httpx.Client, server: subprocess.Popen[bytes]) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < READY_TIMEOUT_S:
        if server.poll() is not None:
            raise SystemExit(f"server exited with status {server.returncode}")
        try:
            if client.get("/readyz").status_code == 200:
                return time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise SystemExit("server not ready in time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    data = json.loads(QUESTIONS.read_text(encoding="utf-8"))
    questions = [q["question"] for q in data["answerable"]] + data["off_topic"]
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = os.environ | {"ARTICLE_QA_DATA_DIR": tmp}
        command = [sys.executable, "-m", "service.cli", "serve", "--port", str(port)]
        results: dict[str, float] = {}
        for phase in ("cold", "warm"):  # cold indexes the default article; warm loads it
            server = subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            try:
                with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                    results[f"ready_s_{phase}"] = round(_wait_ready(client, server), 2)
                    if phase == "cold":
                        continue
                    latencies = []
                    for question in itertools.islice(itertools.cycle(questions), args.requests):
                        started = time.perf_counter()
                        response = client.post("/v1/ask", json={"question": question})
                        latencies.append((time.perf_counter() - started) * 1000)
                        response.raise_for_status()
            finally:
                server.terminate()
                server.wait(timeout=30)
    print(
        json.dumps(
            {
                "command": f"python -m bench.speed --requests {args.requests}",
                "requests": len(latencies),
                "ask_ms_p50": round(statistics.median(latencies), 2),
                "ask_ms_p90": round(_percentile(latencies, 0.9), 2),
                "ask_ms_p99": round(_percentile(latencies, 0.99), 2),
                **results,
            }
        )
    )


if __name__ == "__main__":
    main()
