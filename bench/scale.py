"""How archive-wide search cost grows with the corpus: 10^4, 10^5 and 10^6 sentence vectors.

Vectors are synthetic but shaped like real ones: each is a real MiniLM sentence embedding (a
sentence of the shared SQuAD articles, the "topic") plus Gaussian noise, renormalised, so the
corpus has the clustered structure approximate indexes depend on. Queries are real SQuAD
questions, encoded. For each size the script builds ``index.archive.ArchiveIndex`` (exact below
its limit, IVF-SQ8 above) and reports build time (two threads), index memory, p50/p99
single-query latency (k=10, one thread), recall@10 against exact search over the same
vectors, and what a write costs: adding a 200-sentence article's vectors and removing them.
It writes a plot of latency and memory against corpus size and prints one JSON line, with the
machine it ran on and the targets for a million vectors and whether they are met.

    .venv/bin/python -m bench.scale [--sizes 10000,100000,1000000] [--plot docs/scale.png]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from bench import Target, bench_encoder, check_targets, skip_without_shared
from index.archive import EXACT_LIMIT, ArchiveIndex
from index.encoder import DEFAULT_BACKEND, Vectors
from index.machine import machine
from qa.article import parse_text
from qa.segment import segment
from train.squad import DEFAULT_DATA, V1_FILE, load_articles

K = 10
QUERIES = 300
# Noise per dimension: a synthetic sentence keeps a cosine of about 0.75 to its topic sentence,
# like two sentences of one article.
NOISE = 0.045
CHUNK = 100_000
ARTICLE_SENTENCES = 200  # an ordinary article, for the cost of a write
# The targets, for an archive of a million sentence vectors.
TARGET_SIZE = 1_000_000
TARGETS: tuple[Target, ...] = (
    (f"recall@{K}", ">=", 0.95),
    ("search_ms_p50", "<=", 10),
    ("memory_mb", "<=", 1024),
)
# Building is offline work and may use both cores; searches are timed on one thread, as served.
BUILD_THREADS = 2


def topics_and_queries(data: Path) -> tuple[Vectors, Vectors]:
    """Real embeddings: every SQuAD sentence (topics) and the first questions (queries)."""
    encoder = bench_encoder(DEFAULT_BACKEND)
    articles = load_articles(data, None, None)
    sentences = [s.text for a in articles for s in segment(parse_text(a.text)).sentences]
    questions = [q.text for a in articles for q in a.questions][:QUERIES]
    return encoder.encode_documents(sentences).vectors, encoder.encode_queries(questions)


def synthetic(topics: Vectors, count: int, rng: np.random.Generator) -> Vectors:
    parts = []
    for start in range(0, count, CHUNK):
        size = min(CHUNK, count - start)
        part = topics[rng.integers(0, len(topics), size)]
        part = part + rng.normal(0, NOISE, part.shape).astype(np.float32)
        parts.append(part / np.linalg.norm(part, axis=1, keepdims=True))
    return np.vstack(parts).astype(np.float32)


def measure(vectors: Vectors, queries: Vectors) -> dict[str, Any]:
    faiss.omp_set_num_threads(BUILD_THREADS)
    started = time.perf_counter()
    index = ArchiveIndex(vectors)
    build_s = time.perf_counter() - started
    faiss.omp_set_num_threads(1)
    latencies = []
    found = []
    for query in queries:
        tick = time.perf_counter()
        hits = index.search(query[None, :], K)
        latencies.append((time.perf_counter() - tick) * 1000)
        found.append(hits.ids[0])
    # What a write costs the index: one article's sentences added, then removed again.
    article = vectors[:ARTICLE_SENTENCES]
    first_new = len(vectors)
    tick = time.perf_counter()
    index.add(article, np.arange(first_new, first_new + len(article), dtype=np.int64))
    add_ms = (time.perf_counter() - tick) * 1000
    tick = time.perf_counter()
    index.remove(first_new, first_new + len(article))
    remove_ms = (time.perf_counter() - tick) * 1000
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    _, truth = exact.search(queries, K)
    recall = np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)])
    latencies.sort()
    return {
        "vectors": len(vectors),
        "index": "exact (flat)" if index.exact else "IVF-SQ8",
        "build_s": round(build_s, 2),
        "memory_mb": round(index.memory_bytes() / 2**20, 1),
        "search_ms_p50": round(statistics.median(latencies), 3),
        "search_ms_p99": round(latencies[int(0.99 * (len(latencies) - 1))], 3),
        f"recall@{K}": round(float(recall), 4),
        "add_article_ms": round(add_ms, 2),
        "remove_article_ms": round(remove_ms, 2),
    }


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["vectors"] for r in rows]
    figure, latency = plt.subplots(figsize=(7, 4), dpi=120)
    latency.plot(sizes, [r["search_ms_p50"] for r in rows], "o-", color="tab:blue")
    latency.set_xscale("log")
    latency.set_xlabel("sentence vectors in the archive")
    latency.set_ylabel("p50 search latency (ms)", color="tab:blue")
    memory = latency.twinx()
    memory.plot(sizes, [r["memory_mb"] for r in rows], "s--", color="tab:orange")
    memory.set_ylabel("index memory (MB)", color="tab:orange")
    memory.set_yscale("log")
    latency.axvline(EXACT_LIMIT, color="grey", linewidth=0.8, linestyle=":")
    latency.set_title("Archive search: exact below 50k vectors, IVF-SQ8 above")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SQuAD data directory")
    parser.add_argument("--plot", type=Path, default=Path("docs/scale.png"))
    args = parser.parse_args()
    skip_without_shared(args.data / V1_FILE)
    faiss.omp_set_num_threads(1)
    topics, queries = topics_and_queries(args.data)
    rng = np.random.default_rng(0)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        rows.append(measure(synthetic(topics, size, rng), queries))
    plot(rows, args.plot)
    command = " ".join(["python -m bench.scale", *sys.argv[1:]])
    report: dict[str, Any] = {"command": command, "machine": machine(), "plot": str(args.plot)}
    report["sizes"] = rows
    for row in rows:
        if row["vectors"] == TARGET_SIZE:
            report["targets"] = check_targets(row, TARGETS)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
