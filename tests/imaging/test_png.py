"""app.imaging.png: the libspng fast path: Pillow's exact pixels for the small plain gray PNGs
it takes, None for every other file (which Pillow then decodes). What a PNG's header declares is
app.imaging.header's (tests/imaging/test_header.py)."""

import io
import struct
import tracemalloc
import zlib
from collections.abc import Callable, Sequence

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from app.imaging import decode as decode_module
from app.imaging.pipeline import prepare_image
from app.imaging.png import FAST_MAX_SIDE, PNG_SIGNATURE, small_gray_png
from tests.support import encode, png
from training.data import Mnist

MAX_PIXELS = 16_000_000
Digit = NDArray[np.uint8]
Chunk = tuple[bytes, bytes]  # (type, payload)
# Adam7 passes: (first column, first row, column step, row step)
ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)
# Well-formed ancillary chunks that do not change an 8-bit gray image's pixels.
NEUTRAL: dict[str, Chunk] = {
    "gAMA": (b"gAMA", struct.pack(">I", 45455)),
    "sRGB": (b"sRGB", b"\x00"),
    "cHRM": (b"cHRM", struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000)),
    "sBIT": (b"sBIT", b"\x05"),
    "tIME": (b"tIME", struct.pack(">HBBBBB", 2024, 5, 17, 12, 30, 59)),
    "pHYs": (b"pHYs", struct.pack(">IIB", 11811, 11811, 1)),
}


def chunk(kind: bytes, payload: bytes) -> bytes:
    """One chunk as stored: length, type, payload, and the CRC of type and payload."""
    crc = zlib.crc32(kind + payload)
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def assemble(chunks: list[Chunk]) -> bytes:
    return PNG_SIGNATURE + b"".join(chunk(kind, payload) for kind, payload in chunks)


def split(data: bytes) -> list[Chunk]:
    """The (type, payload) chunks of a well-formed PNG."""
    chunks, position = [], len(PNG_SIGNATURE)
    while position < len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        chunks.append(
            (data[position + 4 : position + 8], data[position + 8 : position + 8 + length])
        )
        position += 12 + length
    return chunks


def ihdr(width: int, height: int, depth: int = 8, colour: int = 0, *rest: int) -> Chunk:
    """IHDR; `rest` overrides (compression method, filter method, interlace method), all 0."""
    methods = (*rest, 0, 0, 0)[:3]
    return b"IHDR", struct.pack(">IIBB3B", width, height, depth, colour, *methods)


def idat(rows: bytes) -> Chunk:
    return b"IDAT", zlib.compress(rows)


def scanlines(pixels: Digit) -> bytes:
    """Each row behind filter type 0, as IDAT holds it before compression."""
    return b"".join(b"\x00" + row.tobytes() for row in pixels)


def with_chunks(
    data: bytes, before_idat: Sequence[Chunk], after_idat: Sequence[Chunk] = ()
) -> bytes:
    """`data` with chunks inserted right after IHDR and right before IEND."""
    chunks = split(data)
    return assemble([chunks[0], *before_idat, *chunks[1:-1], *after_idat, chunks[-1]])


def pillow_pixels(data: bytes) -> Digit:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image)


def same_as_pillow(data: bytes) -> Digit:
    """The fast path's pixels, after checking they are Pillow's to the byte."""
    fast = small_gray_png(data, MAX_PIXELS)
    assert fast is not None
    expected = pillow_pixels(data)
    assert fast.dtype == np.uint8
    assert fast.shape == expected.shape
    np.testing.assert_array_equal(fast, expected)
    return fast


@pytest.fixture(scope="module")
def digit(mnist: Mnist) -> Digit:
    """The second MNIST test digit (a 2)."""
    return mnist.x_test[1]


# --- the same pixels as Pillow ------------------------------------------------------------------


def test_small_gray_png_mnist_digits_match_pillow_and_mnist(mnist: Mnist) -> None:
    for pixels in mnist.x_test[:300]:
        np.testing.assert_array_equal(same_as_pillow(png(pixels)), pixels)


@pytest.mark.parametrize(
    "size", [(1, 1), (1, 128), (128, 1), (3, 5), (57, 91), (100, 100), (128, 127), (128, 128)]
)
def test_small_gray_png_other_sizes_match_pillow(digit: Digit, size: tuple[int, int]) -> None:
    resized = Image.fromarray(digit).resize(size, Image.Resampling.BILINEAR)
    assert same_as_pillow(encode(resized)).shape == (size[1], size[0])


