"""Images that are not digits: Outlier Exposure training data and the not-a-digit evaluation set.

`outlier` draws one file of a kind of KINDS the way uploads come: a clean PNG (dark on white),
an MNIST-style white on black PNG (28x28, or on a larger black frame), an RGBA canvas export
(dark strokes on transparent; a coloured image for textures), or a phone photo of paper
(training.photos). `outlier_chunk` passes them through the service's own `prepare_image`.

Letters leave out what a digit reader cannot tell from a digit (EXCLUDED): O o Q D U u (0);
I i l j J | ! / ( ) [ ] (1); Z z (2); y (an open 4); S s $ (5); b G (6); T (7); B (8);
g q a (9: the one-storey a of handwriting fonts).
Training / held out (`held_out=True`), never both:
- letters: TRAIN_FAMILIES' print faces / HELD_OUT_FAMILIES' print faces;
- hand_letters: the trained handwriting family (Amatic SC) / the held-out one (Intuitive), each
  warped like a digit (training.augment.distort);
- scribbles, shapes, textures: the styles of training.doodles;
- paper: blank paper of every photo kind, with the paper, print, light and sizes of
  training.photos for the split (a `photo` with no ink).
"""

from collections.abc import Sequence
from functools import cache
from io import BytesIO
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from training import fonts
from training.augment import Distortion, distort, mnist_style
from training.doodles import SCRIBBLES, SHAPES, TEXTURES, scribble, shapes, texture
from training.pens import glyph, glyph_font
from training.photos import KINDS as PHOTO_KINDS
from training.photos import photo, prepared

KINDS = ("letters", "hand_letters", "scribbles", "shapes", "textures", "paper")
EXCLUDED = "".join(
    ("OoQDUu", "IiljJ|!/()[]", "Zz", "y", "Ss$", "bG", "T", "B", "gqa")  # 0, 1, 2, 4, 5, 6, 7, 8, 9
)
LETTERS = "".join(("ACEFHKLMNPRVWXY", "cdefhkmnprtvwx", "?&#@%*+="))
PRESENTATIONS = ("photo", "clean", "mnist", "canvas")
SHARES = (0.5, 0.2, 0.15, 0.15)


