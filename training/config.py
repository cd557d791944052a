"""Training settings and their defaults, importable without Keras.

Two recipes train the same network: `tutorial` is the seed Keras tutorial exactly (plain MNIST,
the last 10 % held out for validation); `robust` (the default) adds distorted copies of the
digits, typed digits and phone photos of digits on paper, all through the service's own imaging,
and images that are not digits, taught to be uncertain (Outlier Exposure).
"""

from dataclasses import dataclass

MODEL_NAME = "mnist"
RECIPES = ("robust", "tutorial")


@dataclass(frozen=True)
class TrainConfig:
    recipe: str = "robust"
    epochs: int = 20
    batch_size: int = 128
    validation_split: float = 0.1
    seed: int = 42
    name: str = MODEL_NAME
    version: str = "1"
    copies: int = 2  # robust: distorted copies of each MNIST training digit
    typed_share: float = 0.6  # robust: typed digits per MNIST training digit
    photo_share: float = 0.5  # robust: phone photos of paper per MNIST training digit ...
    font_photo_share: float = 0.1  # ... and of font digits, per MNIST training digit
    outlier_share: float = 0.3  # robust: images that are not digits, per MNIST training digit
    outlier_weight: float = 0.5  # Outlier Exposure's lambda: their loss against uniform
    false_refusal: float = 0.003  # calibration: held-out MNIST digits below the threshold
    eval_samples: int | None = None  # most images per kind of upload evaluated (None: all)

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise ValueError(f"recipe must be one of {', '.join(RECIPES)}, got {self.recipe!r}")
