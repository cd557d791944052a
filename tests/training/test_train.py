"""training.train end to end: one short epoch writes a loadable model, its card and its report.

The in-process run uses the robust recipe (the default) into a folder (`--out`); the command-line
run uses the tutorial recipe into a model repository (`--repository`), so both recipes and both
ways of saving are exercised.

Runs on a slice of the real MNIST when $MNIST_NPZ is set, else on synthetic printed digits in the
same layout, so the training path is always exercised and nothing is ever downloaded.
"""

import hashlib
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageDraw, ImageFont

from app.imaging.pixels import to_model_input
from app.inference.model_file import read_info, vouched_flatbuffer
from tests.support import ROOT
from training import outliers, photos
from training.data import DATA_ENV, Mnist, load_mnist
from training.train import TrainConfig, fit, run

pytestmark = pytest.mark.slow

TRAIN_IMAGES = 2000
SYNTHETIC_TEST_IMAGES = 500
CLI_LIMIT = 1000
CONFIG = TrainConfig(epochs=1, seed=7, name="digits-test", version="0.1", eval_samples=30)
REPORT_FILES = ("learning_curves.png", "confusion_matrix.png", "misclassified.png")
ROBUST_REPORT_FILES = (*REPORT_FILES, "confusion_uploads.png", "training_samples.png")
KINDS = (
    "mnist",
    "inverted",
    "off_centre",
    "canvas",
    "distorted",
    "typed",
    "typed_hand",
    *(f"photo_{kind}" for kind in photos.KINDS),
    *(f"not_{kind}" for kind in outliers.KINDS),
)
HISTORY_KEYS = ("loss", "val_loss", "accuracy", "val_accuracy")


