"""PNG container checks: what a PNG's header declares, and a fast path for the common upload.

Most uploads are small 8-bit grayscale PNGs (MNIST digits saved as PNG). Pillow spends most of
its time on one 28x28 in Python (plugin lookup, chunk parsing, decoder set-up); libspng, through
pyspng, decodes it several times faster (docs/performance.md). `small_gray_png` takes only
files whose every chunk it has checked (signature, CRCs, a plain IHDR, no chunk that could
change the pixels) and returns None for anything else, so Pillow decodes all the rest and words
every error. Both decoders give the same pixels for the files taken here (tests/imaging/test_png.py
compares them).
"""

import struct
import zlib

import numpy as np
import pyspng
from numpy.typing import NDArray

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The fast path holds the GIL while it decodes (pyspng does not release it): small images only,
# and no side over 128 px: a small upload's decode never holds the event loop for long.
FAST_MAX_SIDE = 128
# Chunks that cannot change an 8-bit gray image's pixels as Pillow decodes them, and are small
# and uncompressed (no text or ICC profile to inflate), with their lengths in the PNG spec for a
# gray image. Any other chunk, or another length, sends the file to Pillow.
_PIXEL_NEUTRAL = {b"pHYs": 9, b"gAMA": 4, b"sRGB": 1, b"cHRM": 32, b"sBIT": 1, b"tIME": 7}
_CHUNK = struct.Struct(">I4s")  # length, type
_CRC = struct.Struct(">I")
_SIZE = struct.Struct(">II")  # the IHDR's width and height
_IHDR = struct.Struct(">I4sII5s")  # length, type, width, height, (depth, colour, 3 methods)
_PLAIN_GRAY_8 = bytes((8, 0, 0, 0, 0))  # 8 bits, gray, deflate, adaptive filters, no interlace


def small_gray_png(data: bytes, max_pixels: int) -> NDArray[np.uint8] | None:
    """The (height, width) pixels of a well-formed, non-interlaced 8-bit grayscale PNG of at
    most FAST_MAX_SIDE px a side and `max_pixels` pixels; None for any other bytes."""
    stream = _plain_gray_stream(data, max_pixels)
    # libspng as pyspng sets it up skips zlib's checksum: inflate once here, bounded, to check
    # it (and that the stream holds exactly the rows the header declares).
    if stream is None or not _complete_stream(stream, *_SIZE.unpack_from(data, 16)):
        return None
    try:
        pixels: NDArray[np.uint8] = pyspng.load(data)
    except RuntimeError:  # e.g. rows with an unknown filter type: Pillow will say what is wrong
        return None
    return pixels


def _plain_gray_stream(data: bytes, max_pixels: int) -> bytes | None:
    """The compressed pixels (the IDAT chunks, joined) if the file is: signature, IHDR (8-bit
    gray, no interlace, small), then only pixel-neutral chunks with at least one IDAT, every
    CRC right, and IEND as its last bytes; else None."""
    size = len(data)
    if size < 8 + 25 + 12 or not data.startswith(PNG_SIGNATURE):
        return None
    length, kind, width, height, layout = _IHDR.unpack_from(data, 8)
    if kind != b"IHDR" or length != 13 or layout != _PLAIN_GRAY_8:
        return None
    if not (0 < width <= FAST_MAX_SIDE and 0 < height <= FAST_MAX_SIDE):
        return None
    if width * height > max_pixels:
        return None
    view = memoryview(data)
    position, parts = 8, list[memoryview]()
    while position + 12 <= size:
        length, kind = _CHUNK.unpack_from(data, position)
        end = position + 12 + length
        if (
            end > size
            or zlib.crc32(view[position + 4 : end - 4]) != _CRC.unpack_from(data, end - 4)[0]
        ):
            return None
        if kind == b"IEND":
            return b"".join(parts) if parts and end == size else None
        if kind == b"IDAT":
            parts.append(view[position + 8 : end - 4])
        elif position != 8 and _PIXEL_NEUTRAL.get(kind) != length:  # the first is the IHDR
            return None
        position = end
    return None


def _complete_stream(stream: bytes, width: int, height: int) -> bool:
    """One zlib stream, checksum right, of exactly height x (1 + width) bytes (a filter byte
    per row) and nothing after it. Never inflates more than that + 1."""
    expected = height * (1 + width)
    inflater = zlib.decompressobj()
    try:
        rows = inflater.decompress(stream, expected + 1)
    except zlib.error:  # corrupt data, or a wrong checksum
        return False
    return len(rows) == expected and inflater.eof and not inflater.unused_data
