"""Images and measures tests share (tests/imaging, the "not a digit" tests): a drawn '7', canvas
exports, how alike two digits are, and a noise texture only the probabilities can judge."""

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageOps

from tests.support import encode

MAX_PIXELS = 16_000_000
INK = (20, 30, 110)  # dark blue


def seven(size: tuple[int, int] = (64, 64), width: int = 6) -> Image.Image:
    """A dark '7' on white paper ("L"); asymmetric, so a wrong rotation shows."""
    image = Image.new("L", size, 255)
    w, h = size
    corners = [(w * 0.2, h * 0.2), (w * 0.8, h * 0.2), (w * 0.45, h * 0.85)]
    ImageDraw.Draw(image).line(corners, fill=0, width=width)
    return image


def seven_gray(size: tuple[int, int] = (64, 64), width: int = 6) -> NDArray[np.uint8]:
    return np.asarray(seven(size, width), dtype=np.uint8)


def on_transparent(image: Image.Image) -> Image.Image:
    """The drawing as an HTML canvas exports it: ink colour, opacity from the ink."""
    rgba = Image.new("RGBA", image.size, (0, 0, 0, 0))
    rgba.paste(Image.new("RGBA", image.size, (*INK, 255)), mask=ImageOps.invert(image))
    return rgba


def correlation(a: NDArray[np.generic], b: NDArray[np.generic]) -> float:
    return float(np.corrcoef(a.ravel().astype(np.float64), b.ravel().astype(np.float64))[0, 1])


def centre_of_mass(pixels: NDArray[np.generic]) -> tuple[float, float]:
    mass = pixels.astype(np.float64)
    rows, cols = np.indices(mass.shape)
    return float((rows * mass).sum() / mass.sum()), float((cols * mass).sum() / mass.sum())


def box_side(pixels: NDArray[np.generic]) -> int:
    """The longer side of the box around the nonzero pixels."""
    rows, cols = np.flatnonzero(pixels.any(axis=1)), np.flatnonzero(pixels.any(axis=0))
    return int(max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1)


def palette_with_transparency() -> bytes:
    image = Image.new("P", (64, 64), 0)
    image.putpalette([255, 255, 255, *INK])
    image.paste(1, mask=ImageOps.invert(seven()))
    return encode(image, transparency=0)


def animated_gif() -> bytes:
    bar = Image.new("L", (64, 64), 255)
    ImageDraw.Draw(bar).rectangle((8, 28, 56, 36), fill=0)
    frames = [seven().convert("P"), bar.convert("P")]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def sixteen_bit() -> bytes:
    return encode(Image.fromarray(np.asarray(seven(), dtype=np.uint16) * 257))


def coloured(image: Image.Image) -> Image.Image:
    return ImageOps.colorize(image, INK, "white")


# The same drawing in every accepted format and mode, as an upload; id -> its bytes
UPLOADS: dict[str, Callable[[], bytes]] = {
    "png-1": lambda: encode(seven().convert("1", dither=Image.Dither.NONE)),
    "png-L": lambda: encode(seven()),
    "png-LA": lambda: encode(on_transparent(seven()).convert("LA")),
    "png-P": lambda: encode(coloured(seven()).convert("P")),
    "png-P-transparency": palette_with_transparency,
    "png-RGB": lambda: encode(coloured(seven())),
    "png-RGBA": lambda: encode(on_transparent(seven())),
    "png-I;16": sixteen_bit,
    "jpeg-RGB": lambda: encode(coloured(seven()), "JPEG"),
    "jpeg-L": lambda: encode(seven(), "JPEG"),
    "jpeg-CMYK": lambda: encode(seven().convert("CMYK"), "JPEG"),
    "gif-animated": animated_gif,
    "bmp": lambda: encode(seven().convert("RGB"), "BMP"),
    "webp": lambda: encode(seven().convert("RGB"), "WEBP"),
    "tiff": lambda: encode(seven().convert("RGB"), "TIFF"),
}


def noise_texture(seed: int = 0) -> np.ndarray:
    """A 28x28 MNIST-style image (light on black, centred by mass) of noise: it reaches the model
    unchanged, so only the probabilities decide (the photo stage does not look at it)."""
    pixels = np.zeros((28, 28), np.uint8)
    pixels[4:24, 4:24] = np.random.default_rng(seed).integers(0, 256, (20, 20))
    return pixels
