"""Every path, limit and flag of the service, read once from MNIST_API_* environment variables."""

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.inference.policy import VersionPolicy

ENV_PREFIX = "MNIST_API_"
DEFAULT_REPOSITORY = Path(__file__).resolve().parent.parent / "models"
LogLevel = Literal["critical", "error", "warning", "info", "debug"]


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Settings(BaseSettings):
    """Service settings; each field `x` is read from the environment variable MNIST_API_X."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, protected_namespaces=())

    model_repository: Path = Field(
        DEFAULT_REPOSITORY,
        description="the model repository: versions in <repository>/mnist/<N>/ (model.tflite, "
        "with model.keras and its card)",
    )
    version_policy: str = Field(
        "latest",
        description="versions served: `latest` (the newest), `latest:K`, `all`, or e.g. `1,3`",
    )
    default_version: int | None = Field(
        None, ge=1, description="the version answering requests that name none; unset: the newest"
    )
    poll_interval_s: float = Field(
        2.0, gt=0, le=3600, description="seconds between two scans of the repository"
    )
    state_dir: Path | None = Field(
        None,
        description="where load/unload requests are recorded for every worker to follow "
        "(`python -m app` makes a temporary one); unset: this process only",
    )
    host: str = Field("127.0.0.1", description="address `python -m app` binds")
    port: int = Field(8000, ge=1, le=65535, description="port `python -m app` binds")
    grpc_port: int = Field(
        8001,
        description="port of the gRPC server (Open Inference Protocol V2) each worker runs "
        "beside HTTP, on the same host; 0: none",
    )
    workers: int = Field(1, ge=1, le=64, description="server processes, each with its own model")
    log_level: LogLevel = "info"
    max_upload_bytes: int = Field(
        5 * 1024 * 1024, ge=1024, description="largest request body accepted, in bytes"
    )
    max_image_pixels: int = Field(
        16_000_000, ge=784, description="largest width x height decoded (image-bomb guard)"
    )
    max_batch_files: int = Field(64, ge=1, description="most images in one /predict/batch call")
    queue_max_rows: int = Field(
        2048, ge=1, description="rows waiting for inference before 503 + Retry-After"
    )
    inference_threads: int = Field(
        0,
        ge=0,
        description="threads per worker that run the model; 0 = cores / workers - 1 (at least "
        "1): each worker's event loop keeps a core",
    )
    decode_threads: int = Field(
        2,
        ge=1,
        description="threads per worker that decode uploads (they have their own pool); "
        "each may hold ~150 MB while decoding a max_image_pixels image",
    )
    body_timeout_s: float = Field(
        10.0, gt=0, description="longest a client may take to send a request body, else 408"
    )
    api_key: SecretStr | None = Field(
        None, description="when set, required on every route but health (Bearer or X-API-Key)"
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="comma-separated origins allowed by CORS; none: off"
    )
    abstain: bool = Field(
        True,
        description='answer "not a digit" (`digit: null`) where a version\'s threshold says so; '
        "false: every version answers a digit, as one without a threshold does",
    )
    abstain_threshold: float | None = Field(
        None,
        description="the threshold on the highest probability for every version, instead of "
        "its card's (0 < t < 1); unset: each version's card decides (none: no abstention)",
    )
    opentelemetry: bool = Field(
        False,
        description="FastAPI's native OpenTelemetry: spans and metrics to the globally configured "
        "providers (the predict routes then go through FastAPI's router, for route names). Off, "
        "requests skip its per-request check for providers",
    )

    @field_validator("api_key", "default_version", "state_dir", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("abstain_threshold", mode="before")
    @classmethod
    def _valid_threshold(cls, value: object) -> object:
        if value is None or value == "":
            return None
        try:
            threshold = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            threshold = float("nan")
        if isinstance(value, bool) or not 0 < threshold < 1:
            raise ValueError(
                f"{env_name('abstain_threshold')} must be a number between 0 and 1 (exclusive), "
                f"not {str(value)[:40]!r}"
            )
        return threshold

    @field_validator("grpc_port", mode="before")
    @classmethod
    def _valid_grpc_port(cls, value: object) -> object:
        text = str(value).strip()
        if isinstance(value, bool) or not text.isdigit() or int(text) > 65535:
            raise ValueError(
                f"{env_name('grpc_port')} must be a port number from 1 to 65535, or 0 for no "
                f"gRPC server; not {text[:40]!r}"
            )
        return int(text)

    @field_validator("version_policy")
    @classmethod
    def _valid_policy(cls, value: str) -> str:
        return str(VersionPolicy.parse(value))

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    def effective_threshold(self, card_threshold: float | None) -> float | None:
        """The abstention threshold a version answers with: None when `abstain` is off, else
        `abstain_threshold` if set, else its card's (`card_threshold`, None: no abstention)."""
        if not self.abstain:
            return None
        return self.abstain_threshold if self.abstain_threshold is not None else card_threshold

    @property
    def threads_per_worker(self) -> int:
        """Threads that run the model in each worker (`inference_threads`, resolved)."""
        if self.inference_threads:
            return self.inference_threads
        return max(1, _cpu_count() // self.workers - 1)


def env_name(field: str) -> str:
    """The environment variable that sets a field, e.g. MNIST_API_MODEL_REPOSITORY."""
    return f"{ENV_PREFIX}{field.upper()}"
