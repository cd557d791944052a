"""app.imaging.decode: upload bytes -> upright pixels, (H, W) gray or (H, W, 3) RGB uint8, with
alpha flattened; every accepted format and mode, and the uploads refused while decoding."""

import io

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image, ImageOps

from app.imaging import decode as decode_module
from app.imaging.decode import ACCEPTED_FORMATS, ACCEPTED_FORMATS_TEXT, decode, open_image, to_array
from app.imaging.errors import ImageTooLarge, UndecodableImage, UnsupportedFormat
from app.imaging.header import read_header
from tests.support import encode, fuzz_corpus, png
from tests.support.drawings import (
    MAX_PIXELS,
    UPLOADS,
    correlation,
    on_transparent,
    seven,
    seven_gray,
)

# id -> (the format Pillow names, decoded to gray (2-D) rather than RGB; None: either, as long
# as the channels are equal)
FORMATS: dict[str, tuple[str, bool | None]] = {
    "png-1": ("PNG", True),
    "png-L": ("PNG", True),
    "png-LA": ("PNG", None),
    "png-P": ("PNG", False),
    "png-P-transparency": ("PNG", False),
    "png-RGB": ("PNG", False),
    "png-RGBA": ("PNG", False),
    "png-I;16": ("PNG", True),
    "jpeg-RGB": ("JPEG", False),
    "jpeg-L": ("JPEG", True),
    "jpeg-CMYK": ("JPEG", False),
    "gif-animated": ("GIF", False),
    "bmp": ("BMP", False),
    "webp": ("WEBP", False),
    "tiff": ("TIFF", False),
}


def test_formats_cover_every_upload_of_the_drawing() -> None:
    assert FORMATS.keys() == UPLOADS.keys()


def luminance(pixels: NDArray[np.uint8]) -> NDArray[np.float64]:
    values = pixels.astype(np.float64)
    return values if values.ndim == 2 else values @ np.array([0.299, 0.587, 0.114])


def decoded(data: bytes) -> NDArray[np.uint8]:
    return decode(data, read_header(data), MAX_PIXELS)


@pytest.mark.parametrize("case", FORMATS)
def test_decode_gives_the_drawing_dark_on_light(case: str) -> None:
    gray = FORMATS[case][1]
    pixels = decoded(UPLOADS[case]())
    assert pixels.dtype == np.uint8
    if gray is None:
        assert pixels.ndim == 2 or (pixels == pixels[..., :1]).all()
    else:
        assert pixels.shape == ((64, 64) if gray else (64, 64, 3))
    assert correlation(luminance(pixels), seven_gray()) > 0.9  # upright, the same polarity


@pytest.mark.parametrize("case", FORMATS)
def test_open_image_reports_format(case: str) -> None:
    expected = FORMATS[case][0]
    image = open_image(UPLOADS[case](), MAX_PIXELS)
    assert image.format == expected
    assert image.format in ACCEPTED_FORMATS


