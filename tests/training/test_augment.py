"""training.augment and training.typed: distortions, upload styles, typed digits, canonicalised."""

import numpy as np
import pytest

from app.imaging.pipeline import prepare_image, prepare_pixels
from tests.support import png
from training.augment import (
    MILD,
    PAD,
    UPSCALE,
    Distortion,
    as_upload,
    augment_chunk,
    canonical,
    distort,
    mnist_style,
)
from training.fonts import TRAIN_FAMILIES, faces
from training.typed import render, typed_chunk


def a_digit() -> np.ndarray:
    """A thick '7'-ish stroke: light on black, 28x28 uint8."""
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[6:9, 7:21] = 255
    for row in range(9, 23):
        digit[row, 19 - (row - 9) // 2 : 22 - (row - 9) // 2] = 255
    return digit


def test_distort_returns_upscaled_float_ink_in_0_1() -> None:
    ink = distort(a_digit(), np.random.default_rng(0), Distortion())
    side = (28 + 2 * PAD) * UPSCALE
    assert (ink.shape, ink.dtype) == ((side, side), np.float32)
    assert ink.min() >= 0.0
    assert ink.max() <= 1.0
    assert ink.max() > 0.5


def test_distort_same_seed_same_result() -> None:
    first = distort(a_digit(), np.random.default_rng(3), Distortion())
    again = distort(a_digit(), np.random.default_rng(3), Distortion())
    np.testing.assert_array_equal(first, again)


def test_distort_other_seed_other_result() -> None:
    first = distort(a_digit(), np.random.default_rng(3), Distortion(identity=0.0))
    other = distort(a_digit(), np.random.default_rng(4), Distortion(identity=0.0))
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("seed", range(8))
def test_as_upload_is_gray_uint8_the_pipeline_accepts(seed: int) -> None:
    rng = np.random.default_rng(seed)
    gray = as_upload(distort(a_digit(), rng, Distortion()), rng)
    assert gray.dtype == np.uint8
    assert gray.ndim == 2
    prepared = prepare_pixels(gray)
    assert prepared.pixels.shape == (28, 28)
    assert prepared.normalized


def test_canonical_is_the_service_pipeline() -> None:
    gray = np.pad(255 - a_digit(), 20, constant_values=255)
    np.testing.assert_array_equal(canonical(gray), prepare_pixels(gray).pixels)
    # ... what the same pixels uploaded as a PNG become
    served = prepare_image(png(gray), max_pixels=16_000_000).pixels
    np.testing.assert_array_equal(canonical(gray), served)


@pytest.mark.parametrize(
    "gray",
    [np.zeros((40, 40), np.uint8), np.full((30, 50), 200, np.uint8)],
    ids=["black", "flat-gray"],
)
def test_canonical_of_a_blank_image_is_none(gray: np.ndarray) -> None:
    assert canonical(gray) is None


def test_mnist_style_is_mass_centred_in_a_20px_box() -> None:
    image = mnist_style(distort(a_digit(), np.random.default_rng(1), MILD))
    assert image is not None
    assert image.shape == (28, 28)
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 21
    mass = image.astype(np.float64)
    cy = (mass.sum(axis=1) @ np.arange(28)) / mass.sum()
    cx = (mass.sum(axis=0) @ np.arange(28)) / mass.sum()
    assert abs(cy - 14) <= 1.5
    assert abs(cx - 14) <= 1.5


def test_mnist_style_of_no_ink_is_none() -> None:
    assert mnist_style(np.zeros((60, 60), np.float32)) is None


def test_augment_chunk_gives_copies_per_digit_with_their_labels() -> None:
    digits = np.stack([a_digit()] * 3)
    images, labels = augment_chunk(
        digits, np.array([7, 7, 7], np.uint8), np.random.SeedSequence(0), 2
    )
    assert (images.shape, images.dtype) == ((6, 28, 28), np.uint8)
    assert labels.tolist() == [7] * 6


def test_augment_chunk_is_reproducible_from_its_seed() -> None:
    digits, labels = np.stack([a_digit()] * 2), np.array([7, 7], np.uint8)
    first = augment_chunk(digits, labels, np.random.SeedSequence(5), 2)
    again = augment_chunk(digits, labels, np.random.SeedSequence(5), 2)
    np.testing.assert_array_equal(first[0], again[0])


def test_render_draws_a_dark_digit_on_light_paper_or_the_reverse() -> None:
    gray = render(None, 4, np.random.default_rng(0), {})
    assert gray.dtype == np.uint8
    assert min(gray.shape) >= 10
    assert int(gray.max()) - int(gray.min()) > 60


def test_typed_chunk_labels_cycle_through_the_digits() -> None:
    images, labels = typed_chunk(faces(TRAIN_FAMILIES[0]), 20, np.random.SeedSequence(1))
    assert images.shape == (20, 28, 28)
    assert labels.tolist() == list(range(10)) * 2


def test_typed_chunk_is_reproducible_from_its_seed() -> None:
    first = typed_chunk([None], 10, np.random.SeedSequence(2))
    again = typed_chunk([None], 10, np.random.SeedSequence(2))
    np.testing.assert_array_equal(first[0], again[0])
