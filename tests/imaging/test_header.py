"""app.imaging.header: the format and size an upload's header declares, read without decoding,
and the limits checked there (no bytes, too many pixels) before anything is decoded."""

import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from app.imaging.errors import EmptyImage, ImageTooLarge
from app.imaging.header import Header, check_limits, declared_pixels, read_header
from app.imaging.png import PNG_SIGNATURE
from tests.support import encode, fuzz_corpus, png
from tests.support.drawings import MAX_PIXELS, seven


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def ihdr(width: int, height: int) -> bytes:
    return chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))


def png_header(width: int, height: int) -> bytes:
    """A tiny PNG that declares width x height gray pixels (its data is a stub)."""
    idat = chunk(b"IDAT", zlib.compress(b"\0" * 16))
    return PNG_SIGNATURE + ihdr(width, height) + idat + chunk(b"IEND", b"")


# id -> (upload bytes, the Header read_header gives)
HEADERS: dict[str, tuple[bytes, Header]] = {
    "png-L": (encode(seven((48, 64))), Header("PNG", (48, 64))),
    "png-RGB": (encode(seven((30, 20)).convert("RGB")), Header("PNG", (30, 20))),
    "jpeg": (encode(seven((48, 64)).convert("RGB"), "JPEG"), Header("JPEG", (48, 64))),
    "jpeg-progressive": (encode(seven(), "JPEG", progressive=True), Header("JPEG", (64, 64))),
    "gif": (encode(seven((40, 50)), "GIF"), Header("GIF", (40, 50))),
    "bmp": (encode(seven((33, 21)).convert("RGB"), "BMP"), Header("BMP", (33, 21))),
    "bmp-top-down": (fuzz_corpus.bmp(300, -200), Header("BMP", (300, 200))),
    "webp": (encode(seven().convert("RGB"), "WEBP"), Header(None, None)),
    "tiff": (encode(seven().convert("RGB"), "TIFF"), Header(None, None)),
    "text": (b"digit: 7\nnot a picture\n" * 4, Header(None, None)),
    "empty": (b"", Header(None, None)),
    "jpeg-cut": (b"\xff\xd8\xff\xe0", Header("JPEG", None)),
}


@pytest.mark.parametrize("case", HEADERS)
def test_read_header_format_and_size(case: str) -> None:
    data, expected = HEADERS[case]
    assert read_header(data) == expected
    assert declared_pixels(data) == expected.pixels


def test_header_pixels_is_width_times_height() -> None:
    assert Header("PNG", (57, 91)).pixels == 5187
    assert Header(None, None).pixels is None


# --- PNG (what png.declared_png_pixels did) ----------------------------------------------------


@pytest.mark.parametrize(
    ("pixels", "declared"),
    [
        (np.zeros((28, 28), dtype=np.uint8), 784),
        (np.zeros((91, 57), dtype=np.uint8), 5187),
        (np.zeros((1, 300, 3), dtype=np.uint8), 300),
    ],
    ids=["28x28", "57x91", "rgb-300x1"],
)
def test_read_header_png_pixels_is_width_times_height(pixels: np.ndarray, declared: int) -> None:
    header = read_header(png(pixels))
    assert header.format == "PNG"
    assert header.pixels == declared


def test_read_header_reads_only_the_png_header() -> None:
    # A 24-byte prefix declaring 40,000 x 50,000: nothing is decoded, nothing is allocated.
    header = read_header((PNG_SIGNATURE + ihdr(40_000, 50_000))[:24])
    assert header == Header("PNG", (40_000, 50_000))
    assert header.pixels == 2_000_000_000


@pytest.mark.parametrize(
    "data",
    [
        PNG_SIGNATURE,
        (PNG_SIGNATURE + ihdr(28, 28))[:23],
        PNG_SIGNATURE + chunk(b"gAMA", struct.pack(">I", 45455)) + ihdr(28, 28),
        b"\x89PNX\r\n\x1a\n" + ihdr(28, 28),
        b"GIF89a" + bytes(2),
    ],
    ids=["signature-only", "23-bytes", "gAMA-first", "bad-signature", "short-gif"],
)
def test_read_header_says_nothing_without_a_header(data: bytes) -> None:
    assert read_header(data) == Header(None, None)


# --- check_limits --------------------------------------------------------------------------------


def test_check_limits_rejects_empty_bytes() -> None:
    with pytest.raises(EmptyImage, match="empty"):
        check_limits(b"", read_header(b""), MAX_PIXELS)


@pytest.mark.parametrize(
    ("width", "height"),
    [(100_000, 100_000), (5_000, 4_000)],
    ids=["decompression-bomb", "over-limit"],
)
def test_check_limits_rejects_too_many_declared_pixels(width: int, height: int) -> None:
    data = png_header(width, height)
    assert len(data) < 100
    with pytest.raises(ImageTooLarge, match=f"{width}x{height}.*limit is {MAX_PIXELS}"):
        check_limits(data, read_header(data), MAX_PIXELS)


@pytest.mark.parametrize(("max_pixels", "refused"), [(4000, False), (3999, True)])
def test_check_limits_at_the_limit(max_pixels: int, refused: bool) -> None:
    data = png_header(50, 80)
    if refused:
        with pytest.raises(ImageTooLarge):
            check_limits(data, read_header(data), max_pixels)
    else:
        check_limits(data, read_header(data), max_pixels)


def test_check_limits_leaves_a_format_without_a_declared_size_to_the_decoder() -> None:
    data = fuzz_corpus.tiff(5000, 4000)  # read_header does not parse TIFF: the decoder checks
    check_limits(data, read_header(data), MAX_PIXELS)


def test_check_limits_refuses_a_jpeg_of_too_many_scans_fast() -> None:
    data = fuzz_corpus.jpeg_scans(1000, 5000)
    started = time.perf_counter()
    with pytest.raises(ImageTooLarge, match="scans"):
        check_limits(data, read_header(data), MAX_PIXELS)
    assert time.perf_counter() - started < 0.05


def test_check_limits_passes_an_ordinary_upload() -> None:
    for data, _ in HEADERS.values():
        if data:
            check_limits(data, read_header(data), MAX_PIXELS)


def test_read_header_of_a_real_photo_is_cheap() -> None:
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 256, (900, 1200, 3), np.uint8))
    data = encode(photo, "JPEG", quality=90)
    read_header(data)
    started = time.perf_counter()
    for _ in range(100):
        assert read_header(data) == Header("JPEG", (1200, 900))
    assert (time.perf_counter() - started) / 100 < 0.001
