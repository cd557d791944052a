"""The shipped models: what each scores on MNIST, that its card says the same, and the robust
model's own numbers per kind of upload.

models/mnist/1 is the tutorial recipe (the former models/mnist-mlp.keras), models/mnist/2 the
robust recipe, models/mnist/3 the robust recipe with photos of paper and Outlier Exposure (its
card records an abstention threshold); the service serves the newest, 3, by default.
"""

import io
import json
import zipfile

import h5py
import keras
import numpy as np
import pytest

from app.imaging.pixels import to_model_input
from app.inference.model_file import card_path, read_info
from tests.support import REPOSITORY
from training.data import Mnist

MODELS = REPOSITORY
SHIPPED = {
    "v1-tutorial": MODELS / "mnist" / "1" / "model.keras",
    "v2-robust": MODELS / "mnist" / "2" / "model.keras",
    "v3-photos": MODELS / "mnist" / "3" / "model.keras",
}
MNIST_FLOOR = {"v1-tutorial": 0.98, "v2-robust": 0.988, "v3-photos": 0.988}
# The robust model's own held-out evaluation (card), floors a little under what it measured.
ROBUST_FLOORS = {
    "mnist": 0.988,
    "inverted": 0.988,
    "off_centre": 0.988,
    "canvas": 0.985,
    "distorted": 0.93,
    "typed": 0.98,
    "typed_hand": 0.99,
}
# Version 3's card: read right (refusals count as wrong) per kind, floors a little under it.
PHOTO_FLOORS = {
    "mnist": 0.985,
    "canvas": 0.975,
    "distorted": 0.94,
    "typed": 0.985,
    "photo_ruled": 0.65,
    "photo_boxed": 0.7,
    "photo_shadow": 0.5,
    "photo_small": 0.58,
    "photo_grid": 0.7,
    "photo_sticky": 0.65,
}
REFUSED_FLOORS = {  # version 3: share of held-out outliers refused
    "not_letters": 0.9,
    "not_hand_letters": 0.6,
    "not_scribbles": 0.75,
    "not_shapes": 0.7,
    "not_textures": 0.88,
    "not_paper": 0.8,
}
REPOSITORY = {
    "v1-tutorial": ("1", "tutorial"),
    "v2-robust": ("2", "robust"),
    "v3-photos": ("3", "robust"),
}