def outlier(
    kind: str,
    rng: np.random.Generator,
    held_out: bool = False,
    faces: Sequence[Path | None] | None = None,
) -> bytes:
    """One encoded image file of `kind` (KINDS) that is not a digit; faces: the split's default."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    if kind == "paper":
        blank = np.zeros((8, 8), dtype=np.float32)
        return photo(blank, PHOTO_KINDS[int(rng.integers(len(PHOTO_KINDS)))], rng, held_out)
    if kind in ("letters", "hand_letters"):
        chosen = faces or split_faces(held_out, hand=kind == "hand_letters")
        ink = letter_ink(chosen[int(rng.integers(len(chosen)))], rng, kind == "hand_letters")
    elif kind == "scribbles":
        ink = scribble(_pick(SCRIBBLES[held_out], rng), rng)
    elif kind == "shapes":
        ink = shapes(_pick(SHAPES[held_out], rng), rng, held_out)
    else:
        ink = texture(_pick(TEXTURES[held_out], rng), rng, faces or split_faces(held_out, False))
    return present(ink, rng, held_out, textured=kind == "textures")


def _pick(names: Sequence[str], rng: np.random.Generator) -> str:
    return names[int(rng.integers(len(names)))]


@cache
def split_faces(held_out: bool, hand: bool) -> tuple[Path | None, ...]:
    """The faces of the trained (or held-out) families: handwriting-style ones, or the others."""
    families = fonts.HELD_OUT_FAMILIES if held_out else fonts.TRAIN_FAMILIES
    chosen = [family for family in families if (family.style == "hand") == hand]
    return tuple(face for family in chosen for face in fonts.faces(family))


@cache
def drawable(face: Path | None) -> str:
    """The LETTERS the face has a glyph for (a missing one draws as the face's .notdef box)."""
    font = glyph_font(face, 32)
    missing = _glyph(font, "\uffff")
    glyphs = {char: _glyph(font, char) for char in LETTERS}
    return "".join(c for c, g in glyphs.items() if g.any() and not np.array_equal(g, missing))


def _glyph(font: ImageFont.FreeTypeFont, char: str) -> NDArray[np.uint8]:
    image = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(image).text((8, 8), char, fill=255, font=font)
    return np.asarray(image)


def letter_ink(face: Path | None, rng: np.random.Generator, hand: bool) -> NDArray[np.float32]:
    """A random letter of the face as float32 ink; a handwriting face's warped like a digit."""
    letters = drawable(face) or LETTERS
    char = letters[int(rng.integers(len(letters)))]
    size = int(rng.integers(7, 14)) * 8
    font = glyph_font(face, size)
    if hand:  # handwriting fonts are thin: a pen as heavy as MNIST's
        bold = round(size * rng.uniform(0.015, 0.035))
    else:
        bold = int(rng.integers(1, size // 24 + 1)) if rng.random() < 0.3 else 0
    ink = glyph(font, char, bold)
    if not hand:
        return ink
    if ink.shape[1] < 0.6 * ink.shape[0]:  # people write wider than condensed faces
        ink = ndimage.zoom(ink, (1.0, ink.shape[0] * rng.uniform(0.6, 0.9) / ink.shape[1]), order=1)
    small = mnist_style(ink)  # 20 px box in 28x28, as MNIST's digits, then another writer's hand
    return ink if small is None else distort(small, rng, Distortion())


def present(
    ink: NDArray[np.float32], rng: np.random.Generator, held_out: bool, textured: bool = False
) -> bytes:
    """Ink drawn as one of the uploads users send (PRESENTATIONS, in SHARES)."""
    style = PRESENTATIONS[int(rng.choice(len(SHARES), p=SHARES))]
    if style == "photo":
        return photo(ink, PHOTO_KINDS[int(rng.integers(len(PHOTO_KINDS)))], rng, held_out)
    if style == "mnist" and (small := mnist_style(ink)) is not None:
        if rng.random() < 0.5:
            return _png(Image.fromarray(small))
        height, width = (int(rng.integers(36, 129)) for _ in range(2))
        frame = np.zeros((height, width), dtype=np.uint8)
        top, left = int(rng.integers(0, height - 27)), int(rng.integers(0, width - 27))
        frame[top : top + 28, left : left + 28] = small
        return _png(Image.fromarray(frame))
    if style == "canvas":
        return _png(_coloured(ink, rng) if textured else _canvas(ink, rng))
    return _clean(ink, rng)


def _scaled(ink: NDArray[np.float32], height: int, margin: float) -> NDArray[np.float32]:
    """The ink `height` px high, in a frame `margin` of that height wide on each side."""
    image = Image.fromarray(np.rint(ink * 255).astype(np.uint8), "L")
    width = max(1, round(ink.shape[1] * height / ink.shape[0]))
    image = image.resize((width, height), Image.Resampling.BILINEAR)
    pad = round(margin * height)
    return np.pad(np.asarray(image, dtype=np.float32) / 255, pad).astype(np.float32)


def _clean(ink: NDArray[np.float32], rng: np.random.Generator) -> bytes:
    """Dark on light, as a screenshot or a drawing app's PNG (now and then a JPEG)."""
    alpha = _scaled(ink, int(np.exp(rng.uniform(np.log(28), np.log(300)))), rng.uniform(0, 0.6))
    paper = rng.uniform(215, 256, 3)
    colour = rng.uniform(0, 90, 3) if rng.random() < 0.7 else rng.uniform(0, 200, 3)
    rgb = paper + (colour - paper) * alpha[..., None]
    image = Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), "RGB")
    if rng.random() < 0.5:
        image = image.convert("L")
    if rng.random() < 0.2:
        buffer = BytesIO()
        image.save(buffer, "JPEG", quality=int(rng.integers(70, 96)))
        return buffer.getvalue()
    return _png(image)


def _canvas(ink: NDArray[np.float32], rng: np.random.Generator) -> Image.Image:
    """An HTML-canvas export: dark strokes on transparent black, 280 px RGBA."""
    alpha = _scaled(ink, int(rng.integers(120, 230)), 0.0)
    frame = np.zeros((280, 280), dtype=np.float32)
    height, width = min(alpha.shape[0], 280), min(alpha.shape[1], 280)
    top, left = (280 - height) // 2, (280 - width) // 2
    frame[top : top + height, left : left + width] = alpha[:height, :width]
    rgba = np.zeros((280, 280, 4), dtype=np.uint8)
    rgba[..., :3] = rng.integers(0, 80, 3)
    rgba[..., 3] = np.rint(frame * 255).astype(np.uint8)
    rgba[rgba[..., 3] == 0] = 0
    return Image.fromarray(rgba, "RGBA")


def _coloured(ink: NDArray[np.float32], rng: np.random.Generator) -> Image.Image:
    """A texture between two random colours, as a photo of a surface or a pattern is."""
    alpha = _scaled(ink, int(rng.integers(48, 400)), 0.0)[..., None]
    low, high = rng.uniform(0, 256, 3), rng.uniform(0, 256, 3)
    return Image.fromarray(np.rint(low + (high - low) * alpha).astype(np.uint8), "RGB")


def _png(image: Image.Image) -> bytes:
    buffer = BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def outlier_chunk(
    kind: str, count: int, seed: np.random.SeedSequence, held_out: bool
) -> tuple[NDArray[np.uint8], NDArray[np.bool_]]:
    """`count` outliers of `kind` through prepare_image: 28x28 pixels, ok (False: refused)."""
    rng = np.random.default_rng(seed)
    return prepared([outlier(kind, rng, held_out) for _ in range(count)])
