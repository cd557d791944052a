"""How deeply a JSON text nests, measured before it is parsed, without recursion.

Python's json parser recurses once per level: a 2 KB body of 1000 `[` raised RecursionError,
and a few hundred levels would reach every recursive step after it (error messages, numpy).
Here escapes go, every byte but quotes and brackets is deleted, and brackets outside strings
are summed cumulatively: linear, at C speed, with no recursion.
"""

import numpy as np

MAX_DEPTH = 32  # a V2 request needs 6: object, inputs, input, data [N, 28, 28]
_NOT_STRUCTURE = bytes(set(range(256)) - set(b'"[]{}'))
_QUOTE = ord('"')
_STEP = np.zeros(256, np.int8)
_STEP[list(b"[{")] = 1
_STEP[list(b"]}")] = -1


def json_depth(text: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text; any bytes, no validation (in
    broken JSON the count may come out too deep, never too shallow for what json would parse)."""
    # Escapes read left to right, as replace() scans: once the `\\` pairs are gone, a `\"` is a
    # quote inside a string.
    unescaped = text.replace(b"\\\\", b"").replace(b'\\"', b"")
    chars = np.frombuffer(unescaped.translate(None, _NOT_STRUCTURE), np.uint8)
    if not chars.size:
        return 0
    quotes = chars == _QUOTE
    in_string = np.bitwise_xor.accumulate(quotes)  # an opening quote and what follows it
    steps = np.where(in_string, np.int8(0), _STEP[chars])
    return max(int(np.cumsum(steps, dtype=np.int32).max()), 0)
