"""Photo cleanup, pure: a decoded photo of paper -> the ink of the one digit on it, lines removed.

The steps run on a working copy of at most WORK_SIDE px a side; only the digit's own box is then
cut from the full-resolution image, so a small digit in a large photo keeps its detail.
1. Light: the paper's brightness is estimated per channel at a coarse scale (a morphological
   closing as wide as the strokes erases them, not wider shadows) and divided out; ink is how
   much darker than its paper a pixel is, in the channel where it is darkest (ink of any
   colour on paper of any colour).
2. Lines: thin, straight structures long against the image (ruling, grid, margin, box frames)
   are found by openings with long line kernels and removed; where a stroke crossed one, the
   gap is closed again.
3. The digit: of the ink components left, the one digit-sized, digit-shaped, central and off
   the border wins, with the fragments beside it (a 5's flag, a broken stroke).
"""

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from app.imaging.errors import NoInk

WORK_SIDE = 512  # working copy's longer side: where lines and components are found
LIGHT_SIDE = 160  # the paper's light is estimated at this scale ...
LIGHT_KERNELS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 3)  # ... by closings this wide (of the side):
PLATEAU = 2.0  # the first finding at most this times the ink of the narrower one before is kept
MIN_DARKNESS = 40 / 255  # ink at least this much darker than its paper, or the image is blank
DARK_PAPER, LIGHT_PAPER = 60, 140  # median gray levels of an image that is clearly one or other
STROKE_KERNEL = 1 / 12  # of the coarse side: wider than a stroke, narrower than a page
NOISE_MARGIN = 10  # gray levels of noise ignored when telling light ink from dark
INK_SHARE = 0.3  # of the darkest ink: the threshold of the ink's mask ...
LINE_SHARE = 0.12  # ... and of the mask lines are looked for in (printed lines can be faint)
LINE_SPAN = 0.25  # a line is at least this long (of the image's side along it) ...
LINE_PIECE = 0.08  # lines are found as straight runs this long (of the side), joined ...
LINE_GAP = 0.03  # ... over gaps this long (of the side)
MAX_DEGREES = 12  # ... and this close to horizontal or vertical (a page or a note lying askew)
LINE_WIDTH = 5  # px at the working scale removed along a line found (print is 1-4 px wide)
REPAIR = 15  # px: the widest gap across a removed line that a stroke is joined over
MIN_PAGE_SIDE = 64  # images smaller than this are not photos of paper: no lines are looked for
MAX_TILT = 3  # px of drift a straight run may have (the pieces are short)
MAX_ASPECT = 2.5  # a component wider than this times its height is not a digit ...
MAX_STROKE = 0.3  # ... nor one whose strokes are wider than this share of its shorter side
FRAGMENT_REACH = 0.2  # other ink within this share of the digit's height belongs to it ...
FRAGMENT_MASS = 0.1  # ... if it has this share of the digit's ink


@dataclass(frozen=True)
class Digit:
    ink: NDArray[np.float32]  # 2-D, in [0, 1], 0 where there is no ink: the digit's own box
    refusal: str | None  # why nothing on the photo looks like a digit; None when something does


def digit_ink(image: NDArray[np.uint8]) -> Digit:
    """(H, W) gray or (H, W, 3) RGB uint8 photo -> the chosen digit's ink; NoInk if blank."""
    height, width = image.shape[:2]
    scale = 1.0 / -(-max(height, width) // WORK_SIDE)  # a whole factor: INTER_AREA's fast path
    work = _resized(image, scale)
    if _light_ink(_luminance(work)):  # light ink on dark paper: measure it as dark ink on light
        image, work = 255 - image, 255 - work
    light = _light(work)
    darkness = _darkness(work, light)
    smooth = cv2.GaussianBlur(darkness, (3, 3), 0)  # the masks are found on it: sensor noise
    peak = float(smooth.max())
    if peak < MIN_DARKNESS:
        raise NoInk(
            f"no digit found: the image is blank (ink contrast {peak * 255:.0f} of 255, "
            f"at least {MIN_DARKNESS * 255:.0f} needed)"
        )
    lines = _lines((smooth >= LINE_SHARE * peak).astype(np.uint8))
    if lines.any():  # the ink's threshold is set by the darkest ink off the lines: a black
        # frame must not hide a pencil digit
        off_lines = np.where(lines > 0, np.float32(0.0), smooth)
        peak = max(float(off_lines.max()), MIN_DARKNESS)
    mask = (smooth >= INK_SHARE * peak).astype(np.uint8)
    lines &= mask
    cleaned = _repaired(mask & ~lines, lines)
    chosen, box, refusal = _choose(cleaned, darkness)
    return Digit(_full_resolution(image, light, chosen, box, scale), refusal)


def _resized(image: NDArray[np.uint8], scale: float) -> NDArray[np.uint8]:
    if scale >= 1.0:
        return image
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)


