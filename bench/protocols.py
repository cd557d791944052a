"""`python -m bench.protocols`: the Open Inference Protocol over REST and over gRPC, side by side.

Starts `python -m app` (gRPC on a free port) and, with the stock Triton clients' asyncio versions
(tritonclient.http.aio, tritonclient.grpc.aio; one client per protocol, shared by every task),
keeps `--connections` tasks inferring one 28x28 digit as FP32 [1, 784] (binary tensor data over
REST, raw_input_contents over gRPC) for `--duration` s each, the protocols taking turns. Prints
calls per second, p50/p99 latency and failed calls per protocol and concurrency.
"""

import argparse
import asyncio
import io
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
import tritonclient.grpc.aio as grpc_triton
import tritonclient.http.aio as http_triton
from PIL import Image

from tests.support import free_port, servers
from tests.support.loadgen import DIGIT_28

Infer = Callable[[], Awaitable[np.ndarray]]


def digit_rows() -> np.ndarray:
    pixels = np.asarray(Image.open(io.BytesIO(DIGIT_28)).convert("L"), dtype=np.float32)
    return (pixels / 255).reshape(1, 784)


def rest_infer(client: http_triton.InferenceServerClient, rows: np.ndarray) -> Infer:
    tensor = http_triton.InferInput("pixels", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows, binary_data=True)
    outputs = [http_triton.InferRequestedOutput("probabilities", binary_data=True)]

    async def infer() -> np.ndarray:
        result = await client.infer("mnist", [tensor], outputs=outputs)
        return result.as_numpy("probabilities")  # type: ignore[no-any-return]

    return infer


def grpc_infer(client: grpc_triton.InferenceServerClient, rows: np.ndarray) -> Infer:
    tensor = grpc_triton.InferInput("pixels", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows)
    outputs = [grpc_triton.InferRequestedOutput("probabilities")]

    async def infer() -> np.ndarray:
        result = await client.infer("mnist", [tensor], outputs=outputs)
        return result.as_numpy("probabilities")  # type: ignore[no-any-return]

    return infer


async def load(infer: Infer, connections: int, seconds: float) -> tuple[list[float], int]:
    """Latencies of the calls answered by `connections` tasks in `seconds`, and the failures."""
    latencies: list[float] = []
    failed = 0
    until = time.monotonic() + seconds

    async def task() -> None:
        nonlocal failed
        while time.monotonic() < until:
            started = time.perf_counter()
            try:
                await infer()
            except Exception as exc:  # any refusal or transport error counts as failed
                failed += 1
                if failed <= 3:
                    print(f"call failed: {type(exc).__name__}: {exc}")
                continue
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(task() for _ in range(connections)))
    return latencies, failed


def row(
    protocol: str, connections: int, seconds: float, latencies: list[float], failed: int
) -> str:
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    rate = len(latencies) / seconds
    return (
        f"| {protocol} | {connections} | {rate:,.0f} | {cuts[49] * 1000:.2f} | "
        f"{cuts[98] * 1000:.2f} | {failed} |"
    )


async def measure(http_url: str, grpc_target: str, args: argparse.Namespace) -> None:
    rows = digit_rows()
    rest_client = http_triton.InferenceServerClient(
        http_url.removeprefix("http://"), conn_limit=max(args.connections)
    )
    grpc_client = grpc_triton.InferenceServerClient(grpc_target)
    try:
        infers = {"REST": rest_infer(rest_client, rows), "gRPC": grpc_infer(grpc_client, rows)}
        answers = [await infer() for infer in infers.values()]
        if not np.allclose(answers[0], answers[1], atol=1e-6):
            raise RuntimeError(f"REST and gRPC answer differently: {answers}")
        for infer in infers.values():  # warm-up: connections, the batching engine's thread
            await load(infer, 16, 1.0)
        print("| protocol | connections | calls/s | p50 ms | p99 ms | failed |")
        print("|---|---|---|---|---|---|")
        for connections in args.connections:
            for protocol, infer in infers.items():
                latencies, failed = await load(infer, connections, args.duration)
                print(row(protocol, connections, args.duration, latencies, failed), flush=True)
    finally:
        await rest_client.close()
        await grpc_client.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.protocols",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--workers", default="1")
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per point")
    args = parser.parse_args()
    grpc_port = free_port()
    with (
        tempfile.TemporaryDirectory() as temporary,
        servers.running(
            Path(temporary), "--workers", args.workers, "--grpc-port", str(grpc_port)
        ) as server,
    ):
        asyncio.run(measure(server.url, f"127.0.0.1:{grpc_port}", args))


if __name__ == "__main__":
    main()
