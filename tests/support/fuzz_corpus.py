"""A seeded corpus of hostile image uploads: random bytes, truncations, flipped bytes, bombs, odd
modes and metadata. The same seed gives the same corpus, so a failing case can be replayed by name.
"""

import io
import random
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SEED = 20_240_601
FORMATS = ("PNG", "JPEG", "GIF", "TIFF", "BMP", "WEBP")
MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"II*\x00", b"BM", b"RIFF")


@dataclass(frozen=True)
class Upload:
    name: str  # category-index: unique, so a failure names the case to replay
    data: bytes
    filename: str = "upload.png"


def digit(side: int = 64, mode: str = "L") -> Image.Image:
    """A drawn 7, light on black."""
    image = Image.new("L", (side, side), 0)
    scale = side / 64
    points = [(16 * scale, 14 * scale), (48 * scale, 14 * scale), (30 * scale, 52 * scale)]
    ImageDraw.Draw(image).line(points, fill=255, width=max(1, round(6 * scale)))
    return image.convert(mode)


def encode(image: Image.Image, format: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **params)
    return buffer.getvalue()


def seeds() -> dict[str, bytes]:
    """One valid digit image per accepted format."""
    return {format: encode(digit(), format) for format in FORMATS}


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, *chunks: bytes, depth: int = 8, color: int = 0) -> bytes:
    """A PNG with the given header values and extra chunks, plus one small IDAT."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0))
    idat = png_chunk(b"IDAT", zlib.compress(b"\0" * 4096))
    return b"\x89PNG\r\n\x1a\n" + header + b"".join(chunks) + idat + png_chunk(b"IEND", b"")


def gif(width: int, height: int) -> bytes:
    """A GIF whose screen and only frame claim `width` x `height`, with one byte of data."""
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    frame = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return screen + frame + b";"


def tiff(width: int, height: int, extra: tuple[tuple[int, int, int, int], ...] = ()) -> bytes:
    """An uncompressed 8-bit gray little-endian TIFF claiming `width` x `height`, 16 data bytes."""
    entries = sorted(
        [
            (256, 4, 1, width),
            (257, 4, 1, height),
            (258, 3, 1, 8),
            (259, 3, 1, 1),
            (262, 3, 1, 1),
            (273, 4, 1, 0),  # strip offset: patched below
            (277, 3, 1, 1),
            (278, 4, 1, max(height, 1)),
            (279, 4, 1, 16),
            *extra,
        ]
    )
    data_offset = 8 + 2 + 12 * len(entries) + 4
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        value = data_offset if tag == 273 else value
        packed = struct.pack("<H", value) + b"\0\0" if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, count) + packed
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\0\0\0\0" + b"\x80" * 16


def bmp(width: int, height: int, bits: int = 8) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bits, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + 64, 0, 0, 14 + 40) + info + b"\0" * 64


def jpeg_sized(width: int, height: int) -> bytes:
    """The seed JPEG with its frame header (SOF0) claiming another size."""
    data = bytearray(encode(digit(), "JPEG"))
    at = data.index(b"\xff\xc0") + 5
    data[at : at + 4] = struct.pack(">HH", height, width)
    return bytes(data)


def jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of each segment of a well-formed JPEG; a scan ends with its data."""
    segments, position = [], 2
    while data[position + 1] != 0xD9:
        marker = data[position + 1]
        end = position + 2 + int.from_bytes(data[position + 2 : position + 4], "big")
        if marker == 0xDA:  # entropy-coded data runs to the next marker that is not RSTn
            end = re.compile(rb"\xff[^\x00\xd0-\xd7]").search(data, end).start()  # type: ignore[union-attr]
        segments.append((marker, position, end))
        position = end
    return segments


def jpeg_scans(side: int, scans: int, mode: str = "L") -> bytes:
    """A blank progressive JPEG whose last scan (a few bytes: one end-of-band run over every
    block) is repeated until it has `scans` scans. libjpeg passes over every block per scan:
    5,000 such scans at 1000x1000 took ~3 s to decode, 5 MB of them over a minute."""
    data = encode(Image.new(mode, (side, side), 255), "JPEG", progressive=True, quality=90)
    segments = jpeg_segments(data)
    sos = [index for index, (marker, _, _) in enumerate(segments) if marker == 0xDA]
    first = sos[-1] - 1 if segments[sos[-1] - 1][0] == 0xC4 else sos[-1]  # with its DHT
    last_scan = data[segments[first][1] : segments[sos[-1]][2]]
    return data[: segments[-1][2]] + last_scan * (scans - len(sos)) + b"\xff\xd9"


def webp_canvas(width: int, height: int) -> bytes:
    """An extended WebP header (VP8X) claiming a canvas, with no image in it."""
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\0" * 4
    vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x


