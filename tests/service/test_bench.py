"""`python -m bench --smoke` runs end to end: three real servers on 127.0.0.1, checked and loaded
with wrk. Nothing about speed is asserted."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT
from training.data import DATA_ENV

SMOKE_TIMEOUT_S = 900

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("wrk") is None,
        reason="wrk is not on PATH: the benchmark drives load with Debian's wrk "
        "(apt-get install -y wrk)",
    ),
]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, dict[str, Any], Path]:
    """Exit code, stderr, latest.json and the results folder of one smoke run."""
    if not os.environ.get(DATA_ENV):
        pytest.skip(f"${DATA_ENV} is not set: the benchmark posts real MNIST digits")
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT_S,
    )
    report = json.loads((out / "latest.json").read_text()) if (out / "latest.json").exists() else {}
    return done.returncode, done.stderr, report, out


def test_bench_smoke_exits_zero(smoke: tuple[int, str, dict[str, Any], Path]) -> None:
    code, stderr, _, _ = smoke
    assert code == 0, stderr[-4000:]


def test_bench_smoke_loads_every_server_at_each_concurrency(
    smoke: tuple[int, str, dict[str, Any], Path],
) -> None:
    _, _, report, _ = smoke
    points = {(row["server"], row["connections"]) for row in report["predict"] if row["requests"]}
    assert points == {(s, c) for s in ("service", "baseline", "ceiling") for c in (1, 16)}


def test_bench_smoke_measures_batch_startup_and_memory(
    smoke: tuple[int, str, dict[str, Any], Path],
) -> None:
    _, _, report, _ = smoke
    service = next(run for run in report["servers"] if run["name"] == "service")
    assert service["batch"]["images_per_s"] > 0
    assert service["ready_s"] > 0
    assert all(rss > 0 for rss in service["memory_loaded"]["worker_rss_mb"])


def test_bench_smoke_writes_table_and_plot(smoke: tuple[int, str, dict[str, Any], Path]) -> None:
    _, _, _, out = smoke
    assert "| service | 1 | 16 |" in (out / "latest.md").read_text()
    assert (out / "latest.png").read_bytes().startswith(b"\x89PNG")
