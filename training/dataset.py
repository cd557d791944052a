"""The robust recipe's training set: MNIST, distorted copies and typed digits, on every core."""

import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from training.augment import augment_chunk
from training.config import TrainConfig
from training.fonts import TRAIN_FAMILIES, available, faces
from training.typed import typed_chunk
from training.workers import run_tasks, seeds

logger = logging.getLogger(__name__)

CHUNK = 1000  # images per task
AUGMENT_STREAM, TYPED_STREAM = 1, 2  # seed streams of the training data; evaluation uses others


@dataclass(frozen=True)
class TrainingSet:
    x: NDArray[np.uint8]  # (N, 28, 28)
    y: NDArray[np.uint8]
    parts: dict[str, int]  # images per part, in the order they are stacked


def split(
    x: NDArray[np.uint8], y: NDArray[np.uint8], validation_split: float
) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8]]:
    """Keras' validation_split: the last fraction of the images is held out, never augmented."""
    keep = int(len(x) * (1 - validation_split))
    return x[:keep], y[:keep], x[keep:], y[keep:]


def build(x: NDArray[np.uint8], y: NDArray[np.uint8], config: TrainConfig) -> TrainingSet:
    """MNIST as is, `config.copies` distorted copies of it, and typed digits in training fonts."""
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
    logger.info(
        "training set: %d MNIST, %d distorted, %d typed", len(x), len(augmented[0]), len(typed[0])
    )
    return TrainingSet(
        x=np.concatenate([x, augmented[0], typed[0]]),
        y=np.concatenate([y, augmented[1], typed[1]]),
        parts={"mnist": len(x), "distorted": len(augmented[0]), "typed": len(typed[0])},
    )


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
