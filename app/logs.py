"""Logging as one JSON object per line, for the service and uvicorn alike."""

import contextlib
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from pydantic_core import PydanticSerializationError, to_json

# absl's prefixes (I0000 ..., W0000 ..., "WARNING: ...", E..., F...) -> logging levels
NATIVE_LEVELS = {"I": logging.INFO, "W": logging.WARNING, "E": logging.ERROR, "F": logging.CRITICAL}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, then the record's `fields`.

    Written once per request, so it is kept cheap: pydantic-core encodes, and the time's
    seconds are formatted once per second.
    """

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._stamp = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        entry: dict[str, Any] = {
            "time": f"{self._stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        try:
            return to_json(entry, fallback=str).decode()
        except PydanticSerializationError:  # e.g. a lone surrogate, which json escapes
            return json.dumps(entry, default=str)


def configure_logging(level: str) -> None:
    """Send every logger's records to stderr as JSON lines at `level`."""
    # The Logging HOWTO's optimisations for fields no formatter here shows: the caller's frame
    # (sys._getframe per record), thread, process and multiprocessing names.
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # app.access writes the one line per request; uvicorn's own access line would double it.
    logging.getLogger("uvicorn.access").disabled = True


@contextlib.contextmanager
def native_stderr_logged(name: str) -> Iterator[None]:
    """Log what native code writes to file descriptor 2 meanwhile (e.g. TensorFlow's absl lines
    on import) as JSON records of logger `name`, so that every line the service prints is JSON.
    Python's own JSON log lines written meanwhile pass through unchanged, in order."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            _replay(captured.read().decode(errors="replace"), logging.getLogger(name))


def _replay(text: str, logger: logging.Logger) -> None:
    for line in text.splitlines():
        if line.startswith("{"):  # a record of ours, already JSON
            sys.stderr.write(line + "\n")
        elif line.strip():
            level = NATIVE_LEVELS.get(line[:1], logging.INFO)
            logger.log(level, line.strip())
    sys.stderr.flush()
