"""Marks that are not digits: pen scribbles, geometric shapes and textures, as float32 ink.

Each returns float32 ink in [0, 1] (1 = ink), drawn at 2x and reduced (anti-aliased). Pens are
as wide as a digit's strokes (5-12 % of the mark). Training styles / held-out styles:
- scribbles: smooth curves through 10-15 points, zig-zags of 5-9 strokes, runs of 3-6 loops,
  3-5 crossing strokes / hatching (or cross-hatching), spirals of 2-4 turns, a scrawl (a walk
  whose heading turns at random). Never one closed loop (a 0) or one straight stroke (a 1).
- shapes: triangles, squares (filled, or outlined with a cross inside), stars, crosses, arrows
  / hearts, hexagons, crescents, speech bubbles (all filled: their outlines are too near a 0);
  30 % of marks are 2-4 shapes of the split at once.
- textures: noise, stripes, checkerboards, blobs, a line of small text in trained fonts / wood
  grain, woven fabric, halftone dots, 2-4 lines of small print in held-out fonts.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw
from scipy import ndimage

from training.pens import glyph_font

SIDE = 96  # px of a scribble's or a shape's canvas (the page rescales it anyway)
SCRIBBLES = {
    False: ("curve", "zigzag", "loops", "crossings"),
    True: ("hatching", "spiral", "scrawl"),
}
SHAPES = {False: ("triangle", "square", "star", "cross", "arrow"),
          True: ("heart", "hexagon", "crescent", "bubble")}  # fmt: skip
TEXTURES = {False: ("noise", "stripes", "checker", "blobs", "text"),
            True: ("wood", "fabric", "halftone", "print")}  # fmt: skip
WORDS = ("the", "of", "and", "to", "in", "is", "you", "that", "it", "was", "for", "on", "are",
         "with", "they", "at", "be", "this", "have", "from", "or", "had", "by", "word", "but",
         "not", "what", "all", "were", "we", "when", "your", "can", "said", "there", "use",
         "which", "she", "do", "how", "their", "if", "will", "up", "other", "about", "out",
         "milk", "bread", "notes", "meeting", "tomorrow", "call", "back", "page")  # fmt: skip


def _canvas(size: tuple[int, int] = (SIDE, SIDE)) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("L", (size[0] * 2, size[1] * 2), 0)
    return image, ImageDraw.Draw(image)


def _ink(image: Image.Image) -> NDArray[np.float32]:
    return np.asarray(image.reduce(2), dtype=np.float32) / np.float32(255)


def _stroke(draw: ImageDraw.ImageDraw, points: NDArray, width: float) -> None:
    """A pen stroke through points in [0, 1]^2 of the canvas, with round ends."""
    xy = points * SIDE * 2
    px = max(2, round(width * 2))
    draw.line([(x, y) for x, y in xy.tolist()], fill=255, width=px, joint="curve")
    for x, y in (xy[0], xy[-1]):
        draw.ellipse((x - px / 2, y - px / 2, x + px / 2, y + px / 2), fill=255)


def _smooth(points: NDArray, samples: int = 12) -> NDArray[np.float64]:
    """A Catmull-Rom spline through the points."""
    p = np.vstack([points[:1], points, points[-1:]])
    t = np.linspace(0, 1, samples, endpoint=False)[:, None]
    parts = []
    for i in range(1, len(p) - 2):
        a, b, c, d = p[i - 1], p[i], p[i + 1], p[i + 2]
        parts.append(
            0.5 * (2 * b + (c - a) * t + (2 * a - 5 * b + 4 * c - d) * t**2
                   + (3 * b - a - 3 * c + d) * t**3)
        )  # fmt: skip
    return np.vstack([*parts, points[-1:]])


def _turn(points: NDArray, angle: float, centre: Sequence[float] = (0.5, 0.5)) -> NDArray:
    cos, sin = np.cos(angle), np.sin(angle)
    shifted = points - centre
    return (
        np.c_[shifted[:, 0] * cos - shifted[:, 1] * sin, shifted[:, 0] * sin + shifted[:, 1] * cos]
        + centre
    )


def scribble(style: str, rng: np.random.Generator) -> NDArray[np.float32]:
    """One scribble of `style` (SCRIBBLES) as float32 ink."""
    image, draw = _canvas()
    width = SIDE * rng.uniform(0.05, 0.11)
    for stroke in _scribble_strokes(style, rng):
        _stroke(draw, np.clip(stroke, 0.05, 0.95), width)
    return _ink(image)


def _scribble_strokes(style: str, rng: np.random.Generator) -> list[NDArray]:
    angle = rng.uniform(0, 2 * np.pi)
    if style == "curve":
        return [_smooth(rng.uniform(0.1, 0.9, (int(rng.integers(10, 16)), 2)))]
    if style == "zigzag":
        count = int(rng.integers(6, 11))
        along = np.linspace(0.1, 0.9, count)
        across = 0.5 + rng.uniform(0.15, 0.35) * np.where(np.arange(count) % 2, 1, -1)
        return [_turn(np.c_[along, across + rng.uniform(-0.05, 0.05, count)], angle)]
    if style == "loops":
        loops, radius = int(rng.integers(3, 7)), rng.uniform(0.08, 0.16)
        t = np.linspace(0, 2 * np.pi * loops, 40 * loops)
        x = 0.12 + 0.76 * t / t[-1] + radius * np.cos(t + np.pi)
        y = 0.5 - radius * rng.uniform(1.0, 2.0) * np.sin(t)
        return [_turn(np.c_[x, y], rng.uniform(-0.5, 0.5))]
    if style == "crossings":
        count = int(rng.integers(3, 6))  # at angles spread over a half turn: they cross
        ends = angle + np.arange(count) * np.pi / count + rng.uniform(-0.2, 0.2, count)
        starts = np.c_[np.cos(ends), np.sin(ends)] * 0.4 + 0.5
        across = ends + np.pi + rng.uniform(-0.4, 0.4, count)
        opposite = np.c_[np.cos(across), np.sin(across)] * 0.4 + 0.5
        return [np.vstack([a, b]) for a, b in zip(starts, opposite, strict=True)]
    if style == "hatching":
        strokes = _hatch(rng, angle)
        return strokes + (_hatch(rng, angle + rng.uniform(1.0, 1.6)) if rng.random() < 0.5 else [])
    if style == "spiral":
        turns = rng.uniform(2.0, 4.0)
        t = np.linspace(0, 2 * np.pi * turns, int(60 * turns))
        r = 0.04 + 0.38 * t / t[-1]
        return [np.c_[0.5 + r * np.cos(t + angle), 0.5 + r * np.sin(t + angle)]]
    return [_scrawl(rng)]


def _scrawl(rng: np.random.Generator) -> NDArray:
    """A walk whose heading turns at random (redrawn while it runs nearly straight)."""
    for _ in range(8):
        heading = np.cumsum(rng.normal(0, rng.uniform(0.7, 1.1), int(rng.integers(80, 160))))
        walk = np.cumsum(np.c_[np.cos(heading), np.sin(heading)], axis=0)
        spread = np.linalg.eigvalsh(np.cov(walk.T))
        if spread[0] > 0.15 * spread[1]:
            break
    walk -= walk.min(axis=0)
    return 0.1 + 0.8 * walk / max(float(walk.max()), 1e-6)


def _hatch(rng: np.random.Generator, angle: float) -> list[NDArray]:
    count = int(rng.integers(4, 10))
    offsets = np.linspace(-0.35, 0.35, count)
    half = rng.uniform(0.2, 0.4)
    lines = [np.array([[-half, o], [half, o]]) + 0.5 for o in offsets]
    return [_turn(line, angle) for line in lines]


def _outline(style: str, rng: np.random.Generator) -> NDArray[np.float64]:
    """A shape's outline around (0, 0), radius about 1."""
    if style in ("triangle", "square", "hexagon"):
        corners = {"triangle": 3, "square": 4, "hexagon": 6}[style]
        a = np.linspace(0, 2 * np.pi, corners, endpoint=False) + rng.uniform(-0.1, 0.1, corners)
        return np.c_[np.cos(a), np.sin(a)]
    if style == "star":
        a = np.linspace(0, 2 * np.pi, 10, endpoint=False)
        r = np.where(np.arange(10) % 2, rng.uniform(0.35, 0.5), 1.0)
        return np.c_[r * np.cos(a), r * np.sin(a)]
    if style == "cross":
        w = rng.uniform(0.18, 0.3)
        arm = np.array([[w, w], [1, w], [1, -w], [w, -w]])
        return np.vstack([_turn(arm, k * np.pi / 2, (0, 0)) for k in range(4)])
    if style == "arrow":
        w, head = rng.uniform(0.12, 0.22), rng.uniform(0.2, 0.5)
        return np.array(
            [[-1, -w], [head, -w], [head, -0.6], [1, 0], [head, 0.6], [head, w], [-1, w]]
        )
    if style == "heart":
        t = np.linspace(0, 2 * np.pi, 60, endpoint=False)
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        return np.c_[x, y] / 17
    if style == "bubble":
        t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
        body = np.c_[np.cos(t), 0.65 * np.sin(t)]
        return np.vstack([body[:12], [[-0.2, 1.0]], body[13:]])
    # crescent: the unit circle's left arc, then back along a smaller circle's through (-0.37, 0)
    outer = np.deg2rad(np.linspace(60, 300, 30))
    inner = np.deg2rad(np.linspace(270, 90, 24))
    return np.vstack([np.c_[np.cos(outer), np.sin(outer)],
                      np.c_[0.5 + 0.866 * np.cos(inner), 0.866 * np.sin(inner)]])  # fmt: skip


