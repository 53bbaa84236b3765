"""The shipped fine-tuned encoder: its layers laid over the bundled MiniLM, checked, built once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from index.encoder import (
    BUNDLED_MODEL,
    DEFAULT_MODEL,
    SHIPPED_ENCODER,
    ModelUnavailableError,
    assemble_shipped,
    resolve_model_path,
)


@pytest.fixture
def card(tmp_path: Path) -> Path:
    """A copy of the shipped card and layers, to damage."""
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(SHIPPED_ENCODER, folder)
    shutil.copy(SHIPPED_ENCODER.parent / json.loads(SHIPPED_ENCODER.read_text())["file"], folder)
    return folder / SHIPPED_ENCODER.name


def test_the_shipped_layers_replace_the_bundled_ones_and_nothing_else(tmp_path: Path) -> None:
    folder = resolve_model_path(DEFAULT_MODEL, tmp_path)
    bundled = resolve_model_path(BUNDLED_MODEL)
    assert folder.parent == tmp_path
    assert (folder / "tokenizer.json").read_bytes() == (bundled / "tokenizer.json").read_bytes()
    assert (folder / "1_Pooling" / "config.json").is_file()
    assembled = load_file(str(folder / "model.safetensors"))
    base = load_file(str(bundled / "model.safetensors"))
    shipped = load_file(str(SHIPPED_ENCODER.with_name("encoder-layers.safetensors")))
    assert set(assembled) == set(base)
    assert "embeddings.word_embeddings.weight" not in shipped  # frozen: not shipped
    for key, value in assembled.items():
        assert value.dtype == base[key].dtype
        expected = shipped[key].astype(value.dtype) if key in shipped else base[key]
        assert np.array_equal(value, expected), key
    changed = [k for k in shipped if not np.array_equal(shipped[k], base[k].astype(np.float16))]
    assert len(changed) > 50  # the fine-tuned layers really differ from the bundled ones


def test_it_is_assembled_once(tmp_path: Path) -> None:
    folder = assemble_shipped(tmp_path)
    written = (folder / "model.safetensors").stat().st_mtime_ns
    assert assemble_shipped(tmp_path) == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == written
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # no partial folder left


def test_damaged_layers_are_refused_with_the_way_back(card: Path, tmp_path: Path) -> None:
    layers = card.with_name("encoder-layers.safetensors")
    data = bytearray(layers.read_bytes())
    data[-10] ^= 0xFF
    layers.write_bytes(bytes(data))
    with pytest.raises(ModelUnavailableError, match=r"sha256.*restore index/data from git"):
        assemble_shipped(tmp_path / "cache", card)
    assert not (tmp_path / "cache").exists()


def test_missing_layers_are_refused(card: Path, tmp_path: Path) -> None:
    card.with_name("encoder-layers.safetensors").unlink()
    with pytest.raises(ModelUnavailableError, match=r"train\.encoder --ship"):
        assemble_shipped(tmp_path / "cache", card)


def test_a_card_for_another_model_is_refused(card: Path, tmp_path: Path) -> None:
    data = json.loads(card.read_text())
    card.write_text(json.dumps({**data, "name": "article-qa/minilm-l6-qa-0"}))
    with pytest.raises(ModelUnavailableError, match="minilm-l6-qa-0"):
        assemble_shipped(tmp_path / "cache", card)


def test_unknown_models_name_both_that_work(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match=f"{DEFAULT_MODEL}.*{BUNDLED_MODEL}"):
        resolve_model_path("someone/else", tmp_path)
