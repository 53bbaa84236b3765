"""Deployment figures: the same server on SQLite, on PostgreSQL with Redis, and as two replicas.

Starts PostgreSQL (fsync on, as SQLite's synchronous=FULL) and Redis on loopback in temporary
directories, then, in one run, for each setup:

- ``sqlite``: one ``article-qa serve`` with two workers on the SQLite file (the default);
- ``postgresql``: the same over PostgreSQL;
- ``postgresql-redis``: and the ask limit counted in Redis (turned on for loopback clients and
  set high, so every ask pays for the Redis round trip but none is refused);
- ``postgresql-redis-2-replicas``: two servers with one worker each over the same database and
  Redis, the load spread over both as a load balancer would;

it measures from the client, as ``bench.speed`` does: /v1/ask p50/p99 at concurrency 1 and
requests per second at concurrency 8. It also times what every ask pays to see writes by other
replicas, the revision check (one indexed SELECT), in-process on each store. On one 2-core machine
two replicas share the same two cores as two workers do, so the replica figure shows the cost of
coordination, not the gain of a second machine.

    .venv/bin/python -m bench.deploy [--requests 300] [--setups sqlite,postgresql,...]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import free_port, percentile, servers
from bench.speed import _ask, questions, server, throughput
from index.encoder import HashingEncoder
from index.machine import machine
from index.store import ArticleStore
from index.stores import open_store
from qa.article import parse_text

SETUPS = ("sqlite", "postgresql", "postgresql-redis", "postgresql-redis-2-replicas")
CHECKS = 2000


def revision_check_us(store: ArticleStore) -> float:
    """Median microseconds of one revision check (what each ask costs to follow writes)."""
    article = parse_text("A short story. It has two sentences.")
    embedding = HashingEncoder(dim=384).encode_documents(
        ["A short story.", "It has two sentences."]
    )
    store.save("probe", article, embedding, "probe", "now")
    timings = []
    for _ in range(CHECKS):
        started = time.perf_counter()
        store.revision("probe")
        timings.append((time.perf_counter() - started) * 1e6)
    return round(statistics.median(timings), 1)


def measure(env: dict[str, str], replicas: int, asked: list[str]) -> dict[str, Any]:
    ports = [free_port() for _ in range(replicas)]
    with contextlib.ExitStack() as stack:
        for port in ports:
            stack.enter_context(server(env, port))
        connection = http.client.HTTPConnection("127.0.0.1", ports[0], timeout=60)
        _ask(connection, asked[0])  # the first ask of a replica loads the article
        latencies = [_ask(connection, q) for q in asked]
        connection.close()
        for port in ports[1:]:
            warm = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            _ask(warm, asked[0])
            warm.close()
        return {
            "ask_ms_p50": round(statistics.median(latencies), 2),
            "ask_ms_p99": round(percentile(latencies, 0.99), 2),
            "rps_c8": round(throughput(ports, asked, 8, len(asked) * 4)),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--setups", default=",".join(SETUPS))
    args = parser.parse_args()
    asked = questions(args.requests)
    chosen = args.setups.split(",")
    if unknown := set(chosen) - set(SETUPS):
        raise SystemExit(f"unknown setups {sorted(unknown)}; choose from {', '.join(SETUPS)}")
    result: dict[str, Any] = {"machine": machine(), "requests": args.requests}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ARTICLE_QA_")}
    with (
        tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp,
        servers.postgres(fsync=True) as database,
        servers.redis() as limits,
    ):
        url = database.create_database("articles")
        checks = {}
        for name, store in (
            ("sqlite", open_store(Path(tmp) / "probe")),
            ("postgresql", open_store(Path(tmp), database.create_database("probe"))),
        ):
            checks[name] = revision_check_us(store)
            store.close()
        result["revision_check_us_p50"] = checks
        postgres = {"ARTICLE_QA_DATABASE_URL": url}
        fleet = postgres | {
            "ARTICLE_QA_RATE_LIMIT_STORAGE": limits.url,
            "ARTICLE_QA_RATE_LIMIT_LOOPBACK": "true",
            "ARTICLE_QA_ASK_RATE_LIMIT": "1000000/minute",
        }
        setups = {
            "sqlite": ({"ARTICLE_QA_WORKERS": "2"}, 1),
            "postgresql": (postgres | {"ARTICLE_QA_WORKERS": "2"}, 1),
            "postgresql-redis": (fleet | {"ARTICLE_QA_WORKERS": "2"}, 1),
            "postgresql-redis-2-replicas": (fleet | {"ARTICLE_QA_WORKERS": "1"}, 2),
        }
        for name in chosen:
            extra, replicas = setups[name]
            env = clean | {"ARTICLE_QA_DATA_DIR": str(Path(tmp) / name)} | extra
            result[name] = measure(env, replicas, asked)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
