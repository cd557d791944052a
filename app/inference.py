"""The classifier: load a Keras model once, check its shape, and run batches through TensorFlow."""

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.model_file import ModelInfo, ModelLoadError, check_model_file, read_info
from app.pixels import INPUT_SIZE, NUM_CLASSES

logger = logging.getLogger(__name__)


def configure_threads(threads: int) -> None:
    """Bound TensorFlow's thread pools; call before TensorFlow runs any op."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already initialised (a second app in one process, as in tests)
        logger.debug("TensorFlow threads already configured")


class Classifier:
    """A loaded 784 -> 10 Keras model behind a fixed-signature TensorFlow function."""

    def __init__(self, model: Any, info: ModelInfo) -> None:
        import tensorflow as tf

        self.info = info
        self._model = model
        spec = tf.TensorSpec(shape=(None, INPUT_SIZE), dtype=tf.float32, name="pixels")

        def forward(pixels: Any) -> Any:
            return model(pixels, training=False)

        # One graph traced for every batch size, called as a concrete function: no Keras
        # predict() loop, no retracing checks (~30 % faster than calling the tf.function).
        traced = tf.function(forward, input_signature=[spec], autograph=False)
        self._forward = traced.get_concrete_function()
        self._to_tensor = tf.convert_to_tensor

    @classmethod
    def load(cls, path: Path, setting: str = "MNIST_API_MODEL_PATH") -> "Classifier":
        """Load and validate a `.keras` model; raise ModelLoadError naming path and setting."""
        check_model_file(path, setting)
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras

        try:
            model = keras.saving.load_model(path, compile=False)
        except Exception as exc:  # Keras raises many types for a bad archive
            raise ModelLoadError(
                f"model file {path} could not be loaded by Keras ({type(exc).__name__}: "
                f"{str(exc)[:200]}); set {setting}"
            ) from None
        input_shape = tuple(getattr(model, "input_shape", ()) or ())
        output_shape = tuple(getattr(model, "output_shape", ()) or ())
        if input_shape[1:] != (INPUT_SIZE,) or output_shape[1:] != (NUM_CLASSES,):
            raise ModelLoadError(
                f"model file {path} maps {input_shape} -> {output_shape}; expected "
                f"(None, {INPUT_SIZE}) -> (None, {NUM_CLASSES}); set {setting}"
            )
        classifier = cls(model, read_info(path))
        classifier.warm()
        return classifier

    @property
    def keras_model(self) -> Any:
        return self._model

    def predict(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        """Probabilities float32 (N, 10) for a float32 batch (N, 784) in [0, 1]."""
        return self._forward(self._to_tensor(batch)).numpy()  # type: ignore[no-any-return]

    def warm(self) -> None:
        """Trace the graph and touch every weight once, so the first request is not slow."""
        for size in (1, 8):
            self.predict(np.zeros((size, INPUT_SIZE), dtype=np.float32))
        logger.info("model %s v%s warmed", self.info.name, self.info.version)
