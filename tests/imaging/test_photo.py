"""app.imaging.photo on real generated photos of paper: an MNIST test digit, upscaled, drawn in
ink on white, ruled, framed, shadowed, large, dark and coloured pages. The ink returned must be
the digit's (its size, its aspect, its shape) with the lines, the frame and the shadow gone;
pages with nothing on them, or nothing but lines, are NoInk. An MNIST-style 28x28 never gets
here, and a phone photo's pass through the pipeline stays cheap."""

import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from app.imaging import pipeline
from app.imaging.errors import NoInk
from app.imaging.normalize import normalize
from app.imaging.photo import Digit, digit_ink
from app.imaging.pipeline import prepare_image, prepare_pixels
from tests.support import encode, png
from tests.support.drawings import MAX_PIXELS, correlation
from training.data import Mnist

Ink = NDArray[np.float32]
Page = NDArray[np.float32]  # (H, W, 3) RGB, 0-255, as drawn
Photo = NDArray[np.uint8]  # (H, W, 3) or (H, W): the decoded upload
PAPER = (234.0, 231.0, 224.0)  # white paper, a little warm
PEN = (35.0, 35.0, 48.0)  # a dark ballpoint
RULING = (110.0, 150.0, 225.0)  # printed blue rules
SHARE = 0.3  # of the ink's peak: where the digit's box is measured, for the truth and the result


