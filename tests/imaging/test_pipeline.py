"""app.imaging.pipeline: an upload's one pass (header, decode, photo cleanup, normalisation) ->
the 28x28 the model sees: every format to the same digit, refused uploads, the MNIST passthrough,
normalisation off, and what sparse or noisy images become."""

from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from app.imaging import pipeline
from app.imaging.errors import (
    EmptyImage,
    ImageError,
    ImageTooLarge,
    NoInk,
    UndecodableImage,
    UnsupportedFormat,
)
from app.imaging.header import read_header
from app.imaging.normalize import is_mnist_digit, resize_plain
from app.imaging.pipeline import PreparedImage, prepare_image, prepare_pixels
from tests.support import encode, fuzz_corpus, png
from tests.support.drawings import MAX_PIXELS, UPLOADS, correlation, seven, seven_gray
from training.data import Mnist


@pytest.fixture(scope="module")
def reference() -> NDArray[np.uint8]:
    """What the gray PNG of the same drawing prepares to."""
    return prepare_image(encode(seven()), max_pixels=MAX_PIXELS).pixels


@pytest.mark.parametrize("case", UPLOADS)
def test_prepare_image_decodes_format_to_the_digit(case: str, reference: NDArray[np.uint8]) -> None:
    prepared = prepare_image(UPLOADS[case](), max_pixels=MAX_PIXELS)
    assert prepared.pixels.shape == (28, 28)
    assert prepared.pixels.dtype == np.uint8
    assert prepared.normalized
    assert prepared.refusal is None
    assert correlation(prepared.pixels, reference) > 0.9


@pytest.mark.parametrize("case", UPLOADS)
def test_prepare_image_gives_light_digit_on_black(case: str) -> None:
    pixels = prepare_image(UPLOADS[case](), max_pixels=MAX_PIXELS).pixels
    assert pixels.max() == 255
    assert np.median(pixels) == 0
    assert pixels[[0, 0, -1, -1], [0, -1, 0, -1]].max() == 0  # the corners
    assert is_mnist_digit(pixels)


def test_prepared_image_vector_is_model_input() -> None:
    vector = prepare_image(encode(seven()), max_pixels=MAX_PIXELS).vector()
    assert vector.shape == (784,)
    assert vector.dtype == np.float32
    assert vector.min() >= 0.0
    assert vector.max() == 1.0


# --- refused ------------------------------------------------------------------------------------


def test_prepare_image_rejects_empty_bytes() -> None:
    with pytest.raises(EmptyImage):
        prepare_image(b"", max_pixels=MAX_PIXELS)


@pytest.mark.parametrize(
    "data",
    [fuzz_corpus.png(100_000, 100_000), fuzz_corpus.png(5000, 4000), fuzz_corpus.tiff(5000, 4000)],
    ids=["decompression-bomb", "over-limit", "tiff-over-limit"],
)
def test_prepare_image_rejects_too_many_pixels(data: bytes) -> None:
    assert len(data) < 200
    with pytest.raises(ImageTooLarge):
        prepare_image(data, max_pixels=MAX_PIXELS)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"digit: 7\nnot a picture\n" * 20, UnsupportedFormat),
        (encode(seven().convert("RGB"), "PPM"), UnsupportedFormat),
        (encode(seven().convert("RGB"), "JPEG")[:300], UndecodableImage),
    ],
    ids=["text", "ppm", "truncated-jpeg"],
)
def test_prepare_image_rejects_what_decode_refuses(data: bytes, error: type[ImageError]) -> None:
    with pytest.raises(error):
        prepare_image(data, max_pixels=MAX_PIXELS)


def test_prepare_image_uses_the_header_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(seven())
    header = read_header(data)

    def unread(data: bytes) -> None:
        raise AssertionError("the header was read again")

    monkeypatch.setattr(pipeline, "read_header", unread)
    prepared = prepare_image(data, max_pixels=MAX_PIXELS, header=header)
    assert prepared.normalized


