"""app.protocol.json_shape: nesting depth and value count measured without parsing (issue 15,
finding 4; and json.loads holding the GIL over a 5 MB body of numbers)."""

import json
import time

import pytest

from app.protocol.json_shape import JsonShape, json_shape

DOCUMENTS = [
    {},
    [],
    {"a": 1},
    [[1, 2], [3, [4]]],
    {"inputs": [{"name": "pixels", "shape": [1, 28, 28], "data": [[[0.0] * 28] * 28]}]},
    {"s": "[[[{{{,,,", "t": ["]]]}}},", {"u": '\\"[\\\\,'}]},
    ['"', "\\", "\\\\", '\\"]', "[\\\\", ","],
    "[[[ in a string, with commas",
]


def depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


def separators(value: object) -> int:
    """Commas json.dumps writes between items and members."""
    if isinstance(value, dict):
        return max(len(value) - 1, 0) + sum(map(separators, value.values()))
    if isinstance(value, list):
        return max(len(value) - 1, 0) + sum(map(separators, value))
    return 0


@pytest.mark.parametrize("document", DOCUMENTS)
def test_json_shape_matches_the_parsed_document(document: object) -> None:
    expected = JsonShape(depth(document), separators(document) + 1)
    assert json_shape(json.dumps(document).encode()) == expected


@pytest.mark.parametrize(
    "text",
    [
        b"[" * 5_000_000,
        b'["' + b'\\\\"[' * 1_250_000 + b'"]',
        b"[" + b'"",' * 1_600_000 + b'""]',
        b'["' + b"\\\\" * 2_500_000 + b'"]',
        b"[" + b"0," * 2_500_000 + b"0]",
    ],
    ids=["5m-brackets", "5mb-escaped-quotes", "1.6m-strings", "5mb-backslashes", "2.5m-numbers"],
)
def test_json_shape_is_linear_on_5mb(text: bytes) -> None:
    started = time.perf_counter()
    json_shape(text)
    assert time.perf_counter() - started < 1.0
