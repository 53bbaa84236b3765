"""Train the shipped ranker and answerability model: writes index/data/ranker.json.

    .venv/bin/python -m bench.train_ranker [--data ../shared/data]

Fits logistic regression on every shared SQuAD article (the cross-validated figure that says how
well this generalises comes from ``python -m bench.quality``, which refits per fold).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

import faiss

from bench import add_backend_option, bench_encoder
from bench.squad import DEFAULT_DATA, load_articles
from bench.training import examples_for, train_all
from index.library import Library
from index.ranker import DEFAULT_WEIGHTS, RankerWeights


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.train_ranker", description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SQuAD data directory")
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS, help="weights file to write")
    add_backend_option(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    faiss.omp_set_num_threads(1)
    encoder = bench_encoder(args.backend)
    examples = []
    with tempfile.TemporaryDirectory(prefix="train-ranker-") as data_dir:
        library = Library(Path(data_dir), encoder, RankerWeights.blend())
        for squad in load_articles(args.data, None, None):
            examples += examples_for(library, library.ingest(squad.text, title=squad.title), squad)
    weights = train_all(examples, args.out, encoder.name)
    print(json.dumps({"out": str(args.out), "threshold": weights.threshold, **weights.provenance}))


if __name__ == "__main__":
    main()
