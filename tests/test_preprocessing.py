"""app.imaging.preprocessing without HTTP: formats and modes, refused uploads, MNIST passthrough,
and the MNIST normalisation (polarity, crop, 20 px box, centre of mass, stroke weight)."""

import struct
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageOps

from app.imaging import preprocessing
from app.imaging.preprocessing import (
    ACCEPTED_FORMATS_TEXT,
    EmptyImage,
    ImageError,
    ImageTooLarge,
    NoInk,
    UndecodableImage,
    UnsupportedFormat,
    decode_image,
    is_mnist_digit,
    normalize_digit,
    prepare_image,
    resize_plain,
    stroke_width,
    to_grayscale,
)
from tests.support import encode, png
from training.data import Mnist

MAX_PIXELS = 16_000_000
INK = (20, 30, 110)  # dark blue


def seven(size: tuple[int, int] = (64, 64), width: int = 6) -> Image.Image:
    """A dark '7' on white paper ("L"); asymmetric, so a wrong rotation shows."""
    image = Image.new("L", size, 255)
    w, h = size
    corners = [(w * 0.2, h * 0.2), (w * 0.8, h * 0.2), (w * 0.45, h * 0.85)]
    ImageDraw.Draw(image).line(corners, fill=0, width=width)
    return image


def on_transparent(image: Image.Image) -> Image.Image:
    """The drawing as an HTML canvas exports it: ink colour, opacity from the ink."""
    rgba = Image.new("RGBA", image.size, (0, 0, 0, 0))
    rgba.paste(Image.new("RGBA", image.size, (*INK, 255)), mask=ImageOps.invert(image))
    return rgba


def palette_with_transparency() -> bytes:
    image = Image.new("P", (64, 64), 0)
    image.putpalette([255, 255, 255, *INK])
    image.paste(1, mask=ImageOps.invert(seven()))
    return encode(image, transparency=0)


def animated_gif() -> bytes:
    bar = Image.new("L", (64, 64), 255)
    ImageDraw.Draw(bar).rectangle((8, 28, 56, 36), fill=0)
    frames = [seven().convert("P"), bar.convert("P")]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def sixteen_bit() -> bytes:
    return encode(Image.fromarray(np.asarray(seven(), dtype=np.uint16) * 257))


def correlation(a: NDArray[np.uint8], b: NDArray[np.uint8]) -> float:
    return float(np.corrcoef(a.ravel().astype(np.float64), b.ravel().astype(np.float64))[0, 1])


def centre_of_mass(pixels: NDArray[np.uint8]) -> tuple[float, float]:
    mass = pixels.astype(np.float64)
    rows, cols = np.indices(mass.shape)
    return float((rows * mass).sum() / mass.sum()), float((cols * mass).sum() / mass.sum())


def box_side(pixels: NDArray[np.uint8]) -> int:
    rows, cols = np.flatnonzero(pixels.any(axis=1)), np.flatnonzero(pixels.any(axis=0))
    return int(max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1)


# id -> (upload bytes, the format prepare_image reports)
FORMATS: dict[str, tuple[Callable[[], bytes], str]] = {
    "png-1": (lambda: encode(seven().convert("1", dither=Image.Dither.NONE)), "PNG"),
    "png-L": (lambda: encode(seven()), "PNG"),
    "png-LA": (lambda: encode(on_transparent(seven()).convert("LA")), "PNG"),
    "png-P": (lambda: encode(ImageOps.colorize(seven(), INK, "white").convert("P")), "PNG"),
    "png-P-transparency": (palette_with_transparency, "PNG"),
    "png-RGB": (lambda: encode(ImageOps.colorize(seven(), INK, "white")), "PNG"),
    "png-RGBA": (lambda: encode(on_transparent(seven())), "PNG"),
    "png-I;16": (sixteen_bit, "PNG"),
    "jpeg-RGB": (lambda: encode(ImageOps.colorize(seven(), INK, "white"), "JPEG"), "JPEG"),
    "jpeg-L": (lambda: encode(seven(), "JPEG"), "JPEG"),
    "jpeg-CMYK": (lambda: encode(seven().convert("CMYK"), "JPEG"), "JPEG"),
    "gif-animated": (animated_gif, "GIF"),
    "bmp": (lambda: encode(seven().convert("RGB"), "BMP"), "BMP"),
    "webp": (lambda: encode(seven().convert("RGB"), "WEBP"), "WEBP"),
    "tiff": (lambda: encode(seven().convert("RGB"), "TIFF"), "TIFF"),
}


