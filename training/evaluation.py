"""Accuracy per kind of upload: MNIST test as is and through the normalisation, distorted digits
(a stand-in for other writers) and typed digits in held-out font families.

`build_suite` draws the uploads once (on every core, evaluation seeds only); `evaluate_suite`
scores any model on them, so two models compare on the very same images.
"""

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from app.imaging.pixels import to_model_input
from training import outliers, photos
from training.abstention import auroc
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
    **{
        f"photo_{kind}": f"MNIST test digits in held-out phone photos of paper: {kind}"
        for kind in photos.KINDS
    },
    **{
        f"not_{kind}": f"not a digit, held-out generators and fonts: {kind} (right = refused)"
        for kind in outliers.KINDS
    },
}
SIZES = {"inverted": 10_000, "off_centre": 10_000, "canvas": 3_000, "distorted": 5_000}
TYPED_PER_FAMILY = 500
PHOTOS_PER_KIND = 500
OUTLIERS_PER_KIND = 300
CONFIDENT = 0.9  # an outlier answered at this probability or more is a confident mistake


@dataclass(frozen=True)
class Uploads:
    """One kind's images as the model receives them, with truth; ok False: the service refused."""

    pixels: NDArray[np.uint8]
    labels: NDArray[np.uint8]
    ok: NDArray[np.bool_]
    families: tuple[tuple[str, int], ...] = ()  # typed kinds: (family, images) in order
    outlier: bool = False  # not digits (labels are meaningless)


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
    photo_root, outlier_root = seeds(np.random.SeedSequence([EVAL_SEED, 1]), 2)
    for kind, seed in zip(photos.KINDS, seeds(photo_root, len(photos.KINDS)), strict=True):
        suite[f"photo_{kind}"] = _photos(data, kind, cap(PHOTOS_PER_KIND), seed)
    for kind, seed in zip(outliers.KINDS, seeds(outlier_root, len(outliers.KINDS)), strict=True):
        suite[f"not_{kind}"] = _outliers(kind, cap(OUTLIERS_PER_KIND), seed)
    return suite


def _photos(data: Mnist, kind: str, count: int, root: np.random.SeedSequence) -> Uploads:
    chosen = np.random.default_rng(root).permutation(len(data.x_test))[:count]
    starts = range(0, count, CHUNK)
    tasks = [
        (data.x_test[chosen[s : s + CHUNK]], data.y_test[chosen[s : s + CHUNK]], [kind], seed, True)
        for s, seed in zip(starts, seeds(root, len(starts)), strict=True)
    ]
    pixels, labels, ok = run_tasks(photos.photo_chunk, tasks)
    return Uploads(pixels, labels, ok)


def _outliers(kind: str, count: int, root: np.random.SeedSequence) -> Uploads:
    counts = [min(CHUNK, count - s) for s in range(0, count, CHUNK)]
    tasks = [
        (kind, n, seed, True) for n, seed in zip(counts, seeds(root, len(counts)), strict=True)
    ]
    pixels, ok = run_tasks(outliers.outlier_chunk, tasks)
    return Uploads(pixels, np.zeros(len(pixels), np.uint8), ok, outlier=True)


def _typed(families: tuple[Family, ...], per_family: int, root: np.random.SeedSequence) -> Uploads:
    tasks = [
        (faces(family), per_family, seed)
        for family, seed in zip(families, seeds(root, len(families)), strict=True)
    ]
    pixels, labels, ok = run_tasks(typed_upload_chunk, tasks)
    return Uploads(pixels, labels, ok, tuple((f.name, per_family) for f in families))


def evaluate_suite(
    model: object, suite: dict[str, Uploads], threshold: float | None = None
) -> dict[str, KindResult]:
    """Score `model` (a Keras model) on every kind. A digit counts as read right only when it
    is answered (not refused by the service, not below `threshold`) with its digit; an outlier
    counts as right when it is refused."""
    scores = {}
    results = {}
    for kind, uploads in suite.items():
        probabilities = model.predict(  # type: ignore[attr-defined]
            to_model_input(uploads.pixels), batch_size=1024, verbose=0
        )
        top = probabilities.max(axis=1)
        scores[kind] = top[uploads.ok]
        refused = ~uploads.ok | (top < threshold if threshold is not None else False)
        predictions = np.where(refused, -1, probabilities.argmax(axis=1))
        right = refused if uploads.outlier else predictions == uploads.labels
        answered = np.where(refused, 0, predictions)  # refused uploads: drawn in column 0
        per_family, start = {}, 0
        for family, count in uploads.families:
            per_family[family] = float(right[start : start + count].mean())
            start += count
        results[kind] = KindResult(
            kind=kind,
            description=DESCRIPTIONS[kind],
            count=len(right),
            correct=int(right.sum()),
            confusion_matrix=[]
            if uploads.outlier
            else confusion(uploads.labels, answered).tolist(),
            per_family=per_family or None,
            refused=int(refused.sum()),
            outlier=uploads.outlier,
            confident=int(((top >= CONFIDENT) & ~refused).sum()) if uploads.outlier else 0,
        )
    if "mnist" in scores:
        for kind, result in results.items():
            if result.outlier:
                score = auroc(scores["mnist"], scores[kind])
                results[kind] = replace(result, auroc=score)
    return results


def table(columns: dict[str, dict[str, KindResult]]) -> str:
    """Markdown tables, one column per model: accuracy and refusals per kind of digit upload;
    then, per kind of outlier, the share refused, answered confidently, and the AUROC."""
    names = list(columns)
    kinds = list(dict.fromkeys(kind for results in columns.values() for kind in results))
    first = {
        kind: next(results[kind] for results in columns.values() if kind in results)
        for kind in kinds
    }
    digits = [kind for kind in kinds if not first[kind].outlier]
    lines = [
        "| kind of upload | images | " + " | ".join(f"{n}: right / refused" for n in names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for kind in digits:
        cells = [
            f"{r.accuracy:.2%} / {r.refused / r.count:.2%}" if (r := columns[n].get(kind)) else "-"
            for n in names
        ]
        lines.append(
            f"| {kind}: {first[kind].description} | {first[kind].count} | "
            + " | ".join(cells)
            + " |"
        )
    others = [kind for kind in kinds if first[kind].outlier]
    if others:
        lines += [
            "",
            "| not a digit | images | "
            + " | ".join(f"{n}: refused / confident digit / AUROC" for n in names)
            + " |",
            "|---|---|" + "---|" * len(names),
        ]
        for kind in others:
            cells = [
                f"{r.refused / r.count:.2%} / {r.confident / r.count:.2%} / {r.auroc:.3f}"
                if (r := columns[n].get(kind)) and r.auroc is not None
                else "-"
                for n in names
            ]
            lines.append(f"| {kind} | {first[kind].count} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
