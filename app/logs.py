"""Logging as one JSON object per line, for the service and uvicorn alike."""

import json
import logging
import time
from typing import Any

from pydantic_core import PydanticSerializationError, to_json


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
