"""Rebuild every model file the product ships (``make models``), from ../shared, in order.

    .venv/bin/python -m train [--work var/models] [--dry-run]

The steps are the model cards' commands (docs/encoder-model-card.md, docs/reader-model-card.md),
each run as its own ``python -m`` process, in the order their inputs need:

1. mine the reader's training pairs with the first stage in index/data (the encoder trains on
   them too; the shipped encoder's were mined by stock MiniLM, before it existed);
2. fine-tune the encoder and ship its last snapshot (encoder.json, encoder-layers.safetensors);
3. distil it into the three-layer student articles are embedded with (documents.json,
   documents-layers.safetensors), for ingest speed: one epoch, then a second from it;
4. fit the ranker on its scores (ranker.json);
5. the six-layer reader (reader.json, reader-int8.onnx): base, SQuAD fine-tuning, refit reading
   two sentences, copied into index/data, answerability;
6. the three-layer reader for AVX2-only CPUs (reader-fast.json, reader-fast-int8.onnx), alike.

Each finished step leaves a mark in ``--work``/done and is skipped on a rerun; a step stopped
midway (a session cut, a killed process) resumes from its own checkpoints when run again. On
two cores the whole takes about ten hours (most of it the readers' training); a CUDA GPU, when
present, trains in minutes. ``--dry-run`` prints the steps without running any.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from index.machine import machine
from index.reader import DATA, DEFAULT_READER, FAST_READER

ROOT = Path(__file__).resolve().parent.parent
# docs/encoder-model-card.md: one epoch, then a second from it at a lower rate in another order.
DISTIL = "--keep 0,2,5 --lr 3e-4 --sentences 87445 --minutes 60"
DISTIL_AGAIN = "--keep 0,2,5 --lr 1e-4 --sentences 87445 --minutes 60 --seed 14"
MINED = ("pairs.jsonl", "heldout.jsonl", "report.jsonl", "first-stage.txt")


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    command: Callable[[], str]  # ``python -m`` and this; made when the step is reached
    before: Callable[[], None] = lambda: None  # files it needs laid out first


def latest_snapshot(folder: Path) -> Path:
    """The encoder's last snapshot (``step-N``, N training questions), where its run stopped."""
    snapshots = sorted(folder.glob("step-*"), key=lambda p: int(p.name.removeprefix("step-")))
    return snapshots[-1] if snapshots else folder / "step-N"


def linked(source: Path, target: Path) -> Callable[[], None]:
    """Lay ``source``'s mined files into ``target`` as links: a reader's SQuAD fine-tuning works
    in its own folder (its checkpoints and fold readers are its own) on the pairs mined once."""

    def link() -> None:
        target.mkdir(parents=True, exist_ok=True)
        for name in MINED:
            path = target / name
            if not path.is_symlink():
                path.symlink_to(os.path.relpath(source / name, target))

    return link


def copied(folder: Path, *names: str) -> Callable[[], None]:
    def copy() -> None:
        for name in names:
            shutil.copy(folder / name, DATA / name)

    return copy


def reader_steps(work: Path, layers: int, file: Path, model: str, reads: str) -> list[Step]:
    """One reader, as its model card trains it: a base on ../shared/data/train (1.5 epochs), two
    SQuAD epochs per fold and for the shipped one, a refit reading as it serves, the files copied
    into index/data, and the answerability fitted on the shipped files."""
    name = f"reader-{layers}l"
    mined, base = quote(work / "reader"), quote(work / f"{name}-base")
    tuned, final = quote(work / name), quote(work / f"{name}-final")
    reader = f"train.reader --model {model} --no-refit"
    shipped = quote(Path(os.path.relpath(file, ROOT)))
    return [
        Step(
            f"{name}-base",
            lambda: f"{reader} --layers {layers} --epochs 1.5 --work {mined} --out {base}",
        ),
        Step(
            f"{name}-squad",
            lambda: f"{reader} --squad --squad-epochs 2 --base {base} --work {tuned} --out {final}",
            before=linked(work / "reader", work / name),
        ),
        Step(
            f"{name}-refit",
            lambda: f"{reader} --refit --work {tuned} --out {final} --files {file.name} {reads}",
        ),
        Step(
            f"{name}-answerability",
            lambda: f"train.reader.answerability --work {tuned} --reader {shipped}",
            before=copied(work / f"{name}-final", file.name, model),
        ),
    ]


def quote(path: Path) -> str:
    return shlex.quote(str(path))


def steps(work: Path) -> list[Step]:
    encoder, mined = work / "encoder", quote(work / "reader")
    bf16 = " --bf16" if machine()["bf16"] else ""  # bf16 autocast is slow without the instructions
    return [
        Step("mine", lambda: f"train.reader --mine-only --work {mined}"),
        Step(
            "encoder",
            lambda: (
                f"train.encoder --pairs {mined}/pairs.jsonl --work {quote(encoder)} "
                f"--questions 10240 --minutes 45{bf16}"
            ),
        ),
        Step("encoder-ship", lambda: f"train.encoder --ship {quote(latest_snapshot(encoder))}"),
        Step("documents", lambda: f"train.distil {DISTIL} --work {quote(work / 'distil')}"),
        Step(
            "documents-again",
            lambda: (
                f"train.distil {DISTIL_AGAIN} --init {quote(work / 'distil' / 'final')} "
                f"--work {quote(work / 'distil-again')}"
            ),
        ),
        Step(
            "documents-ship",
            lambda: f"train.distil {DISTIL_AGAIN} --ship {quote(work / 'distil-again' / 'final')}",
        ),
        Step("ranker", lambda: "train.ranker"),
        *reader_steps(work, 6, DEFAULT_READER, "reader-int8.onnx", "--candidates 2"),
        *reader_steps(work, 3, FAST_READER, "reader-fast-int8.onnx", "--fast-candidates 1"),
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__)
    parser.add_argument("--work", type=Path, default=Path("var/models"), help="caches, marks")
    parser.add_argument("--dry-run", action="store_true", help="print the steps, run none")
    args = parser.parse_args(argv)
    done = args.work / "done"
    for step in steps(args.work):
        mark = done / step.name
        shown = f"python -m {step.command()}"
        if mark.exists():
            print(f"train: {step.name}: done ({shown})", file=sys.stderr)
            continue
        print(f"train: {step.name}: {shown}", file=sys.stderr, flush=True)
        if args.dry_run:
            continue
        step.before()
        subprocess.run([sys.executable, "-m", *shlex.split(step.command())], cwd=ROOT, check=True)
        done.mkdir(parents=True, exist_ok=True)
        mark.touch()


if __name__ == "__main__":
    main()
