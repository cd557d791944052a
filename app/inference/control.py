"""The small control file through which load/unload requests reach every worker."""

import contextlib
import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from app.inference.layout import MODEL_NAME

logger = logging.getLogger(__name__)


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
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
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