def digit_ink_of(digit: NDArray[np.uint8], height: int) -> Ink:
    """The MNIST digit upscaled so that its ink is `height` px tall, cropped to its ink."""
    rows = np.flatnonzero(digit.any(axis=1))
    scale = height / (rows[-1] - rows[0] + 1)
    side = round(28 * scale)
    up = cv2.resize(digit.astype(np.float32) / 255, (side, side), interpolation=cv2.INTER_CUBIC)
    up = np.clip(up, 0.0, 1.0)
    ys, xs = np.nonzero(up > 0.05)
    return up[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def blank_page(height: int, width: int, paper: tuple[float, float, float] = PAPER) -> Page:
    page = np.empty((height, width, 3), np.float32)
    page[:] = paper
    return page


def draw(page: Page, ink: Ink, top: int, left: int, pen: tuple[float, float, float]) -> Page:
    """The ink laid on the page in `pen`'s colour (opacity: the ink)."""
    alpha = ink[..., None]
    area = page[top : top + ink.shape[0], left : left + ink.shape[1]]
    area[:] = area * (1 - alpha) + np.asarray(pen, np.float32) * alpha
    return page


def photographed(page: Page, seed: int = 0) -> Photo:
    """A little sensor noise, as a camera adds it."""
    noise = np.random.default_rng(seed).normal(0.0, 2.0, page.shape).astype(np.float32)
    return np.clip(np.rint(page + noise), 0, 255).astype(np.uint8)


def ruled(page: Page, spacing: int = 36, thickness: int = 2, first: int = 20) -> Page:
    """Horizontal blue rules across the whole page, multiplied in as printed ink is."""
    tint = np.asarray(RULING, np.float32) / 255
    for row in range(first, page.shape[0], spacing):
        page[row : row + thickness] *= tint
    return page


def half_shadowed(page: Page) -> Page:
    page[:, : page.shape[1] // 2] *= 0.4
    return page


def pen_shadow(ink: Ink) -> Photo:
    """A pen's shadow across the middle of the digit: a band 110 px wide (about four strokes),
    at 30 degrees, darkened to 45 %, with soft 4 px sides."""
    page = centred(blank_page(800, 700), ink)
    ys, xs = np.mgrid[0:800, 0:700].astype(np.float32)
    across = np.abs((xs - 350) * np.sin(np.pi / 6) - (ys - 400) * np.cos(np.pi / 6))
    shade = np.clip((across - 55) / 4 + 0.5, 0.0, 1.0)  # 0 inside the band, 1 outside
    page *= (0.45 + 0.55 * shade)[..., None]
    return photographed(page)


def centred(page: Page, ink: Ink, pen: tuple[float, float, float] = PEN) -> Page:
    top = (page.shape[0] - ink.shape[0]) // 2
    left = (page.shape[1] - ink.shape[1]) // 2
    return draw(page, ink, top, left, pen)


def white(ink: Ink) -> Photo:
    return photographed(centred(blank_page(800, 600), ink))


def ruled_lines(ink: Ink) -> Photo:
    return photographed(ruled(centred(blank_page(800, 600), ink)))  # printed over: crossing it


def framed(margin: int, thickness: int) -> Callable[[Ink], Photo]:
    """A black rectangle drawn around the digit, `margin` px off its box."""

    def scene(ink: Ink) -> Photo:
        page = centred(blank_page(800, 600), ink)
        top, left = (800 - ink.shape[0]) // 2, (600 - ink.shape[1]) // 2
        far = (left + ink.shape[1] + margin, top + ink.shape[0] + margin)
        cv2.rectangle(page, (left - margin, top - margin), far, (15, 15, 15), thickness)
        return photographed(page)

    return scene


def shadowed(place: str) -> Callable[[Ink], Photo]:
    """The left half of the page darkened to 40 %; the digit in the lit half, the dark one, or
    across the shadow's edge."""

    def scene(ink: Ink) -> Photo:
        top = (800 - ink.shape[0]) // 2
        left = {"lit": 410, "dark": 290 - ink.shape[1], "edge": 350 - ink.shape[1] // 2}[place]
        return photographed(half_shadowed(draw(blank_page(800, 700), ink, top, left, PEN)))

    return scene


def small_on_large_page(ink: Ink) -> Photo:
    return photographed(centred(blank_page(900, 1200, (226.0, 224.0, 218.0)), ink))


def light_on_dark(ink: Ink) -> Photo:
    page = blank_page(800, 600, (42.0, 44.0, 50.0))
    return photographed(centred(page, ink, pen=(230.0, 230.0, 222.0)))


def red_on_yellow(ink: Ink) -> Photo:
    page = blank_page(800, 600, (246.0, 226.0, 96.0))
    return photographed(centred(page, ink, pen=(196.0, 28.0, 30.0)))


# id -> (the photo of the digit's ink, the digit's height in px)
SCENES: dict[str, tuple[Callable[[Ink], Photo], int]] = {
    "a-white-paper": (white, 240),
    "b-ruled-blue-lines-across": (ruled_lines, 240),
    "c-black-frame": (framed(60, 6), 240),  # 370x322 px: 46 % and 54 % of the page's sides
    "c-black-frame-a-third-of-the-page": (framed(40, 5), 160),  # 247x214: 31 %, 36 %
    "d-shadow-digit-lit": (shadowed("lit"), 240),
    "d-shadow-digit-in-shadow": (shadowed("dark"), 240),
    "d-shadow-edge-across-digit": (shadowed("edge"), 240),
    "e-small-40px-on-1200x900": (small_on_large_page, 40),
    "f-light-ink-dark-paper": (light_on_dark, 240),
    "g-red-ink-yellow-paper": (red_on_yellow, 240),
    "h-pen-shadow-across-digit": (pen_shadow, 240),
}
DIGITS = (0, 1, 2)  # MNIST test digits 7, 2, 1
# Scenes the photo stage gets wrong today (see the report of the change that added this file):
# id -> (why, the DIGITS it fails on). xfail strict: a fix shows as XPASS, and the entry goes.
KNOWN_BUGS: dict[str, tuple[str, tuple[int, ...]]] = {
    "b-ruled-blue-lines-across": (
        "a rule crossing the digit's stroke where it runs along the rule takes that stroke with "
        "it; the largest piece left is chosen",
        (0, 1),
    ),
    "d-shadow-edge-across-digit": (
        "the light estimate blurs the shadow's edge. Digit 2: a full-height band of 'ink' on its "
        "dark side, which _lines removes as a vertical rule with the strokes it crosses; the digit "
        "loses a third of its ink. Digit 0: the closing kept for the light (the first after which "
        "a wider one finds less than twice the ink) leaves out the stroke's end in the shadow",
        (0, 2),
    ),
    "h-pen-shadow-across-digit": (
        "digit 0 (a 7): its box is found, but its ink correlates 0.75 with the truth, not 0.9; the "
        "band is not taken for ink on digits 1 and 2 (the light estimate of the widest closing "
        "took it for ink on all three)",
        (0,),
    ),
}


def known_bug(name: str, index: int) -> bool:
    return name in KNOWN_BUGS and index in KNOWN_BUGS[name][1]


def box(ink: NDArray[np.floating]) -> tuple[int, int]:
    """(height, width) of the box around the ink over SHARE of its peak."""
    ys, xs = np.nonzero(ink > SHARE * float(ink.max()))
    return int(ys.max() - ys.min() + 1), int(xs.max() - xs.min() + 1)


def scene_params() -> list[object]:
    params = []
    for name in SCENES:
        for index in DIGITS:
            marks = []
            if known_bug(name, index):
                marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[name][0]))
            params.append(pytest.param(name, index, marks=marks, id=f"{name}-{index}"))
    return params


@pytest.mark.parametrize(("name", "index"), scene_params())
def test_digit_ink_is_the_digit_alone(mnist: Mnist, name: str, index: int) -> None:
    build, height = SCENES[name]
    truth = digit_ink_of(mnist.x_test[index], height)
    found = digit_ink(build(truth))
    assert isinstance(found, Digit)
    assert found.refusal is None
    assert found.ink.dtype == np.float32
    assert found.ink.ndim == 2
    assert 0.0 <= float(found.ink.min()) <= float(found.ink.max()) <= 1.0
    (true_h, true_w), (found_h, found_w) = box(truth), box(found.ink)
    # the digit's size and aspect, at full resolution: not a line's, a frame's or a shadow's
    assert found_h == pytest.approx(true_h, rel=0.1, abs=3)
    assert found_w / found_h == pytest.approx(true_w / true_h, rel=0.15)
    # the crop is the digit's own box (a margin of a few working pixels)
    assert found.ink.shape[0] <= true_h * 1.1 + 8
    assert found.ink.shape[1] <= true_w * 1.1 + 8
    # its shape: the rules, the frame and the shadow left nothing on it, and took nothing off
    assert correlation(normalize(found.ink), normalize(truth)) > 0.9
    assert float(found.ink.sum()) == pytest.approx(float(truth.sum()), rel=0.3)


def test_digit_ink_of_the_shadowed_half_is_nothing(mnist: Mnist) -> None:
    """With the digit in the lit half, no ink comes from the shadow: everything returned lies in
    the digit's box, and is the same as on a page without the shadow."""
    truth = digit_ink_of(mnist.x_test[0], 240)
    shadow = digit_ink(shadowed("lit")(truth))
    page = blank_page(800, 700)
    top = (800 - truth.shape[0]) // 2
    plain = digit_ink(photographed(draw(page, truth, top, 410, PEN)))
    assert shadow.ink.shape == plain.ink.shape
    assert correlation(shadow.ink, plain.ink) > 0.98


def test_pipeline_reads_each_scene_as_the_digit(mnist: Mnist) -> None:
    for name, (build, height) in SCENES.items():
        if known_bug(name, 0):
            continue
        digit = mnist.x_test[0]
        prepared = prepare_pixels(build(digit_ink_of(digit, height)))
        assert prepared.normalized, name
        assert prepared.refusal is None, name
        assert correlation(prepared.pixels, digit) > 0.8, name


# --- nothing on the page ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "page",
    [
        lambda: photographed(blank_page(800, 600)),
        lambda: photographed(blank_page(900, 1200, (40.0, 40.0, 46.0))),
        lambda: photographed(half_shadowed(blank_page(800, 700))),
        lambda: np.full((300, 400), 128, np.uint8),
    ],
    ids=["white", "dark", "half-shadow", "flat-gray"],
)
def test_digit_ink_of_a_blank_page_is_no_ink(page: Callable[[], Photo]) -> None:
    with pytest.raises(NoInk, match="no digit found"):
        digit_ink(page())


