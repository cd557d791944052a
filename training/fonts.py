"""Font families for typed digits: only fonts that Python packages of the project bundle.

matplotlib (the train extra) bundles DejaVu, STIX and Computer Modern; the `font-*` packages of
the train extra bundle Google-/Adobe-style families; Pillow bundles its default font (Aileron).
Whole families are either trained on or held out for evaluation, never both.
"""

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from PIL import ImageFont

PILLOW_DEFAULT = "Pillow default (Aileron)"


@dataclass(frozen=True)
class Family:
    name: str
    package: str  # the Python package that ships it
    files: tuple[str, ...]  # file names inside the package's font folder (empty: Pillow's own)
    style: str  # "sans", "serif", "mono", "hand"


def _mpl(name: str, style: str, *files: str) -> Family:
    return Family(name, "matplotlib", files, style)


def _pkg(name: str, package: str, style: str, *files: str) -> Family:
    return Family(name, package, files, style)


TRAIN_FAMILIES = (
    _pkg(
        "Roboto",
        "font_roboto",
        "sans",
        "Roboto-Regular.ttf",
        "Roboto-Bold.ttf",
        "Roboto-Light.ttf",
        "Roboto-Italic.ttf",
        "Roboto-Black.ttf",
        "Roboto-Medium.ttf",
    ),
    _pkg(
        "Lato",
        "font_lato",
        "sans",
        "Lato-Regular.ttf",
        "Lato-Bold.ttf",
        "Lato-Light.ttf",
        "Lato-Italic.ttf",
        "Lato-Black.ttf",
    ),
    _pkg(
        "Manrope",
        "font_manrope",
        "sans",
        "Manrope-Regular.ttf",
        "Manrope-Bold.ttf",
        "Manrope-Light.ttf",
        "Manrope-ExtraBold.ttf",
    ),
    _pkg(
        "Red Hat Display",
        "font_rhd",
        "sans",
        "RedHatDisplay-Regular.ttf",
        "RedHatDisplay-Bold.ttf",
        "RedHatDisplay-Italic.ttf",
        "RedHatDisplay-Black.ttf",
    ),
    _pkg(
        "Hanken Grotesk",
        "font_hanken_grotesk",
        "sans",
        "HankenGrotesk-Regular.otf",
        "HankenGrotesk-Bold.otf",
        "HankenGrotesk-Light.otf",
        "HankenGrotesk-Italic.otf",
    ),
    _pkg("Fredoka One", "font_fredoka_one", "sans", "FredokaOne-Regular.ttf"),
    _pkg(
        "Source Serif Pro",
        "font_source_serif_pro",
        "serif",
        "SourceSerifPro-Regular.ttf",
        "SourceSerifPro-Bold.ttf",
        "SourceSerifPro-Light.ttf",
        "SourceSerifPro-It.ttf",
    ),
    _mpl(
        "STIX General",
        "serif",
        "STIXGeneral.ttf",
        "STIXGeneralBol.ttf",
        "STIXGeneralItalic.ttf",
        "STIXGeneralBolIta.ttf",
    ),
    _mpl("Computer Modern Roman", "serif", "cmr10.ttf", "cmb10.ttf", "cmti10.ttf"),
    _mpl("Computer Modern Sans", "sans", "cmss10.ttf"),
    _pkg("Amatic SC", "font_amatic_sc", "hand", "AmaticSC-Regular.ttf", "AmaticSC-Bold.ttf"),
)
HELD_OUT_FAMILIES = (
    Family(PILLOW_DEFAULT, "PIL", (), "sans"),
    _mpl("DejaVu Sans", "sans", "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf"),
    _mpl(
        "DejaVu Serif", "serif", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf"
    ),
    _mpl("DejaVu Sans Mono", "mono", "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf"),
    _mpl("Computer Modern Typewriter", "mono", "cmtt10.ttf"),
    _pkg(
        "Source Sans Pro",
        "font_source_sans_pro",
        "sans",
        "SourceSansPro-Regular.ttf",
        "SourceSansPro-Bold.ttf",
        "SourceSansPro-Light.ttf",
        "SourceSansPro-It.ttf",
    ),
    _pkg(
        "Caladea",
        "font_caladea",
        "serif",
        "Caladea-Regular.ttf",
        "Caladea-Bold.ttf",
        "Caladea-Italic.ttf",
    ),
    _pkg("Intuitive", "font_intuitive", "hand", "Intuitive.ttf"),
)


def font_folder(package: str) -> Path:
    """Where a package keeps its font files."""
    if package == "matplotlib":
        import matplotlib

        return Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return Path(str(resources.files(package) / "files"))


def font_paths(family: Family) -> list[Path]:
    """The family's font files that exist on this machine (the package may be missing)."""
    if not family.files:
        return []
    try:
        folder = font_folder(family.package)
    except ModuleNotFoundError:
        return []
    return [folder / name for name in family.files if (folder / name).is_file()]


def load_font(path: Path | None, size: int) -> ImageFont.FreeTypeFont:
    """A TrueType/OpenType font at `size` px; None is Pillow's own scalable default font."""
    if path is None:
        font = ImageFont.load_default(size=size)
        if not isinstance(font, ImageFont.FreeTypeFont):
            raise RuntimeError("this Pillow was built without FreeType")
        return font
    return ImageFont.truetype(str(path), size=size)


def faces(family: Family) -> list[Path | None]:
    """Every face of a family to draw with: its files, or [None] for Pillow's default."""
    return [None] if family.package == "PIL" else list(font_paths(family))


def available(families: tuple[Family, ...]) -> tuple[Family, ...]:
    """The families with at least one face on this machine."""
    return tuple(family for family in families if faces(family))
