"""A model's LiteRT form, which the litert runtime serves: shipped beside it, cached, or converted.

Converting a Keras model needs TensorFlow: seconds of CPU (mostly Python holding the GIL) and
~600 MiB of memory. So a serving process never converts (unless TensorFlow is already imported
into it at start, as in tests), and a version loads, in this order, from:

1. **its LiteRT file**, `model.tflite` beside `model.keras`, which the training CLI writes (and
   `python -m app.inference.convert FOLDER` adds to any version folder). The card records the
   sha256 of the file and of the model file it was made from; if either differs (a stale or
   half-copied file), it is not used. Building an interpreter from it takes milliseconds, so a
   version published this way goes live at the poll that finds it, and a worker never imports
   TensorFlow at all.
2. **the conversion cache** in the state dir, by the model's sha256: one conversion serves every
   worker, and a restart or a roll back to a version converted before.
3. **a child process**, `python -m app.inference.convert MODEL --to OUT`, at nice 19 once
   serving: it imports TensorFlow, loads and converts the model and exits (~4 CPU-seconds).
"""

import argparse
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.inference.classifier import Classifier, litert_flatbuffer, load_keras
from app.inference.layout import MODEL_FILE
from app.inference.model_file import (
    LITERT_CARD_KEY,
    LoadInterrupted,
    ModelInfo,
    ModelLoadError,
    card_path,
    check_model_file,
    litert_path,
    litert_record,
    read_info,
    sha256_of,
)

logger = logging.getLogger(__name__)

NICE = 19  # the child gets what CPU the serving threads leave
TIMEOUT_S = 600.0
CACHE_S = 3600.0  # conversions older than this go when another is made
ERROR = "error: "
ROOT = Path(__file__).resolve().parent.parent.parent  # where `app` can be imported from


def load_litert(
    path: Path, setting: str, threads: int, cache: Path | None, hot: bool
) -> Classifier:
    """The litert Classifier of `path`, from its LiteRT file, the cache or a conversion (see
    the module); ModelLoadError naming path and setting if none gives a 784 -> 10 model."""
    check_model_file(path, setting)
    info = read_info(path)
    shipped, why = shipped_flatbuffer(info)
    if shipped is not None:
        try:
            return _warmed(shipped, info, threads)
        except ModelLoadError as exc:
            why = str(exc)
        logger.warning("version %s: LiteRT file not used (%s); converting the model", path, why)
    else:
        logger.info("model %s: converting to LiteRT (%s)", path, why)

    def convert() -> bytes:
        if not hot and "tensorflow" in sys.modules:  # already paid for: no child needed
            made = litert_flatbuffer(load_keras(path, setting))
        else:
            try:
                made = convert_in_child(path, setting, nice=hot)
            except OSError as exc:  # its temporary folder: a full or read-only /tmp
                raise LoadInterrupted(f"converting model file {path}: {exc}") from None
        if sha256_of(path) != info.sha256:  # what was converted may be neither: keep nothing
            raise ModelLoadError(f"model file {path} changed while it was converted")
        return made

    if cache is None:
        flatbuffer = convert()
    else:
        flatbuffer = cached(cache / f"converted-{info.sha256}.tflite", convert)
    return _warmed(flatbuffer, info, threads)


def _warmed(flatbuffer: bytes, info: ModelInfo, threads: int) -> Classifier:
    try:
        classifier = Classifier(flatbuffer, info, "litert", threads)
    except ModelLoadError as exc:
        raise ModelLoadError(f"model file {info.path}: {exc}") from None
    classifier.warm()
    return classifier


def shipped_flatbuffer(info: ModelInfo) -> tuple[bytes | None, str]:
    """The LiteRT file beside the model if its card vouches it was made from this very model
    file and it is intact; else None, and why not."""
    record = litert_record(info.card)
    path = litert_path(info.path)
    if record is None or record.get("file") != path.name:
        return None, f"its card records no {path.name}"
    if record.get("model_sha256") != info.sha256:
        return None, f"{path.name} was made from another model file"
    try:
        flatbuffer = path.read_bytes()
    except OSError as exc:
        return None, f"{path.name} unreadable ({exc.strerror or exc})"
    if hashlib.sha256(flatbuffer).hexdigest() != record.get("sha256"):
        return None, f"{path.name} differs from the one its card records"
    return flatbuffer, ""


