"""A TF-Serving-style model repository: `<repository>/<name>/<N>/model.keras`, card and report.

A new version is written whole into a hidden temporary folder beside the versions and renamed
into place when complete, so a watcher never sees half a version; no version is overwritten.
"""

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from app.inference.model_file import card_path

MODEL_FILE = "model.keras"


def versions(model_dir: Path) -> list[int]:
    """The version numbers present under `model_dir`, ascending."""
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def next_version(model_dir: Path) -> int:
    """One more than the highest version present (1 for an empty or new repository)."""
    present = versions(model_dir)
    return present[-1] + 1 if present else 1


def publish(model_dir: Path, write: Callable[[Path, str], None]) -> Path:
    """Have `write(folder, version)` fill a temporary folder, then rename it to the next version.

    If another writer took that number meanwhile, the card's version is bumped and the rename
    retried on the next free one. On failure the temporary folder is removed.
    """
    model_dir.mkdir(parents=True, exist_ok=True)
    version = next_version(model_dir)
    temporary = Path(tempfile.mkdtemp(prefix=f".{version}-", suffix=".partial", dir=model_dir))
    try:
        write(temporary, str(version))
        temporary.chmod(0o755)  # mkdtemp's 0700 would hide the version from the service's user
        while True:
            target = model_dir / str(version)
            if not target.exists():
                try:
                    os.rename(temporary, target)  # atomic; fails onto a non-empty folder
                    return target
                except OSError as exc:
                    if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                        raise
            version = max(version + 1, next_version(model_dir))
            _set_card_version(temporary / MODEL_FILE, str(version))
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def _set_card_version(model_file: Path, version: str) -> None:
    path = card_path(model_file)
    if path.is_file():
        card = json.loads(path.read_text())
        card["version"] = version
        path.write_text(json.dumps(card, indent=2) + "\n")