def bombs() -> dict[str, bytes]:
    """Tiny files declaring huge (or zero) dimensions."""
    return {
        "png-100k-square": png(100_000, 100_000),
        "png-max-int": png(2**31 - 1, 2**31 - 1),
        "png-wide": png(2**31 - 1, 1),
        "png-over-limit": png(5000, 4000),
        "png-16bit-bomb": png(60_000, 60_000, depth=16),
        "gif-65535": gif(65_535, 65_535),
        "gif-over-limit": gif(8000, 2001),
        "tiff-100k": tiff(100_000, 100_000),
        "tiff-over-limit": tiff(5000, 4000),
        "bmp-100k": bmp(100_000, 100_000),
        "bmp-negative-height": bmp(100, -100_000),
        "jpeg-65500": jpeg_sized(65_500, 65_500),
        "jpeg-over-limit": jpeg_sized(5000, 4000),
        "jpeg-under-limit-no-data": jpeg_sized(4000, 3000),
        "webp-16k": webp_canvas(16_384, 16_384),
        "png-zero-width": png(0, 28),
        "png-zero-height": png(28, 0),
        "gif-zero": gif(0, 0),
        "tiff-zero": tiff(0, 0),
        "bmp-zero": bmp(0, 28),
        "jpeg-zero": jpeg_sized(0, 28),
        # Issue 15, finding 3: decode work without a pixel bomb.
        "jpeg-5000-scans": jpeg_scans(1000, 5000),
        "jpeg-5000-scans-16mpx": jpeg_scans(4000, 5000),
        # Real zlib bombs inside the pixel limit: 16 MB of pixels from ~16 KB of file.
        "png-16mpx-blank": encode(Image.new("L", (4000, 4000), 0), "PNG"),
        "png-16mpx-dot": encode(dot_on(Image.new("L", (4000, 4000), 0)), "PNG"),
    }


def dot_on(image: Image.Image) -> Image.Image:
    ImageDraw.Draw(image).ellipse((1900, 1700, 2100, 2300), fill=255)
    return image


def palettes() -> dict[str, bytes]:
    rng = np.random.default_rng(SEED)
    colors = rng.integers(0, 256, 768, dtype=np.uint8).tobytes()
    indexed = digit().convert("P")
    indexed.putpalette(colors)
    return {
        "png-palette-256-trns": encode(indexed, "PNG", transparency=bytes(range(256))),
        "png-plte-1000": png(28, 28, png_chunk(b"PLTE", colors * 4), color=3),
        "png-plte-not-triples": png(28, 28, png_chunk(b"PLTE", colors[:100]), color=3),
        "png-plte-1-indexes-255": png(28, 28, png_chunk(b"PLTE", b"\xff\0\0"), color=3),
        "png-trns-longer-than-plte": png(
            28, 28, png_chunk(b"PLTE", b"\0" * 6), png_chunk(b"tRNS", b"\0" * 256), color=3
        ),
        "gif-palette-256": encode(indexed, "GIF"),
        "png-2bit": encode(digit().convert("P", colors=4), "PNG", bits=2),
        "png-4bit": encode(digit().convert("P", colors=16), "PNG", bits=4),
    }


