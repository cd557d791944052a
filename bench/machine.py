"""What the numbers were measured on: CPU, cores, memory, load, versions, date, git commit."""

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from bench.load import wrk_version

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "tensorflow-cpu",
    "tensorflow",
    "ai-edge-litert",
    "keras",
    "numpy",
    "pillow",
    "pyspng",
    "opencv-python-headless",
    "scipy",
    "fastapi",
    "uvicorn",
    "uvloop",
)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def memory_gib() -> float | None:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024**2, 1)
    return None


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def git_state() -> dict[str, object]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", "app", "models")
    return {"commit": git("rev-parse", "--short", "HEAD"), "app_uncommitted_changes": bool(changed)}


def describe() -> dict[str, object]:
    """The machine and software the benchmark ran on, at the time of calling."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_gib": memory_gib(),
        "kernel": platform.release(),
        "load_average": load_average(),
        "versions": versions(),
        "wrk": wrk_version(),
        "git": git_state(),
    }
