"""Training settings and their defaults (the tutorial's), importable without Keras."""

from dataclasses import dataclass

MODEL_NAME = "mnist-mlp"


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 20
    batch_size: int = 128
    validation_split: float = 0.1
    seed: int = 42
    name: str = MODEL_NAME
    version: str = "1"
