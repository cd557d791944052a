"""JPEG container checks before decoding: a bounded walk over the marker segments.

A progressive JPEG spreads its coefficients over scans, and libjpeg passes over the whole image
once per scan. A scan can be a few bytes (one end-of-band run covering every block), so a 5 MB
file can hold tens of thousands of them and decode for minutes (libjpeg-turbo's report
LJT-01-003: the only defence is to refuse files with more scans than images really have).
Pillow has no setting for it, so the scans are counted here, before Pillow sees the file:
libjpeg's own progressions have 6 (gray) or 10 (colour) scans, mozjpeg's a few more.
"""

import re
from dataclasses import dataclass

SOI = b"\xff\xd8"
MAX_SCANS = 64
MAX_SEGMENTS = 1024  # marker segments walked at most: tables, APPn, comments, scans
# The end of a scan's entropy-coded data: 0xFF followed by neither a stuffed 0x00 nor RSTn.
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7]")
_SOS, _EOI = 0xDA, 0xD9
_NO_LENGTH = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})  # TEM, SOI, RST0-7
# Start-of-frame markers: baseline, extended, progressive, lossless; Huffman or arithmetic.
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


class JpegLimit(ValueError):
    """The JPEG asks for more decoding work than the limits allow; the message says which."""


@dataclass(frozen=True)
class JpegLayout:
    size: tuple[int, int] | None  # width, height from the frame header, if one was found
    scans: int


def jpeg_layout(
    data: bytes,
    *,
    max_scans: int = MAX_SCANS,
    max_segments: int = MAX_SEGMENTS,
    frame_only: bool = False,
) -> JpegLayout:
    """The frame size and scan count of a JPEG; JpegLimit past `max_scans` scans or
    `max_segments` segments. A damaged structure ends the walk quietly: Pillow words that error.
    `frame_only` stops at the frame header: no scan is searched."""
    size: tuple[int, int] | None = None
    scans = segments = 0
    position = len(SOI) if data.startswith(SOI) else len(data)
    while position < len(data) and data[position] == 0xFF:
        while position < len(data) and data[position] == 0xFF:  # fill bytes before a marker
            position += 1
        if position >= len(data) or data[position] == _EOI:
            break
        marker, position = data[position], position + 1
        segments += 1
        if segments > max_segments:
            raise JpegLimit(f"the JPEG has over {max_segments} marker segments")
        if marker in _NO_LENGTH:
            continue
        length = int.from_bytes(data[position : position + 2], "big")
        if length < 2:
            break
        if marker in _SOF and size is None and length >= 7:
            height = int.from_bytes(data[position + 3 : position + 5], "big")
            size = (int.from_bytes(data[position + 5 : position + 7], "big"), height)
            if frame_only:
                break
        position += length
        if marker == _SOS:
            scans += 1
            if scans > max_scans:
                raise JpegLimit(
                    f"the JPEG has over {max_scans} scans (a progressive JPEG normally has 6 to "
                    "12); refused rather than decoded"
                )
            end = _SCAN_END.search(data, position)
            position = end.start() if end is not None else len(data)
    return JpegLayout(size, scans)


def jpeg_size(data: bytes, max_segments: int = 32) -> tuple[int, int] | None:
    """Width and height from a JPEG's frame header, if it comes within `max_segments` segments
    (as in every encoder's output); None otherwise. Nothing after it is read."""
    try:
        return jpeg_layout(data, max_segments=max_segments, frame_only=True).size
    except JpegLimit:
        return None
