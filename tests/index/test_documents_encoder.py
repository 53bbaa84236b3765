"""The article side's student (index/data/documents.json): assembled from the shipped model's
embeddings and its own layers, checked, used for articles only, in the shipped model's space."""

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
    SHIPPED_DOCUMENTS,
    ModelUnavailableError,
    assemble_documents,
    document_model,
    resolve_model_path,
)
from index.library import DEFAULT_ARTICLE
from index.onnx_encoder import OnnxEncoder
from qa.article import parse_text
from qa.segment import segment
from service.settings import Settings


@pytest.fixture
def card(tmp_path: Path) -> Path:
    """A copy of the shipped card and layers, to damage."""
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(SHIPPED_DOCUMENTS, folder)
    shutil.copy(
        SHIPPED_DOCUMENTS.with_name(json.loads(SHIPPED_DOCUMENTS.read_text())["file"]), folder
    )
    return folder / SHIPPED_DOCUMENTS.name


def test_the_student_is_the_shipped_embeddings_and_its_own_layers(tmp_path: Path) -> None:
    folder, name = document_model(DEFAULT_MODEL, tmp_path) or (Path(), "")
    data = json.loads(SHIPPED_DOCUMENTS.read_text())
    assert name == data["name"] and data["teacher"] == DEFAULT_MODEL
    teacher = resolve_model_path(DEFAULT_MODEL, tmp_path)
    assert json.loads((folder / "config.json").read_text())["num_hidden_layers"] == data["layers"]
    assert (folder / "tokenizer.json").read_bytes() == (teacher / "tokenizer.json").read_bytes()
    student = load_file(str(folder / "model.safetensors"))
    six = load_file(str(teacher / "model.safetensors"))
    layers = load_file(str(SHIPPED_DOCUMENTS.with_name(data["file"])))
    assert {k for k in student if k.startswith("encoder.layer.")} == set(layers)
    assert {k.split(".")[2] for k in layers} == {str(i) for i in range(data["layers"])}
    for key, value in student.items():
        expected = layers[key].astype(np.float32) if key in layers else six[key]
        assert np.array_equal(value, expected), key


def test_only_the_shipped_model_has_a_student(tmp_path: Path) -> None:
    assert document_model(BUNDLED_MODEL, tmp_path) is None
    assert document_model(str(resolve_model_path(BUNDLED_MODEL)), tmp_path) is None


def test_damaged_layers_are_refused_with_the_way_back(card: Path, tmp_path: Path) -> None:
    layers = card.with_name("documents-layers.safetensors")
    data = bytearray(layers.read_bytes())
    data[-10] ^= 0xFF
    layers.write_bytes(bytes(data))
    with pytest.raises(ModelUnavailableError, match=r"sha256.*train\.distil --ship"):
        assemble_documents(tmp_path / "cache", card)
    assert not (tmp_path / "cache").exists()


def test_a_student_of_another_teacher_is_refused(card: Path, tmp_path: Path) -> None:
    data = json.loads(card.read_text())
    card.write_text(json.dumps({**data, "teacher": "article-qa/minilm-l6-qa-0"}))
    with pytest.raises(ModelUnavailableError, match="minilm-l6-qa-0"):
        assemble_documents(tmp_path / "cache", card)


def test_articles_land_where_the_shipped_model_puts_them() -> None:
    """Each sentence of the default article, embedded by the student, is nearest to the shipped
    model's vector of that same sentence, and a question finds its sentence through it."""
    encoder = OnnxEncoder(cache_dir=Settings().model_cache, ingest_threads=1)
    assert json.loads(SHIPPED_DOCUMENTS.read_text())["name"] in encoder.name
    sentences = [s.text for s in segment(parse_text(DEFAULT_ARTICLE.read_text())).sentences]
    student = encoder.encode_documents(sentences)
    teacher = encoder.encode_queries(sentences)
    cosines = student.vectors @ teacher.T
    assert np.array_equal(cosines.argmax(axis=1), np.arange(len(sentences)))
    assert float(np.diag(cosines).mean()) > 0.9
    question = encoder.encode_queries(["Which country granted asylum to Jorge Glas?"])[0]
    best = sentences[int(np.argmax(student.vectors @ question))]
    assert "asylum" in best and "Mexico" in best
