"""Tensors of the Open Inference Protocol: JSON and binary (Triton extension) element codecs.

Pure: no web framework. FP32 binary data is little-endian float32, row-major; a BYTES element
is a 4-byte little-endian length and then its bytes. JSON cannot carry raw bytes, so a BYTES
element given in JSON `data` is the base64 text of the image file.
"""

import base64
import binascii
import math
import struct
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.imaging.errors import ImageError
from app.imaging.pipeline import prepare_image
from app.imaging.pixels import IMAGE_SIDE, INPUT_SIZE

_LENGTH = struct.Struct("<I")
HEADER_LENGTH = "Inference-Header-Content-Length"  # the JSON's size when binary data follows
PIXEL_SHAPES = f"[N, {INPUT_SIZE}] or [N, {IMAGE_SIDE}, {IMAGE_SIDE}]"


class ProtocolError(ValueError):
    """A request the protocol rejects; `status` is the HTTP status, `headers` extra headers."""

    def __init__(self, message: str, status: int = 400, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, memoryview]:
    """The JSON header and the binary tensor data after it (empty without the header)."""
    if header_length is None:
        return body, memoryview(b"")
    text = header_length.strip()
    # At most 18 digits: no body is longer, and int() raises on over 4,300 of them.
    size = int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else 0
    if not 0 < size <= len(body):
        raise ProtocolError(
            f"{HEADER_LENGTH} must be the JSON header's length in bytes, between 1 and the body's "
            f"{len(body)}; got {header_length[:40]!r}"
        )
    return body[:size], memoryview(body)[size:]


def decode_pixel_tensor(
    name: str, shape: list[int], data: Any, raw: bytes | None
) -> NDArray[np.float32]:
    """FP32 pixels of shape [N, 784] or [N, 28, 28] in [0, 1] -> float32 (N, 784)."""
    if shape[1:] not in ([INPUT_SIZE], [IMAGE_SIDE, IMAGE_SIDE]) or not shape[0]:
        raise ProtocolError(
            f"input {name!r} must have shape {PIXEL_SHAPES} with N >= 1, not {shape}"
        )
    count = math.prod(shape)
    if raw is not None:
        if len(raw) != count * 4:
            raise ProtocolError(
                f"input {name!r}: shape {shape} needs {count * 4} bytes of FP32 data, "
                f"got {len(raw)}"
            )
        values = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    else:
        values = _json_numbers(name, data, count)
    if not np.isfinite(values).all() or values.min() < 0.0 or values.max() > 1.0:
        finite = values[np.isfinite(values)]
        found = f"{finite.min():g} to {finite.max():g}" if finite.size else "no finite values"
        raise ProtocolError(
            f"input {name!r}: values must be finite and in [0, 1] (MNIST pixels / 255); "
            f"found {found}{'' if finite.size == values.size else ' and NaN or infinity'}"
        )
    return values.reshape(shape[0], INPUT_SIZE)


def decode_image_tensor(name: str, shape: list[int], data: Any, raw: bytes | None) -> list[bytes]:
    """BYTES of shape [N]: N encoded image files, from binary data or base64 JSON strings."""
    if len(shape) != 1 or not shape[0]:
        raise ProtocolError(f"input {name!r} must have shape [N] with N >= 1, not {shape}")
    if raw is not None:
        elements = decode_bytes(raw, where=f"input {name!r}")
    elif isinstance(data, list) and all(isinstance(item, str) for item in data):
        elements = [_unbase64(name, index, item) for index, item in enumerate(data)]
    else:
        raise ProtocolError(
            f"input {name!r}: JSON `data` must be a flat list of base64 strings (JSON cannot "
            "carry raw bytes); or send the files as binary data"
        )
    if len(elements) != shape[0]:
        raise ProtocolError(f"input {name!r}: shape {shape} but {len(elements)} elements")
    return elements


def images_to_rows(
    name: str, images: list[bytes], max_pixels: int
) -> tuple[NDArray[np.float32], list[str | None]]:
    """Preprocess encoded images exactly as POST /predict does -> float32 (N, 784), and each
    image's refusal by the pipeline (None: it found a digit shape or did not look)."""
    rows = np.empty((len(images), INPUT_SIZE), dtype=np.float32)
    refusals: list[str | None] = []
    for index, data in enumerate(images):
        try:
            prepared = prepare_image(data, max_pixels=max_pixels)
        except ImageError as exc:
            raise ProtocolError(f"input {name!r} element {index}: {exc}") from None
        rows[index] = prepared.vector()
        refusals.append(prepared.refusal)
    return rows, refusals


def encode_bytes(elements: list[bytes]) -> bytes:
    """BYTES elements as binary tensor data: each a 4-byte little-endian length, then the bytes."""
    return b"".join(_LENGTH.pack(len(item)) + item for item in elements)


def decode_bytes(raw: bytes, where: str = "tensor") -> list[bytes]:
    """The inverse of `encode_bytes`; raise ProtocolError on a truncated buffer."""
    elements: list[bytes] = []
    offset = 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise ProtocolError(f"{where}: BYTES data ends inside an element's 4-byte length")
        (size,) = _LENGTH.unpack_from(raw, offset)
        offset += 4
        if offset + size > len(raw):
            raise ProtocolError(
                f"{where}: BYTES element {len(elements)} claims {size} bytes; "
                f"{len(raw) - offset} remain"
            )
        elements.append(raw[offset : offset + size])
        offset += size
    return elements


def top_k(probabilities: NDArray[np.float32], k: int) -> list[list[str]]:
    """The classification extension: per row, the k best classes as "score:index", best first."""
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    rows = zip(probabilities, order, strict=True)
    return [[f"{row[index]!s}:{index}" for index in best] for row, best in rows]


def _json_numbers(name: str, data: Any, count: int) -> NDArray[np.float32]:
    if not isinstance(data, list):
        raise ProtocolError(f"input {name!r}: `data` must be a list of numbers (flat or nested)")
    try:
        values = np.asarray(data)
    except ValueError:  # ragged nesting
        raise ProtocolError(f"input {name!r}: nested `data` lists have unequal lengths") from None
    if values.dtype.kind not in "iuf":
        raise ProtocolError(f"input {name!r}: `data` must hold only numbers (FP32)")
    if values.size != count:
        raise ProtocolError(
            f"input {name!r}: its shape needs {count} values, `data` has {values.size}"
        )
    return values.astype(np.float32).ravel()


def _unbase64(name: str, index: int, text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError(
            f"input {name!r} element {index} is not base64; in JSON, BYTES elements are the "
            "base64 text of the image file"
        ) from None