@pytest.mark.parametrize(
    "params",
    [*({"compress_level": level} for level in range(10)), {"optimize": True}],
    ids=[*(f"compress_level={level}" for level in range(10)), "optimize"],
)
def test_small_gray_png_compression_settings_match_pillow(
    digit: Digit, params: dict[str, object]
) -> None:
    same_as_pillow(encode(Image.fromarray(digit), "PNG", **params))


def _image(height: int, width: int, seed: int, kind: str) -> Digit:
    """Noise, a smooth gradient or sparse strokes: each makes Pillow pick other row filters."""
    rng = np.random.default_rng(seed)
    if kind == "noise":
        return rng.integers(0, 256, (height, width), dtype=np.uint8)
    if kind == "gradient":
        rows, cols = np.indices((height, width))
        return ((rows * 3 + cols * 5 + seed) % 256).astype(np.uint8)
    pixels = np.zeros((height, width), dtype=np.uint8)
    pixels[rng.random((height, width)) < 0.1] = 255
    return pixels


@settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    height=st.integers(1, 128),
    width=st.integers(1, 128),
    seed=st.integers(0, 2**32 - 1),
    kind=st.sampled_from(["noise", "gradient", "sparse"]),
    compress_level=st.integers(0, 9),
)
def test_small_gray_png_random_gray_images_match_pillow(
    height: int, width: int, seed: int, kind: str, compress_level: int
) -> None:
    pixels = _image(height, width, seed, kind)
    data = encode(Image.fromarray(pixels), compress_level=compress_level)
    np.testing.assert_array_equal(same_as_pillow(data), pixels)


def test_small_gray_png_ignores_pillow_dpi(digit: Digit) -> None:
    data = encode(Image.fromarray(digit), dpi=(300, 300))
    assert b"pHYs" in [kind for kind, _ in split(data)]
    same_as_pillow(data)


@pytest.mark.parametrize("name", NEUTRAL)
def test_small_gray_png_ignores_neutral_chunk_before_idat(digit: Digit, name: str) -> None:
    same_as_pillow(with_chunks(png(digit), [NEUTRAL[name]]))


def test_small_gray_png_ignores_all_neutral_chunks_together(digit: Digit) -> None:
    before = [NEUTRAL[name] for name in ("sBIT", "gAMA", "cHRM", "sRGB", "pHYs", "tIME")]
    data = with_chunks(png(digit), before, [(b"tIME", NEUTRAL["tIME"][1])])
    assert len(split(data)) == 10
    same_as_pillow(data)


def test_small_gray_png_reads_image_data_split_over_idat_chunks(digit: Digit) -> None:
    header, (_, stream), end = split(png(digit))
    pieces = [stream[:1], b"", stream[1:40], stream[40:]]
    same_as_pillow(assemble([header, *((b"IDAT", piece) for piece in pieces), end]))


# --- None for every other file ------------------------------------------------------------------


def interlaced(pixels: Digit) -> bytes:
    """An Adam7-interlaced 8-bit gray PNG (Pillow cannot write one)."""
    passes = (pixels[y0::dy, x0::dx] for x0, y0, dx, dy in ADAM7)
    rows = b"".join(scanlines(sub) for sub in passes if sub.size)
    height, width = pixels.shape
    return assemble([ihdr(width, height, 8, 0, 0, 0, 1), idat(rows), (b"IEND", b"")])


def four_bit_gray(pixels: Digit) -> bytes:
    nibbles = pixels >> 4
    packed = ((nibbles[:, 0::2] << 4) | nibbles[:, 1::2]).astype(np.uint8)  # two pixels a byte
    height, width = pixels.shape
    return assemble([ihdr(width, height, 4), idat(scanlines(packed)), (b"IEND", b"")])


def with_exif_rotation(pixels: Digit) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90°: only Pillow's path turns the picture upright
    return encode(Image.fromarray(pixels), exif=exif.tobytes())


def with_text(pixels: Digit, compressed: bool = False) -> bytes:
    info = PngInfo()
    info.add_text("Software", "a scanner", zip=compressed)
    return encode(Image.fromarray(pixels), pnginfo=info)


