"""MNIST's normalisation, pure: a digit's ink -> the 28x28 uint8 frame the model was trained on.

MNIST fitted each digit's longer side into 20 px and put its centre of mass at pixel (14, 14) of
a 28x28 frame, light on black. Strokes are measured and corrected at 4x that size first, so pens
and fonts of any weight reach the model with MNIST's stroke width.
"""

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFilter

from app.imaging.errors import NoInk
from app.imaging.pixels import IMAGE_SIDE

DIGIT_BOX = 20
CENTRE = 14.0
NOISE_FLOOR = 0.2  # fraction of the ink's peak below which a pixel counts as background
WORK_BOX = 4 * DIGIT_BOX
# 5th-95th percentile of MNIST training digits' stroke width (`stroke_width` at WORK_BOX, in
# 20 px box pixels); wider or thinner strokes (bold fonts, ballpoints) are brought to this range.
MNIST_STROKE = (1.6, 3.3)
BORDER_PIXELS = 4 * IMAGE_SIDE - 4
SIDE_INDEX = np.arange(IMAGE_SIDE, dtype=np.int64)


def is_mnist_digit(gray: NDArray[np.uint8]) -> bool:
    """True for a 28x28 light-on-dark digit already centred by mass, as MNIST's are."""
    if gray.shape != (IMAGE_SIDE, IMAGE_SIDE):
        return False
    # Integer sums (exact); np.add.reduce skips ndarray.sum's Python wrapper.
    rows = np.add.reduce(gray, axis=1, dtype=np.int64)
    cols = np.add.reduce(gray, axis=0, dtype=np.int64)
    row_sums, col_sums = rows.tolist(), cols.tolist()
    total = sum(row_sums)
    corners = int(gray[0, 0]) + int(gray[0, -1]) + int(gray[-1, 0]) + int(gray[-1, -1])
    border = row_sums[0] + row_sums[-1] + col_sums[0] + col_sums[-1] - corners
    if total == 0 or border >= 64 * BORDER_PIXELS:  # mean border gray >= 64: not a dark ground
        return False
    cy = float(rows @ SIDE_INDEX) / total
    cx = float(cols @ SIDE_INDEX) / total
    return abs(cy - CENTRE) <= 1.5 and abs(cx - CENTRE) <= 1.5


def normalize(ink: NDArray[np.float32]) -> NDArray[np.uint8]:
    """Ink in [0, 1] on 0 -> crop, stroke weight, 20 px box, mass centred at (14, 14), uint8."""
    # Each fit is scaled back to a peak of 1: shrinking a large image whose ink is specks or
    # hairlines spreads it below the noise floor, and the crop after would find nothing.
    ink = _to_peak(ink)
    ink = np.where(ink < NOISE_FLOOR, np.float32(0.0), ink)
    work = _match_stroke(_to_peak(_fit(_crop(ink), WORK_BOX)))
    small = _to_peak(_fit(_crop(work, NOISE_FLOOR), DIGIT_BOX))
    cy, cx = _centre_of_mass(small.astype(np.float64), float(small.sum()))
    top = int(np.clip(round(CENTRE - cy), 0, IMAGE_SIDE - small.shape[0]))
    left = int(np.clip(round(CENTRE - cx), 0, IMAGE_SIDE - small.shape[1]))
    frame = np.zeros((IMAGE_SIDE, IMAGE_SIDE), dtype=np.float32)
    frame[top : top + small.shape[0], left : left + small.shape[1]] = small
    return np.rint(frame / frame.max() * 255).astype(np.uint8)


def stroke_width(ink: NDArray[np.floating]) -> float:
    """Mean stroke width in pixels of a 2-D ink image: twice its ink over its edges' length."""
    dy, dx = np.gradient(np.pad(ink.astype(np.float64), 1))
    edges = float(np.hypot(dx, dy).sum())
    return 2 * float(ink.sum()) / edges if edges > 0 else 0.0


def resize_plain(gray: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Normalisation switched off: the gray image squeezed to 28x28, nothing else."""
    if gray.shape == (IMAGE_SIDE, IMAGE_SIDE):
        return gray
    image = Image.fromarray(gray).resize((IMAGE_SIDE, IMAGE_SIDE), Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8)


def _crop(ink: NDArray[np.float32], floor: float = 0.0) -> NDArray[np.float32]:
    inked = ink > floor
    rows, cols = np.flatnonzero(inked.any(axis=1)), np.flatnonzero(inked.any(axis=0))
    if not rows.size:
        raise NoInk(f"no digit found: no ink above {floor:g} of its peak is left to crop to")
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _to_peak(ink: NDArray[np.float32]) -> NDArray[np.float32]:
    """Ink scaled so that its brightest pixel is 1; NoInk if scaling to the box erased it all."""
    peak = float(ink.max()) if ink.size else 0.0
    if not peak > 0:  # NaN too
        raise NoInk("no digit found: the ink vanishes when the image is scaled to the digit box")
    return ink if peak == 1.0 else (ink / np.float32(peak)).astype(np.float32)


def _fit(ink: NDArray[np.float32], box: int) -> NDArray[np.float32]:
    """Resize so the longer side is `box` px, keeping the aspect ratio."""
    height, width = ink.shape
    scale = box / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resample = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BILINEAR
    return np.clip(np.asarray(Image.fromarray(ink).resize(size, resample)), 0.0, 1.0)


def _match_stroke(work: NDArray[np.float32]) -> NDArray[np.float32]:
    """Thicken or thin strokes whose width is outside MNIST's range (pens, bold or light fonts)."""
    scale = WORK_BOX / DIGIT_BOX
    width = stroke_width(work) / scale
    change = round(float(np.clip(width, *MNIST_STROKE) - width) * scale / 2)  # px per side
    if change == 0:
        return work
    image = Image.fromarray(np.pad(work, max(change, 0)))  # room to grow at the crop's edge
    rank = ImageFilter.MaxFilter if change > 0 else ImageFilter.MinFilter
    matched = np.asarray(image.filter(rank(2 * abs(change) + 1)))
    return matched if matched.max() > NOISE_FLOOR else work


def _centre_of_mass(mass: NDArray[np.float64], total: float) -> tuple[float, float]:
    rows, cols = np.arange(mass.shape[0]), np.arange(mass.shape[1])
    return float(mass.sum(axis=1) @ rows / total), float(mass.sum(axis=0) @ cols / total)
