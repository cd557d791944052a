"""app.imaging.jpeg and app.imaging.header: the bounded walk over a JPEG's segments (scans
counted before Pillow decodes, issue 15 finding 3), and the sizes headers declare."""

import time

import numpy as np
import pytest
from PIL import Image

from app.imaging.errors import ImageTooLarge, NoInk
from app.imaging.header import declared_pixels
from app.imaging.jpeg import MAX_SCANS, JpegLayout, JpegLimit, jpeg_layout, jpeg_size
from app.imaging.pipeline import prepare_image
from tests.support.fuzz_corpus import bmp, digit, encode, gif, jpeg_scans, jpeg_sized, png, tiff

PHOTO = Image.fromarray(np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    ("image", "params", "scans"),
    [
        (PHOTO, {}, 1),
        (PHOTO, {"progressive": True}, 10),
        (PHOTO.convert("L"), {"progressive": True}, 6),
        (PHOTO.convert("CMYK"), {}, 1),
        (PHOTO, {"exif": b"Exif\0\0" + b"\xff\xda" * 500}, 1),  # markers inside a segment
    ],
    ids=["baseline", "progressive-rgb", "progressive-gray", "cmyk", "sos-bytes-in-exif"],
)
def test_jpeg_layout_of_encoder_output(image: Image.Image, params: dict, scans: int) -> None:
    assert jpeg_layout(encode(image, "JPEG", **params)) == JpegLayout((120, 90), scans)


def test_jpeg_layout_accepts_max_scans() -> None:
    assert jpeg_layout(jpeg_scans(300, MAX_SCANS)).scans == MAX_SCANS


@pytest.mark.parametrize("scans", [MAX_SCANS + 1, 5000])
def test_jpeg_layout_refuses_too_many_scans_fast(scans: int) -> None:
    data = jpeg_scans(1000, scans)
    started = time.perf_counter()
    with pytest.raises(JpegLimit, match=f"over {MAX_SCANS} scans"):
        jpeg_layout(data)
    assert time.perf_counter() - started < 0.05


def test_jpeg_layout_refuses_too_many_segments() -> None:
    comments = b"\xff\xfe\x00\x02" * 2000  # empty COM segments before the frame
    with pytest.raises(JpegLimit, match="marker segments"):
        jpeg_layout(b"\xff\xd8" + comments + encode(PHOTO, "JPEG")[2:])


@pytest.mark.parametrize(
    "data",
    [b"", b"\xff\xd8", b"\xff\xd8\xff", b"\xff\xd8\xff\xc0\x00", b"not a jpeg", b"\xff\xd8" * 99],
)
def test_jpeg_layout_of_damaged_data_ends_quietly(data: bytes) -> None:
    assert jpeg_layout(data).scans == 0


def test_jpeg_layout_of_truncated_progressive_counts_what_is_there() -> None:
    data = encode(PHOTO, "JPEG", progressive=True)
    assert 0 < jpeg_layout(data[: len(data) // 2]).scans < 10


def test_jpeg_size_gives_up_after_max_segments() -> None:
    data = b"\xff\xd8" + b"\xff\xfe\x00\x02" * 40 + encode(PHOTO, "JPEG")[2:]
    assert jpeg_size(data) is None
    assert jpeg_size(data, max_segments=100) == (120, 90)


@pytest.mark.parametrize(
    ("data", "pixels"),
    [
        (encode(digit(28), "PNG"), 28 * 28),
        (png(5000, 4000), 20_000_000),
        (jpeg_sized(4000, 3000), 12_000_000),
        (encode(PHOTO, "JPEG", progressive=True), 120 * 90),
        (gif(8000, 2001), 16_008_000),
        (bmp(300, -200), 60_000),
        (tiff(5000, 4000), None),
        (encode(digit(28), "WEBP"), None),
        (b"random bytes", None),
        (b"\xff\xd8\xff\xe0", None),
    ],
    ids=[
        "png",
        "png-bomb",
        "jpeg",
        "jpeg-progressive",
        "gif",
        "bmp",
        "tiff",
        "webp",
        "junk",
        "jpeg-cut",
    ],
)
def test_declared_pixels(data: bytes, pixels: int | None) -> None:
    assert declared_pixels(data) == pixels


def test_prepare_image_refuses_5000_scan_jpeg_before_decoding() -> None:
    data = jpeg_scans(1000, 5000)
    started = time.perf_counter()
    with pytest.raises(ImageTooLarge, match="over 64 scans"):
        prepare_image(data, max_pixels=16_000_000)
    assert time.perf_counter() - started < 0.05


def test_prepare_image_decodes_jpeg_at_max_scans() -> None:
    with pytest.raises(NoInk):  # a blank page: decoded, then found empty
        prepare_image(jpeg_scans(300, MAX_SCANS), max_pixels=16_000_000)
