"""Realistic uploads with true labels, generated in memory from fixed seeds (nothing is committed).

Each builder returns `Upload`s of one kind, the way users send them: typed digits on big white
screenshots, scans and photos of ink on paper, transparent canvas drawings, inverted and
off-centre MNIST digits. The MNIST-based kinds use the digits of `sample_indices`, so the model's
plain accuracy on those digits is the ceiling for them.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from tests.support import encode

SAMPLE_SIZE = 120  # MNIST test digits per MNIST-based kind
SEED = 20240917
FONT_DIR = Path("/usr/share/fonts")
CANVAS = (400, 300)  # width, height of a typed-digit screenshot
TYPED_SIZES = (16, 24, 48, 96, 160)
TYPED_STROKES = (0, 1, 3)  # stroke_width: 0 = regular, then bold variants (relative to size)
SYSTEM_FONT_LIMIT = 4
SYSTEM_SIZES = (40, 96)
SYSTEM_STROKES = (0, 1)
INKS = ((0, 0, 0), (20, 30, 110), (40, 40, 40))  # black, dark-blue, pencil-gray


@dataclass(frozen=True)
class Upload:
    kind: str
    name: str
    data: bytes
    label: int
    content_type: str


Font = Callable[[int], ImageFont.FreeTypeFont]


def sample_indices(count: int = SAMPLE_SIZE, seed: int = SEED) -> NDArray[np.int64]:
    """A fixed random choice of MNIST test indices."""
    return np.random.default_rng(seed).choice(10_000, size=count, replace=False)


def builtin_fonts() -> dict[str, Font]:
    """Pillow's own scalable font (FreeType, shipped in every wheel): machine-independent."""
    return {"pillow-default": _pillow_font}


def _pillow_font(size: int) -> ImageFont.FreeTypeFont:
    font = ImageFont.load_default(size=size)
    assert isinstance(font, ImageFont.FreeTypeFont), "this Pillow was built without FreeType"
    return font