@pytest.fixture(scope="module")
def reference() -> NDArray[np.uint8]:
    """What the gray PNG of the same drawing prepares to."""
    return prepare_image(encode(seven()), max_pixels=MAX_PIXELS).pixels


@pytest.mark.parametrize("case", FORMATS)
def test_prepare_image_decodes_format_to_the_digit(case: str, reference: NDArray[np.uint8]) -> None:
    pixels = prepare_image(FORMATS[case][0](), max_pixels=MAX_PIXELS).pixels
    assert pixels.shape == (28, 28)
    assert pixels.dtype == np.uint8
    assert correlation(pixels, reference) > 0.9


@pytest.mark.parametrize("case", FORMATS)
def test_decode_image_reports_format(case: str) -> None:
    build, expected = FORMATS[case]
    assert decode_image(build(), max_pixels=MAX_PIXELS)[1] == expected


@pytest.mark.parametrize("case", FORMATS)
def test_prepare_image_gives_light_digit_on_black(case: str) -> None:
    pixels = prepare_image(FORMATS[case][0](), max_pixels=MAX_PIXELS).pixels
    assert pixels.max() == 255
    assert np.median(pixels) == 0
    assert pixels[[0, 0, -1, -1], [0, -1, 0, -1]].max() == 0  # the corners


