"""What a server process holds, read from /proc: memory, open files, threads, child processes."""

from dataclasses import dataclass
from pathlib import Path


def status(pid: int) -> dict[str, str]:
    """/proc/<pid>/status as a dict of field -> value text."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return fields


def rss_mb(pid: int) -> float:
    """Resident memory now (VmRSS), in MiB."""
    return int(status(pid)["VmRSS"].split()[0]) / 1024


def peak_rss_mb(pid: int) -> float:
    """The most resident memory the process ever had (VmHWM), in MiB."""
    return int(status(pid)["VmHWM"].split()[0]) / 1024


def children(pid: int) -> set[int]:
    """The direct child processes."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(child) for child in (task / "children").read_text().split())
    return found


@dataclass(frozen=True)
class Holdings:
    rss_mb: float
    fds: int
    threads: int


def holdings(pid: int) -> Holdings:
    return Holdings(
        rss_mb(pid),
        len(list(Path(f"/proc/{pid}/fd").iterdir())),
        len(list(Path(f"/proc/{pid}/task").iterdir())),
    )