def system_fonts(limit: int = SYSTEM_FONT_LIMIT) -> dict[str, Font]:
    """Up to `limit` TrueType fonts from /usr/share/fonts, evenly spread; none on some machines."""
    paths = sorted(FONT_DIR.rglob("*.ttf")) if FONT_DIR.is_dir() else []
    step = max(1, len(paths) // limit)
    return {p.stem: _truetype(p) for p in paths[::step][:limit]}


def _truetype(path: Path) -> Font:
    return lambda size: ImageFont.truetype(str(path), size=size)


def typed_digits(
    fonts: dict[str, Font],
    kind: str = "typed",
    sizes: Sequence[int] = TYPED_SIZES,
    strokes: Sequence[int] = TYPED_STROKES,
    seed: int = SEED,
) -> list[Upload]:
    """Screenshots: one digit in each font, size and weight, at a random place on a white canvas."""
    rng = np.random.default_rng(seed)
    uploads = []
    for font_name, font in fonts.items():
        for size in sizes:
            for stroke in strokes:
                for digit in range(10):
                    ink = INKS[int(rng.integers(2))]
                    image = _typed(str(digit), font(size), stroke * size // 48, ink, rng)
                    name = f"{font_name}-{size}px-stroke{stroke}-{digit}.png"
                    uploads.append(Upload(kind, name, encode(image), digit, "image/png"))
    return uploads


def _typed(
    text: str,
    font: ImageFont.FreeTypeFont,
    stroke: int,
    ink: tuple[int, int, int],
    rng: np.random.Generator,
) -> Image.Image:
    image = Image.new("RGB", CANVAS, "white")
    draw = ImageDraw.Draw(image)
    box = draw.textbbox((0, 0), text, font=font, stroke_width=stroke)
    left, top, right, bottom = (int(edge) for edge in box)
    x = int(rng.integers(0, CANVAS[0] - right)) - left
    y = int(rng.integers(0, CANVAS[1] - bottom)) - top
    draw.text((x, y), text, fill=ink, font=font, stroke_width=stroke, stroke_fill=ink)
    return image


def scans(
    images: NDArray[np.uint8], labels: NDArray[np.uint8], jpeg: bool, seed: int = SEED
) -> list[Upload]:
    """Photos/scans of the digits written in dark ink on light, noisy, slightly blurred paper."""
    rng = np.random.default_rng(seed + (1 if jpeg else 0))
    kind, ext = ("scan_jpeg", "jpg") if jpeg else ("scan_png", "png")
    uploads = []
    for number, (digit, label) in enumerate(zip(images, labels, strict=True)):
        sheet = _sheet(digit, rng)
        data = encode(sheet, "JPEG", quality=75) if jpeg else encode(sheet, compress_level=1)
        content_type = "image/jpeg" if jpeg else "image/png"
        uploads.append(Upload(kind, f"scan-{number}.{ext}", data, int(label), content_type))
    return uploads


def _sheet(digit: NDArray[np.uint8], rng: np.random.Generator) -> Image.Image:
    side = int(rng.integers(200, 301))
    height, width = int(rng.integers(side + 40, 421)), int(rng.integers(side + 40, 561))
    top, left = int(rng.integers(0, height - side)), int(rng.integers(0, width - side))
    alpha = np.zeros((height, width, 1), dtype=np.float32)
    blur = ImageFilter.GaussianBlur(float(rng.uniform(0.6, 1.4)))  # focus; the noise comes after
    pen = np.asarray(_pen(digit, side, rng).filter(blur), dtype=np.float32) / 255
    alpha[top : top + side, left : left + side, 0] = pen
    paper = rng.standard_normal((height, width, 1), dtype=np.float32) * 6 + rng.uniform(200, 240)
    paper += np.linspace(-8, 8, width, dtype=np.float32)[:, np.newaxis]  # uneven light
    colour = np.array(INKS[int(rng.integers(3))], dtype=np.float32)
    rgb = paper + (colour - paper) * alpha
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def _pen(digit: NDArray[np.uint8], side: int, rng: np.random.Generator) -> Image.Image:
    """The digit upscaled to `side` px as a pen stroke (opacity "L", crisp edges) of a random
    weight: a thin ballpoint, MNIST's own weight, or a bold marker."""
    big = Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC)
    pen = big.point(lambda value: min(255, max(0, (value - 64) * 255 // 90)))
    size = side // 27 | 1  # about a third of MNIST's stroke width
    weight = int(rng.integers(3))
    if weight == 1:
        return pen
    return pen.filter(ImageFilter.MinFilter(size) if weight == 0 else ImageFilter.MaxFilter(size))


def canvas_drawings(
    images: NDArray[np.uint8], labels: NDArray[np.uint8], seed: int = SEED
) -> list[Upload]:
    """HTML-canvas exports: dark strokes on fully transparent (0, 0, 0, 0) pixels, RGBA PNG."""
    rng = np.random.default_rng(seed + 2)
    uploads = []
    for number, (digit, label) in enumerate(zip(images, labels, strict=True)):
        alpha = np.asarray(_pen(digit, 280, rng))
        rgba = np.zeros((280, 280, 4), dtype=np.uint8)
        rgba[..., :3] = np.array(INKS[int(rng.integers(2))], dtype=np.uint8)
        rgba[..., 3] = alpha
        rgba[alpha == 0] = 0  # canvas stores transparent pixels as transparent black
        data = encode(Image.fromarray(rgba, "RGBA"))
        uploads.append(Upload("canvas", f"canvas-{number}.png", data, int(label), "image/png"))
    return uploads


def plain(images: NDArray[np.uint8], labels: NDArray[np.uint8]) -> list[Upload]:
    """The 28x28 digits as they are: the model's own accuracy on them is the ceiling."""
    return _each("mnist", images, labels, lambda digit: digit)


def inverted(images: NDArray[np.uint8], labels: NDArray[np.uint8]) -> list[Upload]:
    """The 28x28 digits dark on light."""
    return _each("inverted", images, labels, lambda digit: 255 - digit)


def _each(
    kind: str,
    images: NDArray[np.uint8],
    labels: NDArray[np.uint8],
    change: Callable[[NDArray[np.uint8]], NDArray[np.uint8]],
) -> list[Upload]:
    pairs = enumerate(zip(images, labels, strict=True))
    return [
        Upload(kind, f"{kind}-{n}.png", encode(Image.fromarray(change(d))), int(y), "image/png")
        for n, (d, y) in pairs
    ]


def off_centre(
    images: NDArray[np.uint8], labels: NDArray[np.uint8], seed: int = SEED
) -> list[Upload]:
    """The digits shifted 4-6 px in their 28x28 frame, or (every other) pasted in black frames."""
    rng = np.random.default_rng(seed + 3)
    moves = iter([_shifted, _pasted] * len(images))
    return _each("off_centre", images, labels, lambda digit: next(moves)(digit, rng))


def _shifted(digit: NDArray[np.uint8], rng: np.random.Generator) -> NDArray[np.uint8]:
    """Shift by 4-6 px on each axis, towards whichever side has room, without cutting ink."""
    rows, cols = np.flatnonzero(digit.any(axis=1)), np.flatnonzero(digit.any(axis=0))
    dy = _step(rows[0], 27 - rows[-1], rng)
    dx = _step(cols[0], 27 - cols[-1], rng)
    moved = np.zeros_like(digit)
    box = digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    moved[rows[0] + dy : rows[-1] + 1 + dy, cols[0] + dx : cols[-1] + 1 + dx] = box
    return moved


def _step(before: int, after: int, rng: np.random.Generator) -> int:
    size = int(rng.integers(4, 7))
    sign = 1 if after >= before else -1
    return sign * min(size, after if sign > 0 else before)


def _pasted(digit: NDArray[np.uint8], rng: np.random.Generator) -> NDArray[np.uint8]:
    height, width = int(rng.integers(40, 129)), int(rng.integers(40, 129))
    frame = np.zeros((height, width), dtype=np.uint8)
    top, left = int(rng.integers(0, height - 27)), int(rng.integers(0, width - 27))
    frame[top : top + 28, left : left + 28] = digit
    return frame


Build = Callable[[NDArray[np.uint8], NDArray[np.uint8]], list[Upload]]
MNIST_KINDS: dict[str, Build] = {
    "mnist": plain,
    "scan_png": lambda images, labels: scans(images, labels, jpeg=False),
    "scan_jpeg": lambda images, labels: scans(images, labels, jpeg=True),
    "canvas": canvas_drawings,
    "inverted": inverted,
    "off_centre": off_centre,
}
