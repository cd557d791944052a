"""Read a saved model's identity without TensorFlow: file checks, sha256 and its training card."""

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LITERT_CARD_KEY = "litert"
MAX_CARD_BYTES = 1 << 20  # a card is read at every scan (a training card is ~20 KB)


class ModelLoadError(RuntimeError):
    """The model file is missing, unreadable or not a 784 -> 10 classifier."""


class LoadInterrupted(ModelLoadError):
    """A load failed for a reason outside the model's files (its conversion killed, out of time,
    or not started): worth trying again later even if the files stay as they are."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    path: Path
    sha256: str
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def test_accuracy(self) -> float | None:
        test = self.card.get("test")
        return test.get("accuracy") if isinstance(test, dict) else None

    @property
    def created(self) -> str | None:
        return self.card.get("created")


def card_path(model_path: Path) -> Path:
    """The training card beside a model: `<stem>.card.json`."""
    return model_path.with_name(f"{model_path.stem}.card.json")


def litert_path(model_path: Path) -> Path:
    """The model converted to LiteRT, beside it: `<stem>.tflite` (app.inference.convert)."""
    return model_path.with_suffix(".tflite")


def litert_record(card: dict[str, Any]) -> dict[str, Any] | None:
    """The card's record of the LiteRT file (file, bytes, sha256, model_sha256, converter)."""
    record = card.get(LITERT_CARD_KEY)
    return record if isinstance(record, dict) else None


def check_model_file(path: Path, setting: str) -> None:
    """Fail fast, naming the path and the setting, unless `path` looks like a Keras 3 model."""
    if not path.is_file():
        raise ModelLoadError(f"model file {path} does not exist (set {setting})")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelLoadError(
            f"model file {path} is not a readable .keras archive ({exc}); set {setting}"
        ) from None
    if not {"config.json", "model.weights.h5"} <= names:
        raise ModelLoadError(
            f"model file {path} lacks config.json or model.weights.h5 (not a Keras 3 "
            f".keras file); set {setting}"
        )


def read_info(path: Path) -> ModelInfo:
    """Name, version and card of a model file; falls back to the file name with no card (or
    one over MAX_CARD_BYTES, or not a JSON object)."""
    card: dict[str, Any] = {}
    try:
        if card_path(path).stat().st_size <= MAX_CARD_BYTES:
            loaded = json.loads(card_path(path).read_text())
            card = loaded if isinstance(loaded, dict) else {}
    except (OSError, ValueError, RecursionError):  # RecursionError: deeply nested JSON
        pass
    return ModelInfo(
        name=str(card.get("name", path.stem)),
        version=str(card.get("version", "unversioned")),
        path=path,
        sha256=sha256_of(path),
        card=card,
    )


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
