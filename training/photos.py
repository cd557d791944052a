"""Digits photographed on paper: phone photos of one written digit, for training and evaluation.

`photo` draws any ink (1 = ink) as a photo of paper of one of KINDS; the chunk functions draw
MNIST or font digits that way and pass each file through the service's own `prepare_image`.
Training and evaluation differ in their seeds and, with `held_out=True`, in what is drawn
(never drawn in training), so evaluation measures generalisation:
- sizes: long side 150-600 px, `small` 600-1200 px / long side 600-1000 px, `small` exactly
  1200x900 or 900x1200 (a phone photo);
- sticky notes: yellow, pink, green, blue, orange, turned up to 6 degrees / lavender, aqua,
  lime, white, magenta, turned up to 12, some ruled;
- paper, rulings, grids, boxes: training.paper; inks: training.pens; light and white
  balance: training.camera.
Every kind but `shadow` also lies in a shadow in 30 % of photos, in training and held out.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from app.imaging.errors import ImageError
from app.imaging.pipeline import prepare_image
from training.augment import Distortion, distort
from training.camera import camera, develop, encode, light, turned
from training.fonts import load_font
from training.paper import SUPERSAMPLE, Colour, Page, boxes, grid, margin, paper_colour, ruled
from training.pens import glyph, write

KINDS = ("ruled", "boxed", "shadow", "small", "grid", "sticky")
MAX_PIXELS = 16_000_000  # the service's default limit
COMBINED = 0.3  # share of photos of another kind in a shadow too
NOTES: dict[bool, tuple[Colour, ...]] = {
    False: ((252, 236, 110), (255, 168, 200), (185, 238, 150), (160, 208, 250), (255, 188, 105)),
    True: ((212, 186, 250), (150, 238, 236), (215, 250, 95), (246, 246, 242), (250, 105, 200)),
}
DESKS = ((150, 110, 72), (92, 62, 42), (122, 122, 126), (226, 224, 220), (36, 36, 40))
Placement = tuple[float, float, float]  # the digit's bottom centre (x, y) and height, paper px


def photo(
    ink: NDArray[np.float32], kind: str, rng: np.random.Generator, held_out: bool = False
) -> bytes:
    """float32 ink in [0, 1] (1 = ink) -> an encoded RGB phone photo of it on `kind` paper."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    size = photo_size(kind, rng, held_out)
    page = blank_page(size, rng, held_out)
    place = LAYOUTS[kind](page, rng, held_out)
    page.finish()
    focus = write(page, ink, place, rng, held_out)
    shadow = kind == "shadow" or rng.random() < COMBINED
    field = light(page.view, rng, shadow, focus, held_out)
    return encode(develop(page.image, field, size, rng, held_out), rng)


def photo_size(kind: str, rng: np.random.Generator, held_out: bool) -> tuple[int, int]:
    """(width, height) of the photo file."""
    if kind == "small" and held_out:
        return (1200, 900) if rng.random() < 0.5 else (900, 1200)
    low, high = (600, 1200) if kind == "small" else (600, 1000) if held_out else (150, 600)
    long = int(np.exp(rng.uniform(np.log(low), np.log(high))))
    short = int(long * rng.uniform(0.6, 1.0))
    return (long, short) if rng.random() < 0.5 else (short, long)


def blank_page(size: tuple[int, int], rng: np.random.Generator, held_out: bool) -> Page:
    """Unprinted paper under a new camera, drawn at 0.55-0.9 of the photo's resolution."""
    scale = rng.uniform(0.55, 0.9)
    view = (max(8, round(size[0] * scale)), max(8, round(size[1] * scale)))
    paper = paper_colour(rng, held_out)
    image = Image.new("RGB", (view[0] * SUPERSAMPLE, view[1] * SUPERSAMPLE), _rgb(paper))
    return Page(image, paper, camera(view, rng), scale, SUPERSAMPLE)


def extent(view: tuple[int, int]) -> NDArray[np.float64]:
    """The paper area printed on: the view and the margin the camera may turn into it."""
    return np.array([-0.3 * view[0], -0.3 * view[1], 1.3 * view[0], 1.3 * view[1]])