def animations() -> dict[str, bytes]:
    frames = [digit(28).rotate(angle) for angle in range(0, 360, 1)]
    return {
        "gif-360-frames": encode(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        "apng-120-frames": encode(frames[0], "PNG", save_all=True, append_images=frames[1:120]),
        "tiff-100-pages": encode(frames[0], "TIFF", save_all=True, append_images=frames[1:100]),
        "webp-60-frames": encode(frames[0], "WEBP", save_all=True, append_images=frames[1:60]),
        "gif-frame-outside-screen": gif(28, 28)[:-10] + struct.pack("<HH", 60_000, 60_000),
    }


def modes() -> dict[str, bytes]:
    """16-bit, 1-bit, float, CMYK, alpha-only and other unusual pixel formats."""
    wide = (np.asarray(digit(), dtype=np.uint16) * 257).astype(np.uint16)
    return {
        "png-16bit-gray": encode(Image.fromarray(wide), "PNG"),
        "tiff-16bit-gray": encode(Image.fromarray(wide), "TIFF"),
        "tiff-float32": encode(Image.fromarray(np.asarray(digit(), np.float32) / 255), "TIFF"),
        "tiff-int32": encode(digit().convert("I"), "TIFF"),
        "png-1bit": encode(digit(mode="1"), "PNG"),
        "bmp-1bit": encode(digit(mode="1"), "BMP"),
        "tiff-1bit-group4": encode(digit(mode="1"), "TIFF", compression="group4"),
        "jpeg-cmyk": encode(digit(mode="CMYK"), "JPEG"),
        "jpeg-cmyk-inverted": encode(Image.eval(digit(mode="CMYK"), lambda v: 255 - v), "JPEG"),
        "tiff-cmyk": encode(digit(mode="CMYK"), "TIFF"),
        "jpeg-progressive": encode(digit(mode="RGB"), "JPEG", progressive=True),
        "jpeg-gray-q1": encode(digit(), "JPEG", quality=1),
        "png-la": encode(digit(mode="LA"), "PNG"),
        "png-rgba-all-transparent": encode(Image.new("RGBA", (64, 64), (0, 0, 0, 0)), "PNG"),
        "tiff-lab": encode(digit(mode="RGB").convert("LAB"), "TIFF"),
        "webp-lossless-rgba": encode(digit(mode="RGBA"), "WEBP", lossless=True),
        "png-1x1": encode(Image.new("L", (1, 1), 255), "PNG"),
        "png-1x10000": encode(Image.new("L", (1, 10_000), 255), "PNG"),
    }


def exif_blocks() -> dict[str, bytes]:
    """Raw EXIF payloads (TIFF structure after the "Exif" header) that make no sense."""
    header = b"II*\x00" + struct.pack("<I", 8)

    def ifd(*entries: tuple[int, int, int, int], next_ifd: int = 0) -> bytes:
        body = b"".join(struct.pack("<HHII", *entry) for entry in entries)
        return struct.pack("<H", len(entries)) + body + struct.pack("<I", next_ifd)

    rng = random.Random(SEED)
    return {
        "orientation-9": header + ifd((0x0112, 3, 1, 9)),
        "orientation-65535": header + ifd((0x0112, 3, 1, 65_535)),
        "orientation-0": header + ifd((0x0112, 3, 1, 0)),
        "ifd-loop": header + ifd((0x0112, 3, 1, 6), next_ifd=8),
        "count-huge": header + ifd((0x010E, 2, 0x7FFF_FFFF, 4096)),
        "offset-outside": header + ifd((0x8769, 4, 1, 0xFFFF_FF00)),
        "exif-ifd-loop": header + ifd((0x8769, 4, 1, 8)),
        "entries-65535": header + struct.pack("<H", 65_535),
        "garbage-60k": bytes(rng.getrandbits(8) for _ in range(60_000)),
    }


def exifs() -> dict[str, bytes]:
    cases = {}
    for name, block in exif_blocks().items():
        cases[f"jpeg-{name}"] = encode(digit(mode="RGB"), "JPEG", exif=b"Exif\0\0" + block)
        cases[f"png-{name}"] = encode(digit(), "PNG", exif=block)
        cases[f"webp-{name}"] = encode(digit(mode="RGB"), "WEBP", exif=b"Exif\0\0" + block)
    cases["jpeg-rotated-valid"] = encode(digit(mode="RGB"), "JPEG", exif=rotated_exif())
    return cases


def rotated_exif() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return exif.tobytes()


def flipped(data: bytes, rng: random.Random, header: bool) -> bytes:
    """`data` with 1-4 random bytes replaced, in its first 64 bytes or anywhere after."""
    mutated = bytearray(data)
    low, high = (0, min(64, len(data))) if header else (min(64, len(data) - 1), len(data))
    for _ in range(rng.randint(1, 4)):
        mutated[rng.randrange(low, high)] = rng.getrandbits(8)
    return bytes(mutated)


def png_fields_mutated(rng: random.Random) -> bytes:
    """A PNG whose header fields are random but whose checksums are right, so decoders use them."""
    width, height = rng.choice([0, 1, 28, 64, 65_535, 2**31 - 1]), rng.choice([0, 1, 28, 64])
    depth, color = rng.choice([0, 1, 2, 4, 8, 16, 32]), rng.choice([0, 1, 2, 3, 4, 5, 6, 7])
    fields = struct.pack(
        ">IIBBBBB",
        width,
        height,
        depth,
        color,
        rng.randint(0, 2),
        rng.randint(0, 2),
        rng.randint(0, 2),
    )
    pixels = zlib.compress(bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 512))))
    extra = png_chunk(b"PLTE", bytes(rng.getrandbits(8) for _ in range(3 * rng.randint(0, 300))))
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", fields) + extra + png_chunk(b"IDAT", pixels)


def corpus(scale: float = 1.0) -> Iterator[Upload]:
    """Every case, in a fixed order; `scale` multiplies the counts of the random families."""
    rng = random.Random(SEED)
    count = lambda n: max(1, round(n * scale))  # noqa: E731
    for i in range(count(300)):
        length = int(2 ** rng.uniform(0, 13))
        yield Upload(f"random-{i}", bytes(rng.getrandbits(8) for _ in range(length)))
    for i in range(count(120)):
        tail = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 600)))
        yield Upload(f"magic-random-{i}", MAGIC[i % len(MAGIC)] + tail)
    valid = seeds()
    for format in ("PNG", "JPEG"):  # every truncation point
        for end in range(len(valid[format])):
            yield Upload(f"truncated-{format.lower()}-{end}", valid[format][:end])
    for format, data in valid.items():
        yield Upload(f"valid-{format.lower()}", data)
        for i in range(count(150)):
            mutated = flipped(data, rng, header=i % 2 == 0)
            yield Upload(f"flipped-{format.lower()}-{i}", mutated)
    for i in range(count(100)):
        yield Upload(f"png-fields-{i}", png_fields_mutated(rng))
    for family in (bombs, palettes, animations, modes, exifs):
        for name, data in family().items():
            yield Upload(f"{family.__name__}-{name}", data)