def _luminance(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    return (
        image if image.ndim == 2 else np.asarray(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), np.uint8)
    )


def _light_ink(gray: NDArray[np.uint8]) -> bool:
    """True when the ink is lighter than its paper. Paper covers most of the image: a dark or a
    light image says which at once. Between the two (a shadow over half the page, a note on a
    dark desk) the strokes decide: thin marks that a small closing fills (dark ones) against
    those a small opening removes (light ones), by more than sensor noise. A shadow's or a
    paper's edge is a step, which neither changes."""
    coarse = _coarse(gray)
    level = float(np.median(coarse))
    if not DARK_PAPER <= level <= LIGHT_PAPER:
        return level < DARK_PAPER
    side = _kernel_side(coarse, STROKE_KERNEL)
    signed = coarse.astype(np.int32)
    closed = _morphology(coarse, cv2.MORPH_CLOSE, side)
    opened = _morphology(coarse, cv2.MORPH_OPEN, side)
    dark = int(np.clip(closed - signed - NOISE_MARGIN, 0, None).sum())
    light = int(np.clip(signed - opened - NOISE_MARGIN, 0, None).sum())
    return light > dark


def _coarse(work: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The image at LIGHT_SIDE, median-filtered (else a closing finds the noise's peaks)."""
    coarse = _resized(work, 1.0 / -(-max(work.shape[:2]) // LIGHT_SIDE))
    return np.asarray(cv2.medianBlur(coarse, 3), np.uint8)


def _morphology(image: NDArray[np.uint8], operation: int, side: int) -> NDArray[np.uint8]:
    """An opening or closing with a `side` px square. A closing fills darker marks narrower than
    it with the light around them; a shadow's edge, a step, stays."""
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (side, side))
    return np.asarray(
        cv2.morphologyEx(image, operation, kernel, borderType=cv2.BORDER_REPLICATE), np.uint8
    )


def _kernel_side(image: NDArray[np.uint8], fraction: float) -> int:
    return max(3, round(fraction * max(image.shape[:2])) | 1)


def _paper(coarse: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The paper under the coarse image: closed as wide as the strokes need and no wider.
    Each wider closing erases wider marks; once one finds little more ink than the narrower
    one before (the strokes are all found), it is kept, so a shadow wider than the strokes (a
    pen's, a hand's, a blind's) stays light, not ink. With no such plateau the widest is kept."""
    sides = sorted({_kernel_side(coarse, fraction) for fraction in LIGHT_KERNELS})
    ink = 0.0
    for index, side in enumerate(sides):
        paper = _morphology(coarse, cv2.MORPH_CLOSE, side)
        darkness = _darkness(coarse, np.maximum(paper.astype(np.float32), 1.0))
        found = float(np.clip(darkness - MIN_DARKNESS, 0.0, None).sum())
        if index and ink > 0 and found <= PLATEAU * ink:
            return paper
        ink = found
    return paper


def _light(work: NDArray[np.uint8]) -> NDArray[np.float32]:
    """The paper's brightness under each pixel, per channel, at least 1."""
    height, width = work.shape[:2]
    paper = cv2.blur(_paper(_coarse(work)), (3, 3))
    if paper.shape[:2] != (height, width):
        paper = cv2.resize(paper, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.maximum(paper.astype(np.float32), 1.0)


def _darkness(image: NDArray[np.uint8], light: NDArray[np.float32]) -> NDArray[np.float32]:
    """1 - pixel / paper, in the channel where it is darkest, clipped to [0, 1]."""
    ratio = image.astype(np.float32) / light
    if ratio.ndim == 3:  # np.minimum of the planes: several times faster than min(axis=2)
        ratio = np.minimum(np.minimum(ratio[..., 0], ratio[..., 1]), ratio[..., 2])
    return np.clip(1.0 - ratio, 0.0, 1.0)


def _lines(mask: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The mask's ruled, grid, margin and frame lines: long straight structures, up to
    MAX_DEGREES off the horizontal or vertical, whose two ends each run off the image or meet a
    line across (a box's corner). A digit's straight stroke ends free, however long."""
    height, width = mask.shape
    lines = np.zeros_like(mask)
    if min(height, width) < MIN_PAGE_SIDE:
        return lines
    found = [_segments(mask, along_x) for along_x in (1, 0)]
    reach = max(3.0, 0.02 * max(height, width))
    for segments, across, along_x in ((found[0], found[1], 1), (found[1], found[0], 0)):
        span = width if along_x else height
        for segment in segments:
            ends = sorted((segment[0:2], segment[2:4]), key=lambda p: p[1 - along_x])
            at_border = (ends[0][1 - along_x] <= 0.03 * span, ends[1][1 - along_x] >= 0.97 * span)
            if all(
                edge or _meets(end, across, reach)
                for edge, end in zip(at_border, ends, strict=True)
            ):
                cv2.line(lines, ends[0], ends[1], 1, LINE_WIDTH)
    return lines & mask


def _segments(mask: NDArray[np.uint8], along_x: int) -> list[tuple[int, int, int, int]]:
    """Straight segments at least LINE_SPAN of the side long along one direction: pieces of
    straight run (an opening with a short line kernel) joined by a probabilistic Hough
    transform, so a line askew or broken by JPEG and faint print is still one line."""
    span = mask.shape[1] if along_x else mask.shape[0]
    piece = max(7, round(LINE_PIECE * span))
    thick = cv2.dilate(mask, _line_kernel(MAX_TILT, 1 - along_x))
    runs = (
        np.asarray(cv2.morphologyEx(thick, cv2.MORPH_OPEN, _line_kernel(piece, along_x)), np.uint8)
        & mask
    )
    found = cv2.HoughLinesP(
        runs,
        rho=1,
        theta=np.pi / 180,
        threshold=piece,
        minLineLength=LINE_SPAN * span,
        maxLineGap=max(5, round(LINE_GAP * span)),
    )
    if found is None:
        return []
    segments = []
    for x1, y1, x2, y2 in found[:, 0].tolist():
        degrees = np.degrees(np.arctan2(abs(y2 - y1), abs(x2 - x1)))
        if (degrees if along_x else 90 - degrees) <= MAX_DEGREES:
            segments.append((x1, y1, x2, y2))
    return segments


def _meets(point: tuple[int, int], segments: list[tuple[int, int, int, int]], reach: float) -> bool:
    """True when `point` lies within `reach` px of one of the segments."""
    px, py = point
    for x1, y1, x2, y2 in segments:
        dx, dy = x2 - x1, y2 - y1
        t = np.clip(((px - x1) * dx + (py - y1) * dy) / max(dx * dx + dy * dy, 1), 0.0, 1.0)
        if np.hypot(px - (x1 + t * dx), py - (y1 + t * dy)) <= reach:
            return True
    return False


def _line_kernel(length: int, along_x: int) -> NDArray[np.uint8]:
    return np.ones((1, length) if along_x else (length, 1), np.uint8)


def _repaired(cleaned: NDArray[np.uint8], lines: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Where a stroke crossed a removed line, the line's pixels between its two ends return."""
    if not lines.any():
        return cleaned
    # Wider than the band a line leaves (several segments of one printed line, each drawn
    # LINE_WIDTH wide, side by side): the stroke's two ends meet again across it.
    closed = np.asarray(
        cv2.morphologyEx(cleaned, cv2.MORPH_CLOSE, np.ones((REPAIR, 1), np.uint8)), np.uint8
    )
    closed |= np.asarray(
        cv2.morphologyEx(cleaned, cv2.MORPH_CLOSE, np.ones((1, REPAIR), np.uint8)), np.uint8
    )
    return cleaned | (closed & lines)


def _choose(
    mask: NDArray[np.uint8], darkness: NDArray[np.float32]
) -> tuple[NDArray[np.uint8], tuple[int, int, int, int], str | None]:
    """The digit's mask and box (x, y, w, h) at working scale, and a refusal reason or None."""
    height, width = mask.shape
    reach = max(1, round(0.01 * max(height, width)))
    joined = cv2.dilate(mask, np.ones((2 * reach + 1, 2 * reach + 1), np.uint8))
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(joined, connectivity=8)
    if count <= 1:
        raise NoInk("no digit found: nothing but ruled lines or frames is on the image")
    flat = labels.ravel()
    mass = np.bincount(flat, weights=(darkness * mask).ravel(), minlength=count)[1:]
    # Stroke width (twice the ink over its outline) against the height: strokes are thin, a
    # shadow's wedge or a desk beside the paper is solid.
    inked = mask.astype(bool)
    rim = inked & ~cv2.erode(mask, np.ones((3, 3), np.uint8)).astype(bool)
    area = np.bincount(flat[inked.ravel()], minlength=count)[1:]
    outline = np.bincount(flat[rim.ravel()], minlength=count)[1:]
    x, y, w, h = (stats[1:, index] for index in range(4))
    solid = 2 * area / np.maximum(outline, 1) > MAX_STROKE * np.maximum(np.minimum(w, h), 1)
    offset = np.hypot(
        (centroids[1:, 0] - width / 2) / width, (centroids[1:, 1] - height / 2) / height
    )
    border = (x <= 0) | (y <= 0) | (x + w >= width) | (y + h >= height)
    shaped = (w <= MAX_ASPECT * h) & (h >= 0.02 * height)
    score = mass * np.exp(-3 * offset) * np.where(border, 0.25, 1.0) * np.where(shaped, 1, 0.1)
    score *= np.where(solid, 0.05, 1.0)
    best = int(np.argmax(score))
    refusal = None
    if not shaped[best]:
        refusal = (
            f"no ink on the image is shaped like a digit (the largest mark is "
            f"{int(w[best])}x{int(h[best])} px at the working scale)"
        )
    grow = FRAGMENT_REACH * h[best]
    near = (
        (x <= x[best] + w[best] + grow)
        & (x + w >= x[best] - grow)
        & (y <= y[best] + h[best] + grow)
        & (y + h >= y[best] - grow)
        & ~border
        & (mass >= FRAGMENT_MASS * mass[best])
    )
    near[best] = True
    chosen = np.concatenate([[False], near])[labels]
    chosen_mask = (chosen & (cv2.dilate(mask, np.ones((3, 3), np.uint8)) > 0)).astype(np.uint8)
    ys, xs = np.nonzero(chosen_mask & mask)
    if not len(ys):
        raise NoInk("no digit found: no ink is left once lines and frames are removed")
    box = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))
    return chosen_mask, box, refusal


def _full_resolution(
    image: NDArray[np.uint8],
    light: NDArray[np.float32],
    chosen: NDArray[np.uint8],
    box: tuple[int, int, int, int],
    scale: float,
) -> NDArray[np.float32]:
    """The digit's box cut from the full-resolution image, as ink, only where the mask has it."""
    x, y, w, h = box
    margin = 1
    x0, y0 = max(0, x - margin), max(0, y - margin)
    x1, y1 = min(chosen.shape[1], x + w + margin), min(chosen.shape[0], y + h + margin)
    if scale >= 1.0:
        crop = image[y0:y1, x0:x1]
        return _darkness(crop, light[y0:y1, x0:x1]) * chosen[y0:y1, x0:x1]
    full_h, full_w = image.shape[:2]
    fx0, fy0 = int(x0 / scale), int(y0 / scale)
    fx1, fy1 = min(full_w, int(np.ceil(x1 / scale))), min(full_h, int(np.ceil(y1 / scale)))
    crop = image[fy0:fy1, fx0:fx1]
    # A digit that fills a large photo needs no more than WORK_SIDE px (the normalisation fits
    # it into 80): reduced after the cut, in uint8, it never costs float copies of megapixels.
    crop = _resized(crop, 1.0 / -(-max(crop.shape[:2]) // WORK_SIDE))
    size = (crop.shape[1], crop.shape[0])
    light_crop = np.asarray(
        cv2.resize(light[y0:y1, x0:x1], size, interpolation=cv2.INTER_LINEAR), np.float32
    )
    mask = cv2.resize(chosen[y0:y1, x0:x1].astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
    if light_crop.ndim == 2 and crop.ndim == 3:
        light_crop = light_crop[..., None]
    return _darkness(crop, light_crop) * np.clip(mask * 2.0, 0.0, 1.0)
