"""Fine-tuning the reader on the SQuAD dev half: the pairs it learns from, the base weights it
starts from, and the out-of-fold readers that keep bench.quality's SQuAD figures honest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from index.reader import DATA, DEFAULT_READER, FAST_READER, Reader, ReaderSession, sha256
from qa.models import Kind, Sentence
from train.ranker import Example
from train.reader.export import dequantised
from train.reader.folds import FOLD_DIR, MemoReader, memoised, out_of_fold
from train.reader.squad import TOP, base_reader, finished, question_pairs

FOLDS = {"Apollo": 0, "Beyonce": 1, "Chopin": 2, "Dune": 3, "Egypt": 0}


def test_question_pairs_are_the_top_sentences_and_the_answer_sentence_with_its_span() -> None:
    texts = [
        "Rain fell.",
        "The bridge opened in 1901 downtown.",
        "Taxes rose.",
        "It was old.",
        "Ana spoke.",
    ]
    sentences, start = [], 0
    for n, text in enumerate(texts):
        sentences.append(Sentence(n, start, start + len(text), text, 0, Kind.BODY))
        start += len(text) + 1
    answer = sentences[1].start + texts[1].index("1901")
    labels = np.array([False, True, False, False, False])
    example = Example("T", "When did it open?", True, np.zeros((5, 1), np.float32), labels,
                      ((answer, answer + 4),), ("1901",))  # fmt: skip
    scores = np.array([5.0, 0.0, 4.0, 3.0, 2.0])  # the answer sentence is not in the top three
    pairs = question_pairs(example, sentences, scores, "squad-fold-1")
    assert [p.sentence for p in pairs] == [texts[0], texts[1], texts[2], texts[3]]
    assert TOP == 3
    positive = pairs[1]
    assert positive.relevant and positive.span is not None
    assert positive.sentence[positive.span[0] : positive.span[1]] == "1901"
    assert not any(p.relevant or p.span for p in pairs if p is not positive)
    assert {p.source for p in pairs} == {"squad-fold-1"}


def test_dequantised_weights_rebuild_the_int8_reader_exactly(tmp_path: Path) -> None:
    """Fine-tuning starts from a shipped int8 reader: its weights, dequantised into the training
    architecture and exported again, give the same model (the same readings)."""
    import torch

    from train.reader.export import export
    from train.reader.model import MAX_TOKENS, build_model

    torch.manual_seed(0)
    trained = build_model(1)
    with torch.no_grad():  # stands in for training: weights MiniLM never had
        for name, weight in trained.named_parameters():
            if "word_embeddings" not in name:
                weight.add_(0.05 * torch.randn_like(weight))
    export(trained.eval(), tmp_path / "trained.onnx")
    rebuilt = build_model(1)
    rebuilt.load_state_dict(dequantised(tmp_path / "trained.onnx", rebuilt))
    export(rebuilt.eval(), tmp_path / "rebuilt.onnx")
    sentences = ["The bridge opened in 1901.", "Ana Ruiz is the mayor of the town."]
    first, second = (
        ReaderSession(tmp_path / n, MAX_TOKENS).read("Who is the mayor?", sentences)
        for n in ("trained.onnx", "rebuilt.onnx")
    )
    np.testing.assert_array_equal(first.relevance, second.relevance)
    np.testing.assert_array_equal(first.span_score, second.span_score)
    assert first.spans == second.spans
    fresh = build_model(1).state_dict()
    assert not torch.equal(rebuilt.state_dict()["relevance.weight"], fresh["relevance.weight"])


def reader_folder(path: Path, squad: dict[str, Any] | None) -> Path:
    """A copy of the shipped reader files in ``path``, with ``squad`` as its SQuAD provenance."""
    path.mkdir(parents=True)
    for name in (DEFAULT_READER.name, FAST_READER.name):
        data = json.loads((DATA / name).read_text())
        shutil.copy(DATA / data["model"], path / data["model"])
        data["provenance"].pop("squad", None)
        if squad is not None:
            data["provenance"]["squad"] = squad
        (path / name).write_text(json.dumps(data))
    return path


def fold_readers(root: Path, held_out: dict[int, list[str]] | None = None) -> Reader:
    """Four fold readers under ``root`` and the reader fine-tuned on every fold beside them."""
    for fold in range(4):
        titles = sorted(t for t, f in FOLDS.items() if f == fold)
        titles = held_out.get(fold, titles) if held_out else titles
        reader_folder(root / f"{FOLD_DIR}{fold}", {"fold": fold, "held_out": titles})
    shipped = reader_folder(root / "all", {"fold": None, "held_out": [], "fold_readers": str(root)})
    return Reader(shipped / DEFAULT_READER.name)


def test_a_reader_not_fine_tuned_on_squad_reads_every_fold_itself(tmp_path: Path) -> None:
    reader = Reader(reader_folder(tmp_path / "plain", None) / DEFAULT_READER.name)
    assert out_of_fold(reader, FOLDS) == [reader] * 4


def test_a_squad_reader_has_each_fold_read_by_the_reader_that_held_it_out(tmp_path: Path) -> None:
    shipped = fold_readers(tmp_path)
    readers = out_of_fold(shipped, FOLDS)
    assert [r.file.parent.name for r in readers] == [f"{FOLD_DIR}{k}" for k in range(4)]
    assert [r.provenance["squad"]["fold"] for r in readers] == [0, 1, 2, 3]
    assert all(r.file.name == DEFAULT_READER.name for r in readers)
    # train.reader.answerability asks through its memoised reader: the same fold readers
    memo = MemoReader(shipped)
    assert [r.file for r in out_of_fold(memo, FOLDS)] == [r.file for r in readers]
    memos = memoised([*readers, shipped], memo)
    assert memos[-1] is memo and [m.base for m in memos[:4]] == readers


def test_fold_readers_read_as_many_sentences_as_the_reader_they_stand_for(tmp_path: Path) -> None:
    """A reader refitted to read fewer sentences (``--refit --candidates 2``) is fitted and
    scored with its fold readers reading as many, whatever their own files say."""
    shipped = fold_readers(tmp_path)
    shipped.candidates = 1
    assert [r.candidates for r in out_of_fold(shipped, FOLDS)] == [1] * 4


def test_a_squad_reader_without_its_fold_readers_is_refused(tmp_path: Path) -> None:
    reader = fold_readers(tmp_path)
    shutil.rmtree(tmp_path / f"{FOLD_DIR}2")
    with pytest.raises(SystemExit, match=r"fold-2.*missing.*train.reader --squad"):
        out_of_fold(reader, FOLDS)


def test_a_fold_reader_that_trained_on_its_folds_articles_is_refused(tmp_path: Path) -> None:
    reader = fold_readers(tmp_path, held_out={0: ["Apollo"]})  # "Egypt" (fold 0) was trained on
    with pytest.raises(SystemExit, match="not out of fold"):
        out_of_fold(reader, FOLDS)
    fold = Reader(tmp_path / f"{FOLD_DIR}1" / DEFAULT_READER.name)
    with pytest.raises(SystemExit, match="is a fold reader"):
        out_of_fold(fold, FOLDS)


def test_fine_tuning_starts_from_a_copy_of_a_base_not_yet_fine_tuned(tmp_path: Path) -> None:
    base = reader_folder(tmp_path / "base", None)
    work = tmp_path / "work"
    copy = base_reader(base, work)
    assert sha256(copy / "reader-int8.onnx") == sha256(base / "reader-int8.onnx")
    (base / DEFAULT_READER.name).unlink()  # replaced by the fine-tuned one, say: the copy stays
    assert base_reader(base, work) == copy
    tuned = reader_folder(tmp_path / "tuned", {"fold": None})
    with pytest.raises(SystemExit, match="already fine-tuned"):
        base_reader(tuned, tmp_path / "other")


def test_a_fold_is_finished_only_when_fine_tuned_as_planned(tmp_path: Path) -> None:
    config = json.loads(DEFAULT_READER.read_text())
    out = reader_folder(tmp_path / "fold", {"fold": 2, "base_sha256": "abc", "epochs": 1.0})
    both = [DEFAULT_READER.name, FAST_READER.name]
    assert finished(out, both, "abc", 2, 1.0)
    assert not finished(out, both, "abc", 1, 1.0)
    assert not finished(out, both, "abc", 2, 2.0)
    assert not finished(out, both, "another base", 2, 1.0)
    (out / FAST_READER.name).unlink()
    assert not finished(out, both, "abc", 2, 1.0)
    assert finished(out, [DEFAULT_READER.name], "abc", 2, 1.0)
    (out / config["model"]).write_bytes(b"half written")
    assert not finished(out, [DEFAULT_READER.name], "abc", 2, 1.0)
    assert not finished(tmp_path / "nothing", both, "abc", 2, 1.0)
