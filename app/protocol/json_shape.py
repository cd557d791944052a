"""How deeply a JSON text nests and how many values it holds, measured before it is parsed.

Python's json parser recurses once per level: a 2 KB body of 1000 `[` raised RecursionError,
and a few hundred levels would reach every recursive step after it (error messages, numpy). It
also holds the GIL for the whole parse, so a 5 MB body of small numbers, parsed in a thread,
still stalled the event loop. Here escapes go, every byte but quotes, brackets and commas is
deleted, and what lies outside strings is counted: linear, at C speed, with no recursion.
"""

from dataclasses import dataclass

import numpy as np

MAX_DEPTH = 32  # a V2 request needs 6: object, inputs, input, data [N, 28, 28]
_NOT_STRUCTURE = bytes(set(range(256)) - set(b'"[]{},'))
_QUOTE, _COMMA = ord('"'), ord(",")
_STEP = np.zeros(256, np.int8)
_STEP[list(b"[{")] = 1
_STEP[list(b"]}")] = -1


@dataclass(frozen=True)
class JsonShape:
    depth: int  # deepest nesting of arrays and objects
    values: int  # an upper bound on the values in it: commas outside strings, plus one


def json_shape(text: bytes) -> JsonShape:
    """The nesting depth and value count of a JSON text; any bytes, no validation (in broken
    JSON both may come out too high, never too low for what json would parse)."""
    # Escapes read left to right, as replace() scans: once the `\\` pairs are gone, a `\"` is a
    # quote inside a string.
    unescaped = text.replace(b"\\\\", b"").replace(b'\\"', b"")
    chars = np.frombuffer(unescaped.translate(None, _NOT_STRUCTURE), np.uint8)
    if not chars.size:
        return JsonShape(0, 1)
    in_string = np.bitwise_xor.accumulate(chars == _QUOTE)  # an opening quote and what follows
    outside = ~in_string
    steps = np.where(outside, _STEP[chars], np.int8(0))
    depth = max(int(np.cumsum(steps, dtype=np.int32).max()), 0)
    return JsonShape(depth, int(np.count_nonzero(outside & (chars == _COMMA))) + 1)
