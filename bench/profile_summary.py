"""`python -m bench.profile_summary STACKS`: a py-spy profile of a worker as two Markdown tables.

STACKS is `py-spy record --format raw` output (one `frame;frame;... count` line per stack).
Only the worker's main thread counts (the event loop: every request's Python runs there); a
function's inclusive share counts each sample once however often it is on the stack.
"""

import argparse
import re
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

FRAME = re.compile(r"(.*) \((.*?):\d+\)$")
MAIN_THREAD = "<module>"  # the main thread's stacks start at the `-c` script's module


def stacks(path: Path) -> Iterator[tuple[list[str], int]]:
    """(frames as `function (file)`, sample count) per line of a raw py-spy profile."""
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [FRAME.sub(r"\1 (\2)", frame) for frame in stack.split(";")]
        yield frames, int(count)


def summary(path: Path, top: int = 45, leaves: int = 25) -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = main = 0
    for frames, count in stacks(path):
        total += count
        if not frames[0].startswith(MAIN_THREAD):
            continue
        main += count
        inclusive.update(dict.fromkeys(frames, count))
        own[frames[-1]] += count
    lines = [f"samples: {total}, of them on the event-loop thread: {main}", ""]
    lines += ["| inclusive % | function (file) |", "|---|---|"]
    lines += [f"| {100 * c / main:.1f} | `{n}` |" for n, c in inclusive.most_common(top)]
    lines += ["", "| self % | function (file) |", "|---|---|"]
    lines += [f"| {100 * c / main:.1f} | `{n}` |" for n, c in own.most_common(leaves)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_summary")
    parser.add_argument("stacks", type=Path, help="py-spy record --format raw output")
    parser.add_argument("--top", type=int, default=45, help="rows of the inclusive table")
    args = parser.parse_args(argv)
    print(summary(args.stacks, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
