"""app.imaging.normalize: MNIST's normalisation of a digit's ink (crop, stroke weight, 20 px
box, centre of mass), the MNIST-style 28x28 test, the stroke measure and the plain resize."""

import numpy as np
import pytest
from numpy.typing import NDArray

from app.imaging import normalize as normalize_module
from app.imaging.errors import NoInk
from app.imaging.normalize import is_mnist_digit, normalize, resize_plain, stroke_width
from tests.support.drawings import box_side, centre_of_mass, correlation, seven_gray
from training.data import Mnist


def ink_of(gray: NDArray[np.uint8]) -> NDArray[np.float32]:
    """A dark-on-white drawing as the photo stage hands it on: ink in [0, 1] on 0."""
    return ((255 - gray.astype(np.float32)) / 255).astype(np.float32)


def seven_ink(size: tuple[int, int] = (300, 300), width: int = 20) -> NDArray[np.float32]:
    return ink_of(seven_gray(size, width))


def test_normalize_gives_a_28x28_uint8_light_digit_on_black() -> None:
    pixels = normalize(seven_ink())
    assert (pixels.shape, pixels.dtype) == ((28, 28), np.uint8)
    assert pixels.max() == 255
    assert pixels[[0, 0, -1, -1], [0, -1, 0, -1]].max() == 0
    assert is_mnist_digit(pixels)


@pytest.mark.parametrize("index", range(5))
@pytest.mark.parametrize("place", [(2, 3), (30, 34), (4, 33)])
def test_normalize_recentres_off_centre_mnist_digit(
    mnist: Mnist, index: int, place: tuple[int, int]
) -> None:
    frame = np.zeros((64, 64), np.float32)
    frame[place[0] : place[0] + 28, place[1] : place[1] + 28] = mnist.x_test[index] / 255
    pixels = normalize(frame)
    cy, cx = centre_of_mass(pixels)
    assert abs(cy - 14) <= 1
    assert abs(cx - 14) <= 1
    assert abs(box_side(pixels) - 20) <= 1


@pytest.mark.parametrize("index", range(5))
def test_normalize_keeps_off_centre_mnist_digit_shape(mnist: Mnist, index: int) -> None:
    frame = np.zeros((64, 64), np.float32)
    frame[30:58, 2:30] = mnist.x_test[index] / 255
    assert correlation(normalize(frame), mnist.x_test[index]) > 0.9


def test_normalize_fits_longer_side_in_20_px() -> None:
    pixels = normalize(seven_ink(size=(300, 90), width=12))
    cols = np.flatnonzero(pixels.any(axis=0))
    assert abs(cols[-1] - cols[0] + 1 - 20) <= 1
    assert box_side(pixels) <= 21


def test_normalize_ignores_ink_below_the_noise_floor() -> None:
    clean = seven_ink()
    hazy = np.maximum(clean, np.float32(0.1))  # a faint haze over the whole crop
    np.testing.assert_array_equal(normalize(hazy), normalize(clean))


def test_normalize_is_the_same_at_any_ink_peak() -> None:
    np.testing.assert_array_equal(normalize(seven_ink() * np.float32(0.4)), normalize(seven_ink()))


def test_normalize_keeps_hairline_on_clean_canvas() -> None:
    hairline = normalize(seven_ink(width=1))
    assert correlation(hairline, normalize(seven_ink(width=20))) > 0.8


@pytest.mark.parametrize(
    "ink", [np.zeros((40, 40), np.float32), np.zeros((0, 0), np.float32)], ids=["zeros", "empty"]
)
def test_normalize_of_no_ink_is_no_ink(ink: NDArray[np.float32]) -> None:
    with pytest.raises(NoInk, match="no digit"):
        normalize(ink)


# --- stroke weight ------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [2, 4, 8])
def test_stroke_width_of_a_long_bar_is_its_width(width: int) -> None:
    bar = np.zeros((40, 400))
    bar[10 : 10 + width, :] = 1.0
    assert stroke_width(bar) == pytest.approx(width, rel=0.05)


def test_stroke_width_of_nothing_is_zero() -> None:
    assert stroke_width(np.zeros((5, 5))) == 0.0


def weight_unmatched(
    ink: NDArray[np.float32], monkeypatch: pytest.MonkeyPatch
) -> NDArray[np.uint8]:
    """normalize with stroke-weight matching switched off."""
    with monkeypatch.context() as patch:
        patch.setattr(normalize_module, "MNIST_STROKE", (0.0, np.inf))
        return normalize(ink)


@pytest.mark.parametrize("width", [1, 2, 4])
def test_normalize_thickens_thin_strokes(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    ink = seven_ink(width=width)
    thin = stroke_width(weight_unmatched(ink, monkeypatch) / 255)
    assert stroke_width(normalize(ink) / 255) > thin * 1.08


@pytest.mark.parametrize("width", [75, 90])
def test_normalize_thins_bold_strokes(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    ink = seven_ink(width=width)
    bold = stroke_width(weight_unmatched(ink, monkeypatch) / 255)
    assert stroke_width(normalize(ink) / 255) < bold * 0.95


@pytest.mark.parametrize("width", [20, 30])
def test_normalize_keeps_mnist_weight_strokes(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    ink = seven_ink(width=width)
    np.testing.assert_array_equal(normalize(ink), weight_unmatched(ink, monkeypatch))


# --- is_mnist_digit, resize_plain ---------------------------------------------------------------


def test_is_mnist_digit_accepts_every_mnist_test_digit(mnist: Mnist) -> None:
    assert all(is_mnist_digit(digit) for digit in mnist.x_test)


def test_is_mnist_digit_refuses_what_is_not_an_mnist_style_28x28(mnist: Mnist) -> None:
    digit = mnist.x_test[0]
    shifted = np.zeros_like(digit)
    shifted[:, :20] = digit[:, 8:]  # the mass moved 8 px left
    assert not is_mnist_digit(255 - digit)  # dark on light
    assert not is_mnist_digit(shifted)
    assert not is_mnist_digit(np.zeros((28, 28), np.uint8))
    assert not is_mnist_digit(np.pad(digit, 2))  # 32x32
    assert not is_mnist_digit(np.stack([digit] * 3, axis=-1))  # RGB


def test_resize_plain_keeps_a_28x28_and_squeezes_the_rest() -> None:
    small = seven_gray((28, 28), 3)
    assert resize_plain(small) is small
    squeezed = resize_plain(seven_gray((90, 300), 12))
    assert (squeezed.shape, squeezed.dtype) == ((28, 28), np.uint8)
    assert squeezed.min() < 100  # dark on light, as it came: nothing else is done
    assert squeezed[0, 0] == 255
