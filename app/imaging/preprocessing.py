"""Pure preprocessing: uploaded bytes -> validated PIL image -> the 28x28 digit the model sees.

No web framework and no Keras here. Anything that is not a digit image raises an `ImageError`
subclass whose message names what was expected and what was found.
"""

import contextlib
import io
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from app.imaging.jpeg import SOI, JpegLimit, jpeg_layout
from app.imaging.pixels import IMAGE_SIDE, to_model_input
from app.imaging.png import small_gray_png

# Pillow format names we decode; MPO is how Pillow names many camera JPEGs.
ACCEPTED_FORMATS = ("PNG", "JPEG", "MPO", "GIF", "BMP", "WEBP", "TIFF")
ACCEPTED_FORMATS_TEXT = "PNG, JPEG, GIF, BMP, WebP, TIFF"
WORK_SIDE = 1024  # uploads over twice this size are first averaged down to about it (memory)
DIGIT_BOX = 20  # MNIST fits each digit's longer side into 20 px ...
CENTRE = 14.0  # ... and puts its centre of mass at pixel (14, 14) of the 28x28 frame.
MIN_INK_CONTRAST = 40  # gray levels between paper and ink below which nothing is drawn
NOISE_FLOOR = 0.2  # fraction of the ink's peak below which a pixel counts as background
DENOISE_MIN_SIDE = 64  # images at least this large get a 3x3 median filter against speckle ...
MIN_NOISE = 1.0  # ... if noisy: the border's median absolute deviation is this many gray levels
WORK_BOX = 4 * DIGIT_BOX  # strokes are measured and corrected at 4x the final resolution
# 5th-95th percentile of MNIST training digits' stroke width (`stroke_width` at WORK_BOX, in
# 20 px box pixels); wider or thinner strokes (bold fonts, ballpoints) are brought to this range.
MNIST_STROKE = (1.6, 3.3)
BORDER_PIXELS = 4 * IMAGE_SIDE - 4
SIDE_INDEX = np.arange(IMAGE_SIDE, dtype=np.int64)


class ImageError(ValueError):
    """An upload that cannot be turned into a digit; subclasses say why."""


class EmptyImage(ImageError):
    """The upload has no bytes."""


class UndecodableImage(ImageError):
    """A known image format whose data is corrupt, truncated or zero-sized."""


class UnsupportedFormat(ImageError):
    """Not an image, or an image format the service does not accept."""


class ImageTooLarge(ImageError):
    """More pixels than the configured limit (or a decompression bomb)."""


class NoInk(ImageError):
    """A decodable image with nothing drawn on it."""


@dataclass(frozen=True)
class PreparedImage:
    pixels: NDArray[np.uint8]  # (28, 28), MNIST convention: light digit on black
    normalized: bool  # False when the upload already was an MNIST-style 28x28 digit
    # Why the photo stage found nothing shaped like a digit (the pixels are its best guess);
    # None when it found a digit, or did not look (an MNIST-style 28x28, normalisation off).
    refusal: str | None = None

    def vector(self) -> NDArray[np.float32]:
        """The model input: float32 (784,) in [0, 1]."""
        return to_model_input(self.pixels)


def prepare_image(data: bytes, *, max_pixels: int, normalize: bool = True) -> PreparedImage:
    """Decode an upload and turn it into the 28x28 uint8 digit the model was trained on."""
    gray = small_gray_png(data, max_pixels)  # the common upload, decoded without Pillow
    if gray is None:
        image, _ = decode_image(data, max_pixels=max_pixels)
        gray = to_grayscale(shrink(image))
    if is_mnist_digit(gray):
        pixels, normalized = gray, False
    elif normalize:
        pixels, normalized = normalize_digit(gray), True
    else:
        _ink(gray)  # a blank image is NoInk with normalisation off too
        pixels, normalized = resize_plain(gray), False
    return PreparedImage(pixels, normalized)


def decode_image(data: bytes, *, max_pixels: int) -> tuple[Image.Image, str]:
    """Open and fully decode an accepted image, upright (EXIF applied); return it and its format."""
    if not data:
        raise EmptyImage("the uploaded file is empty (0 bytes)")
    if data.startswith(SOI):  # before Pillow, which walks the segments too, in Python
        try:
            jpeg_layout(data)
        except JpegLimit as exc:
            raise ImageTooLarge(str(exc)) from None
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
        image.load()  # the first frame only, for animations and multi-page files
    except Exception as exc:
        raise UndecodableImage(
            f"the {image.format} image data is corrupt or truncated: {_reason(exc)}"
        ) from None
    return _upright(image), "JPEG" if image.format == "MPO" else image.format