@pytest.fixture(scope="module", params=list(SHIPPED))
def shipped(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def card(shipped: str) -> dict:
    return json.loads(card_path(SHIPPED[shipped]).read_text())


@pytest.fixture(scope="module")
def model(shipped: str) -> keras.Model:
    return keras.saving.load_model(SHIPPED[shipped])


@pytest.fixture(scope="module")
def predictions(model: keras.Model, mnist: Mnist) -> np.ndarray:
    """The model's digit for each of the 10,000 MNIST test images."""
    probabilities = keras.ops.convert_to_numpy(model(to_model_input(mnist.x_test)))
    return probabilities.argmax(axis=1)


@pytest.fixture(scope="module")
def confusion(predictions: np.ndarray, mnist: Mnist) -> np.ndarray:
    """Rows: true digit, columns: predicted digit."""
    cells = 10 * mnist.y_test.astype(np.int64) + predictions
    return np.bincount(cells, minlength=100).reshape(10, 10)


@pytest.mark.slow
def test_shipped_model_meets_its_mnist_test_floor(
    shipped: str, predictions: np.ndarray, mnist: Mnist
) -> None:
    assert (predictions == mnist.y_test).mean() >= MNIST_FLOOR[shipped]


@pytest.mark.slow
def test_shipped_card_accuracy_matches_the_measured_one(
    card: dict, predictions: np.ndarray, mnist: Mnist
) -> None:
    assert abs(card["test"]["accuracy"] - (predictions == mnist.y_test).mean()) <= 1e-4


@pytest.mark.slow
def test_shipped_card_correct_count_matches(card: dict, confusion: np.ndarray) -> None:
    assert card["test"]["correct"] == np.trace(confusion)


@pytest.mark.slow
def test_shipped_card_incorrect_count_matches(card: dict, confusion: np.ndarray) -> None:
    assert card["test"]["incorrect"] == confusion.sum() - np.trace(confusion)


@pytest.mark.slow
def test_shipped_card_confusion_matrix_matches(card: dict, confusion: np.ndarray) -> None:
    np.testing.assert_array_equal(card["test"]["confusion_matrix"], confusion)


@pytest.mark.slow
def test_shipped_card_per_class_accuracy_matches(card: dict, confusion: np.ndarray) -> None:
    measured = confusion.diagonal() / confusion.sum(axis=1)
    np.testing.assert_allclose(card["test"]["per_class_accuracy"], measured, atol=1e-6)


def test_shipped_card_data_sha256_is_the_mnist_file(card: dict, mnist: Mnist) -> None:
    assert card["data"]["sha256"] == mnist.sha256


def test_shipped_card_names_the_model_file(shipped: str, card: dict) -> None:
    assert card["model_file"] == SHIPPED[shipped].name


def test_shipped_card_parameter_count_matches_the_model(card: dict, model: keras.Model) -> None:
    assert card["parameters"] == model.count_params() == 669_706


def test_shipped_model_file_is_under_4_mb(shipped: str) -> None:
    assert SHIPPED[shipped].stat().st_size < 4 * 1024 * 1024


def test_shipped_model_has_no_optimizer_weights(shipped: str) -> None:
    with zipfile.ZipFile(SHIPPED[shipped]) as archive:
        weights = io.BytesIO(archive.read("model.weights.h5"))
    with h5py.File(weights, "r") as h5:
        assert "optimizer" not in h5


def test_shipped_model_has_no_compile_config(shipped: str) -> None:
    with zipfile.ZipFile(SHIPPED[shipped]) as archive:
        config = json.loads(archive.read("config.json"))
    assert not config.get("compile_config")


def test_shipped_model_loads_uncompiled(model: keras.Model) -> None:
    assert model.compiled is False


@pytest.mark.parametrize("version", list(REPOSITORY))
def test_repository_card_is_its_version_and_recipe(version: str) -> None:
    number, recipe = REPOSITORY[version]
    info = read_info(SHIPPED[version])  # as the service reads it
    assert (info.name, info.version, info.card["training"]["recipe"]) == ("mnist", number, recipe)


@pytest.mark.parametrize("version", list(REPOSITORY))
def test_repository_version_has_its_report(version: str) -> None:
    report = SHIPPED[version].parent / "report"
    names = {"learning_curves.png", "confusion_uploads.png", "training_samples.png"}
    assert names <= {p.name for p in report.iterdir()}


@pytest.mark.parametrize("version", list(REPOSITORY))
def test_repository_cards_evaluate_the_same_kinds(version: str) -> None:
    card = json.loads(card_path(SHIPPED[version]).read_text())
    assert list(card["evaluation"])[: len(ROBUST_FLOORS)] == list(ROBUST_FLOORS)


@pytest.mark.parametrize("kind", list(PHOTO_FLOORS))
def test_photo_card_reads_each_kind_at_least_its_floor(kind: str) -> None:
    card = json.loads(card_path(SHIPPED["v3-photos"]).read_text())
    assert card["evaluation"][kind]["accuracy"] >= PHOTO_FLOORS[kind]


@pytest.mark.parametrize("kind", list(REFUSED_FLOORS))
def test_photo_card_refuses_each_kind_of_outlier_at_least_its_floor(kind: str) -> None:
    entry = json.loads(card_path(SHIPPED["v3-photos"]).read_text())["evaluation"][kind]
    assert entry["refused"] / entry["images"] >= REFUSED_FLOORS[kind]
    assert entry["auroc"] >= 0.98


def test_photo_card_threshold_refuses_few_mnist_digits() -> None:
    card = json.loads(card_path(SHIPPED["v3-photos"]).read_text())
    assert 0 < card["abstention"]["threshold"] < 1
    assert card["evaluation"]["mnist"]["refused"] / card["evaluation"]["mnist"]["images"] <= 0.005


@pytest.mark.parametrize("kind", list(ROBUST_FLOORS))
def test_robust_card_accuracy_per_kind_meets_its_floor(kind: str) -> None:
    card = json.loads(card_path(SHIPPED["v2-robust"]).read_text())
    assert card["evaluation"][kind]["accuracy"] >= ROBUST_FLOORS[kind]


@pytest.mark.parametrize("version", list(REPOSITORY))
def test_repository_card_never_evaluates_on_a_trained_font(version: str) -> None:
    fonts = json.loads(card_path(SHIPPED[version]).read_text())["fonts"]
    families = lambda entries: {entry.rsplit(" (", 1)[0] for entry in entries}  # noqa: E731
    assert not families(fonts["trained"]) & families(fonts["held_out"])
    typed = json.loads(card_path(SHIPPED[version]).read_text())["evaluation"]["typed"]
    assert set(typed["per_family"]) <= families(fonts["held_out"])


def test_robust_card_records_what_it_was_fitted_on() -> None:
    training = json.loads(card_path(SHIPPED["v2-robust"]).read_text())["training"]
    assert set(training["fitted_parts"]) == {"mnist", "distorted", "typed"}
    assert training["fitted_samples"] == sum(training["fitted_parts"].values())