def _ruled(page: Page, rng: np.random.Generator, held_out: bool) -> Placement:
    view = page.view
    spacing = min(view) / rng.uniform(2.2, 6.0)
    style, rows = ruled(page, spacing, extent(view), rng, held_out)
    if style == "college":  # narrow lines, written as tall as on any other paper
        ratio = rng.uniform(0.85, 1.3)
    else:
        ratio = rng.uniform(0.5, 0.95) if rng.random() < 0.75 else rng.uniform(0.95, 1.6)
    height = min(ratio * spacing, 0.85 * min(view))
    line = rows[np.argmin(np.abs(rows - (view[1] + height) / 2))]
    x = rng.uniform(0.25, 0.75) * view[0]
    if style == "legal" or rng.random() < 0.5:
        near = rng.random() < 0.5  # beside or through the digit, else anywhere
        at = x + rng.uniform(-0.8, 0.8) * height if near else rng.uniform(0.05, 0.95) * view[0]
        margin(page, at, extent(view), rng, double=style == "legal")
    return x, line + rng.uniform(-0.05, 0.12) * height, height


def _grid(page: Page, rng: np.random.Generator, held_out: bool) -> Placement:
    view = page.view
    square = min(view) / rng.uniform(3.0, 10.0)
    grid(page, square, extent(view), rng, held_out)
    height = min(square * rng.uniform(0.7, 2.2), 0.85 * min(view))  # one square or two
    x, y = rng.uniform(0.3, 0.7) * view[0], rng.uniform(0.3, 0.7) * view[1]
    return x, y + height / 2, height


def _boxed(page: Page, rng: np.random.Generator, held_out: bool) -> Placement:
    view = page.view
    box_height = min(view) * rng.uniform(0.4, 0.78)
    box_width = min(box_height * rng.uniform(0.75, 1.3), 0.9 * view[0])
    x0 = (view[0] - box_width) * rng.uniform(0.2, 0.8)
    y0 = (view[1] - box_height) * rng.uniform(0.2, 0.8)
    count = 1 if rng.random() < 0.5 else int(rng.integers(3, 7))
    boxes(page, np.array([x0, y0, x0 + box_width, y0 + box_height]), count, rng, held_out)
    touching = rng.random() < 0.15
    height = box_height * (rng.uniform(0.85, 1.0) if touching else rng.uniform(0.45, 0.88))
    room = (box_height - height) / 2
    bottom = y0 + box_height - room + (room if touching else rng.uniform(-0.6, 0.6) * room)
    return x0 + box_width * rng.uniform(0.38, 0.62), bottom, height


def _shadow(page: Page, rng: np.random.Generator, held_out: bool) -> Placement:
    view = page.view
    height = min(view) * rng.uniform(0.35, 0.75)
    x, y = rng.uniform(0.35, 0.65) * view[0], rng.uniform(0.35, 0.65) * view[1]
    return x, y + height / 2, height


def _small(page: Page, rng: np.random.Generator, held_out: bool) -> Placement:
    view = page.view
    height = float(np.exp(rng.uniform(np.log(25), np.log(120)))) * page.scale
    ground = rng.random()
    if ground < 0.25:
        ruled(page, height / rng.uniform(0.55, 0.95), extent(view), rng, held_out, faint=0.6)
    elif ground < 0.4:
        grid(page, height / rng.uniform(0.8, 1.8), extent(view), rng, held_out)
    x = rng.uniform(0.05 * view[0] + height, 0.95 * view[0] - height)
    y = rng.uniform(0.05 * view[1] + height, 0.95 * view[1])
    if rng.random() < 0.3:
        _paper_edge(page, (x, y - height / 2), rng)
    return x, y, height


def _paper_edge(page: Page, keep: tuple[float, float], rng: np.random.Generator) -> None:
    """The desk beyond one edge of the page, between the digit and that side of the view."""
    view, side = page.view, int(rng.integers(4))
    axis, far = side % 2, side >= 2
    edge = keep[axis] + ((view[axis] if far else 0.0) - keep[axis]) * rng.uniform(0.4, 0.9)
    beyond, span = 3.0 * max(view) * (1 if far else -1), 2.0 * max(view)
    rect = np.array([[edge, -span], [edge + beyond, -span], [edge + beyond, span], [edge, span]])
    page.polygon(rect if axis == 0 else rect[:, ::-1], _desk(rng))


