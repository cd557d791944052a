"""`python -m bench.swap`: request latency while new model versions roll out, against quiet time.

Starts `python -m app` (one worker by default, the default 2 s poll) on a repository holding
version 1, keeps `--connections` clients posting a 28x28 digit PNG, and alternates quiet windows
with roll-outs: a new version folder (made beforehand, a model that answers differently) is
renamed into the repository, as the training CLI publishes one, and the service's default policy
switches to it. Each version carries its LiteRT file, as the training CLI writes it, unless
`--without-litert-files` (then each is converted in a child process when it is first loaded).

Prints how long each roll-out took to switch (rename -> every worker answers with the new version),
p50/p99 of the requests that started in quiet windows and of those that started during a
roll-out (from the rename until the switch, plus half a second), and the failed requests.
"""

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support import servers
from tests.support.loadgen import DIGIT_28
from tests.support.versions import SHIPPED_VERSION, copy_version, shifted_version

TAIL_S = 0.5  # a roll-out's window lasts this long after the switch
SWITCH_TIMEOUT_S = 120.0
SETTLED = 50  # answers in a row from the new version: every worker has switched


@dataclass(frozen=True)
class Answer:
    started: float
    seconds: float
    status: int
    version: str


async def client(url: str, until: float, out: list[Answer]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        while time.monotonic() < until:
            started = time.monotonic()
            try:
                response = await http.post("/predict", files={"file": ("d.png", DIGIT_28)})
                status = response.status_code
                version = response.json()["model"]["version"] if status == 200 else ""
            except httpx.HTTPError as exc:
                print(f"request failed: {type(exc).__name__} {exc}")
                status, version = 0, ""
            out.append(Answer(started, time.monotonic() - started, status, version))


async def roll_outs(
    staged: list[Path], folder: Path, answers: list[Answer], quiet_s: float
) -> list[tuple[float, float]]:
    """Rename each staged version into `folder` after a quiet window; the (rename, switch)
    times of each."""
    windows = []
    for version in staged:
        await asyncio.sleep(quiet_s)
        started = time.monotonic()
        os.rename(version, folder / version.name)  # whole at once, as `python -m training`
        while (switched := settled(answers, started, version.name)) is None:
            if time.monotonic() - started > SWITCH_TIMEOUT_S:
                raise RuntimeError(f"version {version.name} never answered alone")
            await asyncio.sleep(0.01)
        windows.append((started, switched))
    await asyncio.sleep(quiet_s)
    return windows


def settled(answers: list[Answer], since: float, version: str) -> float | None:
    """When every worker had switched: the start of the first answer from `version` after the
    last answer from another one, once SETTLED answers in a row came from `version`."""
    recent = [a for a in answers[-2000:] if a.started >= since]
    last_other = max((i for i, a in enumerate(recent) if a.version != version), default=-1)
    if len(recent) - last_other - 1 < SETTLED:
        return None
    return recent[last_other + 1].started


def percentiles(latencies: list[float]) -> str:
    cuts = statistics.quantiles(latencies, n=100)
    return f"n={len(latencies)} p50={cuts[49] * 1000:.1f} ms p99={cuts[98] * 1000:.1f} ms"


async def measure(
    url: str, staged: list[Path], folder: Path, connections: int, quiet_s: float
) -> None:
    answers: list[Answer] = []
    until = time.monotonic() + (len(staged) + 1) * (quiet_s + SWITCH_TIMEOUT_S)
    clients = [asyncio.create_task(client(url, until, answers)) for _ in range(connections)]
    try:
        windows = await roll_outs(staged, folder, answers, quiet_s)
    finally:
        for task in clients:
            task.cancel()
        await asyncio.gather(*clients, return_exceptions=True)

    def during(a: Answer) -> bool:
        return any(start <= a.started <= end + TAIL_S for start, end in windows)

    inside = [a.seconds for a in answers if during(a) and a.started < windows[-1][1] + TAIL_S]
    outside = [a.seconds for a in answers if not during(a)]
    failed = sum(a.status != 200 for a in answers)
    switches = ", ".join(f"{end - start:.2f}" for start, end in windows)
    print(f"roll-outs: {len(windows)}, switched after (s): {switches}")
    print(f"quiet:      {percentiles(outside)}")
    print(f"rolling out: {percentiles(inside)}")
    print(f"failed requests: {failed} of {len(answers)}")


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.swap",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--workers", default="1")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=4, help="versions rolled out")
    parser.add_argument("--quiet-s", type=float, default=6.0)
    parser.add_argument(
        "--without-litert-files",
        action="store_true",
        help="versions with model.keras and card only: each is converted in a child process",
    )
    args = parser.parse_args()
    litert = not args.without_litert_files
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        folder = root / "repository" / "mnist"
        first = copy_version(SHIPPED_VERSION, root / "repository", 1)
        if not litert:
            (first / "model.tflite").unlink()
        staged = [
            shifted_version(root / "staged" / str(version), shift=version - 1, litert=litert)
            for version in range(2, args.rounds + 2)
        ]
        env = {"MNIST_API_MODEL_REPOSITORY": str(root / "repository")}
        with servers.running(root, "--workers", args.workers, env=env) as server:
            asyncio.run(measure(server.url, staged, folder, args.connections, args.quiet_s))


if __name__ == "__main__":
    main()
