"""Real MNIST test digits as PNG uploads, and the multipart bodies wrk posts."""

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from tests import support
from training.data import DATA_ENV, read_npz, validate

BOUNDARY = "----mnistbench7d1f3c9a0b"


class DataMissing(RuntimeError):
    """No MNIST .npz was given; the benchmark never downloads it."""


@dataclass(frozen=True)
class Digit:
    index: int  # position in the MNIST test split
    label: int
    png: bytes


def resolve_npz(path: Path | None) -> Path:
    """The MNIST .npz to read: `path`, else $MNIST_NPZ; raise DataMissing if neither is set."""
    if path is not None:
        return path
    env = os.environ.get(DATA_ENV)
    if not env:
        raise DataMissing(f"pass --data or set ${DATA_ENV} to the MNIST .npz (never downloaded)")
    return Path(env)


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of a uint8 (28, 28) gray digit, as a client would upload it."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def load_digits(npz: Path, count: int) -> list[Digit]:
    """The first `count` MNIST test digits, each encoded as a PNG."""
    arrays = read_npz(npz)
    validate(arrays, str(npz))
    x, y = arrays["x_test"], arrays["y_test"]
    return [Digit(i, int(y[i]), encode_png(x[i])) for i in range(count)]


def multipart(field: str, digits: list[Digit]) -> bytes:
    """A multipart/form-data body with one PNG part per digit, all in form field `field`."""
    name = b'"' + field.encode() + b'"'
    parts = [
        support.part(name, digit.png, f"{digit.index}.png".encode(), b"image/png")
        for digit in digits
    ]
    return support.multipart(*parts, boundary=BOUNDARY.encode())


def content_type() -> str:
    return f"multipart/form-data; boundary={BOUNDARY}"
