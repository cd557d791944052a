"""training.outliers (with doodles): images that are not digits, for training and held out."""

import io
import statistics
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training import doodles, outliers
from training.fonts import HELD_OUT_FAMILIES, TRAIN_FAMILIES, faces
from training.outliers import (
    EXCLUDED,
    KINDS,
    LETTERS,
    drawable,
    letter_ink,
    outlier,
    outlier_chunk,
    split_faces,
)

SPLITS = [False, True]
SPLIT_IDS = ["train", "held-out"]
# What the brief names as letters a digit reader cannot tell from a digit.
CONFUSABLE = "OoQDIilj|SsZzBbGgq"


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("held_out", SPLITS, ids=SPLIT_IDS)
@pytest.mark.parametrize("kind", KINDS)
def test_outlier_is_a_decodable_image_file(kind: str, held_out: bool) -> None:
    rng = np.random.default_rng(1)
    for _ in range(4):
        image = decoded(outlier(kind, rng, held_out))
        assert image.format in ("JPEG", "PNG")
        assert image.mode in ("L", "RGB", "RGBA")
        assert min(image.size) >= 28


@pytest.mark.parametrize("held_out", SPLITS, ids=SPLIT_IDS)
@pytest.mark.parametrize("kind", KINDS)
def test_outlier_same_seed_same_bytes(kind: str, held_out: bool) -> None:
    first = outlier(kind, np.random.default_rng(2), held_out)
    assert outlier(kind, np.random.default_rng(2), held_out) == first


@pytest.mark.parametrize("kind", KINDS)
def test_outlier_other_seed_other_bytes(kind: str) -> None:
    assert outlier(kind, np.random.default_rng(3)) != outlier(kind, np.random.default_rng(4))


def test_outlier_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="'digits'"):
        outlier("digits", np.random.default_rng(0))


@pytest.mark.parametrize("char", sorted(set(CONFUSABLE)))
def test_letters_exclude_what_reads_as_a_digit(char: str) -> None:
    assert char in EXCLUDED
    assert char not in LETTERS


def test_letters_and_exclusions_are_disjoint() -> None:
    assert not set(LETTERS) & set(EXCLUDED)


@pytest.mark.parametrize("text", [LETTERS, " ".join(doodles.WORDS)], ids=["letters", "words"])
def test_no_digit_is_ever_drawn_as_text(text: str) -> None:
    assert not any(char.isdigit() for char in text)


@pytest.mark.parametrize("hand", [False, True], ids=["print", "hand"])
def test_trained_and_held_out_faces_are_disjoint(hand: bool) -> None:
    assert split_faces(False, hand)
    assert split_faces(True, hand)
    assert not set(split_faces(False, hand)) & set(split_faces(True, hand))


@pytest.mark.parametrize(
    ("held_out", "families"),
    [(False, TRAIN_FAMILIES), (True, HELD_OUT_FAMILIES)],
    ids=SPLIT_IDS,
)
def test_hand_faces_are_the_splits_handwriting_families(held_out: bool, families: tuple) -> None:
    hand = {face for family in families if family.style == "hand" for face in faces(family)}
    assert set(split_faces(held_out, hand=True)) == hand


