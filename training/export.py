"""Export a Keras model to the LiteRT file the service serves: `model.tflite` beside it, recorded
in its card with both files' sha256 and how closely LiteRT agrees with Keras on MNIST test.

`python -m training` exports every version it trains; `python -m training export FOLDER...`
exports a model trained elsewhere (a bare `model.keras` in a version folder).
"""

import contextlib
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.imaging.pixels import INPUT_SIZE, NUM_CLASSES
from app.inference.classifier import litert_forward
from app.inference.model_file import (
    LITERT_CARD_KEY,
    ModelLoadError,
    card_path,
    litert_path,
    read_card,
    sha256_of,
)

AGREEMENT_BATCH = 1000


def load_keras(path: Path) -> Any:
    """The Keras model in `path`, checked to map 784 inputs to 10 outputs; ModelLoadError
    naming the file otherwise."""
    import keras

    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many types for a bad archive
        raise ModelLoadError(
            f"model file {path} could not be loaded by Keras ({type(exc).__name__}: "
            f"{str(exc)[:200]})"
        ) from None
    shapes = (tuple(model.input_shape)[1:], tuple(model.output_shape)[1:])
    if shapes != ((INPUT_SIZE,), (NUM_CLASSES,)):
        raise ModelLoadError(
            f"model file {path} maps {shapes[0]} -> {shapes[1]}; expected "
            f"({INPUT_SIZE},) -> ({NUM_CLASSES},)"
        )
    return model


def litert_flatbuffer(model: Any) -> bytes:
    """The Keras model converted by TensorFlow's LiteRT converter."""
    import tensorflow as tf

    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints what it exported
        return tf.lite.TFLiteConverter.from_keras_model(model).convert()  # type: ignore[no-any-return]


def agreement(model: Any, flatbuffer: bytes, pixels: NDArray[np.float32]) -> dict[str, Any]:
    """How the LiteRT model's probabilities differ from Keras' on `pixels` (N, 784)."""
    forward = litert_forward(flatbuffer, threads=1)
    worst, same = 0.0, 0
    for start in range(0, len(pixels), AGREEMENT_BATCH):
        batch = pixels[start : start + AGREEMENT_BATCH]
        keras_out = np.asarray(model(batch, training=False))
        litert_out = forward(batch)
        worst = max(worst, float(np.abs(keras_out - litert_out).max()))
        same += int((keras_out.argmax(axis=1) == litert_out.argmax(axis=1)).sum())
    return {
        "images": len(pixels),
        "max_abs_difference": worst,
        "same_class": same,
    }


def export(model_file: Path, pixels: NDArray[np.float32], data: str) -> dict[str, Any]:
    """Convert `model_file`, write its LiteRT file beside it and record the file in the card
    (made if missing), with the agreement on `pixels` (named `data`); return the record. Both
    files are replaced atomically, the LiteRT file first, so a reader never pairs a record with
    a partial file."""
    import tensorflow as tf

    if not model_file.is_file():
        raise ModelLoadError(f"model file {model_file} does not exist")
    model_sha256, model_bytes = sha256_of(model_file), model_file.stat().st_size
    model = load_keras(model_file)
    flatbuffer = litert_flatbuffer(model)
    measured = agreement(model, flatbuffer, pixels)
    if sha256_of(model_file) != model_sha256:
        raise ModelLoadError(f"model file {model_file} changed while it was exported")
    target = litert_path(model_file)
    write_atomically(target, flatbuffer)
    record = {
        "file": target.name,
        "bytes": len(flatbuffer),
        "sha256": hashlib.sha256(flatbuffer).hexdigest(),
        "model_sha256": model_sha256,
        "model_bytes": model_bytes,
        "converter": f"tensorflow {tf.__version__}",
        "agreement": {"data": data, **measured},
    }
    card = read_card(model_file)
    card[LITERT_CARD_KEY] = record
    write_atomically(card_path(model_file), (json.dumps(card, indent=2) + "\n").encode())
    return record


def write_atomically(path: Path, data: bytes) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(temp, 0o644)  # mkstemp's 0600 would hide the file from the service's user
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
