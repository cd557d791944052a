"""The phone camera of photos: its view of the paper, the light on it, its sensor and its file.

A scene is drawn at 0.55-0.9 of the photo's resolution and scaled up at the end, which is the
photo's slight blur (and keeps the full-size work to a few array operations).

Training draws / held-out draws (`held_out=True`) of the light:
- shadows: linear or radial falloff, a straight shadow edge (a hand or a phone) with a soft
  edge through the digit, or an object's shadow (a pen, a ruler, a phone: a long rectangle
  5-60 % of the page wide, over or beside the digit) / a hand-shaped or round-edged shadow,
  blind stripes, two straight shadows at once. Darkening 0.3-0.85 in both; vignetting and mild
  falloff in both.
- white balance: warm-cool and green-magenta casts up to 8 % / up to 14 % (tungsten, shade).
"""

import io

import numpy as np
from numpy.typing import NDArray
from PIL import Image

Matrix = NDArray[np.float64]
FIELD_SIDE = 160  # light is smooth: drawn at most this many px long, then scaled up
SHADOWS = {False: ("linear", "radial", "edge", "object"), True: ("hand", "round", "blinds", "two")}


def camera(view: tuple[int, int], rng: np.random.Generator, degrees: float = 3.0) -> Matrix:
    """Paper -> image: a rotation up to `degrees` and a mild keystone, about the view's centre."""
    width, height = view
    angle = np.deg2rad(rng.uniform(-degrees, degrees))
    cos, sin = np.cos(angle), np.sin(angle)
    keystone = rng.uniform(-0.12, 0.12, 2) / max(view)
    centre = np.array([[1, 0, width / 2], [0, 1, height / 2], [0, 0, 1]])
    tilt = np.array([[cos, -sin, 0], [sin, cos, 0], [keystone[0], keystone[1], 1]])
    back = np.array([[1, 0, -width / 2], [0, 1, -height / 2], [0, 0, 1]])
    return centre @ tilt @ back


def turned(homography: Matrix, degrees: float, x: float, y: float) -> Matrix:
    """The homography of a sheet lying turned by `degrees` about (x, y) under the camera."""
    angle = np.deg2rad(degrees)
    cos, sin = np.cos(angle), np.sin(angle)
    to = np.array([[1, 0, x], [0, 1, y], [0, 0, 1]])
    turn = np.array([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]])
    back = np.array([[1, 0, -x], [0, 1, -y], [0, 0, 1]])
    return homography @ to @ turn @ back


def angle_at(homography: Matrix, x: float, y: float) -> float:
    """The degrees the paper's x axis turns by at (x, y), as seen in the image."""
    mapped = np.array([[x, y, 1], [x + 10, y, 1]]) @ homography.T
    (ax, ay), (bx, by) = mapped[:, :2] / mapped[:, 2:]
    return float(np.degrees(np.arctan2(by - ay, bx - ax)))