THICK_RULES = pytest.mark.xfail(
    strict=True,
    reason="rules 3-4 px thick: HoughLinesP returns some of the thick bands only as slanted, "
    "partial segments, which neither reach both borders nor meet a line across; those rules "
    "stay, and come back as a 300x3 'mark' with the refusal 'not shaped like a digit'",
)


@pytest.mark.parametrize(
    "thickness", [1, 2, pytest.param(3, marks=THICK_RULES), pytest.param(4, marks=THICK_RULES)]
)
def test_digit_ink_of_a_page_of_ruled_lines_only_is_no_ink(thickness: int) -> None:
    page = photographed(ruled(blank_page(800, 600), thickness=thickness))
    with pytest.raises(NoInk, match="no digit found"):
        digit_ink(page)
    with pytest.raises(NoInk):
        prepare_image(encode(Image.fromarray(page), "JPEG", quality=90), max_pixels=MAX_PIXELS)


# --- MNIST-style 28x28: the old path ------------------------------------------------------------


def test_mnist_style_28x28_takes_the_old_path(
    mnist: Mnist, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_photo(image: Photo) -> Digit:
        raise AssertionError("an MNIST-style 28x28 went through the photo stage")

    monkeypatch.setattr(pipeline, "digit_ink", no_photo)
    for digit in mnist.x_test[:50]:
        for prepared in (prepare_pixels(digit), prepare_image(png(digit), max_pixels=MAX_PIXELS)):
            assert not prepared.normalized
            assert prepared.refusal is None
            np.testing.assert_array_equal(prepared.pixels, digit)


# --- cost ---------------------------------------------------------------------------------------


def test_pipeline_cost_on_a_1200x900_jpeg_photo_is_bounded(mnist: Mnist) -> None:
    page = blank_page(900, 1200)
    draw(page, digit_ink_of(mnist.x_test[0], 300), 300, 500, PEN)
    page = ruled(page)
    page[:, :400] *= 0.6  # a shadow too: every step has work to do
    data = encode(Image.fromarray(photographed(page)), "JPEG", quality=90)
    assert prepare_image(data, max_pixels=MAX_PIXELS).normalized  # warm (imports, caches)
    times = []
    for _ in range(5):
        started = time.perf_counter()
        prepare_image(data, max_pixels=MAX_PIXELS)
        times.append(time.perf_counter() - started)
    assert statistics.median(times) < 0.1
