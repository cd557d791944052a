"""training.photos (with paper, pens, camera): digits photographed on paper, train vs held out."""

import io
import statistics
import time

import numpy as np
import pytest
from PIL import Image

from training import camera, paper, pens, photos
from training.fonts import TRAIN_FAMILIES, faces
from training.photos import (
    KINDS,
    blank_page,
    digit_ink,
    font_ink,
    font_photo_chunk,
    photo,
    photo_chunk,
    photo_size,
    prepared,
)

SPLITS = [False, True]


def a_digit() -> np.ndarray:
    """A thick '7'-ish stroke: light on black, 28x28 uint8."""
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[6:9, 7:21] = 255
    for row in range(9, 23):
        digit[row, 19 - (row - 9) // 2 : 22 - (row - 9) // 2] = 255
    return digit


def an_ink(seed: int = 0) -> np.ndarray:
    return digit_ink(a_digit(), np.random.default_rng(seed))


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("held_out", SPLITS, ids=["train", "held-out"])
@pytest.mark.parametrize("kind", KINDS)
def test_photo_is_a_decodable_rgb_jpeg_or_png(kind: str, held_out: bool) -> None:
    image = decoded(photo(an_ink(), kind, np.random.default_rng(1), held_out))
    assert image.format in ("JPEG", "PNG")
    assert image.mode == "RGB"


@pytest.mark.parametrize(
    ("kind", "held_out", "low", "high"),
    [
        ("ruled", False, 150, 600),
        ("sticky", False, 150, 600),
        ("small", False, 600, 1200),
        ("ruled", True, 600, 1000),
        ("boxed", True, 600, 1000),
    ],
)
def test_photo_size_long_side_in_range(kind: str, held_out: bool, low: int, high: int) -> None:
    rng = np.random.default_rng(2)
    for _ in range(200):
        width, height = photo_size(kind, rng, held_out)
        assert low <= max(width, height) <= high
        assert min(width, height) >= 0.6 * max(width, height) - 1


def test_photo_size_held_out_small_is_a_phone_photo() -> None:
    rng = np.random.default_rng(3)
    sizes = {photo_size("small", rng, held_out=True) for _ in range(50)}
    assert sizes == {(1200, 900), (900, 1200)}


@pytest.mark.parametrize("kind", KINDS)
def test_photo_file_has_the_drawn_size(kind: str) -> None:
    size = photo_size(kind, np.random.default_rng(4), held_out=False)
    assert decoded(photo(an_ink(), kind, np.random.default_rng(4))).size == size


@pytest.mark.parametrize("held_out", SPLITS, ids=["train", "held-out"])
@pytest.mark.parametrize("kind", KINDS)
def test_photo_same_seed_same_bytes(kind: str, held_out: bool) -> None:
    first = photo(an_ink(), kind, np.random.default_rng(5), held_out)
    assert photo(an_ink(), kind, np.random.default_rng(5), held_out) == first


@pytest.mark.parametrize("kind", KINDS)
def test_photo_other_seed_other_bytes(kind: str) -> None:
    assert photo(an_ink(), kind, np.random.default_rng(6)) != photo(
        an_ink(), kind, np.random.default_rng(7)
    )


def test_photo_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="'lined'"):
        photo(an_ink(), "lined", np.random.default_rng(0))


@pytest.mark.parametrize(
    "ink",
    [np.zeros((40, 40), np.float32), np.ones((500, 90), np.float32), np.ones((3, 400), np.float32)],
    ids=["blank", "tall", "flat"],
)
def test_photo_takes_any_ink(ink: np.ndarray) -> None:
    for kind in KINDS:
        assert decoded(photo(ink, kind, np.random.default_rng(8))).mode == "RGB"


def test_photo_is_mostly_jpeg_some_png() -> None:
    rng = np.random.default_rng(9)
    formats = [decoded(photo(an_ink(), "shadow", rng)).format for _ in range(150)]
    assert 0 < formats.count("PNG") < 0.25 * len(formats)


def test_photo_jpeg_quality_varies() -> None:
    rng = np.random.default_rng(10)
    tables = set()
    for _ in range(20):
        image = decoded(photo(an_ink(), "grid", rng))
        if image.format == "JPEG":
            tables.add(bytes(image.quantization[0]))  # type: ignore[attr-defined]
    assert len(tables) > 5


@pytest.mark.parametrize(
    "table",
    [paper.PAPERS, paper.RULINGS, paper.BOX_STYLES, paper.LABELS, camera.SHADOWS, photos.NOTES],
    ids=["papers", "rulings", "boxes", "labels", "shadows", "notes"],
)
def test_held_out_choices_are_never_training_choices(table: dict) -> None:
    assert table[True]
    assert not set(table[True]) & set(table[False])


