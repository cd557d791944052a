"""An upload's one pass through imaging, top to bottom: header -> decode -> photo cleanup ->
MNIST normalisation -> the model's vector. Pure: no web framework, no model."""

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from app.imaging.decode import decode
from app.imaging.header import Header, check_limits, read_header
from app.imaging.normalize import is_mnist_digit, resize_plain
from app.imaging.normalize import normalize as mnist_normalize
from app.imaging.photo import digit_ink
from app.imaging.pixels import to_model_input


@dataclass(frozen=True)
class PreparedImage:
    pixels: NDArray[np.uint8]  # (28, 28), MNIST convention: light digit on black
    normalized: bool  # False when the upload already was an MNIST-style 28x28 digit
    # Why the photo stage found nothing shaped like a digit (the pixels are its best guess);
    # None when it found a digit, or did not look (an MNIST-style 28x28, normalisation off).
    refusal: str | None = None

    def vector(self) -> NDArray[np.float32]:
        """The model input: float32 (784,) in [0, 1]."""
        return to_model_input(self.pixels)


def prepare_image(
    data: bytes, *, max_pixels: int, normalize: bool = True, header: Header | None = None
) -> PreparedImage:
    """Upload bytes -> the 28x28 digit the model was trained on; ImageError if not usable.
    `header`: the upload's, when the caller has already read it."""
    header = header or read_header(data)
    check_limits(data, header, max_pixels)
    return prepare_pixels(decode(data, header, max_pixels), normalize=normalize)


def prepare_pixels(image: NDArray[np.uint8], *, normalize: bool = True) -> PreparedImage:
    """Decoded (H, W) gray or (H, W, 3) RGB uint8 -> the 28x28 digit; NoInk if blank."""
    if is_mnist_digit(image):
        return PreparedImage(image, normalized=False)
    digit = digit_ink(image)  # a blank image is NoInk with normalisation off too
    if not normalize:
        gray = image
        if image.ndim == 3:
            gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.uint8, copy=False)
        return PreparedImage(resize_plain(gray), normalized=False)
    return PreparedImage(mnist_normalize(digit.ink), normalized=True, refusal=digit.refusal)