def shapes(style: str, rng: np.random.Generator, held_out: bool) -> NDArray[np.float32]:
    """A shape of `style` (SHAPES), or in 30 % of marks 2-4 shapes of the split, as ink."""
    image, draw = _canvas()
    if rng.random() < 0.3:
        names = SHAPES[held_out]
        marks = [(names[int(rng.integers(len(names)))], rng.uniform(0.25, 0.75, 2),
                  rng.uniform(0.12, 0.24)) for _ in range(int(rng.integers(2, 5)))]  # fmt: skip
    else:
        marks = [(style, np.array([0.5, 0.5]), rng.uniform(0.3, 0.42))]
    width = SIDE * rng.uniform(0.06, 0.12)
    for name, centre, radius in marks:
        turn = rng.uniform(-0.4, 0.4) if name in ("heart", "bubble") else rng.uniform(0, 2 * np.pi)
        outline = _turn(_outline(name, rng), turn, (0, 0)) * radius + centre
        xy = [(x, y) for x, y in (outline * SIDE * 2).tolist()]
        if name in SHAPES[True] or rng.random() < 0.6:
            draw.polygon(xy, fill=255)
        else:
            draw.line([*xy, xy[0]], fill=255, width=round(width * 2), joint="curve")
            if name == "square":  # a box alone is too near a 0: crossed out
                _stroke(draw, outline[[0, 2]], width)
                _stroke(draw, outline[[1, 3]], width)
    return _ink(image)


