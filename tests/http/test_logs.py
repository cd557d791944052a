"""app.logs: one JSON object per record, whatever the record holds."""

import json
import logging
import re
import sys

from app.logs import JsonFormatter


def record(message: str, created: float = 1_764_000_000.25, **extra: object) -> logging.LogRecord:
    made = logging.makeLogRecord({"msg": message, "levelname": "INFO", "name": "app.access"})
    made.created, made.msecs = created, (created % 1) * 1000
    made.__dict__.update(extra)
    return made


def test_a_record_is_one_json_line_with_its_fields() -> None:
    fields = {"method": "POST", "path": "/predict", "status": 200, "latency_ms": 1.25, "digit": 7}
    line = JsonFormatter().format(record("request", fields=fields))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry == {
        "time": "2025-11-24T16:00:00.250Z",
        "level": "info",
        "logger": "app.access",
        "message": "request",
        **fields,
    }


def test_the_time_follows_each_record_across_seconds() -> None:
    formatter = JsonFormatter()
    times = [json.loads(formatter.format(record("x", t)))["time"] for t in (5.5, 5.75, 6.0, 3.1)]
    assert times == [
        "1970-01-01T00:00:05.500Z",
        "1970-01-01T00:00:05.750Z",
        "1970-01-01T00:00:06.000Z",
        "1970-01-01T00:00:03.100Z",
    ]


def test_objects_json_cannot_encode_are_written_as_text() -> None:
    entry = json.loads(JsonFormatter().format(record("x", fields={"where": object})))
    assert entry["where"] == str(object)


def test_a_lone_surrogate_still_gives_a_json_line() -> None:
    line = JsonFormatter().format(record("bad \udc80 name", fields={"path": "/x\udc80"}))
    entry = json.loads(line)
    assert entry["message"] == "bad \udc80 name"
    assert entry["path"] == "/x\udc80"


def test_an_exception_is_in_the_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        failed = record("failed", exc_info=sys.exc_info())
    entry = json.loads(JsonFormatter().format(failed))
    assert re.search(r"ValueError: boom$", entry["exception"])
