"""A version's files, read without TensorFlow: its training card (the service reads it only
here), sha256, and the LiteRT file the card vouches for, which is what the service serves."""

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LITERT_CARD_KEY = "litert"
ABSTENTION_CARD_KEY = "abstention"  # {"threshold": float in (0, 1), "score": "max_probability"}
ABSTENTION_SCORE = "max_probability"
MAX_CARD_BYTES = 1 << 20  # a card is read at every scan (a training card is ~20 KB)
EXPORT_COMMAND = "python -m training export"


class ModelLoadError(RuntimeError):
    """The version's files are missing, unreadable or not a 784 -> 10 classifier."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    path: Path
    sha256: str
    card: dict[str, Any] = field(default_factory=dict)
    # The card's calibrated abstention threshold on the highest probability; None: it has none.
    abstention_threshold: float | None = None

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
    """The model exported to LiteRT, beside it: `<stem>.tflite` (`python -m training export`)."""
    return model_path.with_suffix(".tflite")


def read_card(model_path: Path) -> dict[str, Any]:
    """The card beside a model as a JSON object; {} if missing, unreadable, over MAX_CARD_BYTES,
    not JSON, nested too deep to parse, or not an object."""
    path = card_path(model_path)
    try:
        if not 0 < path.stat().st_size <= MAX_CARD_BYTES:
            return {}
        loaded = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):  # RecursionError: deeply nested JSON
        return {}
    return loaded if isinstance(loaded, dict) else {}


def litert_record(card: dict[str, Any]) -> dict[str, Any] | None:
    """The card's record of the LiteRT file (file, bytes, sha256, model_sha256, model_bytes,
    converter, agreement)."""
    record = card.get(LITERT_CARD_KEY)
    return record if isinstance(record, dict) else None


def abstention_threshold(card: dict[str, Any], model_path: Path) -> float | None:
    """The card's `abstention.threshold`: a number in (0, 1) on the highest probability; None
    without an `abstention` record; ModelLoadError naming the card and the value if malformed."""
    record = card.get(ABSTENTION_CARD_KEY)
    if record is None:
        return None
    where = f"the card of {model_path}"
    if not isinstance(record, dict):
        raise ModelLoadError(
            f"{where}: `{ABSTENTION_CARD_KEY}` must be an object with a `threshold`, "
            f"not {json.dumps(record)[:60]}"
        )
    score = record.get("score", ABSTENTION_SCORE)
    if score != ABSTENTION_SCORE:
        raise ModelLoadError(
            f"{where}: `{ABSTENTION_CARD_KEY}.score` must be {ABSTENTION_SCORE!r} (the only score "
            f"the service computes), not {json.dumps(score)[:60]}"
        )
    threshold = record.get("threshold")
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not 0 < threshold < 1  # NaN too: it compares false
    ):
        raise ModelLoadError(
            f"{where}: `{ABSTENTION_CARD_KEY}.threshold` must be a number between 0 and 1 "
            f"(exclusive), not {json.dumps(threshold)[:60]}"
        )
    return float(threshold)


def read_info(path: Path) -> ModelInfo:
    """Name, version, card and abstention threshold of a model file; the file name and no card
    if it has none; ModelLoadError if the card's abstention record is malformed."""
    card = read_card(path)
    return ModelInfo(
        name=str(card.get("name", path.stem)),
        version=str(card.get("version", "unversioned")),
        path=path,
        sha256=sha256_of(path),
        card=card,
        abstention_threshold=abstention_threshold(card, path),
    )


def export_hint(model_path: Path) -> str:
    return f"run `{EXPORT_COMMAND} {model_path.parent}`"


def vouched_flatbuffer(info: ModelInfo) -> bytes:
    """The LiteRT file beside the model, if its card vouches it was made from this very model
    file and it is intact; else ModelLoadError saying why and what to run."""
    record = litert_record(info.card)
    path = litert_path(info.path)
    hint = export_hint(info.path)
    if not path.exists():
        raise ModelLoadError(
            f"no {path.name} beside {info.path} (the service serves LiteRT): {hint}"
        )
    if record is None or record.get("file") != path.name:
        raise ModelLoadError(f"the card of {info.path} records no {path.name}: {hint}")
    if record.get("model_sha256") != info.sha256:
        raise ModelLoadError(f"{path} was made from another {info.path.name}: {hint}")
    try:
        flatbuffer = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"{path} unreadable ({exc.strerror or exc})") from None
    if hashlib.sha256(flatbuffer).hexdigest() != record.get("sha256"):
        raise ModelLoadError(f"{path} differs from the one its card records: {hint}")
    return flatbuffer


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
