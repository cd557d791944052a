"""The pure protocol module: binary tensor codecs, request parsing and response building."""

import json
import time

import numpy as np
import pytest

from app.protocol import oip
from app.protocol.tensors import decode_bytes, encode_bytes, split_body, top_k

PROBABILITIES = np.array([[0.1, 0.6, 0.3] + [0.0] * 7, [0.0] * 9 + [1.0]], dtype=np.float32)


def binary_body(header: dict[str, object], payload: bytes) -> tuple[bytes, str]:
    encoded = json.dumps(header).encode()
    return encoded + payload, str(len(encoded))


@pytest.mark.parametrize("elements", [[], [b""], [b"\x89PNG\r\n", b"", b"x" * 300]])
def test_bytes_roundtrip(elements: list[bytes]) -> None:
    assert decode_bytes(encode_bytes(elements)) == elements


@pytest.mark.parametrize("raw", [b"\x01\x00", b"\x05\x00\x00\x00abc"])
def test_decode_bytes_truncated_raises(raw: bytes) -> None:
    with pytest.raises(oip.ProtocolError, match="BYTES"):
        decode_bytes(raw)


def test_encode_bytes_is_little_endian_length_prefixed() -> None:
    assert encode_bytes([b"ab"]) == b"\x02\x00\x00\x00ab"


def test_split_body_without_header_is_all_json() -> None:
    json_part, binary = split_body(b'{"a": 1}', None)
    assert (json_part, bytes(binary)) == (b'{"a": 1}', b"")


@pytest.mark.parametrize("length", ["0", "-1", "abc", "²", "100", "9" * 5000, "0" * 19 + "2"])
def test_split_body_bad_header_length_raises(length: str) -> None:
    with pytest.raises(oip.ProtocolError, match="Inference-Header-Content-Length"):
        split_body(b"{}xyz", length)


def test_top_k_is_best_first_as_score_colon_index() -> None:
    assert top_k(PROBABILITIES, 2) == [["0.6:1", "0.3:2"], ["1.0:9", "0.0:0"]]


def test_parse_binary_fp32_request() -> None:
    pixels = np.linspace(0, 1, 2 * 784, dtype=np.float32).reshape(2, 784)
    tensor = {"name": "pixels", "datatype": "FP32", "shape": [2, 784]}
    header = {"id": "r1", "inputs": [{**tensor, "parameters": {"binary_data_size": pixels.nbytes}}]}
    body, length = binary_body(header, pixels.tobytes())
    request = oip.parse_infer_request(body, length, max_rows=64)
    np.testing.assert_array_equal(request.pixels, pixels)
    assert request.id == "r1"
    assert request.outputs == (oip.RequestedOutput(binary=False),)


def test_parse_binary_bytes_request() -> None:
    tensor = {"name": "image", "datatype": "BYTES", "shape": [2]}
    payload = encode_bytes([b"first", b"second"])
    header = {"inputs": [{**tensor, "parameters": {"binary_data_size": len(payload)}}]}
    request = oip.parse_infer_request(*binary_body(header, payload), max_rows=64)
    assert request.images == [b"first", b"second"]


@pytest.mark.parametrize(
    ("request_default", "output_flag", "binary"),
    [(True, None, True), (True, False, False), (False, True, True), (False, None, False)],
)
def test_output_binary_flag_overrides_request_default(
    request_default: bool, output_flag: bool | None, binary: bool
) -> None:
    output: dict[str, object] = {"name": "probabilities"}
    if output_flag is not None:
        output["parameters"] = {"binary_data": output_flag}
    tensor = {"name": "pixels", "datatype": "FP32", "shape": [1, 784], "data": [0.0] * 784}
    document = {
        "inputs": [tensor],
        "outputs": [output],
        "parameters": {"binary_data_output": request_default},
    }
    request = oip.parse_infer_request(json.dumps(document).encode(), None, max_rows=64)
    assert request.outputs[0].binary is binary


def test_build_binary_response_appends_data_after_header() -> None:
    request = oip.InferRequest("r1", (oip.RequestedOutput(binary=True),), images=[b"", b""])
    body, length = oip.build_infer_response(request, PROBABILITIES, "1")
    assert length is not None
    header = json.loads(body[:length])
    assert header["id"] == "r1"
    assert header["outputs"][0]["parameters"] == {"binary_data_size": PROBABILITIES.nbytes}
    np.testing.assert_array_equal(
        np.frombuffer(body[length:], dtype="<f4").reshape(2, 10), PROBABILITIES
    )


def test_build_json_classification_response() -> None:
    requested = oip.RequestedOutput(classification=1)
    request = oip.InferRequest(None, (requested,), images=[b"", b""])
    body, length = oip.build_infer_response(request, PROBABILITIES, "1")
    assert length is None
    output = json.loads(body)["outputs"][0]
    assert output == {
        "name": "probabilities",
        "datatype": "BYTES",
        "shape": [2, 1],
        "data": ["0.6:1", "1.0:9"],
    }


# Issue 15, findings 4 and 5: these were 500s (RecursionError, int()'s digit limit).
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"inputs": ' + b"[" * 1000 + b"]" * 1000 + b"}",
            "nests 1001 levels deep; the limit is 32",
        ),
        (b'{"inputs": ' + b"[" * 100_000, "nests 100001 levels deep"),
        (b'{"a": ' + b'{"b": ' * 40 + b"1" + b"}" * 41, "nests 41 levels deep"),
        (b'{"inputs": [1' + b"0" * 5000 + b"]}", "a number of over 4300 digits"),
        (b'{"id": "\xff"}', "not valid JSON"),
    ],
    ids=["array-1000-deep", "unclosed-100k-deep", "object-41-deep", "int-5000-digits", "not-utf8"],
)
def test_parse_infer_request_refuses_hostile_json(body: bytes, message: str) -> None:
    with pytest.raises(oip.ProtocolError, match=message) as caught:
        oip.parse_infer_request(body, None, 64)
    assert caught.value.status == 400


def test_parse_infer_request_depth_counts_no_brackets_in_strings() -> None:
    pixels = {"name": "pixels", "datatype": "FP32", "shape": [1, 784], "data": [0.5] * 784}
    document = {"id": "[" * 100 + '\\"{' * 50, "inputs": [pixels]}
    assert oip.parse_infer_request(json.dumps(document).encode(), None, 64).id == document["id"]


def test_parse_infer_request_refuses_more_values_than_its_rows_need() -> None:
    """json.loads holds the GIL: 5 MB of small numbers parsed in a thread stalled the loop."""
    body = b'{"inputs": [' + b"0," * 2_600_000 + b"0]}"
    started = time.perf_counter()
    with pytest.raises(oip.ProtocolError, match="values; 64 rows of 784 pixels need") as caught:
        oip.parse_infer_request(body, None, 64)
    assert (caught.value.status, time.perf_counter() - started < 0.5) == (413, True)


def test_parse_infer_request_accepts_the_most_rows_as_json() -> None:
    pixels = {"name": "pixels", "datatype": "FP32", "shape": [64, 784], "data": [0.5] * 64 * 784}
    body = json.dumps({"id": "a,b", "inputs": [pixels], "outputs": [{"name": "probabilities"}]})
    assert oip.parse_infer_request(body.encode(), None, 64).rows == 64
