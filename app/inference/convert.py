"""A hot reload's heavy part in a process of its own: load, check and convert a model to LiteRT.

Loading a Keras model and converting it is CPU work, mostly Python holding the GIL; in a thread
of the serving process it raised the p99 latency of the requests being served several times
over while it ran (README, "Model versions", `python -m bench.swap`). `python -m
app.inference.convert MODEL OUT SETTING` does it in a child process at the lowest CPU priority
and writes the flatbuffer to OUT; the serving process only builds the interpreter from it.

The child imports TensorFlow, so it takes about as much memory as a worker while it runs: with a
state dir (as `python -m app` has) one conversion runs at a time among the workers, and the
others reuse its result, cached there by the model's sha256 (conversions made at start too, so
a roll back to a version loaded before needs none).
"""

import contextlib
import fcntl
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from app.inference.classifier import Classifier, litert_flatbuffer, load_keras
from app.inference.model_file import ModelLoadError, read_info

NICE = 19  # the child gets what CPU the serving threads leave
TIMEOUT_S = 600.0
CACHE_S = 3600.0  # conversions older than this go when another is made
ERROR = "error: "
ROOT = Path(__file__).resolve().parent.parent.parent  # where `app` can be imported from


def load_litert(
    path: Path, setting: str, threads: int, cache: Path | None, hot: bool
) -> Classifier:
    """The litert Classifier of `path`; ModelLoadError as Classifier.load raises it. Its
    conversion comes from `cache` if one was made before; otherwise, `hot` (while serving), from
    a child process, and at start in this process."""
    info = read_info(path)

    def convert() -> bytes:
        if hot:
            return convert_in_child(path, setting)
        return litert_flatbuffer(load_keras(path, setting))

    if cache is None:
        flatbuffer = convert()
    else:
        flatbuffer = cached(cache / f"converted-{info.sha256}.tflite", convert)
    classifier = Classifier(flatbuffer, info, "litert", threads)
    classifier.warm()
    return classifier


def cached(path: Path, make: Callable[[], bytes]) -> bytes:
    """The bytes in `path`, or made by `make` (one worker at a time) and kept there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / "convert.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return path.read_bytes()
        made = make()
        for old in path.parent.glob("converted-*.tflite"):
            if time.time() - old.stat().st_mtime > CACHE_S:
                old.unlink(missing_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".converting-", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(made)
        os.replace(temp, path)
        return made


def convert_in_child(path: Path, setting: str) -> bytes:
    """The LiteRT flatbuffer of the checked model in `path`, made by `python -m` this module."""
    with tempfile.TemporaryDirectory(prefix="mnist-serve-convert-") as folder:
        out = Path(folder) / "model.tflite"
        command = [sys.executable, "-m", __spec__.name, str(path), str(out), setting]
        try:
            done = subprocess.run(
                command, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            raise ModelLoadError(
                f"converting model file {path} took over {TIMEOUT_S:g} s"
            ) from None
        if done.returncode != 0:
            errors = [line for line in done.stdout.splitlines() if line.startswith(ERROR)]
            last = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
            raise ModelLoadError(
                errors[-1].removeprefix(ERROR)
                if errors
                else f"converting model file {path} failed (exit {done.returncode}: {last})"
            )
        return out.read_bytes()


def main(argv: list[str]) -> int:
    with contextlib.suppress(OSError):
        os.nice(NICE)
    model, out, setting = argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        flatbuffer = litert_flatbuffer(load_keras(Path(model), setting))
    except ModelLoadError as exc:
        print(f"{ERROR}{exc}")
        return 2
    Path(out).write_bytes(flatbuffer)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
