"""Load MNIST in Keras' layout from a local .npz or the Keras download, and validate it."""

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from app.imaging.pixels import IMAGE_SIDE, NUM_CLASSES, to_model_input
from app.inference.model_file import sha256_of

logger = logging.getLogger(__name__)

DATA_ENV = "MNIST_NPZ"
KEYS = ("x_train", "y_train", "x_test", "y_test")
KERAS_SOURCE = "keras.datasets.mnist.load_data()"


class DatasetError(ValueError):
    """The dataset file is missing or is not MNIST in Keras' layout."""


@dataclass(frozen=True)
class Mnist:
    x_train: NDArray[np.uint8]
    y_train: NDArray[np.uint8]
    x_test: NDArray[np.uint8]
    y_test: NDArray[np.uint8]
    source: str
    sha256: str | None


def resolve_path(path: str | os.PathLike[str] | None) -> Path | None:
    """The .npz to read: the given path, else $MNIST_NPZ, else None (download through Keras)."""
    if path:
        return Path(path)
    env = os.environ.get(DATA_ENV)
    return Path(env) if env else None


def load_mnist(path: str | os.PathLike[str] | None = None) -> Mnist:
    """Load and validate MNIST from `path`/$MNIST_NPZ, or through Keras' own download."""
    npz = resolve_path(path)
    if npz is None:
        import keras

        logger.info("no %s set: loading MNIST through %s", DATA_ENV, KERAS_SOURCE)
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
        arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
        validate(arrays, KERAS_SOURCE)
        return Mnist(**arrays, source=KERAS_SOURCE, sha256=None)
    arrays = read_npz(npz)
    validate(arrays, str(npz))
    return Mnist(**arrays, source=npz.name, sha256=sha256_of(npz))


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Read the four MNIST arrays from an .npz file, naming the file on any failure."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file (set --data or ${DATA_ENV})")
    try:
        # Own the file handle: np.load(path) leaks the one it opens when the zip is corrupt.
        with path.open("rb") as handle, np.load(handle, allow_pickle=False) as f:
            missing = [key for key in KEYS if key not in f.files]
            if missing:
                raise DatasetError(f"{path}: missing key(s) {', '.join(missing)}; found {f.files}")
            return {key: f[key] for key in KEYS}
    except DatasetError:
        raise
    except Exception as exc:  # zipfile, pickle and format errors all mean "not an npz"
        raise DatasetError(f"{path}: not a readable .npz file ({exc})") from exc


def validate(arrays: dict[str, np.ndarray], source: str) -> None:
    """Raise DatasetError naming `source` unless the arrays are MNIST-shaped and labelled 0-9."""
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or x.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
            raise DatasetError(f"{source}: x_{split} has shape {x.shape}, expected (N, 28, 28)")
        if x.dtype != np.uint8:
            raise DatasetError(f"{source}: x_{split} has dtype {x.dtype}, expected uint8")
        if y.ndim != 1 or len(y) != len(x):
            raise DatasetError(
                f"{source}: y_{split} has shape {y.shape}, expected ({len(x)},) to match x_{split}"
            )
        if not np.issubdtype(y.dtype, np.integer):
            raise DatasetError(f"{source}: y_{split} has dtype {y.dtype}, expected integers")
        if len(y) == 0:
            raise DatasetError(f"{source}: {split} split is empty")
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= NUM_CLASSES:
            raise DatasetError(f"{source}: y_{split} has labels in [{low}, {high}], expected 0-9")


def prepare(x: NDArray[np.uint8], y: NDArray[np.integer]) -> tuple[np.ndarray, np.ndarray]:
    """Flatten and scale images with the service's own function; one-hot the labels."""
    one_hot = np.eye(NUM_CLASSES, dtype=np.float32)[y.astype(np.int64)]
    return to_model_input(x), one_hot
