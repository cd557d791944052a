"""`python -m bench.swap`: request latency while model versions are swapped, against a quiet run.

Starts `python -m app` (one worker by default) on a repository of two versions, keeps
`--connections` clients posting a 28x28 digit PNG, and alternates quiet windows with swaps
(unload version 2 -> version 1 is loaded; load version 2 -> it is loaded again) through the
repository API. Prints p50/p99 of the requests that started in quiet windows and of those that
started while a swap ran (from the API call until it answered, plus half a second).
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from tests import servers
from tests.loadgen import DIGIT_28
from tests.versions import SHIPPED_VERSION, copy_version, shifted_version


async def client(url: str, until: float, out: list[tuple[float, float, int]]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        while time.monotonic() < until:
            started = time.monotonic()
            try:
                response = await http.post("/predict", files={"file": ("d.png", DIGIT_28)})
                status = response.status_code
            except httpx.HTTPError as exc:
                print(f"request failed: {type(exc).__name__} {exc}")
                status = 0
            out.append((started, time.monotonic() - started, status))


async def swaps(url: str, rounds: int, quiet_s: float) -> list[tuple[float, float]]:
    windows = []
    for i in range(rounds):
        await asyncio.sleep(quiet_s)
        action = "unload" if i % 2 == 0 else "load"
        started = time.monotonic()
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:  # no idle keep-alive
            response = await http.post(
                f"/v2/repository/models/mnist/{action}", json={"parameters": {"version": 2}}
            )
        response.raise_for_status()
        windows.append((started, time.monotonic() + 0.5))
    await asyncio.sleep(quiet_s)
    return windows


def percentiles(latencies: list[float]) -> str:
    cuts = statistics.quantiles(latencies, n=100)
    return f"n={len(latencies)} p50={cuts[49] * 1000:.1f} ms p99={cuts[98] * 1000:.1f} ms"


async def measure(url: str, connections: int, rounds: int, quiet_s: float) -> None:
    answers: list[tuple[float, float, int]] = []
    until = time.monotonic() + rounds * quiet_s + quiet_s + 60
    swapping = asyncio.create_task(swaps(url, rounds, quiet_s))
    clients = [asyncio.create_task(client(url, until, answers)) for _ in range(connections)]
    windows = await swapping
    for task in clients:
        task.cancel()
    await asyncio.gather(*clients, return_exceptions=True)
    inside = [
        s for t, s, _ in answers if any(a <= t <= b for a, b in windows) and t < windows[-1][1]
    ]
    outside = [s for t, s, _ in answers if not any(a <= t <= b for a, b in windows)]
    failed = sum(status != 200 for _, _, status in answers)
    print(f"swaps: {len(windows)}, mean {statistics.mean(b - a - 0.5 for a, b in windows):.2f} s")
    print(f"quiet:    {percentiles(outside)}")
    print(f"swapping: {percentiles(inside)}")
    print(f"failed requests: {failed}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.swap", description=__doc__)
    parser.add_argument("--workers", default="1")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--quiet-s", type=float, default=4.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        copy_version(SHIPPED_VERSION, root / "repository", 1)
        shifted_version(root / "repository" / "mnist" / "2")
        env = {"MNIST_API_MODEL_REPOSITORY": str(root / "repository")}
        with servers.running(root, "--workers", args.workers, env=env) as server:
            asyncio.run(measure(server.url, args.connections, args.rounds, args.quiet_s))


if __name__ == "__main__":
    main()