def test_decode_keeps_colour() -> None:
    rgb = np.zeros((40, 50, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 180, 40  # yellow paper
    rgb[10:30, 20:26] = (190, 20, 20)  # red ink
    np.testing.assert_array_equal(decoded(png(rgb)), rgb)


def test_decode_gray_rgb_of_28x28_as_gray() -> None:
    """A 28x28 is read as MNIST-style uploads always were: Pillow's luminance, (28, 28)."""
    rgb = np.random.default_rng(0).integers(0, 256, (28, 28, 3), dtype=np.uint8)
    pixels = decoded(png(rgb))
    assert pixels.shape == (28, 28)
    expected = np.asarray(Image.fromarray(rgb).convert("L"))
    np.testing.assert_array_equal(pixels, expected)


def test_decode_takes_the_libspng_fast_path_for_a_small_gray_png(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = png(seven_gray())

    def no_pillow(data: bytes, max_pixels: int) -> Image.Image:
        raise AssertionError("Pillow was asked to decode a small gray PNG")

    monkeypatch.setattr(decode_module, "open_image", no_pillow)
    np.testing.assert_array_equal(decoded(data), seven_gray())


# --- to_array: modes and transparency -----------------------------------------------------------


def test_to_array_flattens_dark_ink_on_transparent_onto_white() -> None:
    pixels = to_array(on_transparent(seven()))
    assert pixels.shape == (64, 64, 3)
    assert (pixels[0, 0] == 255).all()  # a transparent corner is white paper
    assert luminance(pixels).min() < 60  # the ink stays dark


def test_to_array_flattens_light_ink_on_transparent_onto_black() -> None:
    rgba = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    rgba.paste(Image.new("RGBA", (64, 64), (250, 250, 230, 255)), mask=ImageOps.invert(seven()))
    pixels = to_array(rgba)
    assert (pixels[0, 0] == 0).all()
    assert luminance(pixels).max() > 200


def test_to_array_scales_16_bit_gray_to_8_bit() -> None:
    pixels = to_array(Image.open(io.BytesIO(UPLOADS["png-I;16"]())))
    np.testing.assert_array_equal(pixels, seven_gray())


def test_to_array_of_float_image_in_0_1() -> None:
    values = seven_gray().astype(np.float32) / 255
    pixels = to_array(Image.fromarray(values, mode="F"))
    assert pixels.dtype == np.uint8
    assert np.abs(pixels.astype(int) - seven_gray()).max() <= 1


# EXIF orientation -> the transpose that turns the upright picture into the stored one
ORIENTATIONS = {
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_open_image_turns_exif_rotated_jpeg_upright(orientation: int) -> None:
    upright = seven(size=(48, 64))
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored = upright.transpose(ORIENTATIONS[orientation])
    data = encode(stored, "JPEG", quality=95, exif=exif.tobytes())
    image = open_image(data, MAX_PIXELS)
    assert image.size == upright.size
    pixels = to_array(image)
    assert pixels.shape == (64, 48)
    difference = np.abs(pixels.astype(int) - np.asarray(upright, dtype=int))
    assert difference.mean() < 8


# --- refused ------------------------------------------------------------------------------------

NOT_IMAGES = {
    "empty": b"",
    "random": np.random.default_rng(0).bytes(2000),
    "text": b"digit: 7\nnot a picture, only words\n" * 20,
    "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
}


@pytest.mark.parametrize("case", NOT_IMAGES)
def test_decode_rejects_non_image_listing_accepted_formats(case: str) -> None:
    with pytest.raises(UnsupportedFormat, match=ACCEPTED_FORMATS_TEXT):
        decoded(NOT_IMAGES[case])


@pytest.mark.parametrize("format_name", ["ICO", "PPM", "PCX", "TGA"])
def test_decode_rejects_image_format_not_accepted(format_name: str) -> None:
    data = encode(seven().convert("RGB"), format_name)
    with pytest.raises(UnsupportedFormat, match=f"{format_name}.*{ACCEPTED_FORMATS_TEXT}"):
        decoded(data)


@pytest.mark.parametrize("format_name", ["PNG", "JPEG"])
@pytest.mark.parametrize("kept", [0.5, 0.9])
def test_decode_rejects_truncated_file(format_name: str, kept: float) -> None:
    data = encode(seven().convert("RGB"), format_name)
    with pytest.raises(UndecodableImage, match=r"(?i)truncated"):
        decoded(data[: int(len(data) * kept)])


@pytest.mark.parametrize(
    "data",
    [fuzz_corpus.png(100_000, 100_000), fuzz_corpus.png(5000, 4000), fuzz_corpus.tiff(5000, 4000)],
    ids=["png-decompression-bomb", "png-over-limit", "tiff-over-limit"],
)
def test_open_image_rejects_too_many_pixels_itself(data: bytes) -> None:
    """The decoder checks the pixel count too: TIFF's is not read from its header."""
    with pytest.raises(ImageTooLarge):
        open_image(data, MAX_PIXELS)