def _sticky(page: Page, rng: np.random.Generator, held_out: bool) -> Placement:
    view = page.view
    desk = _desk(rng)
    page.image.paste(desk, (0, 0, *page.image.size))
    side = min(view) * rng.uniform(0.85, 1.3)
    cx, cy = (np.asarray(view) * (0.5 + rng.uniform(-0.08, 0.08, 2))).tolist()
    page.homography = turned(page.homography, rng.uniform(-1, 1) * (12 if held_out else 6), cx, cy)
    note = np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])
    shade = _rgb(np.asarray(desk) * 0.6)
    page.polygon(_corners(note + side * rng.uniform(0.005, 0.03)), shade)
    colours = NOTES[held_out]
    page.paper = np.asarray(colours[int(rng.integers(len(colours)))]) + rng.uniform(-8, 8, 3)
    page.paper = np.clip(page.paper, 0, 255)
    page.polygon(_corners(note), _rgb(page.paper))
    height = side * rng.uniform(0.3, 0.65)
    if held_out and rng.random() < 0.4:
        ruled(page, height / rng.uniform(0.6, 0.95), note, rng, held_out, faint=0.7)
    return cx + rng.uniform(-0.1, 0.1) * side, cy + height / 2, height


def _corners(rect: NDArray) -> NDArray[np.float64]:
    x0, y0, x1, y1 = rect
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def _desk(rng: np.random.Generator) -> Colour:
    return _rgb(np.asarray(DESKS[int(rng.integers(len(DESKS)))]) + rng.uniform(-10, 10, 3))


def _rgb(colour: NDArray) -> Colour:
    red, green, blue = (int(v) for v in np.clip(np.rint(colour), 0, 255))
    return red, green, blue


LAYOUTS = {
    "ruled": _ruled,
    "boxed": _boxed,
    "shadow": _shadow,
    "small": _small,
    "grid": _grid,
    "sticky": _sticky,
}


def digit_ink(digit: NDArray[np.uint8], rng: np.random.Generator) -> NDArray[np.float32]:
    """A 28x28 uint8 MNIST digit -> float32 ink in [0, 1], another writer's hand, at 3x."""
    return distort(digit, rng, Distortion())


def font_ink(
    face: Path | None, digit: int, rng: np.random.Generator, cache: dict
) -> NDArray[np.float32]:
    """One digit of a font face (None: Pillow's default) as float32 ink in [0, 1], ~60-110 px."""
    size = int(rng.integers(7, 14)) * 8  # a few sizes, so the cache of fonts stays small
    if (face, size) not in cache:
        cache[face, size] = load_font(face, size)
    bold = int(rng.integers(1, size // 24 + 1)) if rng.random() < 0.3 else 0
    return glyph(cache[face, size], str(digit), bold)


def photo_chunk(
    digits: NDArray[np.uint8],
    labels: NDArray[np.uint8],
    kinds: Sequence[str],
    seed: np.random.SeedSequence,
    held_out: bool,
) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.bool_]]:
    """MNIST digits as photos of `kinds` in turn, through prepare_image: pixels, labels, ok."""
    rng = np.random.default_rng(seed)
    files = [
        photo(digit_ink(digit, rng), kinds[index % len(kinds)], rng, held_out)
        for index, digit in enumerate(digits)
    ]
    pixels, ok = prepared(files)
    return pixels, labels.astype(np.uint8), ok


def font_photo_chunk(
    faces: Sequence[Path | None],
    count: int,
    kinds: Sequence[str],
    seed: np.random.SeedSequence,
    held_out: bool,
) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.bool_]]:
    """`count` font digits (labels 0-9 in turn) as photos of `kinds` in turn, prepared."""
    rng = np.random.default_rng(seed)
    cache: dict = {}
    labels = np.arange(count, dtype=np.uint8) % 10
    files = []
    for index, digit in enumerate(labels):
        ink = font_ink(faces[int(rng.integers(len(faces)))], int(digit), rng, cache)
        files.append(photo(ink, kinds[index % len(kinds)], rng, held_out))
    pixels, ok = prepared(files)
    return pixels, labels, ok


def prepared(files: Sequence[bytes]) -> tuple[NDArray[np.uint8], NDArray[np.bool_]]:
    """The 28x28 uint8 the service's prepare_image gives each file; ok False where it refused."""
    pixels = np.zeros((len(files), 28, 28), dtype=np.uint8)
    ok = np.zeros(len(files), dtype=bool)
    for index, data in enumerate(files):
        try:
            pixels[index] = prepare_image(data, max_pixels=MAX_PIXELS).pixels
            ok[index] = True
        except ImageError:
            pass
    return pixels, ok
