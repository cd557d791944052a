"""The model repository on disk, read without TensorFlow: version folders and their fingerprints,
and the small control file through which load/unload requests reach every worker.

Layout (TensorFlow Serving's and Triton's): `<repository>/mnist/<N>/model.keras`, with
`model.card.json`, `report/` and (optional) `model.tflite` beside it, `N` a positive integer.
Anything else in `<repository>/mnist/` (a training run's temporary folder, `.hidden`, `3.tmp`)
is ignored.
"""

import contextlib
import fcntl
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from app.inference.model_file import card_path, litert_path

logger = logging.getLogger(__name__)
MAX_VERSION_DIGITS = 9
SETTLE_S = 1.0  # a version's files unchanged this long are complete

MODEL_NAME = "mnist"
MODEL_FILE = "model.keras"


class RepositoryUnreadable(OSError):
    """The repository's model folder cannot be listed (missing, unmounted, no permission)."""


@dataclass(frozen=True)
class Fingerprint:
    """Size and modification time of a version's model, card and LiteRT file: any rewrite
    changes it."""

    files: tuple[tuple[str, int, int], ...]

    @property
    def age_s(self) -> float:
        """Seconds since the newest of the files was modified."""
        return time.time() - max(mtime for _, _, mtime in self.files) / 1e9


@dataclass(frozen=True)
class Found:
    """A version folder: its model file, and its fingerprint (None while the model is missing)."""

    path: Path
    fingerprint: Fingerprint | None


class Settling:
    """Which versions' files are complete: unchanged for SETTLE_S, by their modification time or
    by this process's clock (scans that saw the same sizes and times: a clock skewed on a shared
    volume, or a copy that keeps old modification times while it grows)."""

    def __init__(self) -> None:
        self._seen: dict[int, tuple[Fingerprint | None, float]] = {}  # first seen (monotonic)

    def complete(self, found: dict[int, Found], trust: bool) -> tuple[set[int], float | None]:
        """The complete versions of a scan (all with files, if `trust`), and in how many seconds
        the next of the others can be (None: no other)."""
        now = time.monotonic()
        self._seen = {
            version: seen
            if (seen := self._seen.get(version)) and seen[0] == item.fingerprint
            else (item.fingerprint, now)
            for version, item in found.items()
        }
        unchanged_s = {
            version: max(item.fingerprint.age_s, now - self._seen[version][1])
            for version, item in found.items()
            if item.fingerprint is not None
        }
        stable = {version for version, age in unchanged_s.items() if trust or age >= SETTLE_S}
        pending = [age for version, age in unchanged_s.items() if version not in stable]
        return stable, max(SETTLE_S - max(pending), 0.05) if pending else None


def fingerprint(model: Path) -> Fingerprint | None:
    files = []
    for path in (model, card_path(model), litert_path(model)):
        try:
            stat = path.stat()
        except OSError:
            if path == model:
                return None
            continue
        files.append((path.name, stat.st_size, stat.st_mtime_ns))
    return Fingerprint(tuple(files))


@dataclass(frozen=True)
class Source:
    """Where versions come from: a repository folder, or one model file served as one version."""

    repository: Path
    single_file: Path | None = None
    single_version: int = 1

    @property
    def folder(self) -> Path:
        return self.repository / MODEL_NAME

    def describe(self) -> str:
        return str(self.single_file) if self.single_file else str(self.folder)

    def scan(self) -> dict[int, Found]:
        """Every version present, by number."""
        if self.single_file is not None:
            return {self.single_version: Found(self.single_file, fingerprint(self.single_file))}
        found = {}
        try:
            entries = list(os.scandir(self.folder))
        except OSError as exc:  # not "no versions": what is served stays served
            raise RepositoryUnreadable(f"cannot read {self.folder}: {exc}") from None
        for entry in entries:
            version = version_number(entry.name)
            if version is not None and str(version) == entry.name and entry.is_dir():
                model = Path(entry.path) / MODEL_FILE
                found[version] = Found(model, fingerprint(model))
        return found


@dataclass
class Control:
    """What load/unload requests asked for: versions served beyond the policy, versions kept out
    of it, and per version (0: all) a count of load requests: when it moves, every worker
    tries that version again even if it failed with the same files."""

    loaded: set[int] = field(default_factory=set)
    unloaded: set[int] = field(default_factory=set)
    retries: dict[int, int] = field(default_factory=dict)

    def retry(self, version: int | None) -> None:
        self.retries[version or 0] = self.retries.get(version or 0, 0) + 1

    def copy(self) -> "Control":
        return Control(set(self.loaded), set(self.unloaded), dict(self.retries))

    def to_json(self) -> str:
        retries = {str(version): count for version, count in self.retries.items()}
        return json.dumps(
            {"loaded": sorted(self.loaded), "unloaded": sorted(self.unloaded), "retries": retries}
        )

    @classmethod
    def from_json(cls, text: str) -> "Control":
        data = json.loads(text)
        retries = {int(version): int(count) for version, count in data["retries"].items()}
        return cls(set(data["loaded"]), set(data["unloaded"]), retries)


class ControlFile:
    """The Control shared by the workers: `<state_dir>/mnist.json`, replaced atomically (written
    to a temporary file, then renamed) under an exclusive lock; in memory without a state dir."""

    def __init__(self, state_dir: Path | None) -> None:
        self.path = state_dir / f"{MODEL_NAME}.json" if state_dir else None
        self._memory = Control()

    def read(self) -> Control:
        if self.path is None:
            return self._memory.copy()
        try:
            return Control.from_json(self.path.read_text())
        except FileNotFoundError:
            return Control()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("ignoring unreadable control file %s: %s", self.path, exc)
            return Control()

    def change(self, edit: Callable[[Control], None]) -> Control:
        """Apply `edit` to the current Control and store the result, atomically for all workers."""
        with self._locked():
            control = self.read()
            edit(control)
            self._write(control)
        return control

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self.path is None:
            yield
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write(self, control: Control) -> None:
        if self.path is None:
            self._memory = control
            return
        fd, temp = tempfile.mkstemp(prefix=".mnist-", dir=self.path.parent)
        with os.fdopen(fd, "w") as f:
            f.write(control.to_json())
        os.replace(temp, self.path)


def version_number(value: object) -> int | None:
    """The positive version number `value` spells (at most MAX_VERSION_DIGITS ASCII digits, as
    in a folder name, a query or a JSON field), else None. Never int() on anything longer: a
    client's 5,000 digits would raise, and so would a Unicode digit such as "²"."""
    text = str(value)
    if 0 < len(text) <= MAX_VERSION_DIGITS and text.isascii() and text.isdigit():
        return int(text) or None
    return None


def card_version(model: Path) -> int:
    """The version a model file's card declares if it is a positive integer, else 1."""
    try:
        version = json.loads(card_path(model).read_text()).get("version")
        return version_number(version) or 1
    except (OSError, ValueError, AttributeError):
        return 1
