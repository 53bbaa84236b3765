"""The article side's distillation: its batches, the student it starts from, what it ships."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file

from index.encoder import DEFAULT_MODEL, assemble_documents
from train.distil import batch_plan, distance, load_teacher, main, save_folder, ship, student_of
from train.encoder import states
from train.reader.data import TRAIN_FILES


def test_batches_cover_every_sentence_once_in_batches_of_similar_length() -> None:
    lengths = [(i * 7919) % 97 + 3 for i in range(1000)]
    plan = batch_plan(lengths, 10, seed=1)
    assert sorted(i for batch in plan for i in batch) == list(range(1000))
    spread = [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in plan]
    assert np.median(spread) <= 3  # random batches of these lengths spread over about 80
    assert plan != batch_plan(lengths, 10, seed=2)


def test_the_student_starts_as_the_kept_layers_and_learns_only_them(tmp_path: Path) -> None:
    teacher, tokenizer = load_teacher()
    student = student_of(teacher, [0, 2, 5])
    assert len(student.encoder.layer) == 3 and len(teacher.encoder.layer) == 6
    kept = student.encoder.layer[2].output.dense.weight
    assert torch.equal(kept, teacher.encoder.layer[5].output.dense.weight)
    assert kept.data_ptr() != teacher.encoder.layer[5].output.dense.weight.data_ptr()
    assert not any(p.requires_grad for p in student.embeddings.parameters())
    batch = tokenizer(
        ["Mexico granted asylum to Glas.", "It rained."], padding=True, return_tensors="pt"
    )
    mask = batch["attention_mask"].float()
    with torch.no_grad():
        same = distance(states(teacher, batch), states(teacher, batch), mask)
        other = distance(states(student, batch), states(teacher, batch), mask)
    assert abs(float(same)) < 1e-5 < float(other)
    save_folder(student, tmp_path / "final")
    card = tmp_path / "data" / "documents.json"
    card.parent.mkdir()
    data = ship(tmp_path / "final", card, [0, 2, 5])
    assert data["teacher"] == DEFAULT_MODEL and data["layers"] == 3
    assert data["name"].endswith(data["sha256"][:8])
    shipped = load_file(str(card.with_name(data["file"])))
    assert all(k.startswith("encoder.layer.") and v.dtype == np.float16 for k, v in shipped.items())
    assert json.loads(card.read_text()) == data
    folder = assemble_documents(tmp_path / "cache", card)
    assembled = load_file(str(folder / "model.safetensors"))
    expected = teacher.encoder.layer[5].output.dense.weight.detach().numpy()
    assert np.allclose(assembled["encoder.layer.2.output.dense.weight"], expected, atol=1e-3)


def test_a_second_epoch_starts_from_the_trained_student(tmp_path: Path) -> None:
    teacher, _ = load_teacher()
    trained = student_of(teacher, [0, 2, 5])
    with torch.no_grad():
        trained.encoder.layer[1].output.dense.weight.add_(0.5)  # unlike any teacher layer
    save_folder(trained, tmp_path / "first" / "final")
    data = tmp_path / "train"
    data.mkdir()
    for name, _source in TRAIN_FILES:
        (data / name).write_text("")
    paragraph = {"context": "Mexico granted asylum to Glas. It rained.", "qas": []}
    article = {"title": "Asylum", "paragraphs": [paragraph]}
    (data / TRAIN_FILES[0][0]).write_text(json.dumps(article) + "\n")
    work = tmp_path / "again"
    # No time to train: the second run's student is exactly where --init put it.
    main(["--train", str(data), "--work", str(work), "--keep", "0,2,5", "--minutes", "0",
          "--init", str(tmp_path / "first" / "final")])  # fmt: skip
    again = load_file(str(work / "final" / "model.safetensors"))
    expected = trained.encoder.layer[1].output.dense.weight.detach().numpy()
    assert np.array_equal(again["encoder.layer.1.output.dense.weight"], expected)
