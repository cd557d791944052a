"""What an upload's header declares, read without decoding anything."""

from app.imaging.jpeg import SOI, jpeg_size
from app.imaging.png import declared_png_pixels

GIF_SIGNATURES = (b"GIF87a", b"GIF89a")


def declared_pixels(data: bytes) -> int | None:
    """Width x height a PNG, JPEG, GIF or BMP header declares; None for other formats or when
    the header is not where it should be (then nothing is known about the decoding cost)."""
    if data.startswith(SOI):
        size = jpeg_size(data)
        return size[0] * size[1] if size is not None else None
    if data.startswith(GIF_SIGNATURES) and len(data) >= 10:
        return int.from_bytes(data[6:8], "little") * int.from_bytes(data[8:10], "little")
    if data.startswith(b"BM") and len(data) >= 26 and data[14:18] != b"\x0c\x00\x00\x00":
        width = int.from_bytes(data[18:22], "little", signed=True)
        height = int.from_bytes(data[22:26], "little", signed=True)
        return abs(width * height)
    return declared_png_pixels(data)
