"""A served version and what is asked of one: its lease count, the probe check it passed, and
the errors that name the versions served."""

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from app.imaging.pixels import INPUT_SIZE, NUM_CLASSES
from app.inference.batching import BatchingEngine
from app.inference.classifier import Classifier
from app.inference.layout import MODEL_NAME, Fingerprint
from app.inference.model_file import ModelInfo, ModelLoadError

PROBE = np.vstack(
    [
        np.zeros((1, INPUT_SIZE), np.float32),
        np.ones((1, INPUT_SIZE), np.float32),
        np.random.default_rng(0).random((14, INPUT_SIZE), dtype=np.float32),
    ]
)


class VersionNotFound(LookupError):
    """No such version is served; the message names the versions that are."""

    def __init__(self, version: int | str | None, available: list[int]) -> None:
        names = ", ".join(str(v) for v in available) or "none"
        what = (
            f"version {version!s} of model {MODEL_NAME!r}" if version else f"model {MODEL_NAME!r}"
        )
        super().__init__(f"{what} is not available; available versions: {names}")
        self.version, self.available = version, available


class LoadFailed(RuntimeError):
    """A load request did not end with the version served; the message says why."""


@dataclass(eq=False)
class Served:
    version: int
    classifier: Classifier
    engine: BatchingEngine
    fingerprint: Fingerprint | None
    leases: int = 0
    loaded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def info(self) -> ModelInfo:
        return self.classifier.info


def check_outputs(classifier: Classifier) -> None:
    """Raise ModelLoadError unless a probe batch gives finite probabilities summing to 1."""
    out = classifier.predict(PROBE)
    path = classifier.info.path
    if out.shape != (len(PROBE), NUM_CLASSES):
        raise ModelLoadError(f"model {path} answered shape {out.shape} to a probe batch")
    if not np.isfinite(out).all():
        raise ModelLoadError(f"model {path} answered NaN or infinity to a probe batch")
    if (out < 0).any() or not np.allclose(out.sum(axis=1), 1, atol=1e-3):
        raise ModelLoadError(f"model {path} does not answer probabilities summing to 1")
