"""The pixel contract shared by training and serving: 28x28 uint8 -> float32 784-vectors."""

import io

import numpy as np
from numpy.typing import NDArray
from PIL import Image

IMAGE_SIDE = 28
INPUT_SIZE = IMAGE_SIDE * IMAGE_SIDE
NUM_CLASSES = 10


def to_model_input(images: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Map uint8 images of shape (..., 28, 28) to float32 vectors (..., 784) in [0, 1]."""
    if images.dtype != np.uint8 or images.shape[-2:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise ValueError(
            f"expected uint8 images of shape (..., {IMAGE_SIDE}, {IMAGE_SIDE}), "
            f"got {images.dtype} {images.shape}"
        )
    flat = images.reshape(*images.shape[:-2], INPUT_SIZE)
    return flat.astype(np.float32) / np.float32(255.0)


def encode_png(pixels: NDArray[np.uint8]) -> bytes:
    """PNG bytes of a 2-D uint8 image (the 28x28 the model was given, for `include_image`)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()
