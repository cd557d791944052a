"""Turn an MNIST digit's pixels into pen strokes, so a browser test can draw it like a person."""

import numpy as np

# The 8 neighbours P2..P9 of Zhang-Suen thinning, clockwise from north, as (dy, dx).
NEIGHBOURS = [(-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1)]

Stroke = list[tuple[int, int]]
Path = list[tuple[float, float]]


def thin(ink: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning: a boolean (H, W) ink mask -> its one-pixel-wide skeleton."""
    image = np.pad(ink.astype(np.uint8), 1)
    height, width = ink.shape
    while True:
        removed = 0
        for step in (0, 1):
            p = [image[1 + dy : height + 1 + dy, 1 + dx : width + 1 + dx] for dy, dx in NEIGHBOURS]
            count = sum(n.astype(int) for n in p)
            transitions = sum(((p[i] == 0) & (p[(i + 1) % 8] == 1)).astype(int) for i in range(8))
            if step == 0:
                keep_shape = (p[0] * p[2] * p[4] == 0) & (p[2] * p[4] * p[6] == 0)
            else:
                keep_shape = (p[0] * p[2] * p[6] == 0) & (p[0] * p[4] * p[6] == 0)
            centre = image[1:-1, 1:-1]
            delete = (centre == 1) & (count >= 2) & (count <= 6) & (transitions == 1) & keep_shape
            centre[delete] = 0
            removed += int(delete.sum())
        if removed == 0:
            return image[1:-1, 1:-1].astype(bool)


def _neighbours(point: tuple[int, int], left: set[tuple[int, int]]) -> list[tuple[int, int]]:
    y, x = point
    # Straight neighbours first, so a walk follows the line rather than cutting its corners.
    order = [(-1, 0), (0, 1), (1, 0), (0, -1), (-1, 1), (1, 1), (1, -1), (-1, -1)]
    return [(y + dy, x + dx) for dy, dx in order if (y + dy, x + dx) in left]


def trace(skeleton: np.ndarray) -> list[Stroke]:
    """Order a skeleton's pixels into strokes of (row, col) points, each starting at a line end."""
    left = {(int(y), int(x)) for y, x in zip(*np.nonzero(skeleton), strict=True)}
    strokes: list[Stroke] = []
    while left:
        ends = [p for p in sorted(left) if len(_neighbours(p, left)) == 1]
        point = ends[0] if ends else min(left)
        stroke = [point]
        left.remove(point)
        while nxt := _neighbours(point, left):
            point = nxt[0]
            stroke.append(point)
            left.remove(point)
        strokes.append(stroke)
    return strokes


def digit_strokes(pixels: np.ndarray, threshold: int = 128) -> list[Stroke]:
    """The pen strokes of a uint8 (28, 28) MNIST digit, longest first; lone pixels dropped."""
    strokes = trace(thin(pixels >= threshold))
    return sorted((s for s in strokes if len(s) > 1), key=len, reverse=True)


def smooth(stroke: Stroke, passes: int = 2) -> Path:
    """The stroke with its pixel staircase rounded off (ends kept): a hand's path, not a grid's."""
    path = np.asarray(stroke, dtype=float)
    for _ in range(passes):
        if len(path) > 2:
            path[1:-1] = (path[:-2] + path[1:-1] + path[2:]) / 3
    return [(float(y), float(x)) for y, x in path]
