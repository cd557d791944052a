"""`python -m bench.imaging`: what an upload costs in app/imaging, on one core, by stage.

Uploads of each kind (a 28x28 MNIST PNG, a 280 px canvas export, phone photos of paper: a
600 px ruled page and a 1200x900 JPEG with a small digit) go through header + decode, then the
photo stage and normalisation, interleaved round by round so that a noisy machine slows them
all alike. Then the library choice: the photo stage's two costly operations (a closing with a
large kernel, connected components) in OpenCV and in scipy.ndimage on the same 400x300 mask.
Writes bench/results/imaging.{md,json}.
"""

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from bench import machine
from bench.samples import resolve_npz
from bench.servers import ROOT

RESULTS = ROOT / "bench" / "results"
MAX_PIXELS = 16_000_000


def uploads(npz: Path) -> dict[str, bytes]:
    """Name -> upload bytes, drawn with the training package's held-out generators."""
    from PIL import Image

    from training.photos import digit_ink, photo
    from training.uploads import canvas, encode

    with np.load(npz) as data:
        digit = data["x_test"][0]
    rng = np.random.default_rng(2026)
    files = {
        "mnist_28x28_png": encode(Image.fromarray(digit)),
        "canvas_280_rgba_png": canvas(digit, rng),
    }
    files["photo_ruled_jpeg"] = photo(digit_ink(digit, rng), "ruled", rng, held_out=True)
    files["photo_small_1200x900_jpeg"] = photo(digit_ink(digit, rng), "small", rng, held_out=True)
    return files


def stages(data: bytes) -> dict[str, Callable[[], object]]:
    from app.imaging.decode import decode
    from app.imaging.header import check_limits, read_header
    from app.imaging.pipeline import prepare_image, prepare_pixels

    def decoded() -> object:
        header = read_header(data)
        check_limits(data, header, MAX_PIXELS)
        return decode(data, header, MAX_PIXELS)

    image = decoded()
    return {
        "decode": decoded,
        "photo + normalize": lambda: prepare_pixels(image),  # type: ignore[arg-type]
        "whole pipeline": lambda: prepare_image(data, max_pixels=MAX_PIXELS),
    }


def libraries() -> dict[str, Callable[[], object]]:
    from scipy import ndimage

    rng = np.random.default_rng(1)
    mask = (rng.random((300, 400)) < 0.02).astype(np.uint8)
    mask = cv2.dilate(mask, np.ones((5, 5), np.uint8))
    gray = (255 - 200 * mask).astype(np.uint8)
    kernel = np.ones((101, 101), np.uint8)
    return {
        "closing 101x101: OpenCV": lambda: cv2.morphologyEx(gray, cv2.MORPH_CLOSE, kernel),
        "closing 101x101: scipy.ndimage": lambda: ndimage.grey_closing(gray, size=(101, 101)),
        "components: OpenCV": lambda: cv2.connectedComponentsWithStats(mask, connectivity=8),
        "components: scipy.ndimage": lambda: ndimage.find_objects(ndimage.label(mask)[0]),
    }


def time_all(calls: dict[str, Callable[[], object]], rounds: int, repeat: int) -> dict[str, float]:
    """Median seconds per call over `rounds` interleaved rounds of `repeat` calls each."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            started = time.perf_counter()
            for _ in range(repeat):
                call()
            samples[name].append((time.perf_counter() - started) / repeat)
    return {name: statistics.median(values) for name, values in samples.items()}


def to_markdown(
    results: dict[str, dict[str, float]], libs: dict[str, float], described: dict, command: str
) -> str:
    lines = [
        "# app/imaging cost per upload, one core",
        "",
        f"`{command}`",
        "",
        f"{described['date']} · {described['cpu']}, {described['cores_usable']} cores · "
        f"load {described['load_average']} · commit {described['git']['commit']}",  # type: ignore[index]
        "",
    ]
    names = list(next(iter(results.values())))
    lines += ["| upload | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for upload, timings in results.items():
        lines.append(
            f"| {upload} | " + " | ".join(f"{timings[n] * 1000:.2f} ms" for n in names) + " |"
        )
    lines += ["", "| operation (400x300) | median |", "|---|---|"]
    lines += [f"| {name} | {seconds * 1000:.2f} ms |" for name, seconds in libs.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.imaging", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--data", type=Path, help="mnist.npz (default: $MNIST_NPZ)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)  # one core, as a decode thread of the service has
    files = uploads(resolve_npz(args.data))
    results = {
        name: time_all(stages(data), args.rounds, args.repeat) for name, data in files.items()
    }
    libs = time_all(libraries(), args.rounds, 1)
    described = machine.describe()
    command = "python -m bench.imaging" + (" " + " ".join(argv) if argv else "")
    payload = {"machine": described, "command": command, "seconds": results, "libraries": libs}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "imaging.json").write_text(json.dumps(payload, indent=2) + "\n")
    markdown = to_markdown(results, libs, described, command)
    (args.out / "imaging.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
