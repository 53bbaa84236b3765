"""Which reader reads each SQuAD fold's questions, so none is read by a model that trained on it.

A reader fine-tuned on the shared SQuAD dev half (``train.reader.squad``) comes with one reader per
fold, fine-tuned without that fold's articles, in ``FOLD_DIR``-K folders; fitting answerability
and scoring (``bench.quality``) read fold K's questions with fold K's reader.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from index.reader import RETRAIN, Reader, Reading
from train.squad import FOLDS

FOLD_DIR = "fold-"  # the fold readers' folders under --work/squad: fold-0 ... fold-3


def out_of_fold(reader: Reader, folds: Mapping[str, int], root: Path | None = None) -> list[Reader]:
    """Who reads each fold's SQuAD questions when an answerability model is fitted on them or
    they are scored: the reader itself, unless it was fine-tuned on the SQuAD dev half; then,
    for fold K, the reader fine-tuned without K's articles (its file of the same name under
    ``root``, default: where the reader's provenance says), so no SQuAD question is read by a
    model that trained on it. Fold readers are loaded without answerability (it is fitted) and
    read as many sentences as ``reader`` (a reader refitted with fewer keeps its fold readers'
    files as written)."""
    squad = reader.provenance.get("squad")
    if not squad:
        return [reader] * FOLDS
    if squad.get("fold") is not None:
        raise SystemExit(f"{reader.file} is a fold reader; pass the reader fine-tuned on all folds")
    root = Path(squad["fold_readers"]) if root is None else root
    readers: list[Reader] = []
    for fold in range(FOLDS):
        path = root / f"{FOLD_DIR}{fold}" / reader.file.name
        if not path.is_file():
            raise SystemExit(
                f"{reader.file} was fine-tuned on the SQuAD dev half, so its SQuAD questions must "
                f"be read by the readers fine-tuned without each fold, and {path} is missing: "
                f"`{RETRAIN} --squad --base DIR` writes them (docs/reader-model-card.md says how)"
            )
        fold_reader = Reader(path, threads=1, answerability=False)
        fold_reader.candidates = reader.candidates
        held_out = set(fold_reader.provenance["squad"]["held_out"])
        if not {t for t, f in folds.items() if f == fold} <= held_out:
            raise SystemExit(
                f"{path} was trained on articles of fold {fold}: not out of fold (the folds of "
                "a subset of the articles differ from those it was fine-tuned with)"
            )
        readers.append(fold_reader)
    return readers


class MemoReader(Reader):
    """The reader with every reading kept: fitting reads the same question and sentences under
    several first stages, and the batch read is the unit (int8 activations are quantised per
    batch), so a reading is reused only for the same question and the same sentences in order."""

    def __init__(self, base: Reader) -> None:  # reads through base; no file is loaded
        for name in ("file", "combined", "answer", "threshold", "candidates"):
            setattr(self, name, getattr(base, name))
        self.provenance = dict(base.provenance)
        self.base = base
        self._memo: dict[tuple[str, tuple[str, ...]], Reading] = {}

    def read(self, question: str, sentences: Sequence[str]) -> Reading:
        key = (question, tuple(sentences))
        if key not in self._memo:
            self._memo[key] = self.base.read(question, sentences)
        return self._memo[key]


def memoised(readers: Sequence[Reader], *known: MemoReader) -> list[MemoReader]:
    """``readers`` memoised, one MemoReader for each distinct one; a ``known`` one stands for
    its own base reader."""
    made = {id(memo.base): memo for memo in known}
    return [made.setdefault(id(r), MemoReader(r)) for r in readers]
