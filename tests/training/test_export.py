"""training.export: `python -m training export` writes the LiteRT file the service serves."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.inference.classifier import Classifier
from app.inference.model_file import ModelLoadError, read_info, sha256_of
from tests.support import SHIPPED_MODEL, servers
from training.__main__ import main
from training.data import DATA_ENV, Mnist
from training.export import export


@pytest.fixture
def mnist_npz(mnist: Mnist) -> Path:
    """The real MNIST file (the `mnist` fixture skips without it)."""
    return Path(os.environ[DATA_ENV])


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    """A version folder holding only the shipped model.keras, as a model trained elsewhere."""
    folder = tmp_path / "mnist" / "3"
    folder.mkdir(parents=True)
    shutil.copy(SHIPPED_MODEL, folder / "model.keras")
    return folder


def test_export_makes_a_bare_version_servable(bare: Path, mnist: Mnist) -> None:
    with pytest.raises(ModelLoadError, match="python -m training export"):
        Classifier.load(bare / "model.keras")
    pixels = mnist.x_test[:200].reshape(-1, 784).astype(np.float32) / 255
    record = export(bare / "model.keras", pixels, "MNIST test, first 200")
    served = Classifier.load(bare / "model.keras")
    shipped = Classifier.load(SHIPPED_MODEL)
    np.testing.assert_allclose(served.predict(pixels), shipped.predict(pixels), atol=1e-6)
    assert record["model_sha256"] == sha256_of(bare / "model.keras")
    assert record["agreement"]["images"] == 200
    assert record["agreement"]["max_abs_difference"] < 1e-4
    assert read_info(bare / "model.keras").card["litert"] == record


def test_export_keeps_the_card_and_adds_the_record(bare: Path) -> None:
    (bare / "model.card.json").write_text(json.dumps({"name": "mnist", "version": "3"}))
    export(bare / "model.keras", np.zeros((4, 784), np.float32), "zeros")
    card = json.loads((bare / "model.card.json").read_text())
    assert (card["name"], card["version"], card["litert"]["file"]) == ("mnist", "3", "model.tflite")


def test_export_refuses_a_model_of_the_wrong_shape(tmp_path: Path) -> None:
    model = servers.tiny_model(tmp_path / "model.keras", 100, 10)
    with pytest.raises(ModelLoadError, match=r"maps \(100,\) -> \(10,\)"):
        export(model, np.zeros((1, 784), np.float32), "zeros")
    assert not (tmp_path / "model.tflite").exists()


def test_cli_export_prints_the_agreement(
    bare: Path, mnist_npz: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(bare), "--data", str(mnist_npz)]) == 0
    out = capsys.readouterr().out
    assert f"{bare / 'model.tflite'}: sha256 " in out
    assert "LiteRT vs Keras on 10000 MNIST test images: max abs difference" in out


def test_cli_export_of_a_missing_model_is_one_error(
    tmp_path: Path, mnist_npz: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(tmp_path), "--data", str(mnist_npz)]) == 2
    assert "does not exist" in capsys.readouterr().err
