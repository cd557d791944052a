"""`python -m bench.startup`: seconds from `python -m app` to a 200 from /readyz, and each
worker's RSS once ready, with a bare `model.keras` version (no LiteRT file) beside the shipped
one; the median of --runs starts. Run it with the serving venv's python to measure that install.
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.support import ROOT, SHIPPED_MODEL, free_port


def repository(root: Path) -> Path:
    """The shipped version as version 1, and version 2 a bare model.keras (UNAVAILABLE)."""
    shutil.copytree(
        SHIPPED_MODEL.parent, root / "mnist" / "1", ignore=shutil.ignore_patterns("report")
    )
    (root / "mnist" / "2").mkdir()
    shutil.copy(SHIPPED_MODEL, root / "mnist" / "2" / "model.keras")
    return root


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_once(repo: Path, python: str) -> tuple[float, float, str]:
    port = free_port()
    command = [python, "-m", "app", "--port", str(port), "--repository", str(repo)]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=1, trust_env=False) as http:
            while True:
                try:
                    if http.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.perf_counter() - started > 60:
                    raise SystemExit("the service did not become ready")
                time.sleep(0.01)
            seconds = time.perf_counter() - started
            bare = http.post("/v2/repository/index").json()[0]
        return seconds, rss_mib(process.pid), f"{bare['state']}: {bare.get('reason', '')}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--python", default=sys.executable, help="the interpreter to serve with")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        repo = repository(Path(folder))
        runs = [start_once(repo, args.python) for _ in range(args.runs)]
    times, rss = [r[0] for r in runs], [r[1] for r in runs]
    spread = f"{min(times):.2f}-{max(times):.2f}"
    print(f"ready in {statistics.median(times):.2f} s median ({spread}, {len(runs)} starts)")
    print(f"worker RSS {statistics.median(rss):.0f} MiB median once ready")
    print(f"bare version 2: {runs[-1][2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
