"""Model versions for repository tests: the shipped one, a different one, a broken one."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from tests.support import SHIPPED_MODEL

SHIPPED_VERSION = SHIPPED_MODEL.parent  # models/mnist/3/, the newest
THRESHOLD = 0.9  # the abstention threshold of the versions the "not a digit" tests card


def copy_version(source: Path, repository: Path, version: int) -> Path:
    """Copy a version folder (model, card, report) in as `<repository>/mnist/<version>/`."""
    return Path(shutil.copytree(source, repository / "mnist" / str(version)))


def shifted_version(folder: Path, shift: int = 1, litert: bool = True) -> Path:
    """A version folder whose model answers digit (d + shift) % 10 where the shipped one
    answers d: the shipped model with the columns of its last layer rolled by `shift`; with
    its LiteRT file, as the training CLI writes a version, if `litert`."""
    import keras

    from training.export import export

    model = keras.saving.load_model(SHIPPED_MODEL, compile=False)
    last = model.layers[-1]
    kernel, bias = last.get_weights()
    last.set_weights([np.roll(kernel, shift, axis=1), np.roll(bias, shift)])
    folder.mkdir(parents=True)
    model.save(folder / "model.keras")
    card = json.loads(SHIPPED_MODEL.with_name("model.card.json").read_text())
    card["notes"] = f"the shipped model with its output classes rolled by {shift}"
    card.pop("litert", None)  # the shipped model's, not this one's
    (folder / "model.card.json").write_text(json.dumps(card))
    if litert:
        export(folder / "model.keras", np.zeros((8, 784), np.float32), "zeros")
    return folder


def broken_version(folder: Path) -> Path:
    """A version folder whose card vouches for a model.tflite that is not a LiteRT model."""
    folder.mkdir(parents=True)
    (folder / "model.keras").write_bytes(b"not a zip archive\n" * 100)
    return vouched(folder / "model.keras", b"not a flatbuffer\n" * 100)


def vouched(model: Path, flatbuffer: bytes) -> Path:
    """Write `flatbuffer` as the LiteRT file beside `model`, with a card that vouches for it
    (as training's export writes one), whatever the model is; return the version folder."""
    model.with_suffix(".tflite").write_bytes(flatbuffer)
    record = {
        "file": "model.tflite",
        "bytes": len(flatbuffer),
        "sha256": hashlib.sha256(flatbuffer).hexdigest(),
        "model_sha256": hashlib.sha256(model.read_bytes()).hexdigest(),
        "model_bytes": model.stat().st_size,
    }
    model.with_name("model.card.json").write_text(json.dumps({"litert": record}))
    return model.parent


def carded_version(repository: Path, version: int, **entries: object) -> Path:
    """The shipped version copied in as `<repository>/mnist/<version>/`, its card (the shipped
    card) with `entries` added, e.g. `abstention={"threshold": 0.9}`; the copy's LiteRT file
    stays vouched for (the card's record of it is unchanged)."""
    folder = copy_version(SHIPPED_VERSION, repository, version)
    card_file = folder / "model.card.json"
    card = json.loads(card_file.read_text())
    card.update(entries)
    card_file.write_text(json.dumps(card))
    return folder
