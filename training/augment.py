"""Distorted handwritten digits (Simard et al., 2003), drawn the way uploads are, canonicalised.

Every geometric change goes through one `scipy.ndimage.map_coordinates` call (affine map plus an
elastic field), stroke weight through grey dilation/erosion, and the result through the
service's own pipeline (`prepare_pixels`), so training sees what serving produces.
"""

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFilter
from scipy import ndimage

from app.imaging.errors import ImageError
from app.imaging.pipeline import prepare_pixels
from app.imaging.pixels import IMAGE_SIDE

UPSCALE = 3  # digits are distorted at 3x MNIST's resolution: strokes stay smooth
PAD = 6  # MNIST px of room around the digit for rotation, shear and growth


@dataclass(frozen=True)
class Distortion:
    """Ranges of the random distortion; the defaults are those of the robust recipe."""

    rotation: float = 15.0  # degrees, either way
    shear: float = 0.3  # x += shear * y, either way
    scale: tuple[float, float] = (0.8, 1.15)
    aspect: tuple[float, float] = (0.75, 1.25)  # width over height
    elastic_alpha: float = 34.0  # Simard's alpha and sigma, in MNIST pixels
    elastic_sigma: float = 4.0
    identity: float = 0.15  # probability of no geometric change at all (style only)


MILD = Distortion(rotation=8.0, shear=0.15, scale=(0.9, 1.1), aspect=(0.9, 1.1), identity=0.3)


def distort(
    digit: NDArray[np.uint8], rng: np.random.Generator, d: Distortion
) -> NDArray[np.float32]:
    """A 28x28 uint8 digit -> float32 ink in [0, 1] at UPSCALE x (28 + 2 PAD) px, distorted."""
    padded = np.pad(digit, PAD)
    side = padded.shape[0] * UPSCALE
    big = Image.fromarray(padded).resize((side, side), Image.Resampling.BICUBIC)
    ink = np.asarray(big, dtype=np.float32) / 255.0
    if rng.random() >= d.identity:
        ink = _warp(ink, rng, d)
    return _stroke(ink, rng)


def _warp(ink: NDArray[np.float32], rng: np.random.Generator, d: Distortion) -> NDArray[np.float32]:
    side = ink.shape[0]
    angle = np.deg2rad(rng.uniform(-d.rotation, d.rotation))
    scale = rng.uniform(*d.scale)
    aspect = np.sqrt(rng.uniform(*d.aspect))
    shear = rng.uniform(-d.shear, d.shear)
    cos, sin = np.cos(angle), np.sin(angle)
    # output -> input coordinates (row, col): inverse of scale . shear . rotation
    forward = np.array([[cos, -sin], [sin, cos]]) @ np.array([[1, 0], [shear, 1]])
    forward = np.diag([scale / aspect, scale * aspect]) @ forward
    inverse = np.linalg.inv(forward)
    centre = (side - 1) / 2
    rows, cols = np.mgrid[0:side, 0:side].astype(np.float32) - centre
    src = np.tensordot(inverse, np.stack([rows, cols]), axes=1) + centre
    # Simard's field is smooth: drawn at MNIST's resolution, then zoomed (cheaper, the same).
    alpha = d.elastic_alpha * UPSCALE * rng.uniform(0.3, 1.0)
    coarse = side // UPSCALE
    for axis in range(2):
        noise = rng.uniform(-1, 1, (coarse, coarse))
        field = ndimage.gaussian_filter(noise, d.elastic_sigma, mode="constant")
        src[axis] += alpha * ndimage.zoom(field, UPSCALE, order=1)
    warped = ndimage.map_coordinates(ink, src, order=1, mode="constant", cval=0.0)
    return np.clip(warped, 0.0, 1.0).astype(np.float32)


