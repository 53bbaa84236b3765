"""The encoder's training batches (every question once, no sentence twice in a batch: a repeated
positive would be a false in-batch negative) and shipping what it trained."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from index.encoder import BUNDLED_MODEL, assemble_shipped, resolve_model_path
from train.encoder import batch_plan, ship


def test_batches_hold_distinct_questions_and_positives_and_cover_every_row_once() -> None:
    rows = [(f"q{i}", f"s{i % 5}", None) for i in range(20)]  # 5 sentences answer 20 questions
    plan = batch_plan(rows, 4)
    assert sorted(i for batch in plan for i in batch) == list(range(20))
    for batch in plan:
        positives = [rows[i][1] for i in batch]
        assert len(set(positives)) == len(positives)
        assert len(batch) <= 4


def test_shipping_keeps_only_what_training_changed_and_assembles_back(tmp_path: Path) -> None:
    bundled = resolve_model_path(BUNDLED_MODEL)
    snapshot = tmp_path / "step-8"
    shutil.copytree(bundled, snapshot)
    tensors = load_file(str(bundled / "model.safetensors"))
    key = "encoder.layer.5.output.dense.bias"
    tensors[key] = tensors[key] + np.float32(0.25)
    save_file(tensors, str(snapshot / "model.safetensors"))
    card = tmp_path / "data" / "encoder.json"
    card.parent.mkdir()
    data = ship(snapshot, card)
    assert data["tensors"] == 1 and data["provenance"]["snapshot"] == "step-8"
    assert list(load_file(str(card.with_name(data["file"])))) == [key]
    assembled = load_file(str(assemble_shipped(tmp_path / "cache", card) / "model.safetensors"))
    assert np.allclose(assembled[key], tensors[key], atol=1e-3)
    assert np.array_equal(assembled["encoder.layer.0.output.dense.bias"],
                          tensors["encoder.layer.0.output.dense.bias"])  # fmt: skip
