"""Evaluation uploads: MNIST test digits and held-out fonts drawn as files users send.

Each builder returns encoded image files; `prepared_chunk` turns them into what the service's
own `prepare_image` gives the model, so evaluation measures the serving path. Seeds here are
the evaluation's own: training never draws from them.
"""

import io
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFilter

from training.augment import Distortion, distort
from training.photos import prepared
from training.typed import render

INKS = ((0, 0, 0), (20, 30, 110), (40, 40, 40))  # black, dark blue, pencil gray


def encode(image: Image.Image, format: str = "PNG", **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **params)
    return buffer.getvalue()


def inverted(digit: NDArray[np.uint8], rng: np.random.Generator) -> bytes:
    return encode(Image.fromarray(255 - digit))


def off_centre(digit: NDArray[np.uint8], rng: np.random.Generator) -> bytes:
    """Shifted 4-6 px in its frame without cutting ink, or pasted on a larger black frame."""
    if rng.random() < 0.5:
        rows, cols = np.flatnonzero(digit.any(axis=1)), np.flatnonzero(digit.any(axis=0))
        moved = np.zeros_like(digit)
        dy = _step(int(rows[0]), 27 - int(rows[-1]), rng)
        dx = _step(int(cols[0]), 27 - int(cols[-1]), rng)
        moved[rows[0] + dy : rows[-1] + 1 + dy, cols[0] + dx : cols[-1] + 1 + dx] = digit[
            rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1
        ]
        return encode(Image.fromarray(moved))
    height, width = (int(rng.integers(40, 129)) for _ in range(2))
    frame = np.zeros((height, width), dtype=np.uint8)
    top, left = int(rng.integers(0, height - 27)), int(rng.integers(0, width - 27))
    frame[top : top + 28, left : left + 28] = digit
    return encode(Image.fromarray(frame))


def _step(before: int, after: int, rng: np.random.Generator) -> int:
    size = int(rng.integers(4, 7))
    return min(size, after) if after >= before else -min(size, before)


def canvas(digit: NDArray[np.uint8], rng: np.random.Generator) -> bytes:
    """An HTML-canvas export: dark pen strokes on transparent black, 280 px RGBA PNG."""
    alpha = np.asarray(_pen(digit, 280, rng))
    rgba = np.zeros((280, 280, 4), dtype=np.uint8)
    rgba[..., :3] = np.array(INKS[int(rng.integers(2))], dtype=np.uint8)
    rgba[..., 3] = alpha
    rgba[alpha == 0] = 0
    return encode(Image.fromarray(rgba, "RGBA"), compress_level=1)


def _pen(digit: NDArray[np.uint8], side: int, rng: np.random.Generator) -> Image.Image:
    """The digit upscaled as a crisp pen stroke: thin ballpoint, MNIST's weight or a marker."""
    big = Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC)
    pen = big.point(lambda value: min(255, max(0, (value - 64) * 255 // 90)))
    size = side // 27 | 1
    weight = int(rng.integers(3))
    if weight == 1:
        return pen
    return pen.filter(ImageFilter.MinFilter(size) if weight == 0 else ImageFilter.MaxFilter(size))


def distorted_scan(digit: NDArray[np.uint8], rng: np.random.Generator) -> bytes:
    """A distorted digit (another writer's hand) in dark ink on noisy paper, PNG or JPEG."""
    ink = distort(digit, rng, Distortion(identity=0.0))
    side = int(rng.integers(ink.shape[0], 3 * ink.shape[0]))
    scaled = Image.fromarray(np.rint(ink * 255).astype(np.uint8)).resize((side, side))
    alpha = np.asarray(scaled.filter(ImageFilter.GaussianBlur(0.8)), dtype=np.float32)[..., None]
    paper = rng.uniform(190, 240) + rng.normal(0, 5, (side, side, 1)).astype(np.float32)
    colour = np.array(INKS[int(rng.integers(3))], dtype=np.float32)
    rgb = np.clip(paper + (colour - paper) * alpha / 255, 0, 255).astype(np.uint8)
    image = Image.fromarray(rgb, "RGB")
    return encode(image, "JPEG", quality=75) if rng.random() < 0.5 else encode(image)


DIGIT_BUILDERS = {
    "inverted": inverted,
    "off_centre": off_centre,
    "canvas": canvas,
    "distorted": distorted_scan,
}


def prepared_chunk(
    kind: str, digits: NDArray[np.uint8], labels: NDArray[np.uint8], seed: np.random.SeedSequence
) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.bool_]]:
    """MNIST digits drawn as `kind` uploads, through the service's preprocessing."""
    rng = np.random.default_rng(seed)
    files = [DIGIT_BUILDERS[kind](digit, rng) for digit in digits]
    pixels, ok = prepared(files)
    return pixels, labels.astype(np.uint8), ok


def typed_upload_chunk(
    faces: list[Path | None], count: int, seed: np.random.SeedSequence
) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.bool_]]:
    """`count` typed digits (labels in turn) as PNG screenshots or JPEG photos, preprocessed."""
    rng = np.random.default_rng(seed)
    cache: dict = {}
    labels = np.arange(count, dtype=np.uint8) % 10
    files = []
    for digit in labels:
        gray = Image.fromarray(render(faces[int(rng.integers(len(faces)))], int(digit), rng, cache))
        photo = rng.random() < 0.5
        files.append(encode(gray.convert("RGB"), "JPEG", quality=80) if photo else encode(gray))
    pixels, ok = prepared(files)
    return pixels, labels, ok
