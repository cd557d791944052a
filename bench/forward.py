"""`python -m bench.forward`: every way to run the model on a batch, timed side by side.

Keras `predict`, `predict_on_batch` and a plain call, the service's two runtimes (a traced
TensorFlow graph and LiteRT), each on 1, 8 and 64 MNIST rows, in one process, interleaved round by
round so that a noisy machine slows them all alike. Writes bench/results/forward.{md,json}.
"""

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench import machine
from bench.samples import resolve_npz
from bench.servers import ROOT

RESULTS = ROOT / "bench" / "results"
SIZES = (1, 8, 64)
Run = Callable[[NDArray[np.float32]], Any]


def call_paths(model_path: Path, threads: int) -> dict[str, Run]:
    """Name -> function running the model on a float32 (N, 784) batch."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    from app.inference.classifier import litert_forward
    from app.inference.model_file import litert_path

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    model = keras.saving.load_model(model_path, compile=False)
    return {
        "keras model.predict": lambda x: model.predict(x, verbose=0),
        "keras predict_on_batch": model.predict_on_batch,
        "keras model(x)": lambda x: model(x, training=False).numpy(),
        "service (LiteRT interpreter, model.tflite)": litert_forward(
            litert_path(model_path).read_bytes(), threads
        ),
    }


def time_all(paths: dict[str, Run], x: NDArray[np.float32], rounds: int, budget_s: float) -> dict:
    """Median seconds per call of each path at each batch size, interleaved by round."""
    samples: dict[tuple[str, int], list[float]] = {}
    for run in paths.values():  # warm-up: traces, allocations, first-call costs
        for size in SIZES:
            run(x[:size])
    for _ in range(rounds):
        for name, run in paths.items():
            for size in SIZES:
                batch, calls, started = x[:size], 0, time.perf_counter()
                while (elapsed := time.perf_counter() - started) < budget_s or calls < 2:
                    run(batch)
                    calls += 1
                samples.setdefault((name, size), []).append(elapsed / calls)
    return {
        name: {size: statistics.median(samples[name, size]) for size in SIZES} for name in paths
    }


def to_markdown(results: dict, described: dict[str, Any], command: str) -> str:
    fastest = min(results, key=lambda name: results[name][1])
    lines = [
        "# The model's call paths, side by side",
        "",
        f"{described['date']} · {described['cpu']}, {described['cores_usable']} cores · "
        f"commit {described['git']['commit']}",
        "",
        f"Command: `{command}`",
        "",
        "| call path | "
        + " | ".join(f"{size} row{'s' * (size > 1)} (ms)" for size in SIZES)
        + " | 1 row ÷ fastest |",
        "|---|" + "---|" * (len(SIZES) + 1),
    ]
    for name, per_size in results.items():
        cells = " | ".join(f"{per_size[size] * 1000:.3f}" for size in SIZES)
        ratio = per_size[1] / results[fastest][1]
        lines.append(f"| {name} | {cells} | {ratio:.1f}× |")
    lines += ["", "Median time per call over the rounds; every path ran in each round."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.forward", description=__doc__)
    parser.add_argument(
        "--model", type=Path, default=ROOT / "models" / "mnist" / "1" / "model.keras"
    )
    parser.add_argument("--data", type=Path, help="MNIST .npz (default: $MNIST_NPZ)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--budget", type=float, default=0.3, help="seconds per path, size, round")
    parser.add_argument("--threads", type=int, default=1, help="threads per runtime (default: 1)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with np.load(resolve_npz(args.data)) as data:
        x = data["x_test"][: max(SIZES)].reshape(-1, 784).astype(np.float32) / 255.0
    paths = call_paths(args.model, args.threads)
    results = time_all(paths, x, args.rounds, args.budget)
    described = machine.describe()
    command = "python -m bench.forward" + (" " + " ".join(argv) if argv else "")
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {"machine": described, "command": command, "seconds_per_call": results}
    (args.out / "forward.json").write_text(json.dumps(payload, indent=2) + "\n")
    markdown = to_markdown(results, described, command)
    (args.out / "forward.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
