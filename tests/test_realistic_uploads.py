"""The issue's realistic uploads, posted to the real app (POST /predict): accuracy per kind.

Measured with the shipped model on these fixed seeds (120 MNIST test digits per MNIST-based kind).
"before" = preprocessing before stroke-weight matching and noise-gated denoising:

    kind          images  before  after  threshold
    mnist            120   96.7%  96.7%   94%   plain 28x28 digits: the model's own ceiling
    scan_png         120   96.7%  96.7%   94%
    scan_jpeg        120   96.7%  96.7%   94%
    canvas           120   96.7%  96.7%   94%
    inverted         120   97.5%  97.5%   95%
    off_centre       120   97.5%  97.5%   95%
    typed            150   74.7%  76.0%   73%   Pillow's own font (Aileron): 5 sizes x 3 weights
    typed_system     160   97.5%  95.6%   75%   4 DejaVu/Liberation fonts found on the test machine

Typed digits are capped by glyph shapes the MNIST model never saw (Aileron's flagged 1 -> 7, its
9 -> 8). The same change measured on larger sets: 38 system fonts x 2 sizes x 3 weights (2280
screenshots) 80.3% -> 91.4%; 16-28 px text (1170) 85.3% -> 93.5%; 400 other MNIST digits as
scans/canvas/off-centre/inverted 97.5/97.5/97.8/97.8% -> 97.8/98.0/97.8/97.8%.

Thresholds sit 2-3 points below the measurement. Typed digits are asserted only in Pillow's own
font, so the thresholds do not depend on the machine; system fonts only get a loose floor.
"""

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from tests.realistic import (
    MNIST_KINDS,
    SYSTEM_SIZES,
    SYSTEM_STROKES,
    Upload,
    builtin_fonts,
    sample_indices,
    system_fonts,
    typed_digits,
)
from training.data import Mnist

THRESHOLDS = {
    "mnist": 0.94,
    "scan_png": 0.94,
    "scan_jpeg": 0.94,
    "canvas": 0.94,
    "inverted": 0.95,
    "off_centre": 0.95,
    "typed": 0.73,
}
CEILING_GAP = 0.03  # MNIST-based kinds may lose at most this much against the plain digits
SYSTEM_FONT_FLOOR = 0.75  # loose: which fonts exist depends on the machine


@dataclass(frozen=True)
class Score:
    accuracy: float
    count: int
    mistakes: Counter[tuple[int, int | str]]  # (true label, answer or HTTP status) -> count

    def __str__(self) -> str:
        worst = ", ".join(f"{t}->{a}: {n}" for (t, a), n in self.mistakes.most_common(5))
        return f"{self.accuracy:.1%} of {self.count} ({worst})"


def score(client: TestClient, uploads: Sequence[Upload]) -> Score:
    mistakes: Counter[tuple[int, int | str]] = Counter()
    for upload in uploads:
        file = (upload.name, upload.data, upload.content_type)
        response = client.post("/predict", files={"file": file})
        answer = response.json()["digit"] if response.status_code == 200 else response.status_code
        if answer != upload.label:
            mistakes[upload.label, answer] += 1
    wrong = sum(mistakes.values())
    return Score(1 - wrong / len(uploads), len(uploads), mistakes)


@pytest.fixture(scope="module")
def mnist_scores(mnist: Mnist, client: TestClient) -> Callable[[str], Score]:
    """Score of an MNIST-based kind, built from the fixed sample of test digits and cached."""
    indices = sample_indices()
    images, labels = mnist.x_test[indices], mnist.y_test[indices]
    cache: dict[str, Score] = {}

    def kind_score(kind: str) -> Score:
        if kind not in cache:
            cache[kind] = score(client, MNIST_KINDS[kind](images, labels))
        return cache[kind]

    return kind_score


@pytest.mark.parametrize("kind", list(MNIST_KINDS))
def test_predict_accuracy_on_mnist_based_uploads_meets_threshold(
    mnist_scores: Callable[[str], Score], kind: str
) -> None:
    result = mnist_scores(kind)
    assert result.accuracy >= THRESHOLDS[kind], f"{kind}: {result}"


@pytest.mark.parametrize("kind", [kind for kind in MNIST_KINDS if kind != "mnist"])
def test_predict_accuracy_on_mnist_based_uploads_is_near_the_plain_digits(
    mnist_scores: Callable[[str], Score], kind: str
) -> None:
    ceiling, result = mnist_scores("mnist"), mnist_scores(kind)
    assert result.accuracy >= ceiling.accuracy - CEILING_GAP, f"{kind}: {result}; plain {ceiling}"


def test_predict_accuracy_on_typed_digits_meets_threshold(client: TestClient) -> None:
    result = score(client, typed_digits(builtin_fonts()))
    assert result.accuracy >= THRESHOLDS["typed"], f"typed: {result}"


def test_predict_accuracy_on_typed_digits_in_system_fonts_meets_floor(client: TestClient) -> None:
    fonts = system_fonts()
    if not fonts:
        pytest.skip("no TrueType fonts under /usr/share/fonts")
    uploads = typed_digits(fonts, "typed_system", SYSTEM_SIZES, SYSTEM_STROKES)
    result = score(client, uploads)
    assert result.accuracy >= SYSTEM_FONT_FLOOR, f"{sorted(fonts)}: {result}"