BLANKS = {
    "white": lambda: png(np.full((64, 64), 255, np.uint8)),
    "transparent": lambda: encode(Image.new("RGBA", (280, 280), (0, 0, 0, 0))),
    "gray": lambda: encode(Image.new("RGB", (100, 80), (128, 128, 128))),
    "black-28x28": lambda: png(np.zeros((28, 28), np.uint8)),
    "faint": lambda: png(seven_gray() // 8 + 220),
}


@pytest.mark.parametrize("case", BLANKS)
@pytest.mark.parametrize("normalize", [True, False])
def test_prepare_image_rejects_blank_image(case: str, normalize: bool) -> None:
    with pytest.raises(NoInk, match="no digit"):
        prepare_image(BLANKS[case](), max_pixels=MAX_PIXELS, normalize=normalize)


@pytest.mark.parametrize(
    "error", [EmptyImage, UnsupportedFormat, UndecodableImage, ImageTooLarge, NoInk]
)
def test_image_error_subclass_is_a_value_error(error: type[ImageError]) -> None:
    assert issubclass(error, ImageError)
    assert issubclass(error, ValueError)


# --- MNIST digits -------------------------------------------------------------------------------


def test_prepare_image_passes_mnist_digits_through_unchanged(mnist: Mnist) -> None:
    for digit in mnist.x_test[:200]:
        prepared = prepare_image(png(digit), max_pixels=MAX_PIXELS)
        assert not prepared.normalized
        assert prepared.refusal is None
        np.testing.assert_array_equal(prepared.pixels, digit)


def test_prepare_image_normalizes_inverted_mnist_digit(mnist: Mnist) -> None:
    digit = mnist.x_test[0]
    prepared = prepare_image(png(255 - digit), max_pixels=MAX_PIXELS)
    assert prepared.normalized
    assert correlation(prepared.pixels, digit) > 0.9


@pytest.mark.parametrize("index", range(5))
def test_prepare_pixels_recentres_off_centre_mnist_digit(mnist: Mnist, index: int) -> None:
    frame = np.zeros((64, 64), np.uint8)
    frame[30:58, 2:30] = mnist.x_test[index]
    prepared = prepare_pixels(frame)
    assert prepared.normalized
    assert is_mnist_digit(prepared.pixels)
    assert correlation(prepared.pixels, mnist.x_test[index]) > 0.9


# --- prepare_pixels: what training's augment.canonical uses -------------------------------------


def test_prepare_pixels_ignores_polarity() -> None:
    gray = seven_gray()
    light_on_dark, dark_on_light = prepare_pixels(255 - gray), prepare_pixels(gray)
    assert correlation(light_on_dark.pixels, dark_on_light.pixels) > 0.98


def test_prepare_pixels_gray_as_rgb_is_the_same_digit() -> None:
    gray = seven_gray((120, 90), 8)
    rgb = np.stack([gray] * 3, axis=-1)
    np.testing.assert_array_equal(prepare_pixels(rgb).pixels, prepare_pixels(gray).pixels)


def test_prepare_pixels_ignores_speckle_on_noisy_paper() -> None:
    rng = np.random.default_rng(0)
    clean = seven_gray((300, 300), 20).astype(np.float64)
    noisy = clean * 0.85 + rng.normal(0, 6, clean.shape)
    noisy[rng.integers(0, 300, 60), rng.integers(0, 300, 60)] = 0  # dust
    pixels = prepare_pixels(np.clip(noisy, 0, 255).astype(np.uint8)).pixels
    assert correlation(pixels, prepare_pixels(clean.astype(np.uint8)).pixels) > 0.95


def test_prepare_pixels_keeps_hairline_on_clean_canvas() -> None:
    hairline = prepare_pixels(seven_gray((300, 300), 1)).pixels
    assert correlation(hairline, prepare_pixels(seven_gray((300, 300), 20)).pixels) > 0.8


def test_prepare_pixels_fits_a_wide_digit_in_20_px() -> None:
    pixels = prepare_pixels(seven_gray((300, 90), 12)).pixels
    cols = np.flatnonzero(pixels.any(axis=0))
    assert abs(cols[-1] - cols[0] + 1 - 20) <= 1


def test_prepare_pixels_says_why_a_mark_is_not_a_digit() -> None:
    page = np.full((300, 300), 255, np.uint8)
    page[140:160, 50:250] = 0  # a thick dash, ten times wider than tall: no digit's shape
    prepared = prepare_pixels(page)
    assert prepared.normalized
    assert prepared.refusal is not None
    assert "shaped like a digit" in prepared.refusal
    assert prepare_pixels(seven_gray()).refusal is None


# --- normalisation off --------------------------------------------------------------------------


def test_prepare_image_without_normalize_only_resizes() -> None:
    image = seven()
    prepared = prepare_image(encode(image), max_pixels=MAX_PIXELS, normalize=False)
    assert not prepared.normalized
    assert prepared.refusal is None
    np.testing.assert_array_equal(prepared.pixels, resize_plain(np.asarray(image)))


def test_prepare_image_without_normalize_resizes_colour_as_gray() -> None:
    rgb = Image.merge("RGB", [seven()] * 3)
    prepared = prepare_image(encode(rgb), max_pixels=MAX_PIXELS, normalize=False)
    assert prepared.pixels.shape == (28, 28)
    assert np.abs(prepared.pixels.astype(int) - resize_plain(seven_gray())).max() <= 1


def test_prepare_image_without_normalize_keeps_28x28_gray_as_is() -> None:
    gray = seven_gray((28, 28), 3)
    prepared = prepare_image(png(gray), max_pixels=MAX_PIXELS, normalize=False)
    np.testing.assert_array_equal(prepared.pixels, gray)


# --- sparse ink ---------------------------------------------------------------------------------


def sheet(height: int, width: int, specks: list[tuple[int, int]]) -> bytes:
    """White paper with single black pixels at (row, column)."""
    pixels = np.full((height, width), 255, np.uint8)
    for row, column in specks:
        pixels[row, column] = 0
    return png(pixels)


def diagonal(side: int, level: int) -> bytes:
    """A 1 px diagonal of gray `level` across white paper, corner to corner."""
    return png(np.where(np.eye(side, dtype=bool), np.uint8(level), np.uint8(255)).astype(np.uint8))


# Issue 15, finding 2: shrinking spread these specks below the ink floor, and the crop after
# raised IndexError: a 500 on /predict, a failed /predict/batch and a 500 on /v2.
SPARSE = {
    "two-specks-far-apart": lambda: sheet(1000, 1000, [(100, 100), (900, 850)]),
    "specks-in-corners": lambda: sheet(1400, 900, [(0, 0), (1399, 899), (700, 450)]),
    "one-speck-wide-sheet": lambda: sheet(200, 1400, [(100, 3)]),
    "hairline": lambda: diagonal(1200, 150),
    "black-hairline": lambda: diagonal(1000, 0),
}


@pytest.mark.parametrize("case", SPARSE)
@pytest.mark.parametrize("normalize", [True, False])
def test_prepare_image_sparse_ink_is_a_digit_or_no_ink(case: str, normalize: bool) -> None:
    """Never an error other than NoInk (the 422 "no digit found"): specks of dust on a sheet
    are no digit now that the photo stage looks for one; what it keeps is a normalised 28x28."""
    prepared: PreparedImage | NoInk
    try:
        prepared = prepare_image(SPARSE[case](), max_pixels=MAX_PIXELS, normalize=normalize)
    except NoInk as exc:
        prepared = exc
    if isinstance(prepared, NoInk):
        assert "no digit found" in str(prepared)
        return
    assert prepared.pixels.shape == (28, 28)
    if normalize:
        assert prepared.normalized
        assert prepared.pixels.max() == 255
        assert is_mnist_digit(prepared.pixels)


def test_prepare_image_black_hairline_is_normalised() -> None:
    prepared = prepare_image(diagonal(1000, 0), max_pixels=MAX_PIXELS)
    assert prepared.normalized
    assert is_mnist_digit(prepared.pixels)


def thin_seven(width: int, height: int, pen: int, level: int) -> bytes:
    """A '7' drawn with a `pen` px line of gray `level` on a white width x height page."""
    page = Image.new("L", (width, height), 255)
    corners = [(width * 0.4, height * 0.35), (width * 0.6, height * 0.35)]
    corners.append((width * 0.47, height * 0.65))
    ImageDraw.Draw(page).line(corners, fill=level, width=pen)
    return encode(page)


THIN_BLANK = pytest.mark.xfail(
    strict=True,
    raises=NoInk,
    reason="photo.digit_ink tells blank from not on its working copy (a whole-factor reduction to "
    "at most 512 px, INTER_AREA, then a 3x3 Gaussian blur): a 1 px stroke is diluted by the "
    "factor, and below MIN_DARKNESS the image is called blank",
)


@pytest.mark.parametrize(
    "data",
    [
        lambda: thin_seven(2000, 1500, 1, 0),
        lambda: thin_seven(4000, 3000, 2, 30),
        pytest.param(lambda: diagonal(1000, 150), marks=THIN_BLANK),
        pytest.param(lambda: thin_seven(4000, 4000, 1, 0), marks=THIN_BLANK),
    ],
    ids=[
        "1px-black-seven-2000x1500",
        "2px-dark-seven-4000x3000",
        "1px-gray-150-diagonal-1000x1000",
        "1px-black-seven-4000x4000",
    ],
)
def test_prepare_image_thin_visible_stroke_on_a_large_page_is_not_blank(
    data: Callable[[], bytes],
) -> None:
    prepared = prepare_image(data(), max_pixels=MAX_PIXELS)
    assert prepared.normalized