# EXIF orientation -> the transpose that turns the upright picture into the stored one
ORIENTATIONS = {
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_decode_image_turns_exif_rotated_jpeg_upright(orientation: int) -> None:
    upright = seven(size=(48, 64))
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored = upright.transpose(ORIENTATIONS[orientation])
    data = encode(stored, "JPEG", quality=95, exif=exif.tobytes())
    image, _ = decode_image(data, max_pixels=MAX_PIXELS)
    assert image.size == upright.size
    difference = np.abs(to_grayscale(image).astype(int) - np.asarray(upright, dtype=int))
    assert difference.mean() < 8


def test_decode_image_rejects_empty_bytes() -> None:
    with pytest.raises(EmptyImage):
        decode_image(b"", max_pixels=MAX_PIXELS)


NOT_IMAGES = {
    "random": np.random.default_rng(0).bytes(2000),
    "text": b"digit: 7\nnot a picture, only words\n" * 20,
    "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
}


@pytest.mark.parametrize("case", NOT_IMAGES)
def test_decode_image_rejects_non_image_listing_accepted_formats(case: str) -> None:
    with pytest.raises(UnsupportedFormat, match=ACCEPTED_FORMATS_TEXT):
        decode_image(NOT_IMAGES[case], max_pixels=MAX_PIXELS)


@pytest.mark.parametrize("format_name", ["ICO", "PPM", "PCX", "TGA"])
def test_decode_image_rejects_image_format_not_accepted(format_name: str) -> None:
    data = encode(seven().convert("RGB"), format_name)
    with pytest.raises(UnsupportedFormat, match=f"{format_name}.*{ACCEPTED_FORMATS_TEXT}"):
        decode_image(data, max_pixels=MAX_PIXELS)


@pytest.mark.parametrize("format_name", ["PNG", "JPEG"])
@pytest.mark.parametrize("kept", [0.5, 0.9])
def test_decode_image_rejects_truncated_file(format_name: str, kept: float) -> None:
    data = encode(seven().convert("RGB"), format_name)
    with pytest.raises(UndecodableImage, match=r"(?i)truncated"):
        decode_image(data[: int(len(data) * kept)], max_pixels=MAX_PIXELS)


def png_header(width: int, height: int) -> bytes:
    """A tiny PNG that declares width x height gray pixels (its data is a stub)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 16)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("width", "height"),
    [(100_000, 100_000), (5_000, 4_000)],
    ids=["decompression-bomb", "over-limit"],
)
def test_decode_image_rejects_too_many_pixels(width: int, height: int) -> None:
    data = png_header(width, height)
    assert len(data) < 100
    with pytest.raises(ImageTooLarge):
        decode_image(data, max_pixels=MAX_PIXELS)


BLANKS = {
    "white": lambda: png(np.full((64, 64), 255, np.uint8)),
    "transparent": lambda: encode(Image.new("RGBA", (280, 280), (0, 0, 0, 0))),
    "gray": lambda: encode(Image.new("RGB", (100, 80), (128, 128, 128))),
    "black-28x28": lambda: png(np.zeros((28, 28), np.uint8)),
    "faint": lambda: png(np.asarray(seven(), dtype=np.uint8) // 8 + 220),
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


def test_prepare_image_passes_mnist_digits_through_unchanged(mnist: Mnist) -> None:
    for digit in mnist.x_test[:200]:
        prepared = prepare_image(png(digit), max_pixels=MAX_PIXELS)
        assert not prepared.normalized
        np.testing.assert_array_equal(prepared.pixels, digit)


def test_is_mnist_digit_accepts_every_mnist_test_digit(mnist: Mnist) -> None:
    assert all(is_mnist_digit(digit) for digit in mnist.x_test)


@pytest.mark.parametrize("index", range(5))
@pytest.mark.parametrize("place", [(2, 3), (30, 34), (4, 33)])
def test_normalize_digit_recentres_off_centre_mnist_digit(
    mnist: Mnist, index: int, place: tuple[int, int]
) -> None:
    frame = np.zeros((64, 64), np.uint8)
    frame[place[0] : place[0] + 28, place[1] : place[1] + 28] = mnist.x_test[index]
    pixels = normalize_digit(frame)
    cy, cx = centre_of_mass(pixels)
    assert abs(cy - 14) <= 1
    assert abs(cx - 14) <= 1
    assert abs(box_side(pixels) - 20) <= 1


@pytest.mark.parametrize("index", range(5))
def test_normalize_digit_keeps_off_centre_mnist_digit_shape(mnist: Mnist, index: int) -> None:
    frame = np.zeros((64, 64), np.uint8)
    frame[30:58, 2:30] = mnist.x_test[index]
    assert correlation(normalize_digit(frame), mnist.x_test[index]) > 0.9


def test_prepare_image_normalizes_inverted_mnist_digit(mnist: Mnist) -> None:
    digit = mnist.x_test[0]
    prepared = prepare_image(png(255 - digit), max_pixels=MAX_PIXELS)
    assert prepared.normalized
    assert correlation(prepared.pixels, digit) > 0.9


def test_normalize_digit_ignores_polarity() -> None:
    gray = np.asarray(seven(), dtype=np.uint8)
    np.testing.assert_array_equal(normalize_digit(gray), normalize_digit(255 - gray))


def test_normalize_digit_fits_longer_side_in_20_px() -> None:
    wide = np.asarray(seven(size=(300, 90), width=12), dtype=np.uint8)
    pixels = normalize_digit(wide)
    cols = np.flatnonzero(pixels.any(axis=0))
    assert abs(cols[-1] - cols[0] + 1 - 20) <= 1
    assert box_side(pixels) <= 21


def test_normalize_digit_ignores_speckle_on_noisy_paper() -> None:
    rng = np.random.default_rng(0)
    clean = np.asarray(seven(size=(300, 300), width=20), dtype=np.float64)
    noisy = clean * 0.85 + rng.normal(0, 6, clean.shape)
    noisy[rng.integers(0, 300, 60), rng.integers(0, 300, 60)] = 0  # dust
    pixels = normalize_digit(np.clip(noisy, 0, 255).astype(np.uint8))
    assert correlation(pixels, normalize_digit(clean.astype(np.uint8))) > 0.95


def test_normalize_digit_keeps_hairline_on_clean_canvas() -> None:
    hairline = np.asarray(seven(size=(300, 300), width=1), dtype=np.uint8)
    reference = np.asarray(seven(size=(300, 300), width=20), dtype=np.uint8)
    assert correlation(normalize_digit(hairline), normalize_digit(reference)) > 0.8


@pytest.mark.parametrize("width", [2, 4, 8])
def test_stroke_width_of_a_long_bar_is_its_width(width: int) -> None:
    bar = np.zeros((40, 400))
    bar[10 : 10 + width, :] = 1.0
    assert stroke_width(bar) == pytest.approx(width, rel=0.05)


def test_stroke_width_of_nothing_is_zero() -> None:
    assert stroke_width(np.zeros((5, 5))) == 0.0


def weight_unmatched(gray: NDArray[np.uint8], monkeypatch: pytest.MonkeyPatch) -> NDArray[np.uint8]:
    """normalize_digit with stroke-weight matching switched off."""
    with monkeypatch.context() as patch:
        patch.setattr(preprocessing, "MNIST_STROKE", (0.0, np.inf))
        return normalize_digit(gray)


@pytest.mark.parametrize("width", [1, 2, 4])
def test_normalize_digit_thickens_thin_strokes(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    gray = np.asarray(seven(size=(300, 300), width=width), dtype=np.uint8)
    thin = stroke_width(weight_unmatched(gray, monkeypatch) / 255)
    assert stroke_width(normalize_digit(gray) / 255) > thin * 1.08


@pytest.mark.parametrize("width", [75, 90])
def test_normalize_digit_thins_bold_strokes(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    gray = np.asarray(seven(size=(300, 300), width=width), dtype=np.uint8)
    bold = stroke_width(weight_unmatched(gray, monkeypatch) / 255)
    assert stroke_width(normalize_digit(gray) / 255) < bold * 0.95


@pytest.mark.parametrize("width", [20, 30])
def test_normalize_digit_keeps_mnist_weight_strokes(
    width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    gray = np.asarray(seven(size=(300, 300), width=width), dtype=np.uint8)
    np.testing.assert_array_equal(normalize_digit(gray), weight_unmatched(gray, monkeypatch))


def test_prepare_image_without_normalize_only_resizes() -> None:
    image = seven()
    prepared = prepare_image(encode(image), max_pixels=MAX_PIXELS, normalize=False)
    assert not prepared.normalized
    np.testing.assert_array_equal(prepared.pixels, resize_plain(np.asarray(image)))


def test_prepare_image_without_normalize_keeps_28x28_gray_as_is() -> None:
    gray = np.asarray(seven(size=(28, 28), width=3), dtype=np.uint8)
    prepared = prepare_image(png(gray), max_pixels=MAX_PIXELS, normalize=False)
    np.testing.assert_array_equal(prepared.pixels, gray)


def test_prepared_image_vector_is_model_input() -> None:
    vector = prepare_image(encode(seven()), max_pixels=MAX_PIXELS).vector()
    assert vector.shape == (784,)
    assert vector.dtype == np.float32
    assert vector.min() >= 0.0
    assert vector.max() == 1.0


def sheet(height: int, width: int, specks: list[tuple[int, int]]) -> bytes:
    """White paper with single black pixels at (row, column)."""
    pixels = np.full((height, width), 255, np.uint8)
    for row, column in specks:
        pixels[row, column] = 0
    return png(pixels)


# Issue 15, finding 2: shrinking spread these specks below the ink floor, and the crop after
# raised IndexError: a 500 on /predict, a failed /predict/batch and a 500 on /v2.
SPARSE = {
    "two-specks-far-apart": lambda: sheet(1000, 1000, [(100, 100), (900, 850)]),
    "specks-in-corners": lambda: sheet(1400, 900, [(0, 0), (1399, 899), (700, 450)]),
    "one-speck-wide-sheet": lambda: sheet(200, 1400, [(100, 3)]),
    "hairline": lambda: png(
        np.where(np.eye(1200, dtype=bool), np.uint8(150), np.uint8(255)).astype(np.uint8)
    ),
}


@pytest.mark.parametrize("case", SPARSE)
def test_prepare_image_sparse_ink_is_normalised(case: str) -> None:
    prepared = prepare_image(SPARSE[case](), max_pixels=MAX_PIXELS)
    assert prepared.normalized
    assert prepared.pixels.max() == 255
    assert is_mnist_digit(prepared.pixels)