# Images Pillow decodes that the fast path must leave to Pillow.
OTHER_IMAGES: dict[str, Callable[[Digit], bytes]] = {
    "rgb": lambda d: png(np.stack([d, d, d], axis=-1)),
    "rgba": lambda d: png(np.stack([d, d, d, d], axis=-1)),
    "palette": lambda d: encode(Image.fromarray(d).convert("P")),
    "gray-alpha": lambda d: encode(Image.fromarray(d).convert("LA")),
    "gray-16-bit": lambda d: encode(Image.fromarray(d.astype(np.uint16) * 257)),
    "gray-1-bit": lambda d: encode(Image.fromarray(d).convert("1")),
    "gray-4-bit": four_bit_gray,
    "interlaced": interlaced,
    "tRNS": lambda d: encode(Image.fromarray(d), transparency=0),
    "tEXt": with_text,
    "zTXt": lambda d: with_text(d, compressed=True),
    "iCCP": lambda d: encode(Image.fromarray(d), icc_profile=b"\x00" * 128),
    "eXIf": with_exif_rotation,
    "private-chunk": lambda d: with_chunks(png(d), [(b"prVt", b"data")]),
    "jpeg": lambda d: encode(Image.fromarray(d), "JPEG"),
    "gif": lambda d: encode(Image.fromarray(d), "GIF"),
}


@pytest.mark.parametrize("case", OTHER_IMAGES)
def test_small_gray_png_leaves_other_images_to_pillow(digit: Digit, case: str) -> None:
    data = OTHER_IMAGES[case](digit)
    with Image.open(io.BytesIO(data)) as image:
        image.load()  # a file Pillow decodes: refused for what it is, not for being broken
        assert image.size == (28, 28)
    assert small_gray_png(data, MAX_PIXELS) is None


def test_small_gray_png_leaves_interlaced_digit_with_its_pixels_to_pillow(digit: Digit) -> None:
    data = interlaced(digit)
    np.testing.assert_array_equal(pillow_pixels(data), digit)
    assert small_gray_png(data, MAX_PIXELS) is None


@pytest.mark.parametrize(
    "data",
    [b"", b"\x89PNG", PNG_SIGNATURE, b"GIF89a" + bytes(100), b"not an image at all " * 10],
    ids=["empty", "half-signature", "signature-only", "gif-header", "text"],
)
def test_small_gray_png_refuses_non_png(data: bytes) -> None:
    assert small_gray_png(data, MAX_PIXELS) is None


@pytest.mark.parametrize(
    ("size", "taken"),
    [
        ((128, 128), True),
        ((129, 128), False),
        ((128, 129), False),
        ((FAST_MAX_SIDE, 1), True),
        ((1, FAST_MAX_SIDE), True),
        ((FAST_MAX_SIDE + 1, 1), False),
        ((2048, 8), False),  # few pixels, but a side far over FAST_MAX_SIDE
        ((16384, 1), False),
    ],
)
def test_small_gray_png_takes_at_most_fast_max_side(size: tuple[int, int], taken: bool) -> None:
    width, height = size
    data = png(np.full((height, width), 7, dtype=np.uint8))
    assert (small_gray_png(data, MAX_PIXELS) is not None) is taken


@pytest.mark.parametrize(("max_pixels", "taken"), [(783, False), (784, True), (0, False)])
def test_small_gray_png_takes_at_most_max_pixels(
    digit: Digit, max_pixels: int, taken: bool
) -> None:
    assert (small_gray_png(png(digit), max_pixels) is not None) is taken


@pytest.mark.parametrize(
    "header",
    [
        ihdr(28, 28, 8, 0, 1, 0, 0),  # compression method 1
        ihdr(28, 28, 8, 0, 0, 1, 0),  # filter method 1
        ihdr(28, 28, 8, 0, 0, 0, 1),  # interlaced, with non-interlaced data
        ihdr(0, 28),
        ihdr(28, 0),
        ihdr(28, 28, 8, 4),  # gray + alpha
        (b"IHDR", ihdr(28, 28)[1][:12]),
        (b"IHDR", ihdr(28, 28)[1] + b"\x00"),
    ],
    ids=["compression-1", "filter-1", "interlace-1", "width-0", "height-0", "LA", "short", "long"],
)
def test_small_gray_png_refuses_other_headers(digit: Digit, header: Chunk) -> None:
    data = assemble([header, idat(scanlines(digit)), (b"IEND", b"")])
    assert small_gray_png(data, MAX_PIXELS) is None


