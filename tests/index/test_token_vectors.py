"""Token vectors for late interaction: packing, quantisation, storage bytes and MaxSim."""

from __future__ import annotations

import numpy as np
import pytest

from index.encoder import HashingEncoder, TokenCollector, TokenVectors, quantize
from index.features import LATE_POOL, late_interaction

DIM = 16


def unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    rows = rng.normal(size=(n, DIM)).astype(np.float32)
    return np.asarray(rows / np.linalg.norm(rows, axis=1, keepdims=True), dtype=np.float32)


def packed(lengths: list[int], seed: int = 0) -> tuple[TokenVectors, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    matrices = [unit_rows(rng, n) for n in lengths]
    collector = TokenCollector(lengths, DIM)
    for n in reversed(range(len(lengths))):  # out of order, as parallel ingest batches arrive
        collector.put(n, *quantize(matrices[n]))
    return collector.packed(), matrices


def test_int8_keeps_every_token_close_to_its_float_vector() -> None:
    tokens, matrices = packed([3, 1, 5])
    assert tokens.offsets.tolist() == [0, 3, 4, 9]
    restored = tokens.data.astype(np.float32) * tokens.scales[:, None]
    assert np.abs(restored - np.vstack(matrices)).max() < 0.01


def test_maxsim_is_each_question_tokens_best_cosine_averaged() -> None:
    tokens, matrices = packed([3, 1, 5])
    question = unit_rows(np.random.default_rng(1), 4)
    expected = [float((question @ m.T).max(axis=1).mean()) for m in matrices]
    assert np.allclose(tokens.best_matches(question).mean(axis=1), expected, atol=0.02)
    assert TokenCollector([], DIM).packed().best_matches(question).shape == (0, 4)


def test_select_and_concat_keep_each_texts_tokens() -> None:
    tokens, _ = packed([3, 1, 5, 2])
    picked = tokens.select(np.array([2, 0]))
    assert picked.offsets.tolist() == [0, 5, 8]
    question = unit_rows(np.random.default_rng(2), 3)
    assert np.array_equal(
        picked.best_matches(question).mean(axis=1),
        tokens.best_matches(question).mean(axis=1)[[2, 0]],
    )
    joined = TokenVectors.concat([tokens.select(np.array([n])) for n in range(4)], DIM)
    assert np.array_equal(joined.data, tokens.data)
    assert np.array_equal(joined.offsets, tokens.offsets)


def test_bytes_round_trip_and_wrong_sizes_are_refused() -> None:
    tokens, _ = packed([3, 1, 5])
    blob = tokens.to_bytes()
    again = TokenVectors.from_bytes(blob, 3, DIM)
    assert np.array_equal(again.data, tokens.data)
    assert np.array_equal(again.scales, tokens.scales)
    for bad, texts in [(blob[:-1], 3), (blob, 2), (blob, 4), (b"", 3)]:
        with pytest.raises(ValueError):
            TokenVectors.from_bytes(bad, texts, DIM)


def test_a_text_without_tokens_cannot_be_packed() -> None:
    with pytest.raises(ValueError, match="at least one token"):
        TokenCollector([2, 0], DIM)


def test_a_zero_token_vector_is_stored_as_zero() -> None:
    data, scales = quantize(np.zeros((1, DIM), np.float32))
    assert not data.any() and scales.tolist() == [1.0]


def test_the_fake_encoder_gives_one_token_per_word() -> None:
    encoder = HashingEncoder(dim=DIM)
    embedding = encoder.encode_documents(["Bridges are red.", "", "Roads are grey today."])
    assert embedding.tokens.offsets.tolist() == [0, 3, 4, 8]  # one zero token for no words
    _, question = encoder.encode_question("What colour are roads?")
    scores = embedding.tokens.best_matches(question).mean(axis=1)
    assert int(np.argmax(scores)) == 2


def test_late_interaction_scores_the_pool_and_floors_the_rest() -> None:
    n = LATE_POOL + 6
    tokens, _ = packed([2] * n)
    question = unit_rows(np.random.default_rng(3), 4)
    dense = np.linspace(1.0, 0.0, n).astype(np.float32)  # the first LATE_POOL are the pool
    candidates = np.arange(n)[::-1].copy()  # candidate i is text n - 1 - i
    late = late_interaction(tokens, question, dense, candidates)
    exact = tokens.best_matches(question).mean(axis=1)[candidates]
    assert np.allclose(late[:LATE_POOL], exact[:LATE_POOL])
    assert np.all(late[LATE_POOL:] == late[:LATE_POOL].min())
