"""Score fusion: min-max scaling, convex blending and the neighbour bonus."""

from __future__ import annotations

import numpy as np
import pytest

from index.fusion import convex, minmax


def f32(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float32)


def i64(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def assert_close(actual: np.ndarray, expected: list[float]) -> None:
    """Equal up to float32 rounding."""
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-7)


def test_minmax_empty() -> None:
    out = minmax(np.zeros(0, dtype=np.float32))
    assert out.shape == (0,)


@pytest.mark.parametrize("values", [(3.0,), (2.0, 2.0, 2.0), (-1.5, -1.5)])
def test_minmax_flat_is_zeros(values: tuple[float, ...]) -> None:
    out = minmax(f32(*values))
    assert out.tolist() == [0.0] * len(values)
    assert out.dtype == np.float32


def test_minmax_scales_to_unit_range() -> None:
    out = minmax(f32(-2.0, 0.0, 2.0, 6.0))
    assert_close(out, [0.0, 0.25, 0.5, 1.0])
    assert out.dtype == np.float32


def test_minmax_nearly_flat_counts_as_flat() -> None:
    assert minmax(f32(1.0, 1.0 + 1e-12)).tolist() == [0.0, 0.0]


def test_convex_weight_one_is_dense_only() -> None:
    dense, lexical = f32(0.1, 0.5, 0.3), f32(9.0, 0.0, 4.0)
    assert_close(convex(dense, lexical, 1.0), [0.0, 1.0, 0.5])


def test_convex_weight_zero_is_lexical_only() -> None:
    dense, lexical = f32(0.1, 0.5, 0.3), f32(8.0, 0.0, 4.0)
    assert_close(convex(dense, lexical, 0.0), [1.0, 0.0, 0.5])


def test_convex_blends_normalised_scores() -> None:
    dense, lexical = f32(0.0, 1.0), f32(10.0, 0.0)
    assert_close(convex(dense, lexical, 0.25), [0.75, 0.25])
    assert convex(dense, lexical, 0.25).dtype == np.float32


def test_convex_with_flat_lexical_keeps_dense_order() -> None:
    out = convex(f32(0.2, 0.8, 0.5), f32(0.0, 0.0, 0.0), 0.5)
    assert_close(out, [0.0, 0.5, 0.25])


def test_convex_empty() -> None:
    assert convex(f32(), f32(), 0.5).shape == (0,)
