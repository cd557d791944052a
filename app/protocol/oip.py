"""Open Inference Protocol (KServe V2) over REST: metadata, request parsing, response building.

Pure: no web framework. Implements Triton's binary tensor data and classification extensions.
Every problem with a request raises `ProtocolError`, whose message names the field and the value.
"""

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.imaging.pixels import INPUT_SIZE, NUM_CLASSES
from app.inference.abstention import NotADigit
from app.inference.layout import MODEL_NAME
from app.protocol.json_shape import MAX_DEPTH, json_shape
from app.protocol.tensors import (
    HEADER_LENGTH,
    ProtocolError,
    decode_image_tensor,
    decode_pixel_tensor,
    encode_bytes,
    images_to_rows,
    split_body,
    top_k,
)

SERVER_NAME = "mnist-serve"
EXTENSIONS = ("binary_tensor_data", "classification", "model_repository")
PLATFORM = "tensorflow_keras"
PIXELS = "pixels"  # FP32 [N, 784] or [N, 28, 28], MNIST pixels scaled to [0, 1]
IMAGE = "image"  # BYTES [N]: encoded image files, preprocessed like POST /predict uploads
PROBABILITIES = "probabilities"  # FP32 [N, 10]
# Outputs of a version with an abstention threshold only: true where the answer is not a digit,
# and why ("low_confidence", "no_digit_shape"; "" for a digit).
NOT_A_DIGIT = "not_a_digit"  # BOOL [N]
NOT_A_DIGIT_REASON = "not_a_digit_reason"  # BYTES [N]
# The classification extension's first class of a row that is not a digit: "score:-1:not_a_digit"
# (score: the highest digit probability); the best k - 1 digits follow it.
NOT_A_DIGIT_LABEL = "not_a_digit"
INPUT_DATATYPES = {PIXELS: "FP32", IMAGE: "BYTES"}
OUTPUTS = {
    PROBABILITIES: {"name": PROBABILITIES, "datatype": "FP32", "shape": [-1, NUM_CLASSES]},
    NOT_A_DIGIT: {"name": NOT_A_DIGIT, "datatype": "BOOL", "shape": [-1]},
    NOT_A_DIGIT_REASON: {"name": NOT_A_DIGIT_REASON, "datatype": "BYTES", "shape": [-1]},
}
JSON_OVERHEAD_VALUES = 1024  # values besides the pixels: names, shapes, parameters, outputs

__all__ = [
    "HEADER_LENGTH",
    "InferRequest",
    "ProtocolError",
    "RequestedOutput",
    "build_infer_response",
    "check_model",
    "images_to_rows",
    "model_metadata",
    "output_names",
    "parse_infer_document",
    "parse_infer_request",
    "raw_outputs",
    "request_rows",
    "server_metadata",
]


@dataclass(frozen=True)
class RequestedOutput:
    name: str = PROBABILITIES
    binary: bool = False
    classification: int = 0  # > 0: the top-k classes as "score:index" strings instead


@dataclass(frozen=True)
class InferRequest:
    """A validated request: exactly one of `pixels` (N, 784) or `images` (N encoded files)."""

    id: str | None
    outputs: tuple[RequestedOutput, ...]
    pixels: NDArray[np.float32] | None = None
    images: list[bytes] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.pixels) if self.pixels is not None else len(self.images)


def server_metadata(version: str) -> dict[str, Any]:
    return {"name": SERVER_NAME, "version": version, "extensions": list(EXTENSIONS)}


def output_names(abstains: bool) -> tuple[str, ...]:
    """The outputs of a version: `probabilities`, and the not-a-digit ones if it `abstains`."""
    return (PROBABILITIES, NOT_A_DIGIT, NOT_A_DIGIT_REASON) if abstains else (PROBABILITIES,)