def test_held_out_inks_add_colours_training_never_draws() -> None:
    assert set(pens.INKS[False]) < set(pens.INKS[True])
    assert len(pens.INKS[True]) == len(pens.WEIGHTS[True])


@pytest.mark.parametrize("held_out", SPLITS, ids=["train", "held-out"])
def test_ruled_draws_only_its_splits_styles(held_out: bool) -> None:
    rng = np.random.default_rng(11)
    styles = set()
    for _ in range(60):
        page = blank_page((100, 100), rng, held_out)
        styles.add(paper.ruled(page, 20.0, photos.extent(page.view), rng, held_out)[0])
    assert styles == set(paper.RULINGS[held_out])


@pytest.mark.parametrize("held_out", SPLITS, ids=["train", "held-out"])
def test_paper_colour_is_near_its_splits_papers(held_out: bool) -> None:
    rng = np.random.default_rng(12)
    bases = np.asarray(paper.PAPERS[held_out], dtype=float)
    for _ in range(100):
        colour = paper.paper_colour(rng, held_out)
        assert np.abs(bases - colour).max(axis=1).min() <= 6


def test_page_is_drawn_supersampled_and_finished_at_the_view() -> None:
    page = blank_page((1200, 800), np.random.default_rng(13), held_out=False)
    view = page.view
    assert view == (round(1200 * page.scale), round(800 * page.scale))
    assert 0.55 <= page.scale <= 0.9
    assert page.image.size == (view[0] * paper.SUPERSAMPLE, view[1] * paper.SUPERSAMPLE)
    page.finish()
    assert (page.image.size, page.view) == (view, view)


def test_digit_ink_is_float_ink_in_0_1() -> None:
    ink = an_ink()
    assert ink.dtype == np.float32
    assert ink.min() >= 0.0
    assert ink.max() <= 1.0
    assert ink.max() > 0.5


@pytest.mark.parametrize(
    "face",
    [None, faces(TRAIN_FAMILIES[0])[0], faces(TRAIN_FAMILIES[-1])[0]],
    ids=["pillow", "sans", "hand"],
)
def test_font_ink_is_the_glyph_as_float_ink(face) -> None:  # type: ignore[no-untyped-def]
    ink = font_ink(face, 4, np.random.default_rng(14), {})
    assert ink.dtype == np.float32
    assert ink.max() == 1.0
    assert ink[0].max() == 0.0  # a margin around the glyph
    assert ink.shape[0] >= 40


def test_tight_crops_ink_to_its_strokes() -> None:
    ink = np.zeros((50, 60), np.float32)
    ink[10:20, 5:45] = 1.0
    assert pens.tight(ink).shape == (10, 40)


def test_photo_chunk_returns_aligned_arrays() -> None:
    digits = np.stack([a_digit()] * 4)
    labels = np.array([7, 7, 1, 2], np.uint8)
    seed = np.random.SeedSequence(15)
    pixels, out_labels, ok = photo_chunk(digits, labels, ("ruled", "sticky"), seed, False)
    assert (pixels.shape, pixels.dtype) == ((4, 28, 28), np.uint8)
    np.testing.assert_array_equal(out_labels, labels)
    assert (ok.shape, ok.dtype) == ((4,), np.bool_)
    assert not pixels[~ok].any()


def test_font_photo_chunk_labels_are_0_to_9_in_turn() -> None:
    seed = np.random.SeedSequence(16)
    pixels, labels, ok = font_photo_chunk([None], 12, ("boxed",), seed, True)
    np.testing.assert_array_equal(labels, np.arange(12) % 10)
    assert pixels.shape == (12, 28, 28)
    assert ok.shape == (12,)


def test_prepared_marks_what_the_service_refuses_not_ok() -> None:
    buffer = io.BytesIO()
    Image.fromarray(a_digit()).save(buffer, "PNG")
    pixels, ok = prepared([buffer.getvalue(), b""])
    assert ok.tolist() == [True, False]
    assert pixels[0].any()


@pytest.mark.parametrize(
    ("kind", "held_out", "budget_ms"),
    [(kind, False, 25.0) for kind in KINDS if kind != "small"]
    + [("small", False, 100.0), ("small", True, 150.0), ("ruled", True, 100.0)],
)
def test_photo_time_is_bounded(kind: str, held_out: bool, budget_ms: float) -> None:
    """Budgets are 4-5x what one core takes (a shared machine): a regression, not a benchmark."""
    rng, ink = np.random.default_rng(17), an_ink()
    times = []
    for _ in range(15):
        start = time.perf_counter()
        photo(ink, kind, rng, held_out)
        times.append(time.perf_counter() - start)
    assert statistics.median(times) * 1000 < budget_ms