def synthetic_digits(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` MNIST-like uint8 images (light printed digit on black, jittered) and labels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count, dtype=np.uint8) % 10
    rng.shuffle(labels)
    fonts = [ImageFont.load_default(size=size) for size in (18, 20, 22)]
    images = np.empty((count, 28, 28), dtype=np.uint8)
    for index, label in enumerate(labels):
        canvas = Image.new("L", (28, 28))
        dx, dy = rng.integers(-3, 4, size=2)
        ImageDraw.Draw(canvas).text(
            (14 + int(dx), 14 + int(dy)),
            str(label),
            fill=int(rng.integers(180, 256)),
            font=fonts[int(rng.integers(len(fonts)))],
            anchor="mm",
            stroke_width=int(rng.integers(0, 2)),
            stroke_fill=255,
        )
        rotated = canvas.rotate(float(rng.uniform(-15, 15)), resample=Image.Resampling.BILINEAR)
        images[index] = np.asarray(rotated)
    return images, labels


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real MNIST .npz from $MNIST_NPZ when set, else synthetic digits written as one."""
    if real := os.environ.get(DATA_ENV):
        return Path(real)
    x_train, y_train = synthetic_digits(TRAIN_IMAGES, seed=0)
    x_test, y_test = synthetic_digits(SYNTHETIC_TEST_IMAGES, seed=1)
    path = tmp_path_factory.mktemp("synthetic") / "synthetic-digits.npz"
    np.savez_compressed(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


@pytest.fixture(scope="module")
def data(digits_npz: Path) -> Mnist:
    full = load_mnist(digits_npz)
    return replace(full, x_train=full.x_train[:TRAIN_IMAGES], y_train=full.y_train[:TRAIN_IMAGES])


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("run")


@pytest.fixture(scope="module")
def card(data: Mnist, out_dir: Path, cli_process: subprocess.Popen[str]) -> dict:
    """The in-process run; the command-line run is started first so that the two overlap."""
    return run(data, CONFIG, out_dir)


@pytest.fixture(scope="module")
def saved(card: dict, out_dir: Path) -> keras.Model:
    """The written model, loaded the way the service loads it: no custom objects, no compile."""
    return keras.saving.load_model(out_dir / "digits-test.keras")


def test_run_writes_the_model_named_after_the_config(card: dict, out_dir: Path) -> None:
    assert (out_dir / "digits-test.keras").is_file()


def test_run_model_loads_as_an_uncompiled_keras_model(saved: keras.Model) -> None:
    assert isinstance(saved, keras.Model)
    assert saved.compiled is False


def test_run_model_reproduces_the_card_test_results(
    saved: keras.Model, data: Mnist, card: dict
) -> None:
    probabilities = keras.ops.convert_to_numpy(saved(to_model_input(data.x_test)))
    predictions = probabilities.argmax(axis=1)
    assert int((predictions == data.y_test).sum()) == card["test"]["correct"]


def test_run_writes_the_returned_card_as_json(card: dict, out_dir: Path) -> None:
    assert json.loads((out_dir / "digits-test.card.json").read_text()) == card


def test_run_card_has_every_section(card: dict) -> None:
    expected = {"name", "version", "created", "libraries", "training", "data", "test", "history"}
    assert expected <= card.keys()


def test_run_card_names_the_model_and_version(card: dict) -> None:
    assert (card["name"], card["version"]) == ("digits-test", "0.1")


def test_run_card_created_is_a_current_utc_timestamp(card: dict) -> None:
    created = datetime.fromisoformat(card["created"])
    assert created.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=30)


def test_run_card_lists_the_library_versions(card: dict) -> None:
    assert card["libraries"] == {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }


def test_run_card_records_the_training_settings(card: dict) -> None:
    expected = asdict(CONFIG) | {"optimizer": "adam", "loss": "categorical_crossentropy"}
    assert card["training"].items() >= expected.items()


def test_run_card_splits_the_training_images_into_train_and_validation(card: dict) -> None:
    training = card["training"]
    assert (training["train_samples"], training["validation_samples"]) == (1800, 200)


def test_run_card_records_data_source_and_sha256(card: dict, digits_npz: Path) -> None:
    expected_sha256 = hashlib.sha256(digits_npz.read_bytes()).hexdigest()
    assert (card["data"]["source"], card["data"]["sha256"]) == (digits_npz.name, expected_sha256)


def test_run_card_counts_every_test_image_once(card: dict, data: Mnist) -> None:
    test = card["test"]
    assert test["correct"] + test["incorrect"] == len(data.x_test) == card["data"]["test_samples"]


def test_run_card_accuracy_is_correct_over_total(card: dict, data: Mnist) -> None:
    assert card["test"]["accuracy"] == pytest.approx(card["test"]["correct"] / len(data.x_test))


def test_run_card_accuracy_beats_chance_after_one_epoch(card: dict) -> None:
    # Chance is 0.1. One robust epoch of 1,800 digits (plus their distorted and typed images)
    # reaches ~0.8 on real MNIST, ~0.45 on the synthetic printed digits.
    assert card["test"]["accuracy"] > 0.3


def test_run_card_test_loss_is_a_positive_number(card: dict) -> None:
    assert isinstance(card["test"]["loss"], float)
    assert 0 < card["test"]["loss"] < 10


def test_run_card_confusion_matrix_is_10x10(card: dict) -> None:
    assert np.asarray(card["test"]["confusion_matrix"]).shape == (10, 10)


def test_run_card_confusion_matrix_sums_to_the_test_images(card: dict, data: Mnist) -> None:
    assert np.asarray(card["test"]["confusion_matrix"]).sum() == len(data.x_test)


def test_run_card_confusion_matrix_rows_are_the_true_digits(card: dict, data: Mnist) -> None:
    rows = np.asarray(card["test"]["confusion_matrix"]).sum(axis=1)
    np.testing.assert_array_equal(rows, np.bincount(data.y_test, minlength=10))


def test_run_card_confusion_matrix_diagonal_is_the_correct_count(card: dict) -> None:
    assert np.trace(card["test"]["confusion_matrix"]) == card["test"]["correct"]


def test_run_card_per_class_accuracy_follows_the_confusion_matrix(card: dict) -> None:
    confusion = np.asarray(card["test"]["confusion_matrix"])
    expected = confusion.diagonal() / confusion.sum(axis=1)
    assert len(card["test"]["per_class_accuracy"]) == 10
    np.testing.assert_allclose(card["test"]["per_class_accuracy"], expected, atol=1e-6)


@pytest.mark.parametrize("key", HISTORY_KEYS)
def test_run_card_history_has_one_finite_value_per_epoch(card: dict, key: str) -> None:
    values = card["history"][key]
    assert len(values) == CONFIG.epochs
    assert all(np.isfinite(values))


@pytest.mark.parametrize("name", ROBUST_REPORT_FILES)
def test_run_report_is_a_png_pillow_can_open(card: dict, out_dir: Path, name: str) -> None:
    with Image.open(out_dir / "report" / name) as image:
        image.load()
        assert image.format == "PNG"


@pytest.mark.parametrize("name", ROBUST_REPORT_FILES)
def test_run_report_is_a_drawn_picture(card: dict, out_dir: Path, name: str) -> None:
    path = out_dir / "report" / name
    with Image.open(path) as image:
        low, high = image.convert("L").getextrema()
        assert min(image.size) >= 100
    assert high - low > 100
    assert path.stat().st_size > 5_000


def test_run_card_counts_the_robust_training_parts(card: dict) -> None:
    parts = card["training"]["fitted_parts"]
    assert parts["mnist"] == 1800
    assert parts["distorted"] >= 2 * 1800 * 0.99  # a copy the normalisation rejects is dropped
    assert parts["typed"] >= 0.6 * 1800 * 0.95
    assert card["training"]["fitted_samples"] == sum(parts.values())


def test_run_card_lists_trained_and_held_out_fonts_apart(card: dict) -> None:
    fonts = card["fonts"]
    family = lambda entry: entry.rsplit(" (", 1)[0]  # noqa: E731
    assert fonts["trained"]
    assert fonts["held_out"]
    assert not {family(e) for e in fonts["trained"]} & {family(e) for e in fonts["held_out"]}


def test_run_card_evaluates_every_kind_of_upload(card: dict) -> None:
    evaluation = card["evaluation"]
    assert list(evaluation) == list(KINDS)
    for kind, entry in evaluation.items():
        assert entry["accuracy"] == pytest.approx(entry["correct"] / entry["images"], abs=1e-6)
        if not entry.get("outlier"):
            assert np.asarray(entry["confusion_matrix"]).sum() == entry["images"], kind


def test_run_card_evaluation_of_plain_mnist_is_the_test_result(card: dict) -> None:
    # The same digits; the evaluation counts the ones the threshold refuses as wrong.
    mnist = card["evaluation"]["mnist"]
    assert card["test"]["correct"] - mnist["refused"] <= mnist["correct"] <= card["test"]["correct"]


def test_run_report_has_the_per_kind_table(card: dict, out_dir: Path) -> None:
    text = (out_dir / "report" / "evaluation.md").read_text()
    assert all(f"| {kind}: " in text for kind in KINDS if not kind.startswith("not_"))
    assert all(f"| {kind} | " in text for kind in KINDS if kind.startswith("not_"))


def test_fit_same_seed_gives_identical_weights(data: Mnist, saved: keras.Model) -> None:
    model, _ = fit(data, CONFIG)
    for trained, written in zip(model.get_weights(), saved.get_weights(), strict=True):
        np.testing.assert_array_equal(trained, written)


def test_fit_other_seed_gives_different_weights(data: Mnist, saved: keras.Model) -> None:
    model, _ = fit(data, replace(CONFIG, seed=CONFIG.seed + 1))
    assert not np.array_equal(model.get_weights()[0], saved.get_weights()[0])


@pytest.fixture(scope="module")
def cli_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def cli_process(digits_npz: Path, cli_out: Path) -> Iterator[subprocess.Popen[str]]:
    """`python -m training --recipe tutorial --epochs 1 --limit 1000 --repository <tmp>`."""
    args = ["--data", str(digits_npz), "--epochs", "1", "--limit", str(CLI_LIMIT)]
    args += ["--recipe", "tutorial", "--eval-samples", "20", "--repository", str(cli_out)]
    process = subprocess.Popen(
        [sys.executable, "-m", "training", *args],
        cwd=ROOT,
        # TensorFlow's C++ start-up log is not ours to test.
        env=os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield process
    process.kill()  # a no-op once it has finished; ends it if no test waited for it
    process.communicate()


@pytest.fixture(scope="module")
def cli_train(cli_process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    stdout, stderr = cli_process.communicate(timeout=300)
    return subprocess.CompletedProcess(cli_process.args, cli_process.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def cli_card(cli_train: subprocess.CompletedProcess[str], cli_out: Path) -> dict:
    return json.loads((cli_out / "mnist" / "1" / "model.card.json").read_text())


def test_cli_train_exits_zero(cli_train: subprocess.CompletedProcess[str]) -> None:
    assert cli_train.returncode == 0, cli_train.stderr


@pytest.mark.parametrize(
    "name",
    ["model.keras", "model.card.json", "model.tflite", *(f"report/{f}" for f in REPORT_FILES)],
)
def test_cli_train_writes_version_1_of_the_repository(
    cli_train: subprocess.CompletedProcess[str], cli_out: Path, name: str
) -> None:
    assert (cli_out / "mnist" / "1" / name).is_file()


def test_cli_train_version_carries_the_litert_file_the_service_loads(
    cli_train: subprocess.CompletedProcess[str], cli_out: Path
) -> None:
    info = read_info(cli_out / "mnist" / "1" / "model.keras")
    assert vouched_flatbuffer(info)  # ModelLoadError saying why otherwise
    record = info.card["litert"]
    assert record["converter"].startswith("tensorflow ")
    assert record["agreement"]["images"] == 10_000
    assert record["agreement"]["max_abs_difference"] < 1e-4


def test_cli_train_leaves_only_the_version_in_the_repository(
    cli_train: subprocess.CompletedProcess[str], cli_out: Path
) -> None:
    assert [p.name for p in (cli_out / "mnist").iterdir()] == ["1"]


def test_cli_train_card_is_version_1_of_the_tutorial_recipe(cli_card: dict) -> None:
    training = cli_card["training"]
    assert (cli_card["name"], cli_card["version"], training["recipe"]) == ("mnist", "1", "tutorial")


def test_cli_train_tutorial_fits_plain_mnist_only(cli_card: dict) -> None:
    training = cli_card["training"]
    assert training["fitted_parts"] == {"mnist": training["train_samples"]}
    assert cli_card["fonts"]["trained"] == []


def test_cli_train_uses_only_the_limited_images(cli_card: dict) -> None:
    training = cli_card["training"]
    assert training["train_samples"] + training["validation_samples"] == CLI_LIMIT


def test_cli_train_prints_the_card_results(
    cli_train: subprocess.CompletedProcess[str], cli_card: dict
) -> None:
    test = cli_card["test"]
    expected = (
        f"test accuracy: {test['accuracy']:.4f} "
        f"({test['correct']} correct, {test['incorrect']} incorrect)"
    )
    assert expected in cli_train.stdout


def test_run_card_records_a_calibrated_abstention_threshold(card: dict) -> None:
    record = card["abstention"]
    assert 0 < record["threshold"] < 1
    assert record["score"] == "max_probability"
    assert record["target_false_refusal"] == CONFIG.false_refusal
    assert record["digits"] > 0
    assert record["outliers"] > 0
    assert 0 <= record["auroc"] <= 1


def test_run_card_counts_photos_among_the_fitted_images(card: dict) -> None:
    assert card["training"]["fitted_parts"]["photos"] > 0


def test_run_card_evaluates_held_out_photos_and_outliers(card: dict) -> None:
    evaluation = card["evaluation"]
    assert {f"photo_{kind}" for kind in photos.KINDS} <= set(evaluation)
    for kind in outliers.KINDS:
        entry = evaluation[f"not_{kind}"]
        assert entry["outlier"] is True
        assert entry["correct"] == entry["refused"]  # right = refused
        assert 0 <= entry["auroc"] <= 1
