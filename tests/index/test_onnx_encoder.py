"""The ONNX encoder: the same model as PyTorch within int8 or bf16 error, exported once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import index.onnx_encoder as onnx_module
from index.encoder import Encoder, ModelUnavailableError
from index.onnx_encoder import (
    BACKEND_SUFFIX,
    BF16_SUFFIX,
    OnnxEncoder,
    _pooling,
    cached_model_path,
    token_batches,
)
from index.torch_encoder import SentenceTransformerEncoder

SENTENCES = [
    "Mexico granted political asylum to former Ecuadorian Vice President Jorge Glas.",
    "Glas has been living in the Mexican embassy in Quito since December.",
    "Who wrote this article?",
    "The council approved the budget on Monday.",
]


def test_pooling_follows_the_model_config(tmp_path: Path) -> None:
    assert _pooling(tmp_path) == "mean"  # no config: sentence-transformers' default
    (tmp_path / "1_Pooling").mkdir()
    config = tmp_path / "1_Pooling" / "config.json"
    config.write_text(json.dumps({"pooling_mode_cls_token": True}))
    assert _pooling(tmp_path) == "cls"
    config.write_text(
        json.dumps({"pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": True})
    )
    with pytest.raises(ModelUnavailableError, match="ARTICLE_QA_BACKEND=torch"):
        _pooling(tmp_path)


def test_the_cache_key_follows_the_weights(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"weights")
    first = cached_model_path(model, tmp_path / "cache")
    assert first == cached_model_path(model, tmp_path / "cache")
    (model / "model.safetensors").write_bytes(b"other weights")
    assert cached_model_path(model, tmp_path / "cache") != first


def test_token_batches_cover_every_text_once_longest_first() -> None:
    lengths = [5, 40, 12, 12, 300, 7, 33, 9, 18, 61, 3]
    batches = token_batches(lengths, budget=64, multiple=8)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(len(lengths)))
    longest = [max(lengths[i] for i in batch) for batch in batches]
    assert longest == sorted(longest, reverse=True)
    assert [len(batch) for batch in batches][:3] == [1, 1, 1]  # 300, then 61, then 40 (> 32)
    for batch in batches:  # padded size within budget, unless one text is longer on its own
        width = -(-max(lengths[i] for i in batch) // 8) * 8
        assert len(batch) == 1 or len(batch) * width <= 64
    assert token_batches([], budget=64, multiple=8) == []


def test_short_texts_share_a_batch() -> None:
    assert [b.tolist() for b in token_batches([4, 6, 2, 8], budget=64, multiple=8)] == [
        [3, 1, 0, 2]
    ]


@pytest.mark.model
def test_close_to_the_float_model(minilm: Encoder) -> None:
    assert isinstance(minilm, OnnxEncoder)
    assert BACKEND_SUFFIX in minilm.name
    assert minilm.dim == 384
    torch = SentenceTransformerEncoder(threads=1)
    assert torch.name + BACKEND_SUFFIX == minilm.name.removesuffix(BF16_SUFFIX)
    for vectors, reference in (
        (minilm.encode_documents(SENTENCES).vectors, torch.encode_documents(SENTENCES).vectors),
        (minilm.encode_queries(SENTENCES), torch.encode_queries(SENTENCES)),
    ):
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
        assert float((vectors * reference).sum(axis=1).min()) > 0.98


@pytest.mark.model
def test_ingests_run_in_bf16_where_the_cpu_can(
    minilm: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bf16 documents are nearly the float model; without bf16 they fall back to int8."""
    from service.settings import Settings

    reference = SentenceTransformerEncoder(threads=1).encode_documents(SENTENCES).vectors
    if onnx_module.bf16_available():
        assert minilm.name.endswith(BF16_SUFFIX)
        bf16 = minilm.encode_documents(SENTENCES).vectors
        assert float((bf16 * reference).sum(axis=1).min()) > 0.999
    monkeypatch.setattr(onnx_module, "bf16_available", lambda: False)
    int8 = OnnxEncoder(cache_dir=Settings().model_cache)
    assert int8.name.endswith(BACKEND_SUFFIX)
    vectors = int8.encode_documents(SENTENCES).vectors
    assert float((vectors * reference).sum(axis=1).min()) > 0.98


@pytest.mark.model
def test_documents_keep_their_order(minilm: Encoder) -> None:
    """Batches are sorted by length inside; the result must not be, and progress is reported
    along the way."""
    seen: list[tuple[int, int]] = []
    embedding = minilm.encode_documents(
        SENTENCES * 20, lambda done, total: seen.append((done, total))
    )
    alone = np.vstack([minilm.encode_documents([s]).vectors for s in SENTENCES])
    assert float((embedding.vectors * np.tile(alone, (20, 1))).sum(axis=1).min()) > 0.98
    assert seen[-1] == (80, 80)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


@pytest.mark.model
def test_a_second_start_reuses_the_export(minilm: Encoder, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_export(*_: object) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_module, "export", no_export)
    from service.settings import Settings

    again = OnnxEncoder(cache_dir=Settings().model_cache)
    assert np.allclose(again.encode_queries(SENTENCES), minilm.encode_queries(SENTENCES))


@pytest.mark.model
def test_concurrent_ingests_get_their_own_vectors(minilm: Encoder) -> None:
    """Ingests on two threads share one compiled model: neither may see the other's batches."""
    from concurrent.futures import ThreadPoolExecutor

    texts = [SENTENCES * 10, list(reversed(SENTENCES)) * 15]
    alone = [minilm.encode_documents(t) for t in texts]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(minilm.encode_documents, texts))
    for one, other in zip(alone, together, strict=True):
        assert one.vectors.shape == other.vectors.shape
        assert float((one.vectors * other.vectors).sum(axis=1).min()) > 0.999
        assert np.array_equal(one.tokens.offsets, other.tokens.offsets)