def test_small_gray_png_refuses_a_bad_crc_in_any_chunk(digit: Digit) -> None:
    data = encode(Image.fromarray(digit), dpi=(72, 72))
    kinds = [kind for kind, _ in split(data)]
    assert kinds == [b"IHDR", b"pHYs", b"IDAT", b"IEND"]
    assert small_gray_png(data, MAX_PIXELS) is not None
    position = len(PNG_SIGNATURE)
    for kind, payload in split(data):
        crc_at = position + 8 + len(payload)
        broken = bytearray(data)
        broken[crc_at + 3] ^= 0x01
        assert small_gray_png(bytes(broken), MAX_PIXELS) is None, kind
        if payload:  # the payload changed under an unchanged CRC
            broken = bytearray(data)
            broken[position + 8] ^= 0x80
            assert small_gray_png(bytes(broken), MAX_PIXELS) is None, kind
        position = crc_at + 4


# Files whose chunks are wrong: the fast path refuses them before any decoding.
BROKEN_STRUCTURE: dict[str, Callable[[bytes], bytes]] = {
    "byte-after-IEND": lambda data: data + b"\x00",
    "chunk-after-IEND": lambda data: data + chunk(*NEUTRAL["pHYs"]),
    "second-IEND": lambda data: data + chunk(b"IEND", b""),
    "no-IEND": lambda data: assemble(split(data)[:-1]),
    "no-IDAT": lambda data: assemble([split(data)[0], (b"IEND", b"")]),
    "only-neutral-chunks": lambda data: assemble([split(data)[0], NEUTRAL["gAMA"], (b"IEND", b"")]),
    "IHDR-not-first": lambda data: data[:8] + chunk(*NEUTRAL["gAMA"]) + data[8:],
    "second-IHDR": lambda data: with_chunks(data, [split(data)[0]]),
    "PLTE-in-gray": lambda data: with_chunks(data, [(b"PLTE", bytes(range(6)))]),
    "length-past-end": lambda data: data[:-12] + struct.pack(">I", 2**31) + data[-8:],
    "signature-changed": lambda data: data[:7] + b"\x00" + data[8:],
}


@pytest.mark.parametrize("case", BROKEN_STRUCTURE)
def test_small_gray_png_refuses_broken_structure(digit: Digit, case: str) -> None:
    assert small_gray_png(BROKEN_STRUCTURE[case](png(digit)), MAX_PIXELS) is None


def test_small_gray_png_refuses_every_truncation(digit: Digit) -> None:
    data = encode(Image.fromarray(digit), dpi=(96, 96))
    assert small_gray_png(data, MAX_PIXELS) is not None
    refused = [small_gray_png(data[:length], MAX_PIXELS) is None for length in range(len(data))]
    assert all(refused)


