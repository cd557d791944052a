"""PNG container checks: what a PNG's header declares, and a fast path for the common upload.

Most uploads are small 8-bit grayscale PNGs (MNIST digits saved as PNG). Pillow spends ~50 µs
on one 28x28 (most of it Python: plugin lookup, chunk parsing, decoder set-up); libspng, through
pyspng, decodes it in ~5 µs. `small_gray_png` takes only files whose every chunk it has checked
(signature, CRCs, a plain IHDR, no chunk that could change the pixels) and returns None for
anything else, so Pillow decodes all the rest and words every error. Both decoders give the same
pixels for the files taken here (tests/test_png.py compares them).
"""

import zlib

import numpy as np
import pyspng
from numpy.typing import NDArray

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The fast path holds the GIL while it decodes (pyspng does not release it): small images only.
FAST_MAX_PIXELS = 128 * 128
# Chunks that cannot change an 8-bit gray image's pixels as Pillow decodes them, and are small
# and uncompressed (no text or ICC profile to inflate). Any other chunk sends the file to Pillow.
_PIXEL_NEUTRAL = frozenset({b"IDAT", b"pHYs", b"gAMA", b"sRGB", b"cHRM", b"sBIT", b"tIME"})
_GRAY, _DEPTH_8 = 0, 8


def declared_png_pixels(data: bytes) -> int | None:
    """Width x height a PNG's header declares (read in ~1 µs, nothing decoded); None if no PNG."""
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR" or len(data) < 24:
        return None
    return int.from_bytes(data[16:20], "big") * int.from_bytes(data[20:24], "big")


def small_gray_png(data: bytes, max_pixels: int) -> NDArray[np.uint8] | None:
    """The (height, width) pixels of a well-formed, non-interlaced 8-bit grayscale PNG of at
    most min(`max_pixels`, FAST_MAX_PIXELS) pixels; None for any other bytes."""
    if not _is_plain_gray(data, min(max_pixels, FAST_MAX_PIXELS)):
        return None
    try:
        pixels: NDArray[np.uint8] = pyspng.load(data)
    except RuntimeError:  # e.g. a truncated zlib stream: Pillow will say what is wrong
        return None
    return pixels


def _is_plain_gray(data: bytes, max_pixels: int) -> bool:
    """Signature, IHDR (8-bit gray, no interlace, <= max_pixels), then only pixel-neutral chunks
    with at least one IDAT, every CRC right, and IEND as the last bytes of the file."""
    view = memoryview(data)
    if view[:8] != PNG_SIGNATURE or len(data) < 8 + 25:
        return False
    position, seen_idat, first = 8, False, True
    while position + 12 <= len(data):
        length = int.from_bytes(view[position : position + 4], "big")
        end = position + 12 + length
        kind = bytes(view[position + 4 : position + 8])
        if end > len(data) or zlib.crc32(view[position + 4 : end - 4]) != int.from_bytes(
            view[end - 4 : end], "big"
        ):
            return False
        if first:
            if kind != b"IHDR" or length != 13 or not _plain_header(view[position + 8 : end - 4]):
                return False
            width = int.from_bytes(view[position + 8 : position + 12], "big")
            height = int.from_bytes(view[position + 12 : position + 16], "big")
            if not 0 < width * height <= max_pixels:
                return False
            first = False
        elif kind == b"IEND":
            return seen_idat and end == len(data)
        elif kind in _PIXEL_NEUTRAL:
            seen_idat = seen_idat or kind == b"IDAT"
        else:
            return False
        position = end
    return False


def _plain_header(ihdr: memoryview) -> bool:
    """Bit depth 8, colour type 0 (gray), compression 0, filter method 0, no interlace."""
    return bytes(ihdr[8:13]) == bytes((_DEPTH_8, _GRAY, 0, 0, 0))
