"""gRPC V2 messages <-> the data plane (app.protocol.oip).

A ModelInferRequest becomes the document and binary tensor data that REST's parser validates,
so both protocols accept and refuse the same requests with the same messages. Answers go back
as raw_output_contents, as Triton's gRPC server sends them.
"""

from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.inference.abstention import NotADigit
from app.protocol import oip
from app.protocol.grpc import predict_v2_pb2 as pb
from app.protocol.tensors import ProtocolError, encode_bytes

BINARY_SIZE = "binary_data_size"  # oip's parameter for an input's binary tensor data


def parameters(entries: Any) -> dict[str, Any]:
    """A map<string, InferParameter> as the JSON parameters REST would carry."""
    values = {}
    for key, parameter in entries.items():
        choice = parameter.WhichOneof("parameter_choice")
        values[key] = getattr(parameter, choice) if choice else None
    return values


def infer_document(request: pb.ModelInferRequest) -> tuple[dict[str, Any], memoryview]:
    """The request as oip's document and binary data: raw_input_contents, or BYTES contents,
    as binary tensor data; FP32 contents as JSON `data`."""
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise ProtocolError(
            f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs; "
            "send one per input, or none"
        )
    inputs, binary = [], b""
    for index, tensor in enumerate(request.inputs):
        spec: dict[str, Any] = {
            "name": tensor.name,
            "datatype": tensor.datatype,
            "shape": list(tensor.shape),
            "parameters": parameters(tensor.parameters),
        }
        spec["parameters"].pop(BINARY_SIZE, None)  # REST's; gRPC's sizes are the messages'
        if tensor.HasField("contents") and raw:
            raise ProtocolError(f"input {tensor.name!r} has both contents and raw_input_contents")
        if raw:
            binary = raw[index]
            spec["parameters"][BINARY_SIZE] = len(binary)
        elif tensor.HasField("contents") and tensor.datatype == "BYTES":
            binary = encode_bytes(list(tensor.contents.bytes_contents))
            spec["parameters"][BINARY_SIZE] = len(binary)
        elif tensor.HasField("contents"):
            spec["data"] = list(tensor.contents.fp32_contents)
        inputs.append(spec)
    document: dict[str, Any] = {"inputs": inputs, "parameters": parameters(request.parameters)}
    if request.id:
        document["id"] = request.id
    if request.outputs:
        document["outputs"] = [
            {"name": output.name, "parameters": parameters(output.parameters)}
            for output in request.outputs
        ]
    return document, memoryview(binary)


def parse_infer_request(
    request: pb.ModelInferRequest, max_rows: int, abstains: bool
) -> oip.InferRequest:
    """Validate a ModelInferRequest as oip validates a REST body; ProtocolError if refused."""
    document, binary = infer_document(request)
    return oip.parse_infer_document(document, binary, max_rows, abstains)


def infer_response(
    request: oip.InferRequest,
    probabilities: NDArray[np.float32],
    version: str,
    verdicts: list[NotADigit | None] | None = None,
) -> pb.ModelInferResponse:
    """The answer to `request`: each requested output in raw_output_contents."""
    response = pb.ModelInferResponse(
        model_name=oip.MODEL_NAME, model_version=version, id=request.id or ""
    )
    for requested, shape, datatype, raw in oip.raw_outputs(request, probabilities, verdicts):
        response.outputs.add(name=requested.name, datatype=datatype, shape=shape)
        response.raw_output_contents.append(raw)
    return response


def server_metadata(metadata: dict[str, Any]) -> pb.ServerMetadataResponse:
    return pb.ServerMetadataResponse(**metadata)


def model_metadata(metadata: dict[str, Any]) -> pb.ModelMetadataResponse:
    """oip.model_metadata's dict as its message."""
    tensor = pb.ModelMetadataResponse.TensorMetadata
    return pb.ModelMetadataResponse(
        name=metadata["name"],
        versions=metadata["versions"],
        platform=metadata["platform"],
        inputs=[tensor(**spec) for spec in metadata["inputs"]],
        outputs=[tensor(**spec) for spec in metadata["outputs"]],
    )
