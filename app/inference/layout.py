"""The model repository on disk, read without TensorFlow: version folders, their fingerprints, and
when a version's files are complete.

Layout (TensorFlow Serving's and Triton's): `<repository>/mnist/<N>/model.keras`, with
`model.card.json`, `model.tflite` (what is served) and `report/` beside it, `N` a positive
integer. A version without its LiteRT file is found but not served (`python -m training export`).
Anything else in `<repository>/mnist/` (a training run's temporary folder, `.hidden`, `3.tmp`)
is ignored.
"""

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from app.inference.model_file import card_path, litert_path, litert_record, read_card

MAX_VERSION_DIGITS = 9
SETTLE_S = 1.0  # a version's files unchanged this long are complete
RECHECK_S = 0.25  # ... or, already that old on disk, unchanged over two scans this far apart

MODEL_NAME = "mnist"
MODEL_FILE = "model.keras"


class RepositoryUnreadable(OSError):
    """The repository's model folder cannot be listed (missing, unmounted, no permission)."""


# What a version's card says of its files: "whole", it records the LiteRT file and the model of
# the sizes present (as `python -m training` and `python -m training export` write a version);
# "awaited", it records files that the folder does not hold yet (or holds others: a copy under
# way, or stale); "unrecorded", no card or no record.
CardSays = Literal["whole", "awaited", "unrecorded"]


@dataclass(frozen=True)
class Fingerprint:
    """Size and modification time of a version's model, card and LiteRT file: any rewrite
    changes it; and what the card says of them."""

    files: tuple[tuple[str, int, int], ...]
    card_says: CardSays = "unrecorded"

    def age_s(self, now: float) -> float:
        """Seconds from the newest of the files' modification to `now` (wall-clock time)."""
        return now - max(mtime for _, _, mtime in self.files) / 1e9


@dataclass(frozen=True)
class Found:
    """A version folder: its model file, and its fingerprint (None while the model is missing)."""

    path: Path
    fingerprint: Fingerprint | None


@dataclass(frozen=True)
class Clock:
    """The clocks settling reads: `monotonic` for how long this process has seen a version's
    files unchanged, `wall` for how old their modification times are."""

    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time


SYSTEM_CLOCK = Clock()


class Settling:
    """Which versions' files are complete: seen unchanged by this process for SETTLE_S; or, if
    their modification times are that old already (a folder renamed into place, a copy that
    keeps times), at once when the card says the version is whole, and after a second look
    RECHECK_S later when there is no card record to go by. A version whose card awaits files
    waits the full SETTLE_S by this process's clock, as does one dated in the future."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        # Per version: its fingerprint, when a scan first saw it (monotonic), and whether it
        # counted as complete since. A change of fingerprint starts over.
        self._seen: dict[int, tuple[Fingerprint | None, float, bool]] = {}

    def complete(self, found: dict[int, Found], trust: bool) -> tuple[set[int], float | None]:
        """The complete versions of a scan (all with files, if `trust`), and in how many seconds
        the next of the others can be (None: no other)."""
        now = self._clock.monotonic()
        seen: dict[int, tuple[Fingerprint | None, float, bool]] = {}
        stable, pending = set(), []
        for version, item in found.items():
            fingerprint, first, complete = self._seen.get(version) or (None, now, False)
            if fingerprint != item.fingerprint:  # new, or changed: start over
                fingerprint, first, complete = item.fingerprint, now, False
            if fingerprint is not None and not complete:
                wait = 0.0 if trust else self._wait(fingerprint, now - first)
                complete = wait <= 0
                if not complete:
                    pending.append(wait)
            if complete:
                stable.add(version)
            seen[version] = (fingerprint, first, complete)
        self._seen = seen
        return stable, max(min(pending), 0.05) if pending else None

    def _wait(self, fingerprint: Fingerprint, seen_s: float) -> float:
        """Seconds until a version seen unchanged for `seen_s` counts as complete."""
        by_clock = SETTLE_S - seen_s
        if fingerprint.card_says == "awaited":
            return by_clock
        second_look = 0.0 if fingerprint.card_says == "whole" else RECHECK_S - seen_s
        return min(by_clock, max(SETTLE_S - fingerprint.age_s(self._clock.wall()), second_look))


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
    return Fingerprint(tuple(files), card_says=_card_says(model, files))


def _card_says(model: Path, files: list[tuple[str, int, int]]) -> CardSays:
    sizes = {name: size for name, size, _ in files}
    record = litert_record(read_card(model))
    if record is None:
        return "unrecorded"
    litert = litert_path(model).name
    recorded = (record.get("file"), record.get("bytes"), record.get("model_bytes"))
    return "whole" if recorded == (litert, sizes.get(litert), sizes[model.name]) else "awaited"


@dataclass(frozen=True)
class Source:
    """Where versions come from: `<repository>/mnist/<N>/` folders."""

    repository: Path

    @property
    def folder(self) -> Path:
        return self.repository / MODEL_NAME

    def describe(self) -> str:
        return str(self.folder)

    def scan(self) -> dict[int, Found]:
        """Every version present, by number."""
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


def version_number(value: object) -> int | None:
    """The positive version number `value` spells (at most MAX_VERSION_DIGITS ASCII digits, as
    in a folder name, a query or a JSON field), else None. Never int() on anything longer: a
    client's 5,000 digits would raise, and so would a Unicode digit such as "²"."""
    text = str(value)
    if 0 < len(text) <= MAX_VERSION_DIGITS and text.isascii() and text.isdigit():
        return int(text) or None
    return None
