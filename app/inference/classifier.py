"""The classifier: a version's LiteRT model in one LiteRT interpreter, shape-checked and warmed.

The service serves only LiteRT files (`model.tflite`, written by `python -m training` and
`python -m training export`); it never imports TensorFlow or Keras.
"""

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from app.imaging.pixels import INPUT_SIZE, NUM_CLASSES
from app.inference.model_file import (
    ModelInfo,
    ModelLoadError,
    litert_path,
    read_info,
    vouched_flatbuffer,
)

logger = logging.getLogger(__name__)

Forward = Callable[[NDArray[np.float32]], NDArray[np.float32]]


class Classifier:
    """A 784 -> 10 LiteRT model (its flatbuffer bytes), run on float32 (N, 784) batches by an
    interpreter of `threads` threads."""

    def __init__(self, flatbuffer: bytes, info: ModelInfo, threads: int = 1) -> None:
        self.info = info
        self._forward = litert_forward(flatbuffer, threads)

    @classmethod
    def load(cls, model_path: Path, threads: int = 1) -> "Classifier":
        """The version of `model_path` from the LiteRT file its card vouches for, warmed;
        ModelLoadError naming the file and what to run otherwise."""
        info = read_info(model_path)
        flatbuffer = vouched_flatbuffer(info)
        try:
            classifier = cls(flatbuffer, info, threads)
        except ModelLoadError as exc:
            raise ModelLoadError(f"{litert_path(model_path)}: {exc}") from None
        classifier.warm()
        return classifier

    def predict(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        """Probabilities float32 (N, 10) for a float32 batch (N, 784) in [0, 1]."""
        return self._forward(batch)

    def warm(self) -> None:
        """Plan the interpreter for the common batch sizes, so the first request is not slow."""
        for size in (1, 8):
            self.predict(np.zeros((size, INPUT_SIZE), dtype=np.float32))
        logger.info("model %s v%s warmed", self.info.name, self.info.version)


def litert_forward(flatbuffer: bytes, threads: int) -> Forward:
    """The LiteRT model in one interpreter that `threads` threads run; ModelLoadError unless it
    maps (N, 784) to (N, 10). Not thread-safe: the batching engine calls it from one thread."""
    from ai_edge_litert.interpreter import Interpreter

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