@pytest.mark.parametrize("held_out", SPLITS, ids=SPLIT_IDS)
@pytest.mark.parametrize("kind", ["letters", "hand_letters"])
def test_letters_are_drawn_in_the_splits_faces_only(
    kind: str, held_out: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[Path | None] = []

    def recording(face: Path | None, rng: np.random.Generator, hand: bool) -> np.ndarray:
        used.append(face)
        return letter_ink(face, rng, hand)

    monkeypatch.setattr(outliers, "letter_ink", recording)
    rng = np.random.default_rng(5)
    for _ in range(30):
        outlier(kind, rng, held_out)
    assert set(used) <= set(split_faces(held_out, hand=kind == "hand_letters"))
    assert len(set(used)) > 1 or len(split_faces(held_out, kind == "hand_letters")) == 1


def test_outlier_draws_letters_in_the_faces_given() -> None:
    rng = np.random.default_rng(6)
    assert decoded(outlier("letters", rng, faces=[None])).mode in ("L", "RGB", "RGBA")


@pytest.mark.parametrize(
    "face",
    [face for family in TRAIN_FAMILIES + HELD_OUT_FAMILIES for face in faces(family)],
    ids=str,
)
def test_every_face_draws_every_letter(face: Path | None) -> None:
    assert drawable(face) == LETTERS


@pytest.mark.parametrize(
    "table",
    [doodles.SCRIBBLES, doodles.SHAPES, doodles.TEXTURES],
    ids=["scribbles", "shapes", "textures"],
)
def test_held_out_doodle_styles_are_never_training_styles(table: dict) -> None:
    assert table[True]
    assert not set(table[True]) & set(table[False])


def is_ink(ink: np.ndarray) -> bool:
    return bool(ink.dtype == np.float32 and ink.min() >= 0 and ink.max() <= 1 and ink.max() > 0.3)


@pytest.mark.parametrize("style", doodles.SCRIBBLES[False] + doodles.SCRIBBLES[True])
def test_scribble_is_ink(style: str) -> None:
    assert is_ink(doodles.scribble(style, np.random.default_rng(7)))


@pytest.mark.parametrize("held_out", SPLITS, ids=SPLIT_IDS)
@pytest.mark.parametrize("style", doodles.SHAPES[False] + doodles.SHAPES[True])
def test_shapes_are_ink(style: str, held_out: bool) -> None:
    assert is_ink(doodles.shapes(style, np.random.default_rng(8), held_out))


@pytest.mark.parametrize("style", doodles.TEXTURES[False] + doodles.TEXTURES[True])
def test_texture_is_ink(style: str) -> None:
    assert is_ink(doodles.texture(style, np.random.default_rng(9), [None]))


@pytest.mark.parametrize("style", doodles.SCRIBBLES[False] + doodles.SCRIBBLES[True])
def test_scribble_is_never_one_straight_stroke(style: str) -> None:
    """A straight stroke's ink spreads along one direction only: its spread's axes differ ~100x."""
    rng = np.random.default_rng(10)
    for _ in range(20):
        rows, cols = np.nonzero(doodles.scribble(style, rng) > 0.5)
        spread = np.linalg.eigvalsh(np.cov(np.stack([rows, cols]).astype(float)))
        assert spread[0] / spread[1] > 0.05


def test_outlier_comes_as_photos_clean_pngs_mnist_frames_and_canvas_exports() -> None:
    rng = np.random.default_rng(11)
    images = [decoded(outlier("shapes", rng)) for _ in range(80)]
    assert {"JPEG", "PNG"} == {image.format for image in images}
    assert any(image.mode == "RGBA" for image in images)
    assert any(image.size == (28, 28) for image in images)


@pytest.mark.parametrize("held_out", SPLITS, ids=SPLIT_IDS)
def test_paper_outlier_is_a_photo(held_out: bool) -> None:
    image = decoded(outlier("paper", np.random.default_rng(12), held_out))
    assert image.mode == "RGB"
    assert max(image.size) >= 150


@pytest.mark.parametrize("held_out", SPLITS, ids=SPLIT_IDS)
def test_outlier_chunk_returns_aligned_arrays(held_out: bool) -> None:
    pixels, ok = outlier_chunk("scribbles", 5, np.random.SeedSequence(13), held_out)
    assert (pixels.shape, pixels.dtype) == ((5, 28, 28), np.uint8)
    assert (ok.shape, ok.dtype) == ((5,), np.bool_)
    assert not pixels[~ok].any()


@pytest.mark.parametrize("held_out", SPLITS, ids=SPLIT_IDS)
@pytest.mark.parametrize("kind", KINDS)
def test_outlier_time_is_bounded(kind: str, held_out: bool) -> None:
    """Budgets are ~5x what one core takes (a shared machine): a regression, not a benchmark."""
    rng = np.random.default_rng(14)
    times = []
    for _ in range(15):
        start = time.perf_counter()
        outlier(kind, rng, held_out)
        times.append(time.perf_counter() - start)
    assert statistics.median(times) * 1000 < (60.0 if held_out else 30.0)
