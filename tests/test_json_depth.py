"""app.protocol.json_depth: nesting depth measured without parsing (issue 15, finding 4)."""

import json
import time

import pytest

from app.protocol.json_depth import json_depth

DOCUMENTS = [
    {},
    [],
    {"a": 1},
    [[1, 2], [3, [4]]],
    {"inputs": [{"name": "pixels", "shape": [1, 28, 28], "data": [[[0.0] * 28] * 28]}]},
    {"s": "[[[{{{", "t": ["]]]}}}", {"u": '\\"[\\\\'}]},
    ['"', "\\", "\\\\", '\\"]', "[\\\\"],
    "[[[ in a string",
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_json_depth_matches_the_parsed_document(document: object) -> None:
    def depth(value: object) -> int:
        if isinstance(value, dict):
            return 1 + max(map(depth, value.values()), default=0)
        if isinstance(value, list):
            return 1 + max(map(depth, value), default=0)
        return 0

    assert json_depth(json.dumps(document).encode()) == depth(document)


@pytest.mark.parametrize(
    "text",
    [
        b"[" * 5_000_000,
        b'["' + b'\\\\"[' * 1_250_000 + b'"]',
        b"[" + b'"",' * 1_600_000 + b'""]',
        b'["' + b"\\\\" * 2_500_000 + b'"]',
    ],
    ids=["5m-brackets", "5mb-escaped-quotes", "1.6m-strings", "5mb-backslashes"],
)
def test_json_depth_is_linear_on_5mb(text: bytes) -> None:
    started = time.perf_counter()
    json_depth(text)
    assert time.perf_counter() - started < 1.0