def model_metadata(version: str, abstains: bool = False) -> dict[str, Any]:
    """Send exactly one of the two inputs: `pixels` (FP32) or `image` (BYTES)."""
    return {
        "name": MODEL_NAME,
        "versions": [version],
        "platform": PLATFORM,
        "inputs": [
            {"name": PIXELS, "datatype": "FP32", "shape": [-1, INPUT_SIZE]},
            {"name": IMAGE, "datatype": "BYTES", "shape": [-1]},
        ],
        "outputs": [dict(OUTPUTS[name]) for name in output_names(abstains)],
    }


def check_model(name: str, version: str | None, served_version: str) -> None:
    """Raise a 404 ProtocolError unless `name` (and `version`, if given) is the served model."""
    if name != MODEL_NAME:
        raise ProtocolError(f"unknown model {name!r}; this server serves {MODEL_NAME!r}", 404)
    if version is not None and version != served_version:
        raise ProtocolError(
            f"model {MODEL_NAME!r} has no version {version!r}; available: {served_version!r}", 404
        )


def parse_infer_request(
    body: bytes, header_length: str | None, max_rows: int, abstains: bool = False
) -> InferRequest:
    """Validate an inference request body (JSON, then binary tensor data if any) for a version
    that `abstains` (has the not-a-digit outputs) or not."""
    json_part, binary = split_body(body, header_length)
    shape = json_shape(json_part)
    if shape.depth > MAX_DEPTH:
        raise ProtocolError(
            f"the request JSON nests {shape.depth} levels deep; the limit is {MAX_DEPTH}"
        )
    most = max_rows * INPUT_SIZE + JSON_OVERHEAD_VALUES
    if shape.values > most:
        raise ProtocolError(
            f"the request JSON holds about {shape.values} values; {max_rows} rows of "
            f"{INPUT_SIZE} pixels need at most {most}",
            413,
        )
    try:
        document = json.loads(json_part)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"the request is not valid JSON: {exc}") from None
    except ValueError:  # int() refused a number: Python's limit on digits
        raise ProtocolError(
            f"the request JSON has a number of over {sys.get_int_max_str_digits()} digits"
        ) from None
    except RecursionError:  # not reached below MAX_DEPTH; a last line of defence
        raise ProtocolError("the request JSON nests too deeply") from None
    return parse_infer_document(document, binary, max_rows, abstains)


def parse_infer_document(
    document: Any, binary: memoryview, max_rows: int, abstains: bool = False
) -> InferRequest:
    """Validate a request as its JSON document and the binary tensor data after it: the REST
    body parsed, or a gRPC request converted (app.protocol.grpc.converters)."""
    if not isinstance(document, dict):
        raise ProtocolError(f"the request must be a JSON object, not {type(document).__name__}")
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise ProtocolError(f"`id` must be a string, not {json.dumps(request_id)[:40]}")
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise ProtocolError(
            f"`inputs` must be a list of exactly one input object, either {PIXELS!r} (FP32) or "
            f"{IMAGE!r} (BYTES); got {json.dumps(inputs)[:80]}"
        )
    name, tensor = _parse_input(inputs[0], binary, max_rows)
    parameters = _parameters(document, "request")
    binary_default = _flag(parameters, "binary_data_output", "request")
    outputs = _parse_outputs(document.get("outputs"), binary_default, output_names(abstains))
    if name == PIXELS:
        return InferRequest(request_id, outputs, pixels=tensor)  # type: ignore[arg-type]
    return InferRequest(request_id, outputs, images=tensor)  # type: ignore[arg-type]


def request_rows(
    request: InferRequest, max_pixels: int
) -> tuple[NDArray[np.float32], list[str | None]]:
    """The model input float32 (N, 784): the pixels, or the images preprocessed like /predict's;
    and each row's refusal by the image pipeline (None for pixels: it did not look)."""
    if request.pixels is not None:
        return request.pixels, [None] * len(request.pixels)
    return images_to_rows(IMAGE, request.images, max_pixels)


