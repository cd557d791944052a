"""The classifier: load a Keras model once, check its shape, and run batches through a runtime.

Two runtimes execute the same Keras model, both TensorFlow's own: `litert` (the default) converts
it with TensorFlow's LiteRT converter at load time and runs it in LiteRT's interpreter (XNNPACK
kernels); `tensorflow` calls a traced graph of it. `python -m bench.forward` measures both
against Keras' `predict` (README, Performance).
"""

import contextlib
import io
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from app.imaging.pixels import INPUT_SIZE, NUM_CLASSES
from app.inference.model_file import ModelInfo, ModelLoadError, check_model_file, read_info
from app.logs import native_stderr_logged

logger = logging.getLogger(__name__)

Runtime = Literal["litert", "tensorflow"]
Forward = Callable[[NDArray[np.float32]], NDArray[np.float32]]


def import_tensorflow() -> ModuleType:
    """TensorFlow, imported once, its native start-up lines logged as JSON like every other."""
    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with native_stderr_logged("tensorflow"):
            import tensorflow  # noqa: F401
    return sys.modules["tensorflow"]


def configure_threads(threads: int) -> None:
    """Bound TensorFlow's thread pools; call before TensorFlow runs any op."""
    tf = import_tensorflow()

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already initialised (a second app in one process, as in tests)
        logger.debug("TensorFlow threads already configured")


class Classifier:
    """A loaded 784 -> 10 Keras model, run by `runtime` on float32 (N, 784) batches. For the
    litert runtime `model` may also be the model already converted (app.inference.convert)."""

    def __init__(
        self, model: Any, info: ModelInfo, runtime: Runtime = "litert", threads: int = 1
    ) -> None:
        self.info = info
        self.runtime = runtime
        # Only the forward function is kept: the Keras model is dropped once LiteRT has it.
        make = litert_forward if runtime == "litert" else tensorflow_forward
        self._forward = make(model, threads)

    @classmethod
    def load(
        cls,
        path: Path,
        setting: str = "MNIST_API_MODEL_PATH",
        runtime: Runtime = "litert",
        threads: int = 1,
    ) -> "Classifier":
        """Load and validate a `.keras` model; raise ModelLoadError naming path and setting."""
        classifier = cls(load_keras(path, setting), read_info(path), runtime, threads)
        classifier.warm()
        return classifier

    def predict(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        """Probabilities float32 (N, 10) for a float32 batch (N, 784) in [0, 1]."""
        return self._forward(batch)

    def warm(self) -> None:
        """Trace the graph and touch every weight once, so the first request is not slow."""
        for size in (1, 8):
            self.predict(np.zeros((size, INPUT_SIZE), dtype=np.float32))
        logger.info("model %s v%s warmed (%s)", self.info.name, self.info.version, self.runtime)


def load_keras(path: Path, setting: str) -> Any:
    """The Keras model in `path`, checked to map 784 inputs to 10 outputs; ModelLoadError
    naming the path and the setting otherwise."""
    check_model_file(path, setting)
    import_tensorflow()
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
    return model


def litert_flatbuffer(model: Any) -> bytes:
    """The Keras model converted by TensorFlow's LiteRT converter."""
    tf = import_tensorflow()

    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints what it exported
        return tf.lite.TFLiteConverter.from_keras_model(model).convert()  # type: ignore[no-any-return]


def tensorflow_forward(model: Any, threads: int) -> Forward:
    """The model traced once for every batch size and called as a concrete function: no Keras
    predict() loop, no retracing checks (faster than calling the tf.function). `threads`
    is set process-wide by `configure_threads`."""
    import tensorflow as tf

    spec = tf.TensorSpec(shape=(None, INPUT_SIZE), dtype=tf.float32, name="pixels")
    traced = tf.function(
        lambda pixels: model(pixels, training=False), input_signature=[spec], autograph=False
    )
    concrete = traced.get_concrete_function()

    def forward(batch: NDArray[np.float32]) -> NDArray[np.float32]:
        return concrete(tf.convert_to_tensor(batch)).numpy()  # type: ignore[no-any-return]

    return forward


def litert_forward(model: Any, threads: int) -> Forward:
    """The model converted by TensorFlow's LiteRT converter (unless it is already: bytes), in one
    LiteRT interpreter that `threads` threads run. Not thread-safe: the batching engine calls it
    from one thread."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise ModelLoadError(
            "the litert runtime needs the ai-edge-litert package (pip install ai-edge-litert); "
            "or set MNIST_API_INFERENCE_RUNTIME=tensorflow"
        ) from None
    flatbuffer = model if isinstance(model, bytes) else litert_flatbuffer(model)
    try:
        with _quiet_stderr():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
            interpreter = Interpreter(model_content=flatbuffer, num_threads=threads)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:  # what LiteRT raises for a model it cannot run
        raise ModelLoadError(f"LiteRT cannot run this model ({str(exc)[:200]})") from None
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    shapes = [tuple(int(n) for n in d["shape"][1:]) for d in (*inputs, *outputs)]
    if shapes != [(INPUT_SIZE,), (NUM_CLASSES,)]:
        raise ModelLoadError(
            f"the LiteRT model maps {shapes[: len(inputs)]} -> {shapes[len(inputs) :]}; "
            f"expected [({INPUT_SIZE},)] -> [({NUM_CLASSES},)]"
        )
    (source,), (result,) = inputs, outputs
    rows = 1  # the batch size the interpreter's tensors are allocated for

    def forward(batch: NDArray[np.float32]) -> NDArray[np.float32]:
        nonlocal rows
        if len(batch) != rows:  # re-planning for another size is cheap next to a pass
            interpreter.resize_tensor_input(source["index"], batch.shape)
            interpreter.allocate_tensors()
            rows = len(batch)
        interpreter.set_tensor(source["index"], np.ascontiguousarray(batch, dtype=np.float32))
        interpreter.invoke()
        return interpreter.get_tensor(result["index"])  # type: ignore[no-any-return]

    return forward


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (native libraries' own prints) for the duration."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
