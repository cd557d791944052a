"""The second stage: upload bytes -> pixels, upright, alpha flattened. Gray images (and 28x28s,
which may be MNIST digits) decode to (H, W) uint8; colour ones to (H, W, 3) RGB uint8.

A small 8-bit gray PNG, the most common upload, is decoded by libspng (app.imaging.png); Pillow
decodes the rest and words every error.
"""

import contextlib
import io

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from app.imaging.errors import ImageTooLarge, UndecodableImage, UnsupportedFormat
from app.imaging.header import Header
from app.imaging.pixels import IMAGE_SIDE
from app.imaging.png import small_gray_png

# Pillow format names we decode; MPO is how Pillow names many camera JPEGs.
ACCEPTED_FORMATS = ("PNG", "JPEG", "MPO", "GIF", "BMP", "WEBP", "TIFF")
ACCEPTED_FORMATS_TEXT = "PNG, JPEG, GIF, BMP, WebP, TIFF"
GRAY_MODES = ("1", "L", "I", "F", "LAB")


def decode(data: bytes, header: Header, max_pixels: int) -> NDArray[np.uint8]:
    """The upload's pixels: (H, W) gray or (H, W, 3) RGB uint8; ImageError if not usable."""
    if header.format == "PNG":
        gray = small_gray_png(data, max_pixels)
        if gray is not None:
            return gray
    return to_array(open_image(data, max_pixels))


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Open and fully decode an accepted image (its first frame), upright (EXIF applied)."""
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise UnsupportedFormat(
            f"not a recognised image; accepted formats: {ACCEPTED_FORMATS_TEXT}"
        ) from None
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"image rejected as a decompression bomb: {exc}") from None
    except Exception as exc:  # Pillow plugins raise many types on corrupt headers
        raise UndecodableImage(f"the image header could not be read: {_reason(exc)}") from None
    if image.format not in ACCEPTED_FORMATS:
        raise UnsupportedFormat(
            f"image format {image.format} is not accepted; accepted formats: "
            f"{ACCEPTED_FORMATS_TEXT}"
        )
    width, height = image.size
    if width <= 0 or height <= 0:
        raise UndecodableImage(f"the {image.format} image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"the image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}"
        )
    try:
        image.load()
    except Exception as exc:
        raise UndecodableImage(
            f"the {image.format} image data is corrupt or truncated: {_reason(exc)}"
        ) from None
    return _upright(image)


def to_array(image: Image.Image) -> NDArray[np.uint8]:
    """8-bit pixels, gray or RGB; transparency flattened onto a background that contrasts with
    the ink. A 28x28 is always gray (Pillow's luminance), as MNIST-style uploads were read."""
    if image.mode == "LAB":  # a CIELAB TIFF: Pillow cannot convert it, but L is the lightness
        image = image.getchannel("L")
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        if image.mode == "F" and values.max() <= 1.0:
            top = 1.0
        return np.rint(np.clip(values / top, 0, 1) * 255).astype(np.uint8)
    gray = image.mode in GRAY_MODES or image.size == (IMAGE_SIDE, IMAGE_SIDE)
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if not has_alpha:
        converted = image.convert("L" if gray else "RGB") if image.mode != "L" else image
        return _frombuffer(converted)
    rgba = image.convert("RGBA")
    # Dark strokes on transparent pixels (a canvas export) go onto white, light strokes onto
    # black: the ink's level is read off a thumbnail, the flattening done by Pillow in uint8
    # (float copies of a 16-megapixel image would take gigabytes).
    thumbnail = rgba.copy()
    thumbnail.thumbnail((256, 256))
    luminance = np.asarray(thumbnail.convert("RGB").convert("L"), dtype=np.float64)
    alpha = np.asarray(thumbnail.getchannel("A"), dtype=np.float64)
    ink_level = float(np.average(luminance, weights=alpha)) if alpha.any() else 0.0
    ground = Image.new(
        "RGBA", rgba.size, (255, 255, 255, 255) if ink_level < 128 else (0, 0, 0, 255)
    )
    flat = Image.alpha_composite(ground, rgba).convert("L" if gray else "RGB")
    return _frombuffer(flat)


def _frombuffer(image: Image.Image) -> NDArray[np.uint8]:
    # frombuffer: a third of np.asarray's time on a 28x28 image (the common upload); on a
    # photo, np.asarray saves a copy
    if image.width * image.height > 4096:
        return np.asarray(image)
    shape = (image.height, image.width) if image.mode == "L" else (image.height, image.width, 3)
    return np.frombuffer(image.tobytes(), np.uint8).reshape(shape)


def _upright(image: Image.Image) -> Image.Image:
    # In place: a copy of a 16-megapixel image would double the memory it takes. Absurd EXIF
    # must not fail an otherwise good image. A PNG without an eXIf chunk has no orientation.
    if image.format == "PNG" and "exif" not in image.info:
        return image
    with contextlib.suppress(Exception):
        ImageOps.exif_transpose(image, in_place=True)
    return image


def _reason(exc: Exception) -> str:
    return (str(exc).strip() or type(exc).__name__)[:200]