def light(
    view: tuple[int, int],
    rng: np.random.Generator,
    shadow: bool,
    focus: tuple[float, float],
    held_out: bool,
) -> NDArray[np.float32]:
    """float32 (height, width) light on the scene: ~1 lit, down to 0.3 in a shadow."""
    step = max(1, -(-max(view) // FIELD_SIDE))
    ys, xs = np.mgrid[0 : -(-view[1] // step), 0 : -(-view[0] // step)].astype(np.float32) * step
    centre = (view[0] / 2, view[1] / 2)
    size = float(max(view))
    field = _falloff(xs, ys, centre, size, rng, 1.0 - rng.uniform(0.0, 0.2))
    if rng.random() < 0.5:  # vignetting
        r2 = ((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (0.5 * np.hypot(*view)) ** 2
        field *= 1.0 - rng.uniform(0.1, 0.35) * r2
    if shadow:
        names = SHADOWS[held_out]
        name = names[int(rng.integers(len(names)))]
        field *= _shadow(name, xs, ys, focus, size, rng)
    image = Image.fromarray(field.astype(np.float32), "F").resize(view, Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.float32)


def _falloff(
    xs: NDArray,
    ys: NDArray,
    origin: tuple[float, float],
    size: float,
    rng: np.random.Generator,
    far: float,
) -> NDArray[np.floating]:
    """1 at the lit side, `far` at the other, linearly along a random direction."""
    angle = rng.uniform(0, 2 * np.pi)
    t = ((xs - origin[0]) * np.cos(angle) + (ys - origin[1]) * np.sin(angle)) / size + 0.5
    return 1.0 - (1.0 - far) * np.clip(t, 0.0, 1.0)


def _edge(
    xs: NDArray, ys: NDArray, focus: tuple[float, float], size: float, rng: np.random.Generator
) -> NDArray[np.floating]:
    """How much of a half-plane shadow with a soft straight edge near `focus` lies on each px."""
    angle = rng.uniform(0, 2 * np.pi)
    offset = rng.uniform(-0.08, 0.08) * size
    distance = (xs - focus[0]) * np.cos(angle) + (ys - focus[1]) * np.sin(angle) - offset
    return _soft(distance, rng.uniform(0.005, 0.04) * size)


def _soft(distance: NDArray, width: float) -> NDArray[np.floating]:
    return 1.0 / (1.0 + np.exp(np.clip(-distance / width, -30, 30)))


def _shadow(
    name: str,
    xs: NDArray,
    ys: NDArray,
    focus: tuple[float, float],
    size: float,
    rng: np.random.Generator,
) -> NDArray[np.floating]:
    """The factor (0.3-0.85 in the shade, 1 outside) of one kind of shadow."""
    dark = rng.uniform(0.3, 0.85)
    if name == "linear":
        return _falloff(xs, ys, focus, size, rng, dark)
    if name == "radial":
        spot = np.asarray(focus) + rng.uniform(-0.4, 0.4, 2) * size
        r = np.hypot(xs - spot[0], ys - spot[1]) / (size * rng.uniform(0.5, 1.2))
        return 1.0 - (1.0 - dark) * np.clip(r, 0.0, 1.0) ** rng.uniform(1.0, 2.0)
    if name == "edge":
        shade = _edge(xs, ys, focus, size, rng)
    elif name == "object":
        shade = _object(xs, ys, focus, size, rng)
    elif name == "two":
        shade = 1.0 - (1.0 - _edge(xs, ys, focus, size, rng)) * (
            1.0 - _edge(xs, ys, focus, size, rng)
        )
    elif name == "round":
        radius = size * rng.uniform(0.3, 1.0)
        angle = rng.uniform(0, 2 * np.pi)
        cx, cy = np.asarray(focus) + radius * np.array([np.cos(angle), np.sin(angle)])
        shade = _soft(radius - np.hypot(xs - cx, ys - cy), rng.uniform(0.005, 0.03) * size)
    elif name == "blinds":
        period = size * rng.uniform(0.12, 0.35)
        angle = rng.uniform(0, np.pi)
        t = (xs * np.cos(angle) + ys * np.sin(angle)) / period * 2 * np.pi + rng.uniform(0, 7)
        shade = _soft(np.sin(t), 0.15)
    else:  # a hand: palm and four fingers, ellipses with soft rims
        shade = _hand(xs, ys, focus, size, rng)
    return 1.0 - (1.0 - dark) * shade


def _object(
    xs: NDArray, ys: NDArray, focus: tuple[float, float], size: float, rng: np.random.Generator
) -> NDArray[np.floating]:
    """A long rectangle's shadow with soft sides, its axis passing within its width of `focus`."""
    angle = rng.uniform(0, np.pi)
    half = size * rng.uniform(0.025, 0.3)
    offset = rng.uniform(-1.5, 1.5) * half
    across = (xs - focus[0]) * -np.sin(angle) + (ys - focus[1]) * np.cos(angle) - offset
    along = (xs - focus[0]) * np.cos(angle) + (ys - focus[1]) * np.sin(angle)
    end = size * rng.uniform(0.2, 1.5)  # one end on the page (a pen's tip), or off it
    rim = rng.uniform(0.005, 0.03) * size
    return _soft(half - np.abs(across), rim) * _soft(end - along, rim)


def _hand(
    xs: NDArray, ys: NDArray, focus: tuple[float, float], size: float, rng: np.random.Generator
) -> NDArray[np.floating]:
    angle = rng.uniform(0, 2 * np.pi)
    cos, sin = np.cos(angle), np.sin(angle)
    unit = size * rng.uniform(0.12, 0.25)
    palm = np.asarray(focus) + rng.uniform(-0.5, 0.5, 2) * unit - 1.6 * unit * np.array([cos, sin])
    u = (xs - palm[0]) * cos + (ys - palm[1]) * sin  # along the fingers
    v = -(xs - palm[0]) * sin + (ys - palm[1]) * cos
    inside = 1.0 - (u / unit) ** 2 - (v / (0.9 * unit)) ** 2
    for index, reach in enumerate((1.8, 2.1, 2.0, 1.6)):
        across = (index - 1.5) * 0.4 * unit
        finger = 1.0 - ((u - reach * unit * 0.6) / (reach * 0.55 * unit)) ** 2
        inside = np.maximum(inside, finger - ((v - across) / (0.22 * unit)) ** 2)
    return _soft(inside, rng.uniform(0.05, 0.3))


def develop(
    scene: Image.Image,
    field: NDArray[np.float32],
    size: tuple[int, int],
    rng: np.random.Generator,
    held_out: bool,
) -> Image.Image:
    """The sensor's image: exposure, white balance, tone, light, noise, scaled to `size`."""
    warmth, tint = rng.uniform(-1, 1, 2) * (0.14 if held_out else 0.08)
    gains = rng.uniform(0.82, 1.08) * np.array([1 + warmth, 1 + tint / 3, 1 - warmth])
    gamma = rng.uniform(0.8, 1.2)
    levels = np.arange(256, dtype=np.float64) / 255.0
    lut = [np.clip(255.0 * gain * levels**gamma, 0, 255) for gain in gains]
    toned = scene.point(np.rint(np.concatenate(lut)).astype(np.uint8).tolist())
    rgb = np.asarray(toned, dtype=np.float32) * field[..., None]
    noise = rng.random(field.shape, dtype=np.float32)  # uniform: as good as normal, cheaper
    noise -= np.float32(0.5)
    noise *= np.float32(rng.uniform(1.0, 7.0) * 12**0.5)
    rgb += noise[..., None]
    image = Image.fromarray(np.clip(rgb, 0, 255, out=rgb).astype(np.uint8), "RGB")
    return image.resize(size, Image.Resampling.BILINEAR)


def encode(image: Image.Image, rng: np.random.Generator) -> bytes:
    """Mostly JPEG (quality 60-95), some PNG where the photo is small enough to be a screenshot."""
    buffer = io.BytesIO()
    if max(image.size) <= 640 and rng.random() < 0.12:
        image.save(buffer, "PNG", compress_level=1)
    else:
        image.save(buffer, "JPEG", quality=int(rng.integers(60, 96)))
    return buffer.getvalue()
