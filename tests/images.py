"""Helpers that turn arrays into encoded image files, as a client would upload them."""

import io

import numpy as np
from PIL import Image


def encode(image: Image.Image, format: str = "PNG", **params: object) -> bytes:
    """Encode a PIL image as `format` bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format=format, **params)
    return buffer.getvalue()


def png(pixels: np.ndarray) -> bytes:
    """PNG bytes of a uint8 gray (H, W) or RGB(A) (H, W, C) array."""
    return encode(Image.fromarray(pixels))
