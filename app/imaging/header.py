"""The first stage: what an upload's header declares (format, size), read without decoding, and
the limits that can be checked there (the pixel count, a JPEG's scans)."""

from dataclasses import dataclass

from app.imaging.errors import EmptyImage, ImageTooLarge
from app.imaging.jpeg import SOI, JpegLimit, jpeg_layout, jpeg_size
from app.imaging.png import PNG_SIGNATURE

GIF_SIGNATURES = (b"GIF87a", b"GIF89a")


@dataclass(frozen=True)
class Header:
    format: str | None  # "PNG", "JPEG", "GIF", "BMP"; None: another format, or not an image
    size: tuple[int, int] | None  # width, height, where the header says

    @property
    def pixels(self) -> int | None:
        return self.size[0] * self.size[1] if self.size is not None else None


def check_limits(data: bytes, header: Header, max_pixels: int) -> None:
    """EmptyImage for no bytes, ImageTooLarge past a limit the header declares. Walks all of a
    JPEG's segments: off the event loop."""
    if not data:
        raise EmptyImage("the uploaded file is empty (0 bytes)")
    if header.format == "JPEG":  # before Pillow, which walks the segments too, in Python
        try:
            jpeg_layout(data)
        except JpegLimit as exc:
            raise ImageTooLarge(str(exc)) from None
    pixels = header.pixels
    if pixels is not None and pixels > max_pixels and header.size is not None:
        width, height = header.size
        raise ImageTooLarge(
            f"the image is {width}x{height} = {pixels} pixels; the limit is {max_pixels}"
        )


def read_header(data: bytes) -> Header:
    """Format and declared size from the first bytes (at most 32 JPEG segments); no limit is
    checked, so it is cheap enough for the event loop."""
    if data.startswith(SOI):
        return Header("JPEG", jpeg_size(data))
    if data.startswith(GIF_SIGNATURES) and len(data) >= 10:
        size = (int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little"))
        return Header("GIF", size)
    if data.startswith(b"BM") and len(data) >= 26 and data[14:18] != b"\x0c\x00\x00\x00":
        width = int.from_bytes(data[18:22], "little", signed=True)
        height = int.from_bytes(data[22:26], "little", signed=True)
        return Header("BMP", (abs(width), abs(height)))
    if data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR" and len(data) >= 24:
        size = (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big"))
        return Header("PNG", size)
    return Header(None, None)


def declared_pixels(data: bytes) -> int | None:
    """Width x height the header declares; None when it does not say."""
    return read_header(data).pixels
