"""Response models of the HTTP API, with the examples shown on the docs page."""

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from app.inference.abstention import Reason
from app.inference.layout import MODEL_NAME

EXAMPLE_PROBABILITIES: list[JsonValue] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.9999, 0.0, 0.0001]
EXAMPLE_UNSURE: list[JsonValue] = [0.02, 0.05, 0.08, 0.41, 0.03, 0.21, 0.02, 0.04, 0.12, 0.02]
DIGIT_EXAMPLE: dict[str, JsonValue] = {
    "digit": 7,
    "confidence": 0.9999,
    "probabilities": EXAMPLE_PROBABILITIES,
    "not_a_digit": None,
    "normalized": False,
    "model": {"name": MODEL_NAME, "version": "2"},
    "image": None,
}
NOT_A_DIGIT_EXAMPLE: dict[str, JsonValue] = {
    **DIGIT_EXAMPLE,
    "digit": None,
    "confidence": 0.41,
    "probabilities": EXAMPLE_UNSURE,
    "not_a_digit": {
        "reason": "low_confidence",
        "detail": "the highest probability, 0.41, is below this model's threshold 0.87",
    },
    "normalized": True,
    "model": {"name": MODEL_NAME, "version": "3"},
}


class ModelRef(BaseModel):
    name: str = Field(examples=[MODEL_NAME])
    version: str = Field(examples=["1"])


class NotADigit(BaseModel):
    """Why the answer is "not a digit" (`digit` is null)."""

    reason: Reason = Field(
        description="`low_confidence`: the highest probability is below the version's "
        "threshold; `no_digit_shape`: the image pipeline found no ink shaped like a digit"
    )
    detail: str = Field(
        examples=["the highest probability, 0.41, is below this model's threshold 0.87"],
        description="the same for a person: what was measured against what",
    )


class Prediction(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [DIGIT_EXAMPLE, NOT_A_DIGIT_EXAMPLE]})

    digit: int | None = Field(
        ge=0,
        le=9,
        description="the most probable class; null when the answer is not a digit "
        "(`not_a_digit` says why)",
    )
    confidence: float = Field(
        ge=0, le=1, description="the highest probability: that of `digit` when there is one"
    )
    probabilities: list[float] = Field(
        min_length=10, max_length=10, description="one probability per digit, index = digit"
    )
    not_a_digit: NotADigit | None = Field(
        description="null for a digit; else why the image is not one. Only a version with an "
        "abstention threshold (its card's, or MNIST_API_ABSTAIN_THRESHOLD) answers this"
    )
    normalized: bool = Field(
        description="true when the upload was cropped, centred and scaled the way MNIST was; "
        "false when it already was an MNIST-style 28x28 digit or normalisation was off"
    )
    model: ModelRef
    image: str | None = Field(
        None, description="with include_image=true: the 28x28 input the model saw, base64 PNG"
    )


class ItemError(BaseModel):
    status: int = Field(examples=[400], description="the status this image alone would get")
    detail: str = Field(examples=["the uploaded file is empty (0 bytes)"])


class BatchItem(BaseModel):
    index: int = Field(ge=0, description="position of the file in the upload")
    filename: str | None = Field(None, description="the file name the client sent")
    prediction: Prediction | None = None
    error: ItemError | None = None


class BatchPrediction(BaseModel):
    model: ModelRef
    results: list[BatchItem] = Field(description="one entry per uploaded file, in upload order")


class ErrorResponse(BaseModel):
    detail: str = Field(examples=["not a recognised image; accepted formats: PNG, JPEG, ..."])


class ProtocolErrorResponse(BaseModel):
    """An error on the Open Inference Protocol routes (/v2), in the format it prescribes."""

    error: str = Field(examples=["unknown model 'cifar'; this server serves 'mnist'"])


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class ModelMetadata(BaseModel):
    name: str = Field(examples=[MODEL_NAME])
    version: str = Field(examples=["1"])
    file: str = Field(examples=["model.keras"], description="model file name")
    sha256: str = Field(description="sha256 of the served model file")
    input_shape: list[int | None] = Field(examples=[[None, 784]])
    classes: list[int] = Field(examples=[list(range(10))])
    test_accuracy: float | None = Field(None, examples=[0.9822], description="from the card")
    created: str | None = Field(None, description="when training saved the model (the card)")
    loaded_at: str = Field(description="when this process loaded this version")
    abstention_threshold: float | None = Field(
        None,
        examples=[None],
        description="below this highest probability the version answers not a digit (its "
        "card's, or MNIST_API_ABSTAIN_THRESHOLD); null: it always answers a digit",
    )
    card: dict[str, object] | None = Field(None, description="the full training card, if any")
    versions: list[str] = Field(examples=[["1", "2"]], description="every version served")
    default_version: str = Field(
        examples=["2"], description="the version that answers requests naming none"
    )
