"""Pens on paper: ink colours, stroke weights and textures, one ink patch written on a page.

Ink (float32, 1 = ink) is cropped to its strokes and brought to a standard height, where the
pen's weight is changed (grey dilation or erosion), then scaled to its size on the page, turned
with the paper and given crisp edges. Inks multiply the paper, as real ink does.
Training draws black, blue ballpoint, pencil, red, green or purple; held-out draws add teal and
brown (training.photos). Font glyphs are ink too (`glyph`).
"""

from functools import cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from training.camera import angle_at
from training.fonts import load_font
from training.paper import Colour, Page

INKS: dict[bool, tuple[Colour, ...]] = {
    # black, blue ballpoint, pencil, red, green, purple (and, held out, teal and brown)
    False: ((25, 25, 30), (30, 45, 150), (95, 95, 100), (185, 35, 40), (35, 115, 55),
            (95, 45, 140)),
    True: ((25, 25, 30), (30, 45, 150), (95, 95, 100), (185, 35, 40), (35, 115, 55),
           (95, 45, 140), (10, 105, 115), (105, 65, 35)),
}  # fmt: skip
WEIGHTS = {
    False: (0.3, 0.3, 0.14, 0.09, 0.08, 0.09),
    True: (0.25, 0.25, 0.12, 0.08, 0.07, 0.07, 0.08, 0.08),
}
PENCIL = 2  # the index of pencil grey: paler, grainy
STANDARD = 64  # px: the height at which a pen's weight is changed


def glyph(font: ImageFont.FreeTypeFont, text: str, bold: int = 0) -> NDArray[np.float32]:
    """`text` in `font` (strokes `bold` px heavier) as float32 ink with a 4 px margin."""
    left, top, right, bottom = (int(v) for v in font.getbbox(text, stroke_width=bold))
    image = Image.new("L", (right - left + 8, bottom - top + 8), 0)
    ImageDraw.Draw(image).text(
        (4 - left, 4 - top), text, fill=255, font=font, stroke_width=bold, stroke_fill=255
    )
    return np.asarray(image, dtype=np.float32) / np.float32(255)


@cache
def glyph_font(face: Path | None, size: int) -> ImageFont.FreeTypeFont:
    """A face at `size` px, cached: callers draw sizes from a few dozen values."""
    return load_font(face, size)


def tight(ink: NDArray[np.float32], level: float = 0.1) -> NDArray[np.float32]:
    """The ink cropped to where it exceeds `level` (unchanged when it never does)."""
    rows, cols = np.flatnonzero(ink.max(axis=1) > level), np.flatnonzero(ink.max(axis=0) > level)
    if len(rows) == 0:
        return ink
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def weighted(ink: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
    """The ink at STANDARD px high with a finer or bolder pen (a marker now and then)."""
    height, width = ink.shape
    size = (max(1, round(width * STANDARD / height)), STANDARD)
    image = Image.fromarray(np.rint(ink * 255).astype(np.uint8), "L").resize(
        size, Image.Resampling.BILINEAR
    )
    alpha = np.asarray(image, dtype=np.float32) / np.float32(255)
    change = int(rng.integers(3, 6)) if rng.random() < 0.08 else int(rng.integers(-3, 3))
    if change == 0:
        return alpha
    rank = ndimage.grey_dilation if change > 0 else ndimage.grey_erosion
    return rank(np.pad(alpha, abs(change)), size=(abs(change) + 1,) * 2)


def write(
    page: Page,
    ink: NDArray[np.float32],
    place: tuple[float, float, float],
    rng: np.random.Generator,
    held_out: bool,
) -> tuple[float, float]:
    """Ink written at place (bottom centre x, y and height, paper px); its centre in the image."""
    x, bottom, height = place
    ((cx, cy),) = page.points(np.array([[x, bottom - height / 2]]))
    alpha = tight(ink)
    if alpha.max() <= 0.1:  # nothing to write
        return cx, cy
    patch = _on_page(weighted(alpha, rng), height, angle_at(page.homography, x, bottom), page)
    pen = _ink(rng, held_out)
    patch = _texture(patch, rng, pen)
    left = int(np.clip(round(cx - patch.shape[1] / 2), 0, page.view[0] - patch.shape[1]))
    top = int(np.clip(round(cy - patch.shape[0] / 2), 0, page.view[1] - patch.shape[0]))
    box = (left, top, left + patch.shape[1], top + patch.shape[0])
    region = np.asarray(page.image.crop(box), dtype=np.float32)
    region *= 1.0 - patch[..., None] * (1.0 - pen[1] / 255.0)
    page.image.paste(Image.fromarray(region.astype(np.uint8), "RGB"), box[:2])
    return left + patch.shape[1] / 2, top + patch.shape[0] / 2


def _on_page(alpha: NDArray[np.float32], height: float, angle: float, page: Page) -> NDArray:
    """Scaled to `height` (fitting the view), turned by `angle`, with crisp pen edges."""
    fit = min(
        1.0,
        0.96 * page.view[1] / height,
        0.96 * page.view[0] * alpha.shape[0] / (height * alpha.shape[1]),
    )
    size = (
        max(1, round(alpha.shape[1] * height * fit / alpha.shape[0])),
        max(2, round(height * fit)),
    )
    image = Image.fromarray(np.rint(alpha * 255).astype(np.uint8), "L")
    image = image.resize(size, Image.Resampling.BILINEAR)
    if abs(angle) > 0.3:
        image = image.rotate(-angle, Image.Resampling.BILINEAR, expand=True)
        if image.width > page.view[0] or image.height > page.view[1]:
            image = image.resize((min(image.width, page.view[0]), min(image.height, page.view[1])))
    return np.asarray(image, dtype=np.float32) / 255


def _ink(rng: np.random.Generator, held_out: bool) -> tuple[bool, NDArray[np.float64]]:
    """(is pencil, RGB colour) of a random pen."""
    weights = np.asarray(WEIGHTS[held_out])
    index = int(rng.choice(len(weights), p=weights / weights.sum()))
    colour = np.clip(np.asarray(INKS[held_out][index]) + rng.uniform(-12, 12, 3), 0, 255)
    return index == PENCIL, colour


def _texture(alpha: NDArray, rng: np.random.Generator, pen: tuple[bool, NDArray]) -> NDArray:
    """Crisp edges, then ballpoint pressure or pencil grain."""
    threshold, softness = rng.uniform(0.15, 0.45), rng.uniform(0.12, 0.4)
    alpha = np.clip((alpha - threshold) / softness, 0.0, 1.0)
    if pen[0]:
        grain = rng.random(alpha.shape, dtype=np.float32)
        return alpha * rng.uniform(0.45, 0.8) * (1.0 - rng.uniform(0.2, 0.45) * grain)
    pressure = Image.fromarray(rng.uniform(0.0, 1.0, (3, 3)).astype(np.float32), "F")
    field = np.asarray(pressure.resize(alpha.shape[::-1], Image.Resampling.BILINEAR))
    return alpha * (1.0 - rng.uniform(0.0, 0.3) * field)
