"""Paper for photos: sheets, their printed rulings, grids and form boxes, and the light on them.

Everything printed is drawn in scene pixels through the camera's homography (training.camera):
a printed line stays a line under it, so nothing is resampled but the small ink patch.

Training draws / held-out draws (`held_out=True`), never both:
- paper: white, cream, grey, blue/pink/green tint / yellow legal pad, recycled, lavender;
- ruled lines: solid light blue, spacing 2.2-6 per short side, pink or red single margin /
  dotted or dashed blue, grey or purple lines, college ruling (thin lines, the digit as tall as
  the spacing), legal pad (blue-grey lines, double red margin);
- grid: solid 1-2 px lines in light blue, grey or green / dot grid, a bold line every 5 squares
  (engineering paper), orange or red lines;
- boxes: solid black, grey or blue frames 1-4 px / dashed, double or rounded frames, 5-7 px
  frames, red, green or orange frames, combs (bottom line and ticks, no top), tinted fields;
  labels in trained / held-out sans-serif font families.
"""

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from training.fonts import HELD_OUT_FAMILIES, TRAIN_FAMILIES, faces, load_font

Colour = tuple[int, int, int]
Matrix = NDArray[np.float64]
SUPERSAMPLE = 2  # print is drawn at this many times the view's resolution, then reduced

PAPERS: dict[bool, tuple[Colour, ...]] = {
    False: ((250, 250, 247), (248, 242, 222), (224, 224, 220), (234, 241, 250), (250, 237, 239),
            (236, 247, 236)),
    True: ((250, 241, 172), (226, 218, 198), (238, 232, 250)),
}  # fmt: skip
RULINGS: dict[bool, tuple[str, ...]] = {
    False: ("solid",),
    True: ("dotted", "dashed", "grey", "purple", "college", "legal"),
}
LINE_TINTS = {  # printed colour as a fraction of the paper (multiplied, as ink on paper)
    "blue": (0.6, 0.76, 0.93), "grey": (0.72, 0.72, 0.74), "green": (0.7, 0.86, 0.72),
    "purple": (0.78, 0.66, 0.9), "orange": (1.0, 0.7, 0.45), "red": (0.95, 0.5, 0.5),
    "pink": (0.98, 0.62, 0.7), "black": (0.12, 0.12, 0.13), "dark blue": (0.2, 0.3, 0.62),
}  # fmt: skip


