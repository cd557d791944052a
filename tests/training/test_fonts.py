"""training.fonts: fonts only from Python packages; trained and held-out families kept apart."""

import pytest
from PIL import ImageFont

from training.fonts import HELD_OUT_FAMILIES, TRAIN_FAMILIES, faces, font_paths, load_font

ALL = TRAIN_FAMILIES + HELD_OUT_FAMILIES


def test_no_family_is_both_trained_on_and_held_out() -> None:
    assert not {f.name for f in TRAIN_FAMILIES} & {f.name for f in HELD_OUT_FAMILIES}


def test_no_font_file_is_both_trained_on_and_held_out() -> None:
    trained = {p for f in TRAIN_FAMILIES for p in faces(f)}
    held_out = {p for f in HELD_OUT_FAMILIES for p in faces(f)}
    assert not trained & held_out


def test_held_out_families_cover_sans_serif_mono_and_handwriting() -> None:
    assert {f.style for f in HELD_OUT_FAMILIES} == {"sans", "serif", "mono", "hand"}


@pytest.mark.parametrize("family", ALL, ids=[f.name for f in ALL])
def test_every_family_file_is_installed(family) -> None:  # type: ignore[no-untyped-def]
    assert len(faces(family)) == max(1, len(family.files))


@pytest.mark.parametrize("family", ALL, ids=[f.name for f in ALL])
def test_no_font_comes_from_the_operating_system(family) -> None:  # type: ignore[no-untyped-def]
    assert all("/usr/share/fonts" not in str(path) for path in font_paths(family))


@pytest.mark.parametrize("family", ALL, ids=[f.name for f in ALL])
def test_every_face_draws_all_ten_digits(family) -> None:  # type: ignore[no-untyped-def]
    for face in faces(family):
        font = load_font(face, 40)
        assert isinstance(font, ImageFont.FreeTypeFont)
        widths = [font.getbbox(str(digit))[2] for digit in range(10)]
        assert min(widths) > 5, f"{face}: {widths}"
