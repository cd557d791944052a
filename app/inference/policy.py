"""Which versions of the model to serve, as Triton's version policies: latest, latest:K, all, or
specific versions (e.g. `1,3`)."""

from dataclasses import dataclass
from typing import Literal


class PolicyError(ValueError):
    """A version policy that cannot be read; the message names the value and what is accepted."""


ACCEPTED = "`latest`, `latest:K` (K >= 1), `all`, or versions such as `1,3`"


@dataclass(frozen=True)
class VersionPolicy:
    kind: Literal["latest", "all", "specific"]
    count: int = 1  # latest: how many of the newest
    versions: frozenset[int] = frozenset()  # specific: which

    @classmethod
    def parse(cls, text: str) -> "VersionPolicy":
        """`latest`, `latest:K`, `all`, or comma-separated positive integers."""
        value = text.strip().lower()
        try:
            if value == "latest":
                return cls("latest")
            if value == "all":
                return cls("all")
            if value.startswith("latest:"):
                count = int(value.removeprefix("latest:"))
                if count >= 1:
                    return cls("latest", count=count)
            else:
                versions = frozenset(int(part) for part in value.split(","))
                if versions and min(versions) >= 1:
                    return cls("specific", versions=versions)
        except ValueError:
            pass
        raise PolicyError(f"version policy {text!r} is not one of {ACCEPTED}")

    def select(self, available: list[int]) -> set[int]:
        """The versions to serve among `available` (those loadable right now)."""
        if self.kind == "all":
            return set(available)
        if self.kind == "specific":
            return set(self.versions & set(available))
        return set(sorted(available)[-self.count :])

    def __str__(self) -> str:
        if self.kind == "specific":
            return ",".join(str(v) for v in sorted(self.versions))
        return (
            "latest"
            if self.kind == "latest" and self.count == 1
            else (f"latest:{self.count}" if self.kind == "latest" else "all")
        )
