"""Hypothesis on the pure pipeline: any bytes give a 28x28 uint8 digit or an ImageError, and
any decoded array (what training hands `prepare_pixels`) a digit or NoInk.

FUZZ_EXAMPLES=5000 searches longer than CI's 250 examples per test.
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from app.imaging.errors import ImageError, NoInk
from app.imaging.pipeline import PreparedImage, prepare_image, prepare_pixels
from tests.support import fuzz_corpus
from tests.support.fuzz_corpus import MAGIC, digit, encode

# Derandomized: the same examples on every run, so CI is stable.
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "250")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MAX_PIXELS = 1_000_000

# Pillow warns (rather than fails) about corrupt metadata and big images; in the service these
# are warnings too, so here they must not turn into errors the service would never see.
pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning:PIL.*"),
    pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning"),
]

SEEDS = [
    *fuzz_corpus.seeds().values(),
    encode(Image.fromarray(np.asarray(digit(), dtype=np.uint16) * 257), "PNG"),
    encode(digit(mode="1"), "PNG"),
    encode(digit(mode="CMYK"), "JPEG"),
    encode(digit(mode="RGB").convert("LAB"), "TIFF"),
    encode(digit(mode="RGBA"), "WEBP", lossless=True),
    encode(digit(mode="RGB"), "JPEG", exif=b"Exif\0\0" + fuzz_corpus.exif_blocks()["ifd-loop"]),
]


def check(data: bytes, normalize: bool) -> None:
    """prepare_image's contract: a valid 28x28 uint8 digit, or an ImageError; nothing else."""
    try:
        result: PreparedImage | ImageError = prepare_image(
            data, max_pixels=MAX_PIXELS, normalize=normalize
        )
    except ImageError as exc:
        result = exc
    if isinstance(result, ImageError):
        assert str(result), "an ImageError needs a message for the client"
    else:
        assert_digit(result)


def assert_digit(prepared: PreparedImage) -> None:
    assert prepared.pixels.shape == (28, 28)
    assert prepared.pixels.dtype == np.uint8
    vector = prepared.vector()
    assert vector.shape == (784,)
    assert vector.dtype == np.float32
    assert np.isfinite(vector).all()
    assert 0.0 <= vector.min() <= vector.max() <= 1.0


@pytest.mark.parametrize("index", range(len(SEEDS)))
def test_prepare_image_seed_is_a_digit(index: int) -> None:
    assert_digit(prepare_image(SEEDS[index], max_pixels=MAX_PIXELS))


@st.composite
def mutated_seed(draw: st.DrawFn) -> bytes:
    """A valid image with 1-6 random edits: flips, truncation, inserted, deleted or doubled runs."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        edit = draw(st.sampled_from(["flip", "flip", "truncate", "insert", "delete", "double"]))
        if edit == "flip":
            data[at] = draw(st.integers(0, 255))
        elif edit == "truncate":
            del data[at:]
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif edit == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 256))]
    return bytes(data)


@FUZZ
@given(data=st.binary(max_size=4096), normalize=st.booleans())
def test_prepare_image_arbitrary_bytes(data: bytes, normalize: bool) -> None:
    check(data, normalize)


@FUZZ
@given(magic=st.sampled_from(MAGIC), tail=st.binary(max_size=2048), normalize=st.booleans())
def test_prepare_image_image_magic_then_garbage(magic: bytes, tail: bytes, normalize: bool) -> None:
    check(magic + tail, normalize)


@FUZZ
@given(data=mutated_seed(), normalize=st.booleans())
def test_prepare_image_mutated_valid_images(data: bytes, normalize: bool) -> None:
    check(data, normalize)


PICTURE_FORMATS = {
    "PNG": {},
    "TIFF": {},
    "BMP": {},
    "GIF": {},
    "JPEG": {},
    "WEBP": {"lossless": True},
}
MODES = ["L", "RGB", "RGBA", "LA", "P", "1", "I;16"]


@FUZZ
@given(
    pixels=arrays(np.uint8, st.tuples(st.integers(1, 96), st.integers(1, 96))),
    mode=st.sampled_from(MODES),
    format=st.sampled_from(list(PICTURE_FORMATS)),
    normalize=st.booleans(),
)
def test_prepare_image_any_well_formed_picture_is_a_digit_or_no_ink(
    pixels: np.ndarray, mode: str, format: str, normalize: bool
) -> None:
    image = Image.fromarray(pixels)
    image = image.convert("I").convert(mode) if mode == "I;16" else image.convert(mode)
    try:
        data = encode(image, format, **PICTURE_FORMATS[format])
    except (OSError, ValueError):  # this format cannot store this mode: nothing to test
        return
    try:
        prepared = prepare_image(data, max_pixels=MAX_PIXELS, normalize=normalize)
    except NoInk:
        return  # blank or flat pictures have no digit; any other error would be wrong here
    assert_digit(prepared)


@FUZZ
@given(
    size=st.tuples(st.integers(28, 1400), st.integers(28, 1400)),
    specks=st.lists(
        st.tuples(st.floats(0, 1), st.floats(0, 1), st.integers(0, 215)), min_size=1, max_size=8
    ),
    dark_paper=st.booleans(),
)
def test_prepare_image_sparse_ink_is_a_digit_or_no_ink(
    size: tuple[int, int], specks: list[tuple[float, float, int]], dark_paper: bool
) -> None:
    """Issue 15, finding 2: a few specks on a large sheet made the crop raise IndexError (a 500)."""
    height, width = size
    pixels = np.full(size, 255, np.uint8)
    for y, x, level in specks:
        pixels[min(int(y * height), height - 1), min(int(x * width), width - 1)] = level
    try:
        image = Image.fromarray(255 - pixels if dark_paper else pixels)
        prepared = prepare_image(encode(image, "PNG"), max_pixels=MAX_PIXELS * 2)
    except NoInk:
        return
    assert_digit(prepared)


@st.composite
def decoded_image(draw: st.DrawFn) -> np.ndarray:
    """What decode hands on: (H, W) gray or (H, W, 3) RGB uint8 of any content, with a few
    strokes or none on paper of any level, or noise."""
    height, width = draw(st.integers(1, 700)), draw(st.integers(1, 700))
    shape = (height, width, 3) if draw(st.booleans()) else (height, width)
    if draw(st.booleans()):
        seed = draw(st.integers(0, 2**32 - 1))
        return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    image = np.full(shape, draw(st.integers(0, 255)), np.uint8)
    for _ in range(draw(st.integers(0, 4))):
        top, left = draw(st.integers(0, height - 1)), draw(st.integers(0, width - 1))
        bottom = draw(st.integers(top + 1, height))
        right = draw(st.integers(left + 1, width))
        image[top:bottom, left:right] = draw(st.integers(0, 255))
    return image


@FUZZ
@given(image=decoded_image(), normalize=st.booleans())
def test_prepare_pixels_any_decoded_image_is_a_digit_or_no_ink(
    image: np.ndarray, normalize: bool
) -> None:
    try:
        prepared = prepare_pixels(image, normalize=normalize)
    except NoInk:
        return  # blank; any other error would be wrong here
    assert_digit(prepared)
    assert prepared.refusal is None or prepared.refusal  # a reason, never an empty one
