"""training.model: the Keras tutorial's MLP, layer by layer, and its compile step."""

import keras
import numpy as np
import pytest

from training.model import build_model, compile_model

LAYERS = [
    # name, class, units, activation, dropout rate
    ("dense_1", keras.layers.Dense, 512, "relu", None),
    ("dropout_1", keras.layers.Dropout, None, None, 0.2),
    ("dense_2", keras.layers.Dense, 512, "relu", None),
    ("dropout_2", keras.layers.Dropout, None, None, 0.2),
    ("probabilities", keras.layers.Dense, 10, "softmax", None),
]


@pytest.fixture(scope="module")
def model() -> keras.Model:
    return build_model()


@pytest.fixture(scope="module")
def compiled() -> keras.Model:
    return compile_model(build_model())


def test_build_model_input_is_a_784_vector_named_pixels(model: keras.Model) -> None:
    assert model.input_shape == (None, 784)
    assert model.inputs[0].name == "pixels"


def test_build_model_has_exactly_the_tutorial_layers_in_order(model: keras.Model) -> None:
    assert [layer.name for layer in model.layers] == [name for name, *_ in LAYERS]


@pytest.mark.parametrize(
    ("index", "name", "kind", "units", "activation", "rate"),
    [(index, *layer) for index, layer in enumerate(LAYERS)],
    ids=[name for name, *_ in LAYERS],
)
def test_build_model_layer_matches_the_tutorial(
    model: keras.Model,
    index: int,
    name: str,
    kind: type,
    units: int | None,
    activation: str | None,
    rate: float | None,
) -> None:
    layer = model.layers[index]
    assert (layer.name, type(layer)) == (name, kind)
    if kind is keras.layers.Dense:
        assert (layer.units, layer.activation.__name__, layer.use_bias) == (units, activation, True)
    else:
        assert layer.rate == pytest.approx(rate)


def test_build_model_has_669706_parameters(model: keras.Model) -> None:
    assert model.count_params() == 669_706


def test_build_model_outputs_10_probabilities_per_image(model: keras.Model) -> None:
    x = np.random.default_rng(0).random((3, 784), dtype=np.float32)
    probabilities = keras.ops.convert_to_numpy(model(x))
    assert probabilities.shape == (3, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_build_model_is_not_compiled(model: keras.Model) -> None:
    assert model.compiled is False


def test_compile_model_returns_the_same_model() -> None:
    model = build_model()
    assert compile_model(model) is model


def test_compile_model_uses_categorical_crossentropy(compiled: keras.Model) -> None:
    assert compiled.get_compile_config()["loss"] == "categorical_crossentropy"


def test_compile_model_uses_adam(compiled: keras.Model) -> None:
    assert type(compiled.optimizer) is keras.optimizers.Adam


def test_compile_model_tracks_accuracy(compiled: keras.Model) -> None:
    assert compiled.get_compile_config()["metrics"] == ["accuracy"]
