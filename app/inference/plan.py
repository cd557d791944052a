"""Which versions to serve, which to load, and why the others are not served: pure decisions
over one scan of the repository and what the service knows of it."""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from app.inference.control import Control
from app.inference.layout import Fingerprint, Found
from app.inference.policy import VersionPolicy


class State(StrEnum):
    READY = "READY"
    LOADING = "LOADING"
    UNAVAILABLE = "UNAVAILABLE"


@dataclass(frozen=True)
class IndexEntry:
    version: int
    state: State
    reason: str = ""


@dataclass(frozen=True)
class Plan:
    """One pass's view: versions `found`, those whose files are complete (`stable`), those that
    `failed` (with the fingerprint they failed with, and why), those `served` (with the
    fingerprint they were loaded from), and what load/unload requests asked (`control`)."""

    policy: VersionPolicy
    pinned_default: int | None
    found: Mapping[int, Found]
    stable: frozenset[int]
    failed: Mapping[int, tuple[Fingerprint | None, str]]
    served: Mapping[int, Fingerprint | None]
    control: Control

    def target(self) -> set[int]:
        """The versions to serve: the policy's pick, plus those asked for (load requests and
        the pinned default), among the candidates."""
        candidates = self.candidates()
        extra = set(self.control.loaded)
        if self.pinned_default is not None:
            extra.add(self.pinned_default)
        return self.policy.select(candidates) | (extra & set(candidates))

    def candidates(self) -> list[int]:
        """Versions the policy may pick: those served, and complete ones that did not fail."""
        out = []
        for version, item in self.found.items():
            if version in self.control.unloaded or item.fingerprint is None:
                continue
            if version in self.served or (
                version in self.stable and not self.failed_as_is(version)
            ):
                out.append(version)
        return out

    def to_load(self) -> list[int]:
        """Target versions not served yet, or served from files that changed since."""
        return [version for version in self.target() if self.needs_load(version)]

    def needs_load(self, version: int) -> bool:
        if version not in self.stable or self.failed_as_is(version):
            return False
        fingerprint = self.found[version].fingerprint
        return version not in self.served or self.served[version] != fingerprint

    def failed_as_is(self, version: int) -> bool:
        """It failed, and its files have not changed since."""
        failed = self.failed.get(version)
        return failed is not None and failed[0] == self.found[version].fingerprint

    def entry(self, version: int, loading: bool = False) -> IndexEntry:
        """The version's state in the index, and why."""
        failed = self.failed.get(version)
        if loading:
            return IndexEntry(version, State.LOADING)
        if version in self.served:
            kept = (
                f"serving the files loaded before; new files failed: {failed[1]}" if failed else ""
            )
            return IndexEntry(version, State.READY, kept)
        item = self.found[version]
        if version in self.control.unloaded:
            reason = "unloaded by request"
        elif failed is not None:
            reason = failed[1]
        elif item.fingerprint is None:
            reason = f"no {item.path.name} in {item.path.parent}"
        elif version not in self.stable:
            reason = "files still changing; loaded once complete"
        else:
            reason = f"not selected by the version policy {self.policy}"
        return IndexEntry(version, State.UNAVAILABLE, reason)
