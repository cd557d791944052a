"""app.imaging.pixels.to_model_input: the one pixel contract shared by training and serving."""

import re

import numpy as np
import pytest

from app.imaging.pixels import IMAGE_SIDE, INPUT_SIZE, to_model_input


def _ramp() -> np.ndarray:
    """A 28x28 uint8 image holding every value 0-255 (and some twice)."""
    return (np.arange(INPUT_SIZE) % 256).astype(np.uint8).reshape(IMAGE_SIDE, IMAGE_SIDE)


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((28, 28), (784,)),
        ((1, 28, 28), (1, 784)),
        ((5, 28, 28), (5, 784)),
        ((2, 3, 28, 28), (2, 3, 784)),
        ((0, 28, 28), (0, 784)),
    ],
)
def test_to_model_input_flattens_the_last_two_axes(
    shape: tuple[int, ...], expected: tuple[int, ...]
) -> None:
    assert to_model_input(np.zeros(shape, dtype=np.uint8)).shape == expected


def test_to_model_input_returns_float32() -> None:
    assert to_model_input(_ramp()).dtype == np.float32


def test_to_model_input_maps_black_to_0_and_white_to_1() -> None:
    images = np.stack([np.zeros((28, 28), np.uint8), np.full((28, 28), 255, np.uint8)])
    vectors = to_model_input(images)
    assert np.all(vectors[0] == 0.0)
    assert np.all(vectors[1] == 1.0)


def test_to_model_input_values_lie_in_the_unit_interval() -> None:
    images = np.random.default_rng(0).integers(0, 256, size=(64, 28, 28), dtype=np.uint8)
    vectors = to_model_input(images)
    assert vectors.min() >= 0.0
    assert vectors.max() <= 1.0


def test_to_model_input_divides_every_value_by_255_exactly() -> None:
    image = _ramp()
    expected = image.reshape(INPUT_SIZE).astype(np.float32) / np.float32(255.0)
    np.testing.assert_array_equal(to_model_input(image), expected)


def test_to_model_input_keeps_row_major_pixel_order() -> None:
    image = np.zeros((28, 28), dtype=np.uint8)
    image[3, 17] = 255
    assert np.flatnonzero(to_model_input(image)).tolist() == [3 * 28 + 17]


def test_to_model_input_leaves_its_input_unchanged() -> None:
    image = _ramp()
    to_model_input(image)
    np.testing.assert_array_equal(image, _ramp())


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8, np.int64, np.uint16, np.bool_])
def test_to_model_input_rejects_non_uint8_dtype(dtype: type) -> None:
    with pytest.raises(ValueError, match=rf"expected uint8 .* got {np.dtype(dtype)} "):
        to_model_input(np.zeros((28, 28), dtype=dtype))


@pytest.mark.parametrize(
    "shape", [(), (784,), (28,), (27, 28), (28, 27), (29, 29), (28, 28, 1), (1, 28, 28, 3)]
)
def test_to_model_input_rejects_images_that_are_not_28x28(shape: tuple[int, ...]) -> None:
    expected = rf"shape \(\.\.\., 28, 28\), got uint8 {re.escape(str(shape))}$"
    with pytest.raises(ValueError, match=expected):
        to_model_input(np.zeros(shape, dtype=np.uint8))
