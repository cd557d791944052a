"""The Keras tutorial's network: 784 -> 512 relu -> dropout -> 512 relu -> dropout -> 10 softmax."""

import keras

from app.imaging.pixels import INPUT_SIZE, NUM_CLASSES
from training.config import MODEL_NAME

HIDDEN_UNITS = 512
DROPOUT_RATE = 0.2


def build_model() -> keras.Model:
    """The tutorial's multilayer perceptron with named layers (669,706 parameters)."""
    return keras.Sequential(
        [
            keras.Input(shape=(INPUT_SIZE,), name="pixels"),
            keras.layers.Dense(HIDDEN_UNITS, activation="relu", name="dense_1"),
            keras.layers.Dropout(DROPOUT_RATE, name="dropout_1"),
            keras.layers.Dense(HIDDEN_UNITS, activation="relu", name="dense_2"),
            keras.layers.Dropout(DROPOUT_RATE, name="dropout_2"),
            keras.layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities"),
        ],
        name=MODEL_NAME.replace("-", "_"),
    )


def compile_model(
    model: keras.Model,
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = 0.001,
) -> keras.Model:
    """Categorical cross-entropy, Adam (default rate: Keras' own), accuracy: the tutorial's."""
    model.compile(
        loss="categorical_crossentropy",
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        metrics=["accuracy"],
    )
    return model
