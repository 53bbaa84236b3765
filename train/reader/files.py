"""The reader files a trained reader is written into (``reader.json``, ``reader-fast.json``):
the model's card, with the fields fitted for the sentences each reads and their metrics."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from index.ranker import LinearModel
from index.reader import DEFAULT_READER, FAST_READER
from train.reader import answerability
from train.reader.data import Asked
from train.reader.fit import evaluate, fit


def reader_files(args: argparse.Namespace) -> dict[str, int]:
    """The reader files written (``--files``), with the sentences each reads."""
    reads = {DEFAULT_READER.name: args.candidates, FAST_READER.name: args.fast_candidates}
    return {name: reads[name] for name in reads if name in args.files}


def served_fields(
    session: Any,
    heldout: Sequence[Asked],
    report: Sequence[Asked],
    first_confidence: LinearModel,
    candidates: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Steps 4-5 for a reader file reading ``candidates`` sentences: its fitted fields and the
    metrics of them."""
    combined, answer, threshold = fit(session, heldout, first_confidence, candidates)
    metrics = {
        name: evaluate(session, asked, combined, answer, first_confidence, threshold, candidates)
        for name, asked in (("heldout", heldout), ("qed_dev", report))
    }
    fields = {
        "candidates": candidates,
        "threshold": threshold,
        "combined": combined.to_json(),
        "answerability": answer.to_json(),
    }
    return fields, metrics


def write_configs(
    args: argparse.Namespace,
    config: dict[str, Any],
    served: dict[str, tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    """Write each reader file (``config`` with its served fields and metrics), print its
    provenance, and refit its answerability unless told not to."""
    for name, (fields, metrics) in served.items():
        whole = config | fields | {"provenance": config["provenance"] | {"metrics": metrics}}
        (args.out / name).write_text(json.dumps(whole, indent=1) + "\n", encoding="utf-8")
        json.dump(whole["provenance"], sys.stdout)
        sys.stdout.write("\n")
        if not args.no_refit:
            # Relative to the working directory, so the recorded command runs on a fresh clone.
            relative = os.path.relpath(args.out / name)
            answerability.main(["--work", str(args.work), "--reader", relative])
