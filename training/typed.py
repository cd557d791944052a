"""Typed digits: one digit of a font face as a screenshot or a photo of paper, canonicalised."""

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from app.imaging.pixels import IMAGE_SIDE
from training.augment import canonical
from training.fonts import load_font

SIZES = (14, 120)  # font sizes in px, drawn log-uniformly: small screen text to large print
MAX_TILT = 6.0  # degrees: a photo taken slightly askew


def render(
    face: Path | None, digit: int, rng: np.random.Generator, cache: dict
) -> NDArray[np.uint8]:
    """One digit in `face` at a random size, weight, place, tint and tilt, as 8-bit gray."""
    size = int(np.exp(rng.uniform(np.log(SIZES[0]), np.log(SIZES[1]))))
    key = (face, size)
    if key not in cache:
        cache[key] = load_font(face, size)
    font: ImageFont.FreeTypeFont = cache[key]
    bold = int(rng.integers(1, size // 24 + 1)) if size >= 24 and rng.random() < 0.25 else 0
    paper, ink = int(rng.uniform(190, 256)), int(rng.uniform(0, 100))
    box = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox(
        (0, 0), str(digit), font=font, stroke_width=bold
    )
    width, height = box[2] - box[0], box[3] - box[1]
    margins = rng.integers(3, 8 + size // 2, size=4)
    canvas = (int(width + margins[0] + margins[1]), int(height + margins[2] + margins[3]))
    image = Image.new("L", canvas, paper)
    origin = (int(margins[0]) - box[0], int(margins[2]) - box[1])
    ImageDraw.Draw(image).text(
        origin, str(digit), fill=ink, font=font, stroke_width=bold, stroke_fill=ink
    )
    return _photographed(image, paper, size, rng)


def _photographed(
    image: Image.Image, paper: int, size: int, rng: np.random.Generator
) -> NDArray[np.uint8]:
    """Slight tilt, focus blur, sensor noise, low resolution, or a dark screen: each by chance."""
    if rng.random() < 0.6:
        tilt = float(rng.uniform(-MAX_TILT, MAX_TILT))
        image = image.rotate(tilt, Image.Resampling.BICUBIC, expand=True, fillcolor=paper)
    if rng.random() < 0.4:
        image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.0)) * size / 40))
    if rng.random() < 0.2 and size >= 28:
        small = (max(1, image.width // 2), max(1, image.height // 2))
        image = image.resize(small, Image.Resampling.BILINEAR)
    gray: NDArray[np.floating] = np.asarray(image, dtype=np.float32)
    if rng.random() < 0.5:
        gray = gray + rng.normal(0, rng.uniform(1, 8), gray.shape)
    if rng.random() < 0.15:  # light text on a dark screen
        gray = 255 - gray
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8)


def typed_chunk(
    faces: list[Path | None], count: int, seed: np.random.SeedSequence
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """`count` canonicalised typed digits (labels 0-9 in turn) drawn with random `faces`."""
    rng = np.random.default_rng(seed)
    cache: dict = {}
    images, labels = [], []
    for index in range(count):
        digit = index % 10
        for _ in range(3):  # redraw what the normalisation rejects
            face = faces[int(rng.integers(len(faces)))]
            sample = canonical(render(face, digit, rng, cache))
            if sample is not None:
                images.append(sample)
                labels.append(digit)
                break
    stacked = np.stack(images) if images else np.zeros((0, IMAGE_SIDE, IMAGE_SIDE), np.uint8)
    return stacked, np.asarray(labels, dtype=np.uint8)
