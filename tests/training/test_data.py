"""training.data: where MNIST comes from, how a bad file is reported, and how it is prepared."""

import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import app.imaging.pipeline
import training.data
from app.imaging.pipeline import PreparedImage
from app.imaging.pixels import to_model_input
from training.data import DATA_ENV, DatasetError, Mnist, load_mnist, prepare, resolve_path

Writer = Callable[[Path], object]


def _arrays(**changes: np.ndarray) -> dict[str, np.ndarray]:
    """A tiny, valid dataset in Keras' layout (6 train, 4 test images), with `changes` applied."""
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, size=(6, 28, 28), dtype=np.uint8),
        "y_train": np.array([0, 1, 2, 3, 4, 9], dtype=np.uint8),
        "x_test": rng.integers(0, 256, size=(4, 28, 28), dtype=np.uint8),
        "y_test": np.array([5, 6, 7, 8], dtype=np.uint8),
    }
    return arrays | changes


def _npz(**changes: np.ndarray) -> Writer:
    return lambda path: np.savez(path, **_arrays(**changes))


def _npz_without(key: str) -> Writer:
    arrays = _arrays()
    del arrays[key]
    return lambda path: np.savez(path, **arrays)


def _truncated_npz(path: Path) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **_arrays())
    path.write_bytes(buffer.getvalue()[:300])


def _npy(path: Path) -> None:
    with path.open("wb") as f:
        np.save(f, _arrays()["x_train"])


@pytest.fixture
def digits_file(tmp_path: Path) -> Path:
    path = tmp_path / "digits.npz"
    np.savez(path, **_arrays())
    return path


@pytest.fixture
def other_digits_file(tmp_path: Path) -> Path:
    path = tmp_path / "other.npz"
    np.savez(path, **_arrays(y_train=np.array([9, 9, 9, 9, 9, 9], dtype=np.uint8)))
    return path


def test_load_mnist_reads_the_four_arrays_from_a_path(digits_file: Path) -> None:
    data = load_mnist(digits_file)
    for key, expected in _arrays().items():
        np.testing.assert_array_equal(getattr(data, key), expected, err_msg=key)


def test_load_mnist_accepts_a_string_path(digits_file: Path) -> None:
    assert load_mnist(str(digits_file)).x_train.shape == (6, 28, 28)


def test_load_mnist_records_the_file_name_as_source(digits_file: Path) -> None:
    assert load_mnist(digits_file).source == "digits.npz"


def test_load_mnist_records_the_sha256_of_the_file(digits_file: Path) -> None:
    expected = hashlib.sha256(digits_file.read_bytes()).hexdigest()
    assert load_mnist(digits_file).sha256 == expected


def test_load_mnist_reads_env_path_without_argument(
    monkeypatch: pytest.MonkeyPatch, digits_file: Path
) -> None:
    monkeypatch.setenv(DATA_ENV, str(digits_file))
    np.testing.assert_array_equal(load_mnist().y_train, _arrays()["y_train"])


def test_load_mnist_path_argument_beats_env(
    monkeypatch: pytest.MonkeyPatch, digits_file: Path, other_digits_file: Path
) -> None:
    monkeypatch.setenv(DATA_ENV, str(other_digits_file))
    np.testing.assert_array_equal(load_mnist(digits_file).y_train, _arrays()["y_train"])


def test_load_mnist_names_a_missing_env_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "from-env.npz"
    monkeypatch.setenv(DATA_ENV, str(missing))
    with pytest.raises(DatasetError, match=f"^{missing}: no such file"):
        load_mnist()


@pytest.mark.parametrize(
    ("flag", "env", "expected"),
    [
        ("flag.npz", "env.npz", Path("flag.npz")),
        (Path("flag.npz"), "env.npz", Path("flag.npz")),
        ("flag.npz", None, Path("flag.npz")),
        (None, "env.npz", Path("env.npz")),
        (None, "", None),
        (None, None, None),
    ],
)
def test_resolve_path_prefers_flag_then_env(
    monkeypatch: pytest.MonkeyPatch, flag: str | None, env: str | None, expected: Path | None
) -> None:
    if env is None:
        monkeypatch.delenv(DATA_ENV, raising=False)
    else:
        monkeypatch.setenv(DATA_ENV, env)
    assert resolve_path(flag) == expected