def attach_litert(model: Path, setting: str = "the model path") -> dict[str, Any]:
    """Convert `model` in this process (imports TensorFlow), write its LiteRT file beside it and
    record the file in the card (made if missing); return the record. Both files are replaced
    atomically, the LiteRT file first, so a reader never pairs a record with a partial file."""
    model_sha256, model_bytes = sha256_of(model), model.stat().st_size
    flatbuffer = litert_flatbuffer(load_keras(model, setting))
    if sha256_of(model) != model_sha256:
        raise ModelLoadError(f"model file {model} changed while it was converted")
    import tensorflow as tf

    target = litert_path(model)
    _write_atomically(target, flatbuffer)
    record = {
        "file": target.name,
        "bytes": len(flatbuffer),
        "sha256": hashlib.sha256(flatbuffer).hexdigest(),
        "model_sha256": model_sha256,
        "model_bytes": model_bytes,
        "converter": f"tensorflow {tf.__version__}",
    }
    card_file = card_path(model)
    card = json.loads(card_file.read_text()) if card_file.exists() else {}
    card[LITERT_CARD_KEY] = record
    _write_atomically(card_file, (json.dumps(card, indent=2) + "\n").encode())
    return record


def _write_atomically(path: Path, data: bytes) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(temp, 0o644)  # mkstemp's 0600 would hide the file from the service's user
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def cached(path: Path, make: Callable[[], bytes]) -> bytes:
    """The bytes in `path`, or made by `make` (one worker at a time) and kept there. A cache
    that cannot be used (read-only, full) only costs the sharing: `make` runs without it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(path.parent / "convert.lock", "a")  # noqa: SIM115 (closed by the with below)
    except OSError as exc:
        logger.warning("conversion cache %s unusable (%s): converting without it", path.parent, exc)
        return make()
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with contextlib.suppress(FileNotFoundError):
            return path.read_bytes()
        made = make()
        try:
            for old in path.parent.glob("converted-*.tflite"):
                if time.time() - old.stat().st_mtime > CACHE_S:
                    old.unlink(missing_ok=True)
            _write_atomically(path, made)
        except OSError as exc:
            logger.warning("conversion not kept in %s (%s)", path.parent, exc)
        return made


def convert_in_child(path: Path, setting: str, nice: bool = True) -> bytes:
    """The LiteRT flatbuffer of the checked model in `path`, made by `python -m` this module
    (at nice 19 if `nice`)."""
    with tempfile.TemporaryDirectory(prefix="mnist-serve-convert-") as folder:
        out = Path(folder) / "model.tflite"
        command = [sys.executable, "-m", __spec__.name, str(path), "--to", str(out)]
        command += ["--setting", setting] + (["--nice"] if nice else [])
        try:
            done = subprocess.run(
                command, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            raise LoadInterrupted(
                f"converting model file {path} took over {TIMEOUT_S:g} s"
            ) from None
        except OSError as exc:  # no memory or processes left to start it
            raise LoadInterrupted(f"converting model file {path}: not started ({exc})") from None
        if done.returncode < 0:  # a signal: the kernel's out-of-memory killer, an operator
            raise LoadInterrupted(
                f"converting model file {path}: the converter was killed by signal "
                f"{-done.returncode} (out of memory?)"
            )
        if done.returncode != 0:
            errors = [line for line in done.stdout.splitlines() if line.startswith(ERROR)]
            last = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
            raise ModelLoadError(
                errors[-1].removeprefix(ERROR)
                if errors
                else f"converting model file {path} failed (exit {done.returncode}: {last})"
            )
        return out.read_bytes()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.inference.convert",
        description="Convert Keras models to LiteRT and write each model's LiteRT file beside "
        "it, recorded in its card, so the service loads it in milliseconds without TensorFlow.",
    )
    parser.add_argument("models", type=Path, nargs="+", help="model.keras files or version folders")
    parser.add_argument("--to", type=Path, help=argparse.SUPPRESS)  # the child: only write OUT
    parser.add_argument("--setting", default="the model path", help=argparse.SUPPRESS)
    parser.add_argument("--nice", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.nice:
        with contextlib.suppress(OSError):
            os.nice(NICE)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    files = [path / MODEL_FILE if path.is_dir() else path for path in args.models]
    try:
        if args.to is not None:
            (model,) = files
            args.to.write_bytes(litert_flatbuffer(load_keras(model, args.setting)))
            return 0
        for model in files:
            record = attach_litert(model)
            print(f"{litert_path(model)}: sha256 {record['sha256']}, recorded in its card")
    except ModelLoadError as exc:  # the child's parent reads it from stdout
        print(f"{ERROR}{exc}", file=sys.stdout if args.to else sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