def _stroke(ink: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
    """Thinner or bolder pen: grey erosion or dilation by up to about one MNIST pixel."""
    change = int(rng.integers(-2, 4))  # in upscaled px
    if change == 0:
        return ink
    size = (abs(change) + 1, abs(change) + 1)
    rank = ndimage.grey_dilation if change > 0 else ndimage.grey_erosion
    return rank(ink, size=size)  # type: ignore[no-any-return]


def as_upload(ink: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.uint8]:
    """Ink drawn as one of the uploads the service gets, as 8-bit gray (what it decodes to)."""
    style = int(rng.integers(4))
    if style == 0:  # light on dark, e.g. an MNIST-like image off-centre or a larger frame
        return _frame(np.rint(ink * 255).astype(np.uint8), rng, background=0)
    if style == 1:  # canvas export: crisp pen strokes (of any weight) flattened onto white
        pen = np.clip((ink - rng.uniform(0.1, 0.5)) / 0.35, 0.0, 1.0)
        return np.rint(255 - 255 * pen).astype(np.uint8)
    # 2, 3: scan or photo: dark ink on light noisy paper, slightly out of focus
    paper = rng.uniform(170, 245)
    colour = rng.uniform(0, 90)
    image = Image.fromarray(np.rint(ink * 255).astype(np.uint8))
    if rng.random() < 0.5:
        image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 1.5))))
    alpha = np.asarray(image, dtype=np.float32) / 255.0
    gray = paper + (colour - paper) * alpha
    gray += rng.normal(0, rng.uniform(0, 8), gray.shape)
    if style == 3:
        return _frame(np.clip(np.rint(gray), 0, 255).astype(np.uint8), rng, background=paper)
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8)


def _frame(
    gray: NDArray[np.uint8], rng: np.random.Generator, background: float
) -> NDArray[np.uint8]:
    """Pasted at a random place on a larger sheet of the same background."""
    height, width = (gray.shape[0] + int(rng.integers(0, 60)) for _ in range(2))
    sheet = np.full((height, width), np.uint8(np.clip(round(background), 0, 255)))
    top = int(rng.integers(0, height - gray.shape[0] + 1))
    left = int(rng.integers(0, width - gray.shape[1] + 1))
    sheet[top : top + gray.shape[0], left : left + gray.shape[1]] = gray
    return sheet


def canonical(gray: NDArray[np.uint8]) -> NDArray[np.uint8] | None:
    """The service's normalisation of a gray upload; None where it finds no digit or fails."""
    try:
        return prepare_pixels(gray).pixels
    except ImageError:
        return None


def mnist_style(ink: NDArray[np.float32]) -> NDArray[np.uint8] | None:
    """Distorted ink as MNIST made its digits: 20 px box, mass-centred, 28x28 - no stroke match."""
    image = (np.rint(ink * 255)).astype(np.uint8)
    rows, cols = np.flatnonzero(image.max(axis=1) > 25), np.flatnonzero(image.max(axis=0) > 25)
    if len(rows) == 0 or len(cols) == 0:
        return None
    crop = image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    scale = 20 / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    small = np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.LANCZOS))
    cy, cx = ndimage.center_of_mass(small.astype(np.float64))
    top = int(np.clip(round(14 - cy), 0, IMAGE_SIDE - small.shape[0]))
    left = int(np.clip(round(14 - cx), 0, IMAGE_SIDE - small.shape[1]))
    frame = np.zeros((IMAGE_SIDE, IMAGE_SIDE), dtype=np.uint8)
    frame[top : top + small.shape[0], left : left + small.shape[1]] = small
    return frame


def augment_chunk(
    images: NDArray[np.uint8], labels: NDArray[np.uint8], seed: np.random.SeedSequence, copies: int
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """`copies` distorted versions of each digit: canonicalised uploads, and MNIST-style ones.

    Copy 0, 2, ... are drawn as uploads and canonicalised; copy 1, 3, ... stay 28x28 in MNIST's
    own format (what a well-formed 28x28 upload is, and what lifts plain MNIST accuracy).
    A sample the normalisation rejects is redrawn once, then dropped.
    """
    rng = np.random.default_rng(seed)
    out, out_labels = [], []
    for digit, label in zip(images, labels, strict=True):
        for copy in range(copies):
            for _ in range(2):
                ink = distort(digit, rng, Distortion() if copy % 2 == 0 else MILD)
                sample = canonical(as_upload(ink, rng)) if copy % 2 == 0 else mnist_style(ink)
                if sample is not None:
                    out.append(sample)
                    out_labels.append(label)
                    break
    return _stack(out), np.asarray(out_labels, dtype=np.uint8)


def _stack(images: list[NDArray[np.uint8]]) -> NDArray[np.uint8]:
    if not images:
        return np.zeros((0, IMAGE_SIDE, IMAGE_SIDE), dtype=np.uint8)
    return np.stack(images)
