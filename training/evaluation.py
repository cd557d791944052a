"""Accuracy per kind of upload: MNIST test as is and through the normalisation, distorted digits
(a stand-in for other writers) and typed digits in held-out font families.

`build_suite` draws the uploads once (on every core, evaluation seeds only); `evaluate_suite`
scores any model on them, so two models compare on the very same images.
"""

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.imaging.pixels import to_model_input
from training.data import Mnist
from training.fonts import HELD_OUT_FAMILIES, Family, available, faces
from training.results import KindResult, confusion
from training.uploads import prepared_chunk, typed_upload_chunk
from training.workers import run_tasks, seeds

EVAL_SEED = 20261113  # training draws from SeedSequence([--seed, stream]), never from this
CHUNK = 500
DESCRIPTIONS = {
    "mnist": "MNIST test digits as they are (28x28; what a 28x28 PNG upload gets)",
    "inverted": "MNIST test, dark on light (normalised)",
    "off_centre": "MNIST test, shifted 4-6 px or on a larger black frame (normalised)",
    "canvas": "MNIST test as canvas drawings, pen strokes on transparent 280 px RGBA (normalised)",
    "distorted": "MNIST test distorted with an unseen seed, scanned on noisy paper: other writers",
    "typed": "typed digits in held-out font families, screenshots and photos",
    "typed_hand": "typed digits in held-out handwriting-style font families",
}
SIZES = {"inverted": 10_000, "off_centre": 10_000, "canvas": 3_000, "distorted": 5_000}
TYPED_PER_FAMILY = 500


@dataclass(frozen=True)
class Uploads:
    """One kind's images as the model receives them, with truth; ok False: the service refused."""

    pixels: NDArray[np.uint8]
    labels: NDArray[np.uint8]
    ok: NDArray[np.bool_]
    families: tuple[tuple[str, int], ...] = ()  # typed kinds: (family, images) in order


def build_suite(data: Mnist, limit: int | None = None) -> dict[str, Uploads]:
    """Every kind's uploads; at most `limit` images per kind (and per family for typed)."""
    cap = (lambda n: n) if limit is None else (lambda n: min(n, limit))
    suite = {"mnist": Uploads(data.x_test, data.y_test, np.ones(len(data.y_test), bool))}
    root = np.random.SeedSequence(EVAL_SEED)
    kind_seeds = dict(
        zip([*SIZES, "typed", "typed_hand"], seeds(root, len(SIZES) + 2), strict=True)
    )
    for kind, size in SIZES.items():
        chosen = np.random.default_rng(kind_seeds[kind]).permutation(len(data.x_test))
        chosen = chosen[: cap(size)]
        starts = range(0, len(chosen), CHUNK)
        tasks = [
            (kind, data.x_test[chosen[s : s + CHUNK]], data.y_test[chosen[s : s + CHUNK]], seed)
            for s, seed in zip(starts, seeds(kind_seeds[kind], len(starts)), strict=True)
        ]
        pixels, labels, ok = run_tasks(prepared_chunk, tasks)
        suite[kind] = Uploads(pixels, labels, ok)
    held_out = available(HELD_OUT_FAMILIES)
    for kind, families in (
        ("typed", tuple(f for f in held_out if f.style != "hand")),
        ("typed_hand", tuple(f for f in held_out if f.style == "hand")),
    ):
        if families:
            suite[kind] = _typed(families, cap(TYPED_PER_FAMILY), kind_seeds[kind])
    return suite


def _typed(families: tuple[Family, ...], per_family: int, root: np.random.SeedSequence) -> Uploads:
    tasks = [
        (faces(family), per_family, seed)
        for family, seed in zip(families, seeds(root, len(families)), strict=True)
    ]
    pixels, labels, ok = run_tasks(typed_upload_chunk, tasks)
    return Uploads(pixels, labels, ok, tuple((f.name, per_family) for f in families))


def evaluate_suite(model: object, suite: dict[str, Uploads]) -> dict[str, KindResult]:
    """Score `model` (a Keras model) on every kind; a refused upload counts as a wrong answer."""
    results = {}
    for kind, uploads in suite.items():
        probabilities = model.predict(  # type: ignore[attr-defined]
            to_model_input(uploads.pixels), batch_size=1024, verbose=0
        )
        predictions = np.where(uploads.ok, probabilities.argmax(axis=1), -1)
        right = predictions == uploads.labels
        answered = np.where(uploads.ok, predictions, 0)  # refused uploads: drawn in column 0
        per_family, start = {}, 0
        for family, count in uploads.families:
            per_family[family] = float(right[start : start + count].mean())
            start += count
        results[kind] = KindResult(
            kind=kind,
            description=DESCRIPTIONS[kind],
            count=len(right),
            correct=int(right.sum()),
            confusion_matrix=confusion(uploads.labels, answered).tolist(),
            per_family=per_family or None,
        )
    return results


def table(columns: dict[str, dict[str, KindResult]]) -> str:
    """A Markdown table: one row per kind, one accuracy column per model."""
    names = list(columns)
    kinds = list(dict.fromkeys(kind for results in columns.values() for kind in results))
    lines = [
        "| kind of upload | images | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for kind in kinds:
        first = next(results[kind] for results in columns.values() if kind in results)
        cells = [
            f"{columns[name][kind].accuracy:.2%}" if kind in columns[name] else "-"
            for name in names
        ]
        lines.append(f"| {kind}: {first.description} | {first.count} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