@dataclass
class Page:
    """A scene being drawn: RGB image, paper colour, paper -> image homography (view px).

    Print is drawn at SUPERSAMPLE x the view and reduced by `finish`: anti-aliased edges.
    """

    image: Image.Image
    paper: NDArray[np.float64]
    homography: Matrix
    scale: float = 1.0  # view px per px of the photo file
    factor: int = 1  # image px per view px: SUPERSAMPLE until finish()

    @property
    def view(self) -> tuple[int, int]:
        return self.image.width // self.factor, self.image.height // self.factor

    def points(self, xy: NDArray[np.float64]) -> list[tuple[float, float]]:
        """Paper px -> image px."""
        mapped = np.c_[xy, np.ones(len(xy))] @ self.homography.T
        image = mapped[:, :2] / mapped[:, 2:] * self.factor
        return [(float(x), float(y)) for x, y in image]

    def colour(self, tint: str, depth: float = 1.0) -> Colour:
        """A printed colour on this paper: the tint multiplies it, `depth` 0 (none) to 1."""
        red, green, blue = self.paper * (1.0 - depth * (1.0 - np.asarray(LINE_TINTS[tint])))
        return round(red), round(green), round(blue)

    def line(self, x0: float, y0: float, x1: float, y1: float, fill: Colour, width: int) -> None:
        self.polyline(np.array([[x0, y0], [x1, y1]]), fill, width)

    def polyline(self, xy: NDArray, fill: Colour, width: int, closed: bool = False) -> None:
        points = self.points(np.vstack([xy, xy[:1]]) if closed else xy)
        ImageDraw.Draw(self.image).line(points, fill=fill, width=width * self.factor, joint="curve")

    def polygon(self, xy: NDArray, fill: Colour) -> None:
        ImageDraw.Draw(self.image).polygon(self.points(xy), fill=fill)

    def dots(self, xy: NDArray, size: float, fill: Colour) -> None:
        """Square dots `size` view px wide at paper points xy."""
        draw, side = ImageDraw.Draw(self.image), max(1, round(size * self.factor))
        centres = np.asarray(self.points(xy)) - side / 2
        for dx in range(side):
            for dy in range(side):
                shifted = centres + np.array([dx, dy])
                draw.point([(x, y) for x, y in shifted.tolist()], fill=fill)

    def dashes(self, start: NDArray, end: NDArray, step: float, fill: Colour, width: int) -> None:
        """A dashed (or, with short steps, dotted) line from start to end, paper px."""
        count = max(1, int(np.hypot(*(end - start)) / step))
        along = start + (end - start) * (np.arange(count + 1) / count)[:, None]
        draw, points = ImageDraw.Draw(self.image), self.points(along)
        for a, b in zip(points[0::2], points[1::2], strict=False):
            draw.line([a, b], fill=fill, width=width * self.factor)

    def text(
        self, x: float, y: float, words: str, size: int, fill: Colour, face: tuple[bool, int]
    ) -> None:
        """Printed words in label face `face`, their baseline's left end at paper (x, y)."""
        ((px, py),) = self.points(np.array([[x, y]]))
        font = label_font(*face, -(-size * self.factor // 4) * 4)
        ImageDraw.Draw(self.image).text((px, py), words, fill=fill, font=font, anchor="ls")

    def finish(self) -> None:
        """Down to the view's resolution: print is done, ink is written at 1x."""
        if self.factor > 1:
            self.image = self.image.reduce(self.factor)
            self.factor = 1


def paper_colour(rng: np.random.Generator, held_out: bool) -> NDArray[np.float64]:
    base = np.asarray(PAPERS[held_out][int(rng.integers(len(PAPERS[held_out])))], np.float64)
    return np.clip(base + rng.uniform(-6, 6, 3), 0, 255)


def ruled(
    page: Page,
    spacing: float,
    extent: NDArray,
    rng: np.random.Generator,
    held_out: bool,
    faint: float = 1.0,
) -> tuple[str, NDArray[np.float64]]:
    """Horizontal rules every `spacing` px over extent (x0, y0, x1, y1); the style and rows."""
    style = RULINGS[held_out][int(rng.integers(len(RULINGS[held_out])))]
    x0, y0, x1, y1 = extent
    rows = np.arange(y0 + rng.uniform(0, spacing), y1, spacing)
    tint = {"grey": "grey", "purple": "purple", "legal": "dark blue"}.get(style, "blue")
    fill = page.colour(tint, faint * (rng.uniform(0.45, 1.0) if style != "legal" else 0.5))
    width = 1 if style == "college" else max(1, round(spacing * rng.uniform(0.015, 0.05)))
    for y in rows:
        if style in ("dotted", "dashed"):
            step = width * 2.5 if style == "dotted" else spacing * 0.12
            page.dashes(np.array([x0, y]), np.array([x1, y]), step, fill, width + 1)
        else:
            page.line(x0, y, x1, y, fill, width)
    return style, rows


def margin(page: Page, x: float, extent: NDArray, rng: np.random.Generator, double: bool) -> None:
    """A red or pink vertical margin line (two close ones on a legal pad)."""
    fill = page.colour("red" if rng.random() < 0.5 else "pink", rng.uniform(0.6, 1.0))
    width = int(rng.integers(1, 4))
    for offset in (0.0, 5.0 + 2 * width) if double else (0.0,):
        page.line(x + offset, extent[1], x + offset, extent[3], fill, width)


def grid(
    page: Page, square: float, extent: NDArray, rng: np.random.Generator, held_out: bool
) -> None:
    """Squared paper: lines (or dots) every `square` px over extent (x0, y0, x1, y1)."""
    if held_out:
        style = ("dots", "major", "orange")[int(rng.integers(3))]
        tint = ("orange", "red")[int(rng.integers(2))] if style == "orange" else "blue"
    else:
        style, tint = "solid", ("blue", "grey", "green")[int(rng.integers(3))]
    fill = page.colour(tint, rng.uniform(0.35, 0.85))
    x0, y0, x1, y1 = extent
    xs = np.arange(x0 + rng.uniform(0, square), x1, square)
    ys = np.arange(y0 + rng.uniform(0, square), y1, square)
    if style == "dots":
        xy = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
        page.dots(xy, max(1.0, square / 10), fill)
        return
    width = 1 if rng.random() < 0.7 else 2
    for index, x in enumerate(xs):
        page.line(x, y0, x, y1, fill, width + (style == "major" and index % 5 == 0))
    for index, y in enumerate(ys):
        page.line(x0, y, x1, y, fill, width + (style == "major" and index % 5 == 0))


BOX_STYLES: dict[bool, tuple[str, ...]] = {
    False: ("solid",),
    True: ("dashed", "double", "rounded", "thick", "comb", "tinted"),
}
LABELS = {
    False: ("Name", "Qty", "Code", "Class", "Total", "Age", "Room", "Date"),
    True: ("Nr.", "Score", "Grade", "Units", "Zone", "Week"),
}


def boxes(page: Page, box: NDArray, count: int, rng: np.random.Generator, held_out: bool) -> None:
    """`count` form boxes the size of `box` (x0, y0, x1, y1), side by side from box's left."""
    style = BOX_STYLES[held_out][int(rng.integers(len(BOX_STYLES[held_out])))]
    choices = ("red", "green", "orange") if held_out else ("black", "grey", "dark blue")
    fill = page.colour(choices[int(rng.integers(3))], rng.uniform(0.7, 1.0))
    width = int(rng.integers(5, 8)) if style == "thick" else int(rng.integers(1, 5))
    x0, y0, x1, y1 = box
    step = x1 - x0
    first = -int(rng.integers(0, count))
    for index in range(first, first + count):
        left, right = x0 + index * step, x1 + index * step
        _frame(page, np.array([left, y0, right, y1]), style, fill, width)
    if rng.random() < 0.3:  # ticks along the bottom edge, as on forms that space characters
        for x in np.linspace(x0, x1, int(rng.integers(3, 6)))[1:-1]:
            page.line(x, y1, x, y1 - (y1 - y0) * 0.15, fill, max(1, width // 2))
    if rng.random() < 0.35:
        _label(page, x0, y0, y1 - y0, fill, rng, held_out)


def _frame(page: Page, rect: NDArray, style: str, fill: Colour, width: int) -> None:
    x0, y0, x1, y1 = rect
    if style == "tinted":
        page.polygon(_corners(rect), page.colour("blue", 0.25))
    if style == "comb":
        page.line(x0, y1, x1, y1, fill, width)
        for x in (x0, x1):
            page.line(x, y1, x, y1 - (y1 - y0) * 0.3, fill, width)
        return
    if style == "dashed":
        corners = _corners(rect)
        for a, b in zip(corners, np.roll(corners, -1, axis=0), strict=True):
            page.dashes(a, b, (y1 - y0) / 9, fill, width)
        return
    outline = _rounded(rect, (y1 - y0) * 0.15) if style == "rounded" else _corners(rect)
    page.polyline(outline, fill, width, closed=True)
    if style == "double":
        page.polyline(_corners(rect + np.array([1, 1, -1, -1]) * (width + 3)), fill, 1, closed=True)


def _corners(rect: NDArray) -> NDArray[np.float64]:
    x0, y0, x1, y1 = rect
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def _rounded(rect: NDArray, radius: float) -> NDArray[np.float64]:
    x0, y0, x1, y1 = rect
    centres = [
        (x1 - radius, y0 + radius),
        (x1 - radius, y1 - radius),
        (x0 + radius, y1 - radius),
        (x0 + radius, y0 + radius),
    ]
    arcs = []
    for quarter, (cx, cy) in enumerate(centres):
        t = np.linspace(-np.pi / 2, 0, 6) + quarter * np.pi / 2
        arcs.append(np.c_[cx + radius * np.cos(t), cy + radius * np.sin(t)])
    return np.vstack(arcs)


def _label(
    page: Page,
    x: float,
    top: float,
    size: float,
    fill: Colour,
    rng: np.random.Generator,
    held_out: bool,
) -> None:
    """A printed word just above the box, in a trained (or held-out) sans-serif face."""
    words = LABELS[held_out][int(rng.integers(len(LABELS[held_out])))]
    height = max(8, round(size * rng.uniform(0.14, 0.22)))
    face = int(rng.integers(len(label_faces(held_out))))
    page.text(x, top - size * 0.06, words, height, fill, (held_out, face))


@cache
def label_faces(held_out: bool) -> tuple[Path | None, ...]:
    """The sans-serif faces of the trained (or held-out) families."""
    families = HELD_OUT_FAMILIES if held_out else TRAIN_FAMILIES
    return tuple(face for family in families if family.style == "sans" for face in faces(family))


@cache
def label_font(held_out: bool, face: int, size: int) -> ImageFont.FreeTypeFont:
    """Cached: labels come in a few dozen sizes (multiples of 4 px)."""
    return load_font(label_faces(held_out)[face], size)