def build_infer_response(
    request: InferRequest,
    probabilities: NDArray[np.float32],
    version: str,
    verdicts: list[NotADigit | None] | None = None,
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary tensor data follows it.
    `verdicts`: per row, a digit (None) or not; None for a version that never abstains."""
    header: dict[str, Any] = {"model_name": MODEL_NAME, "model_version": version}
    if request.id is not None:
        header["id"] = request.id
    verdicts = verdicts if verdicts is not None else [None] * len(probabilities)
    outputs, chunks = [], []
    for requested in request.outputs:
        shape, datatype, data, raw = _output_tensor(requested, probabilities, verdicts)
        output: dict[str, Any] = {"name": requested.name, "datatype": datatype, "shape": shape}
        if requested.binary:
            output["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            output["data"] = data
        outputs.append(output)
    header["outputs"] = outputs
    encoded = json.dumps(header, separators=(",", ":")).encode()
    if not chunks:
        return encoded, None
    return encoded + b"".join(chunks), len(encoded)


def raw_outputs(
    request: InferRequest,
    probabilities: NDArray[np.float32],
    verdicts: list[NotADigit | None] | None = None,
) -> list[tuple[RequestedOutput, list[int], str, bytes]]:
    """Each requested output as (output, shape, datatype, its elements as binary tensor data):
    gRPC's raw_output_contents. `verdicts` as for `build_infer_response`."""
    verdicts = verdicts if verdicts is not None else [None] * len(probabilities)
    tensors = []
    for requested in request.outputs:
        binary = dataclasses.replace(requested, binary=True)
        shape, datatype, _, raw = _output_tensor(binary, probabilities, verdicts)
        tensors.append((requested, shape, datatype, raw))
    return tensors


def _output_tensor(
    requested: RequestedOutput,
    probabilities: NDArray[np.float32],
    verdicts: list[NotADigit | None],
) -> tuple[list[int], str, list[Any], bytes]:
    """(shape, datatype, JSON data, binary data if asked) of one requested output."""
    if requested.name == NOT_A_DIGIT:
        flags = [verdict is not None for verdict in verdicts]
        raw = np.array(flags, dtype=np.bool_).tobytes() if requested.binary else b""
        return [len(flags)], "BOOL", flags, raw
    if requested.name == NOT_A_DIGIT_REASON:
        reasons = ["" if verdict is None else verdict.reason for verdict in verdicts]
        raw = encode_bytes([item.encode() for item in reasons]) if requested.binary else b""
        return [len(reasons)], "BYTES", reasons, raw
    if requested.classification:
        strings = _classes(probabilities, requested.classification, verdicts)
        flat = [item for row in strings for item in row]
        raw = encode_bytes([item.encode() for item in flat]) if requested.binary else b""
        return [len(strings), requested.classification], "BYTES", flat, raw
    raw = probabilities.astype("<f4").tobytes() if requested.binary else b""
    return list(probabilities.shape), "FP32", probabilities.ravel().tolist(), raw


def _classes(
    probabilities: NDArray[np.float32], k: int, verdicts: list[NotADigit | None]
) -> list[list[str]]:
    """Top-k "score:index" strings per row; a row that is not a digit starts with
    "score:-1:not_a_digit" (its highest probability) instead of its best digit."""
    rows = top_k(probabilities, k)
    for index, verdict in enumerate(verdicts):
        if verdict is not None:
            best = probabilities[index].max()
            rows[index] = [f"{best!s}:-1:{NOT_A_DIGIT_LABEL}", *rows[index][: k - 1]]
    return rows


def _parse_input(spec: dict[str, Any], binary: memoryview, max_rows: int) -> tuple[str, Any]:
    name = spec.get("name")
    if name not in INPUT_DATATYPES:
        raise ProtocolError(
            f"unknown input {json.dumps(name)[:40]}; send {PIXELS!r} (FP32) or {IMAGE!r} (BYTES)"
        )
    datatype = spec.get("datatype")
    if datatype != INPUT_DATATYPES[name]:
        raise ProtocolError(
            f"input {name!r} must have datatype {INPUT_DATATYPES[name]}, not "
            f"{json.dumps(datatype)[:40]}"
        )
    shape = spec.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise ProtocolError(f"input {name!r}: `shape` must be a list of non-negative integers")
    if shape and shape[0] > max_rows:
        raise ProtocolError(
            f"input {name!r} has a batch of {shape[0]}; the limit is {max_rows}", 413
        )
    parameters = _parameters(spec, f"input {name!r}")
    if any(key.startswith("shared_memory") for key in parameters):
        raise ProtocolError("shared memory tensors are not supported by this server")
    data, raw = spec.get("data"), _binary_part(parameters, binary, name)
    if (data is None) == (raw is None):
        raise ProtocolError(
            f"input {name!r} needs its data either in `data` or as binary data "
            "(`binary_data_size` and the Inference-Header-Content-Length header), not both"
        )
    if name == PIXELS:
        return name, decode_pixel_tensor(name, shape, data, raw)
    return name, decode_image_tensor(name, shape, data, raw)


def _binary_part(parameters: dict[str, Any], binary: memoryview, name: str) -> bytes | None:
    size = parameters.get("binary_data_size")
    if size is None:
        if binary:
            raise ProtocolError(f"{len(binary)} bytes of binary data follow the JSON, unclaimed")
        return None
    if not isinstance(size, int) or isinstance(size, bool) or size != len(binary):
        raise ProtocolError(
            f"input {name!r}: binary_data_size is {json.dumps(size)[:40]} but {len(binary)} "
            "bytes follow the JSON header"
        )
    return bytes(binary)


def _parse_outputs(
    specs: Any, binary_default: bool, names: tuple[str, ...]
) -> tuple[RequestedOutput, ...]:
    if specs is None:  # as Triton: every output of the model
        return tuple(RequestedOutput(name, binary_default) for name in names)
    if not isinstance(specs, list) or not specs:
        raise ProtocolError("`outputs` must be a non-empty list of output objects when given")
    outputs = [_parse_output(spec, binary_default, names) for spec in specs]
    for name in names:
        times = sum(output.name == name for output in outputs)
        if times > 1:
            raise ProtocolError(f"output {name!r} is requested {times} times")
    return tuple(outputs)


def _parse_output(spec: Any, binary_default: bool, names: tuple[str, ...]) -> RequestedOutput:
    name = spec.get("name") if isinstance(spec, dict) else None
    if name not in names:
        has = ", ".join(repr(n) for n in names)
        why = "" if NOT_A_DIGIT in names else " (this version has no abstention threshold)"
        raise ProtocolError(f"unknown output {json.dumps(name)[:40]}; the model has {has}{why}")
    parameters = _parameters(spec, f"output {name!r}")
    binary = _flag(parameters, "binary_data", f"output {name!r}", binary_default)
    count = parameters.get("classification", 0)
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= NUM_CLASSES:
        raise ProtocolError(
            f"output {name!r}: classification must be an integer from 1 to {NUM_CLASSES}, "
            f"not {json.dumps(count)[:40]}"
        )
    if count and name != PROBABILITIES:
        raise ProtocolError(f"output {name!r}: classification applies to {PROBABILITIES!r} only")
    return RequestedOutput(name, binary, count)


def _parameters(spec: dict[str, Any], where: str) -> dict[str, Any]:
    parameters = spec.get("parameters", {})
    if not isinstance(parameters, dict):
        raise ProtocolError(f"{where}: `parameters` must be an object")
    return parameters


def _flag(parameters: dict[str, Any], key: str, where: str, default: bool = False) -> bool:
    value = parameters.get(key, default)
    if not isinstance(value, bool):
        raise ProtocolError(f"{where}: parameter {key} must be true or false, not {value!r}")
    return value
