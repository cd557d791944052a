"""The robust recipe's training set: MNIST, distorted copies and typed digits, on every core."""

import logging
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from training import outliers, photos
from training.augment import augment_chunk
from training.config import TrainConfig
from training.fonts import TRAIN_FAMILIES, available, faces
from training.typed import typed_chunk
from training.workers import run_tasks, seeds

logger = logging.getLogger(__name__)

CHUNK = 1000  # images per task
# Seed streams of the training data; evaluation and calibration use others.
AUGMENT_STREAM, TYPED_STREAM, PHOTO_STREAM, FONT_PHOTO_STREAM, OUTLIER_STREAM = 1, 2, 3, 4, 5


@dataclass(frozen=True)
class TrainingSet:
    x: NDArray[np.uint8]  # (N, 28, 28)
    y: NDArray[np.uint8]
    parts: dict[str, int]  # images per part, in the order they are stacked
    outliers: NDArray[np.uint8] = field(  # not digits: no label
        default_factory=lambda: np.zeros((0, 28, 28), np.uint8)
    )


def split(
    x: NDArray[np.uint8], y: NDArray[np.uint8], validation_split: float
) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8]]:
    """Keras' validation_split: the last fraction of the images is held out, never augmented."""
    keep = int(len(x) * (1 - validation_split))
    return x[:keep], y[:keep], x[keep:], y[keep:]


def build(x: NDArray[np.uint8], y: NDArray[np.uint8], config: TrainConfig) -> TrainingSet:
    """MNIST as is, distorted copies, typed digits, photos of digits on paper and outliers."""
    starts = range(0, len(x), CHUNK)
    augment_seeds = seeds(np.random.SeedSequence([config.seed, AUGMENT_STREAM]), len(starts))
    augmented = run_tasks(
        augment_chunk,
        [
            (x[s : s + CHUNK], y[s : s + CHUNK], seed, config.copies)
            for s, seed in zip(starts, augment_seeds, strict=True)
        ],
    )
    typed = run_tasks(typed_chunk, typed_tasks(round(len(x) * config.typed_share), config.seed))
    photographed = _photos(x, y, config)
    outlying = _outliers(round(len(x) * config.outlier_share), config.seed)
    parts = {
        "mnist": len(x),
        "distorted": len(augmented[0]),
        "typed": len(typed[0]),
        "photos": len(photographed[0]),
    }
    logger.info("training set: %s, %d outliers", parts, len(outlying))
    return TrainingSet(
        x=np.concatenate([x, augmented[0], typed[0], photographed[0]]),
        y=np.concatenate([y, augmented[1], typed[1], photographed[1]]),
        parts=parts,
        outliers=outlying,
    )


def _photos(
    x: NDArray[np.uint8], y: NDArray[np.uint8], config: TrainConfig
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Photos of paper (every kind in turn) of the first MNIST digits and of font digits, as the
    service prepares them; the ones it refuses are dropped."""
    count = min(len(x), round(len(x) * config.photo_share))
    starts = range(0, count, CHUNK)
    root = np.random.SeedSequence([config.seed, PHOTO_STREAM])
    tasks: list[tuple[object, ...]] = [
        (x[s : min(s + CHUNK, count)], y[s : min(s + CHUNK, count)], photos.KINDS, seed, False)
        for s, seed in zip(starts, seeds(root, len(starts)), strict=True)
    ]
    digits = run_tasks(photos.photo_chunk, tasks)
    fonts = [face for family in available(TRAIN_FAMILIES) for face in faces(family)]
    total = round(len(x) * config.font_photo_share)
    counts = [min(CHUNK, total - s) for s in range(0, total, CHUNK)]
    root = np.random.SeedSequence([config.seed, FONT_PHOTO_STREAM])
    font_tasks: list[tuple[object, ...]] = [
        (fonts, n, photos.KINDS, seed, False)
        for n, seed in zip(counts, seeds(root, len(counts)), strict=True)
    ]
    if fonts and font_tasks:
        typed = run_tasks(photos.font_photo_chunk, font_tasks)
        digits = tuple(np.concatenate(pair) for pair in zip(digits, typed, strict=True))
    pixels, labels, ok = digits
    return pixels[ok], labels[ok]


def _outliers(total: int, seed: int, held_out: bool = False) -> NDArray[np.uint8]:
    """`total` outliers, the same number of each kind, as the service prepares them."""
    per_kind = total // len(outliers.KINDS)
    root = np.random.SeedSequence([seed, OUTLIER_STREAM] if not held_out else seed)
    tasks: list[tuple[object, ...]] = []
    for kind, kind_seed in zip(outliers.KINDS, seeds(root, len(outliers.KINDS)), strict=True):
        counts = [min(CHUNK, per_kind - s) for s in range(0, per_kind, CHUNK)]
        for n, chunk_seed in zip(counts, seeds(kind_seed, len(counts)), strict=True):
            tasks.append((kind, n, chunk_seed, held_out))
    if not tasks:
        return np.zeros((0, 28, 28), np.uint8)
    pixels, ok = run_tasks(outliers.outlier_chunk, tasks)
    return pixels[ok]


def typed_tasks(total: int, seed: int) -> list[tuple[object, ...]]:
    """Tasks drawing `total` typed digits, the same number from each training font family."""
    families = available(TRAIN_FAMILIES)
    per_family = total // max(1, len(families))
    tasks: list[tuple[object, ...]] = []
    root = np.random.SeedSequence([seed, TYPED_STREAM])
    for family, family_seed in zip(families, seeds(root, len(families)), strict=True):
        counts = [min(CHUNK, per_family - s) for s in range(0, per_family, CHUNK)]
        for count, chunk_seed in zip(counts, seeds(family_seed, len(counts)), strict=True):
            tasks.append((faces(family), count, chunk_seed))
    return tasks


def held_out_outliers(total: int, seed: int) -> NDArray[np.uint8]:
    """`total` outliers from the held-out generators and fonts, as the service prepares them:
    for calibration and evaluation (with their own seeds), never for training."""
    return _outliers(total, seed, held_out=True)