def shrink(image: Image.Image) -> Image.Image:
    """An image over 2 x WORK_SIDE px box-averaged by a whole factor; smaller ones unchanged.

    A digit needs no more pixels, and the float arrays of the steps after cost 4-8 bytes per pixel:
    a 16-megapixel upload would otherwise take some 250 MB to prepare.
    """
    factor = max(image.size) // WORK_SIDE
    if factor < 2:
        return image
    if image.mode in ("1", "P", "PA"):  # resizing these would sample, not average, the strokes
        transparent = image.mode == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if transparent else "L")
    size = (max(1, image.width // factor), max(1, image.height // factor))
    return image.resize(size, Image.Resampling.BOX)


def to_grayscale(image: Image.Image) -> NDArray[np.uint8]:
    """8-bit gray pixels, transparency flattened onto a background that contrasts with the ink."""
    if image.mode == "LAB":  # a CIELAB TIFF: Pillow cannot convert it, but L is the lightness
        image = image.getchannel("L")
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        if image.mode == "F" and values.max() <= 1.0:
            top = 1.0
        return np.rint(np.clip(values / top, 0, 1) * 255).astype(np.uint8)
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if not has_alpha:
        gray = image if image.mode == "L" else image.convert("L")
        # frombuffer: a third of np.asarray's time on a 28x28 image (the common upload)
        return np.frombuffer(gray.tobytes(), np.uint8).reshape(gray.height, gray.width)
    rgba = image.convert("RGBA")
    luminance = np.asarray(rgba.convert("RGB").convert("L"), dtype=np.float64)
    alpha = np.asarray(rgba.getchannel("A"), dtype=np.float64) / 255.0
    ink_level = float(np.average(luminance, weights=alpha)) if alpha.any() else 0.0
    # Dark strokes on transparent pixels (a canvas export) go onto white, light strokes onto black.
    background = 255.0 if ink_level < 128 else 0.0
    return np.rint(luminance * alpha + background * (1.0 - alpha)).astype(np.uint8)


def is_mnist_digit(gray: NDArray[np.uint8]) -> bool:
    """True for a 28x28 light-on-dark digit already centred by mass, as MNIST's are."""
    if gray.shape != (IMAGE_SIDE, IMAGE_SIDE):
        return False
    # Integer sums (exact); np.add.reduce skips ndarray.sum's Python wrapper.
    rows = np.add.reduce(gray, axis=1, dtype=np.int64)
    cols = np.add.reduce(gray, axis=0, dtype=np.int64)
    row_sums, col_sums = rows.tolist(), cols.tolist()
    total = sum(row_sums)
    corners = int(gray[0, 0]) + int(gray[0, -1]) + int(gray[-1, 0]) + int(gray[-1, -1])
    border = row_sums[0] + row_sums[-1] + col_sums[0] + col_sums[-1] - corners
    if total == 0 or border >= 64 * BORDER_PIXELS:  # mean border gray >= 64: not a dark ground
        return False
    cy = float(rows @ SIDE_INDEX) / total
    cx = float(cols @ SIDE_INDEX) / total
    return abs(cy - CENTRE) <= 1.5 and abs(cx - CENTRE) <= 1.5


def normalize_digit(gray: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """MNIST's recipe: polarity, background, crop, stroke weight, 20 px box, mass centred at 14."""
    # Each fit is scaled back to a peak of 1: shrinking a large image whose ink is specks or
    # hairlines spreads it below the noise floor, and the crop after would find nothing.
    work = _match_stroke(_to_peak(_fit(_crop(_ink(gray)), WORK_BOX)))
    small = _to_peak(_fit(_crop(work, NOISE_FLOOR), DIGIT_BOX))
    cy, cx = _centre_of_mass(small.astype(np.float64), float(small.sum()))
    top = int(np.clip(round(CENTRE - cy), 0, IMAGE_SIDE - small.shape[0]))
    left = int(np.clip(round(CENTRE - cx), 0, IMAGE_SIDE - small.shape[1]))
    frame = np.zeros((IMAGE_SIDE, IMAGE_SIDE), dtype=np.float32)
    frame[top : top + small.shape[0], left : left + small.shape[1]] = small
    return np.rint(frame / frame.max() * 255).astype(np.uint8)


def stroke_width(ink: NDArray[np.floating]) -> float:
    """Mean stroke width in pixels of a 2-D ink image: twice its ink over its edges' length."""
    dy, dx = np.gradient(np.pad(ink.astype(np.float64), 1))
    edges = float(np.hypot(dx, dy).sum())
    return 2 * float(ink.sum()) / edges if edges > 0 else 0.0


def resize_plain(gray: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Normalisation switched off: the gray image squeezed to 28x28, nothing else."""
    if gray.shape == (IMAGE_SIDE, IMAGE_SIDE):
        return gray
    image = Image.fromarray(gray).resize((IMAGE_SIDE, IMAGE_SIDE), Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8)


def encode_png(pixels: NDArray[np.uint8]) -> bytes:
    """PNG bytes of a 2-D uint8 image."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _ink(gray: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Ink intensity in [0, 1] on a zero background; raise NoInk if nothing stands out."""
    border = _border(gray).astype(np.float32)
    noise = float(np.median(np.abs(border - np.median(border))))
    if noise >= MIN_NOISE and min(gray.shape) >= DENOISE_MIN_SIDE:  # a median erases hairlines
        gray = np.asarray(Image.fromarray(gray).filter(ImageFilter.MedianFilter(3)))
    values = gray.astype(np.float32)
    background = float(np.median(_border(values)))
    if background > 127:  # dark ink on light paper: MNIST is the other way round
        values, background = 255.0 - values, 255.0 - background
    ink = np.clip(values - background, 0.0, None)
    peak = float(ink.max())
    if peak < MIN_INK_CONTRAST:
        raise NoInk(
            f"no digit found: the image is blank (ink contrast {peak:.0f} of 255, "
            f"at least {MIN_INK_CONTRAST} needed)"
        )
    ink /= peak
    ink[ink < NOISE_FLOOR] = 0.0
    return ink


def _crop(ink: NDArray[np.float32], floor: float = 0.0) -> NDArray[np.float32]:
    inked = ink > floor
    rows, cols = np.flatnonzero(inked.any(axis=1)), np.flatnonzero(inked.any(axis=0))
    if not rows.size:
        raise NoInk(f"no digit found: no ink above {floor:g} of its peak is left to crop to")
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _to_peak(ink: NDArray[np.float32]) -> NDArray[np.float32]:
    """Ink scaled so that its brightest pixel is 1; NoInk if scaling to the box erased it all."""
    peak = float(ink.max())
    if not peak > 0:  # NaN too
        raise NoInk("no digit found: the ink vanishes when the image is scaled to the digit box")
    return ink if peak == 1.0 else ink / np.float32(peak)


def _fit(ink: NDArray[np.float32], box: int) -> NDArray[np.float32]:
    """Resize so the longer side is `box` px, keeping the aspect ratio."""
    height, width = ink.shape
    scale = box / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resample = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BILINEAR
    return np.clip(np.asarray(Image.fromarray(ink).resize(size, resample)), 0.0, 1.0)


def _match_stroke(work: NDArray[np.float32]) -> NDArray[np.float32]:
    """Thicken or thin strokes whose width is outside MNIST's range (pens, bold or light fonts)."""
    scale = WORK_BOX / DIGIT_BOX
    width = stroke_width(work) / scale
    change = round(float(np.clip(width, *MNIST_STROKE) - width) * scale / 2)  # px per side
    if change == 0:
        return work
    image = Image.fromarray(np.pad(work, max(change, 0)))  # room to grow at the crop's edge
    rank = ImageFilter.MaxFilter if change > 0 else ImageFilter.MinFilter
    matched = np.asarray(image.filter(rank(2 * abs(change) + 1)))
    return matched if matched.max() > NOISE_FLOOR else work


def _border(values: np.ndarray) -> np.ndarray:
    return np.concatenate([values[0, :], values[-1, :], values[1:-1, 0], values[1:-1, -1]])


def _centre_of_mass(mass: np.ndarray, total: float) -> tuple[float, float]:
    rows, cols = np.arange(mass.shape[0]), np.arange(mass.shape[1])
    return float(mass.sum(axis=1) @ rows / total), float(mass.sum(axis=0) @ cols / total)


def _upright(image: Image.Image) -> Image.Image:
    # In place: a copy of a 16-megapixel image would double the memory it takes. Absurd EXIF
    # must not fail an otherwise good image. A PNG without an eXIf chunk has no orientation:
    # skipping it saves reading EXIF on every 28x28 upload.
    if image.format == "PNG" and "exif" not in image.info:
        return image
    with contextlib.suppress(Exception):
        ImageOps.exif_transpose(image, in_place=True)
    return image


def _reason(exc: Exception) -> str:
    return (str(exc).strip() or type(exc).__name__)[:200]