def texture(
    style: str, rng: np.random.Generator, font_faces: Sequence[Path | None]
) -> NDArray[np.float32]:
    """A texture of `style` (TEXTURES) as float32 ink, 48-160 px a side (text: wider)."""
    if style in ("text", "print"):
        return text_ink(1 if style == "text" else int(rng.integers(2, 5)), font_faces, rng)
    height, width = (int(rng.integers(48, 161)) for _ in range(2))
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    u = xs * np.cos(angle) + ys * np.sin(angle)
    v = -xs * np.sin(angle) + ys * np.cos(angle)
    period = rng.uniform(6, 30)
    if style == "noise":
        value = _noise((height, width), rng.uniform(0.5, 4.0), rng)
    elif style == "stripes":
        value = 0.5 + 0.5 * np.sin(2 * np.pi * u / period)
    elif style == "checker":
        value = ((np.floor(u / period) + np.floor(v / period)) % 2).astype(np.float32)
    elif style == "blobs":
        field = _noise((height, width), rng.uniform(2.0, 6.0), rng)
        value = np.clip((field - np.quantile(field, rng.uniform(0.45, 0.75))) * 8, 0, 1)
    elif style == "wood":
        warp = _noise((height, width), 8.0, rng) * rng.uniform(0.5, 2.0)
        value = 0.5 + 0.5 * np.sin(2 * np.pi * (np.hypot(u * 0.15, v) / period + warp))
    elif style == "fabric":
        weave = (np.sin(2 * np.pi * u / period * 2) > 0) ^ (np.sin(2 * np.pi * v / period * 2) > 0)
        value = 0.6 * weave + 0.4 * _noise((height, width), 0.7, rng)
    else:  # halftone dots, their size following a smooth field
        radius = 0.15 + 0.35 * _noise((height, width), 10.0, rng)
        cell = np.hypot(u % period - period / 2, v % period - period / 2) / period
        value = (cell < radius).astype(np.float32)
    contrast = rng.uniform(0.4, 1.0)
    return np.clip(value * contrast, 0, 1).astype(np.float32)


def text_ink(
    lines: int, font_faces: Sequence[Path | None], rng: np.random.Generator
) -> NDArray[np.float32]:
    """`lines` lines of small words (10-22 px, no digits) in one of the faces, as ink."""
    face = font_faces[int(rng.integers(len(font_faces)))]
    size = int(rng.integers(10, 23))
    font = glyph_font(face, size)
    rows = [" ".join(rng.choice(WORDS, int(rng.integers(3, 8)))) for _ in range(lines)]
    width = max(int(font.getlength(row)) for row in rows) + 8
    image = Image.new("L", (width, int(size * (1.35 * lines + 0.6))), 0)
    draw = ImageDraw.Draw(image)
    for index, row in enumerate(rows):
        draw.text((4, 4 + index * size * 1.35), row, fill=255, font=font)
    return np.asarray(image, dtype=np.float32) / np.float32(255)


def _noise(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> NDArray[np.float32]:
    """Smooth noise scaled to [0, 1]."""
    field = ndimage.gaussian_filter(rng.normal(0, 1, shape).astype(np.float32), sigma)
    low, high = field.min(), field.max()
    return (field - low) / max(float(high - low), 1e-6)