MALFORMED = [
    pytest.param(lambda path: None, "no such file", id="nonexistent"),
    pytest.param(lambda path: path.mkdir(), "no such file", id="directory"),
    pytest.param(lambda path: path.write_text("x,y\n1,2\n"), "not a readable .npz", id="not-a-zip"),
    pytest.param(_truncated_npz, "not a readable .npz", id="truncated-zip"),
    pytest.param(_npy, "not a readable .npz", id="npy-not-npz"),
    pytest.param(
        _npz(y_train=np.array([0, 1, 2, 3, 4, None], dtype=object)),
        "not a readable .npz",
        id="pickled-object-labels",
    ),
    pytest.param(_npz_without("y_test"), "missing key(s) y_test", id="missing-y_test"),
    pytest.param(_npz_without("x_train"), "missing key(s) x_train", id="missing-x_train"),
    pytest.param(
        _npz(x_train=np.zeros((6, 27, 28), np.uint8)),
        "x_train has shape (6, 27, 28), expected (N, 28, 28)",
        id="images-27x28",
    ),
    pytest.param(
        _npz(x_test=np.zeros((4, 28, 27), np.uint8)),
        "x_test has shape (4, 28, 27), expected (N, 28, 28)",
        id="images-28x27",
    ),
    pytest.param(
        _npz(x_train=np.zeros((6, 784), np.uint8)),
        "x_train has shape (6, 784), expected (N, 28, 28)",
        id="flat-images",
    ),
    pytest.param(
        _npz(x_train=np.zeros((6, 28, 28), np.float32)),
        "x_train has dtype float32, expected uint8",
        id="float-images",
    ),
    pytest.param(
        _npz(y_train=np.array([0.0, 1, 2, 3, 4, 9])),
        "y_train has dtype float64, expected integers",
        id="float-labels",
    ),
    pytest.param(
        _npz(y_train=np.array([0, 1, 2, 3, 4, 10], np.uint8)),
        "y_train has labels in [0, 10], expected 0-9",
        id="label-10",
    ),
    pytest.param(
        _npz(y_test=np.array([5, 6, -1, 8], np.int64)),
        "y_test has labels in [-1, 8], expected 0-9",
        id="label-minus-1",
    ),
    pytest.param(
        _npz(y_train=np.array([0, 1, 2, 3, 4], np.uint8)),
        "y_train has shape (5,), expected (6,) to match x_train",
        id="fewer-labels-than-images",
    ),
    pytest.param(
        _npz(y_test=np.array([5, 6, 7, 8, 9], np.uint8)),
        "y_test has shape (5,), expected (4,) to match x_test",
        id="more-labels-than-images",
    ),
    pytest.param(
        _npz(y_test=np.zeros((4, 1), np.uint8)),
        "y_test has shape (4, 1), expected (4,) to match x_test",
        id="labels-2d",
    ),
    pytest.param(
        _npz(x_test=np.zeros((0, 28, 28), np.uint8), y_test=np.zeros(0, np.uint8)),
        "test split is empty",
        id="empty-test-split",
    ),
]


@pytest.mark.parametrize(("write", "problem"), MALFORMED)
def test_load_mnist_rejects_malformed_file_naming_file_and_problem(
    tmp_path: Path, write: Writer, problem: str
) -> None:
    path = tmp_path / "digits.npz"
    write(path)
    with pytest.raises(DatasetError) as caught:
        load_mnist(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert problem in message


def test_load_mnist_real_file_has_mnist_shapes(mnist: Mnist) -> None:
    shapes = [a.shape for a in (mnist.x_train, mnist.y_train, mnist.x_test, mnist.y_test)]
    assert shapes == [(60000, 28, 28), (60000,), (10000, 28, 28), (10000,)]


@pytest.mark.parametrize(
    "labels", [list(range(10)), [7, 7, 0], [9]], ids=["all-digits", "repeats", "single"]
)
def test_prepare_one_hot_has_a_single_1_at_the_label(labels: list[int]) -> None:
    y = np.array(labels, dtype=np.uint8)
    _, one_hot = prepare(np.zeros((len(y), 28, 28), np.uint8), y)
    np.testing.assert_array_equal(one_hot, np.eye(10)[labels])


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.int64])
def test_prepare_one_hot_is_float32_for_any_integer_labels(dtype: type) -> None:
    _, one_hot = prepare(np.zeros((3, 28, 28), np.uint8), np.array([1, 2, 3], dtype=dtype))
    assert one_hot.dtype == np.float32


def test_prepare_images_equal_to_model_input() -> None:
    x = _arrays()["x_train"]
    images, _ = prepare(x, _arrays()["y_train"])
    np.testing.assert_array_equal(images, to_model_input(x))


def test_prepare_uses_the_same_pixel_function_as_the_service() -> None:
    # PreparedImage.vector, what every served upload becomes, calls the pipeline's
    assert training.data.to_model_input is app.imaging.pipeline.to_model_input


def test_prepare_calls_to_model_input(monkeypatch: pytest.MonkeyPatch) -> None:
    marker = np.full((6, 784), 0.5, np.float32)
    monkeypatch.setattr(training.data, "to_model_input", lambda images: marker)
    images, _ = prepare(_arrays()["x_train"], _arrays()["y_train"])
    assert images is marker


def test_prepare_rows_equal_the_service_vector_of_each_image() -> None:
    x = _arrays()["x_test"]
    images, _ = prepare(x, _arrays()["y_test"])
    for row, pixels in zip(images, x, strict=True):
        served = PreparedImage(pixels, normalized=False).vector()
        np.testing.assert_array_equal(row, served)


def test_prepare_real_test_set_gives_784_vectors_and_10_way_labels(mnist: Mnist) -> None:
    images, one_hot = prepare(mnist.x_test, mnist.y_test)
    assert images.shape == (10000, 784)
    assert one_hot.shape == (10000, 10)
    np.testing.assert_array_equal(one_hot.argmax(axis=1), mnist.y_test)