# IDAT streams that are no image of the header's size; every CRC is right.
BROKEN_STREAMS: dict[str, Callable[[bytes], bytes]] = {
    "garbage": lambda rows: bytes(range(256)) * 2,
    "first-half": lambda rows: zlib.compress(rows)[: len(zlib.compress(rows)) // 2],
    "raw-deflate": lambda rows: zlib.compress(rows)[2:],
    "bad-zlib-header": lambda rows: b"\x78\x00" + zlib.compress(rows)[2:],
    "one-byte-short": lambda rows: zlib.compress(rows[:-1]),
    "one-row-short": lambda rows: zlib.compress(rows[:-29]),
    "bad-filter-type": lambda rows: zlib.compress(b"\x07" + rows[1:]),
    "empty-stream": lambda rows: zlib.compress(b""),
    "empty-idat": lambda rows: b"",
}


@pytest.mark.parametrize("case", BROKEN_STREAMS)
def test_small_gray_png_refuses_broken_image_data(digit: Digit, case: str) -> None:
    stream = BROKEN_STREAMS[case](scanlines(digit))
    data = assemble([ihdr(28, 28), (b"IDAT", stream), (b"IEND", b"")])
    assert small_gray_png(data, MAX_PIXELS) is None  # libspng's error stays inside


# --- corrupt data Pillow refuses: never taken ---------------------------------------------------


def with_adler(data: bytes, adler: bytes) -> bytes:
    header, (_, stream), end = split(data)
    return assemble([header, (b"IDAT", stream[:-4] + adler), end])


def test_small_gray_png_refuses_a_wrong_zlib_checksum(digit: Digit) -> None:
    data = with_adler(png(digit), b"\x00\x00\x00\x00")
    with pytest.raises(OSError, match="broken data stream"), Image.open(io.BytesIO(data)) as image:
        image.load()
    assert small_gray_png(data, MAX_PIXELS) is None


def test_small_gray_png_never_takes_a_file_pillow_refuses_for_corrupt_data(digit: Digit) -> None:
    header, (_, stream), end = split(png(digit))
    taken, refused = [], 0
    for index in range(len(stream)):
        corrupt = bytearray(stream)
        corrupt[index] ^= 0x10
        data = assemble([header, (b"IDAT", bytes(corrupt)), end])
        try:
            pillow_pixels(data)
        except OSError:
            refused += 1
            if small_gray_png(data, MAX_PIXELS) is not None:
                taken.append(index)
    assert refused > len(stream) // 4  # the test has teeth: Pillow refuses many of the flips
    assert taken == []


@pytest.mark.parametrize("kind", [b"gAMA", b"pHYs", b"sRGB", b"cHRM"])
def test_small_gray_png_refuses_a_truncated_neutral_chunk(digit: Digit, kind: bytes) -> None:
    data = with_chunks(png(digit), [(kind, b"")])
    with pytest.raises(ValueError, match="Truncated"):
        pillow_pixels(data)
    assert small_gray_png(data, MAX_PIXELS) is None


# --- prepare_image: the same result through either decoder ---------------------------------------


def on_page(digit: Digit) -> Digit:
    """The digit dark on a white 90x120 page, off centre: prepare_image must normalise it."""
    page = np.full((120, 90), 255, dtype=np.uint8)
    page[10:38, 5:33] = 255 - digit
    return page


@pytest.mark.parametrize(
    ("build", "normalize"),
    [(lambda d: d, True), (lambda d: d, False), (on_page, True), (on_page, False)],
    ids=["mnist-digit", "mnist-digit-no-normalize", "page", "page-no-normalize"],
)
def test_prepare_image_same_through_fast_path_and_pillow(
    digit: Digit,
    build: Callable[[Digit], Digit],
    normalize: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pixels = build(digit)
    plain, text = png(pixels), with_text(pixels)  # tEXt: the same pixels, through Pillow
    pillow_calls = []
    open_image = decode_module.open_image

    def counting_open(data: bytes, max_pixels: int) -> Image.Image:
        pillow_calls.append(data)
        return open_image(data, max_pixels)

    monkeypatch.setattr(decode_module, "open_image", counting_open)
    fast = prepare_image(plain, max_pixels=MAX_PIXELS, normalize=normalize)
    assert pillow_calls == []
    slow = prepare_image(text, max_pixels=MAX_PIXELS, normalize=normalize)
    assert pillow_calls == [text]
    assert fast.pixels.dtype == slow.pixels.dtype == np.uint8
    np.testing.assert_array_equal(fast.pixels, slow.pixels)
    assert fast.normalized == slow.normalized


def test_small_gray_png_inflates_no_more_than_the_declared_rows() -> None:
    """A 28x28 header over ~50 MB of zeros (a zlib bomb): refused after 813 inflated bytes."""
    data = assemble([ihdr(28, 28), (b"IDAT", zlib.compress(bytes(50_000_000), 9)), (b"IEND", b"")])
    tracemalloc.start()
    try:
        assert small_gray_png(data, MAX_PIXELS) is None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # the ~50 KB file and its joined chunks, never the 50 MB


@pytest.mark.parametrize("size", [(2048, 8), (4096, 4), (16384, 1)])
@pytest.mark.parametrize("normalize", [True, False])
def test_prepare_image_same_for_long_thin_images(size: tuple[int, int], normalize: bool) -> None:
    """Long sides never take the fast path: a plain PNG and the same pixels with a tEXt chunk
    (Pillow for sure) give the same digit."""
    width, height = size
    pixels = np.zeros((height, width), dtype=np.uint8)
    pixels[:, width // 3 : width // 2] = 255  # a bar of ink across the strip
    plain = prepare_image(png(pixels), max_pixels=MAX_PIXELS, normalize=normalize)
    slow = prepare_image(with_text(pixels), max_pixels=MAX_PIXELS, normalize=normalize)
    np.testing.assert_array_equal(plain.pixels, slow.pixels)
    assert plain.normalized == slow.normalized
