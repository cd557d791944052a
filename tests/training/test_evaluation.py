"""training.evaluation and training.uploads: per-kind uploads through the service, scored."""

from dataclasses import replace

import numpy as np
import pytest

from app.imaging.pipeline import prepare_image
from training.data import Mnist
from training.evaluation import DESCRIPTIONS, Uploads, build_suite, evaluate_suite, table
from training.results import KindResult
from training.uploads import DIGIT_BUILDERS, prepared_chunk
from training.workers import run_tasks, seeds


def digits(count: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Blocky light-on-black digits centred by mass, labels 0-9 in turn."""
    images = np.zeros((count, 28, 28), dtype=np.uint8)
    for index in range(count):
        images[index, 8:20, 11 + index % 3 : 15 + index % 3] = 255
        images[index, 8:11, 9:19] = 200
    return images, np.arange(count, dtype=np.uint8) % 10


class Oracle:
    """A stand-in model answering a fixed digit for every row."""

    def __init__(self, digit: int) -> None:
        self.digit = digit

    def predict(self, x: np.ndarray, batch_size: int, verbose: int) -> np.ndarray:
        out = np.zeros((len(x), 10), np.float32)
        out[:, self.digit] = 1.0
        return out


@pytest.mark.parametrize("kind", list(DIGIT_BUILDERS))
def test_prepared_chunk_gives_what_the_service_gives(kind: str) -> None:
    images, labels = digits(4)
    pixels, got_labels, ok = prepared_chunk(kind, images, labels, np.random.SeedSequence(1))
    files = [
        DIGIT_BUILDERS[kind](d, np.random.default_rng(np.random.SeedSequence(1)))
        for d in images[:1]
    ]
    assert ok.all()
    assert got_labels.tolist() == labels.tolist()
    np.testing.assert_array_equal(pixels[0], prepare_image(files[0], max_pixels=10**7).pixels)


def test_run_tasks_result_does_not_depend_on_the_number_of_workers() -> None:
    images, labels = digits(8)
    tasks = [
        ("canvas", images[s : s + 4], labels[s : s + 4], seed)
        for s, seed in zip((0, 4), seeds(np.random.SeedSequence(9), 2), strict=True)
    ]
    one, two = (
        run_tasks(prepared_chunk, tasks, workers=1),
        run_tasks(prepared_chunk, tasks, workers=2),
    )
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def suite() -> dict[str, Uploads]:
    images, labels = digits(20)
    data = Mnist(images, labels, images, labels, source="blocks", sha256=None)
    return build_suite(replace(data), limit=10)


def test_build_suite_has_every_kind(suite: dict[str, Uploads]) -> None:
    assert list(suite) == list(DESCRIPTIONS)


def test_build_suite_caps_each_kind(suite: dict[str, Uploads]) -> None:
    assert {kind: len(u.labels) for kind, u in suite.items() if kind != "mnist"} == {
        "inverted": 10,
        "off_centre": 10,
        "canvas": 10,
        "distorted": 10,
        "typed": 10 * len(suite["typed"].families),
        "typed_hand": 10,
        **{kind: 10 for kind in suite if kind.startswith(("photo_", "not_"))},
    }
    assert any(kind.startswith("photo_") for kind in suite)
    assert all(suite[kind].outlier == kind.startswith("not_") for kind in suite)


def test_build_suite_is_reproducible() -> None:
    images, labels = digits(10)
    data = Mnist(images, labels, images, labels, source="blocks", sha256=None)
    first, again = build_suite(data, limit=5), build_suite(data, limit=5)
    for kind in first:
        np.testing.assert_array_equal(first[kind].pixels, again[kind].pixels)


def test_evaluate_suite_scores_each_kind(suite: dict[str, Uploads]) -> None:
    results = evaluate_suite(Oracle(3), suite)
    for kind, result in results.items():
        uploads = suite[kind]
        # an outlier is right when refused; the oracle answers every row with certainty
        expected = int(
            (~uploads.ok).sum() if uploads.outlier else ((uploads.labels == 3) & uploads.ok).sum()
        )
        assert (result.count, result.correct) == (len(suite[kind].labels), expected)


def test_evaluate_suite_scores_typed_per_family(suite: dict[str, Uploads]) -> None:
    result = evaluate_suite(Oracle(0), suite)["typed"]
    assert result.per_family is not None
    assert set(result.per_family) == {name for name, _ in suite["typed"].families}
    assert all(value == pytest.approx(0.1) for value in result.per_family.values())


def test_evaluate_suite_counts_a_refused_upload_as_wrong() -> None:
    uploads = Uploads(
        np.zeros((2, 28, 28), np.uint8), np.array([0, 0], np.uint8), np.array([True, False])
    )
    result = evaluate_suite(Oracle(0), {"inverted": uploads})["inverted"]
    assert (result.correct, result.count) == (1, 2)


def test_table_puts_models_side_by_side() -> None:
    matrix = np.zeros((10, 10), int).tolist()
    a = {"mnist": KindResult("mnist", "plain", 4, 3, matrix)}
    b = {"mnist": KindResult("mnist", "plain", 4, 4, matrix)}
    lines = table({"v1": a, "v2": b}).splitlines()
    assert lines[0] == "| kind of upload | images | v1: right / refused | v2: right / refused |"
    assert lines[2] == "| mnist: plain | 4 | 75.00% / 0.00% | 100.00% / 0.00% |"
