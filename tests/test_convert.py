"""A model's LiteRT form: the file shipped beside it (used only when its card vouches for it),
conversion in a child process (its refusals carry the parent's messages), the cache."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from app.imaging.preprocessing import prepare_image
from app.inference.classifier import Classifier, litert_flatbuffer, load_keras
from app.inference.convert import (
    attach_litert,
    cached,
    convert_in_child,
    load_litert,
    main,
    shipped_flatbuffer,
)
from app.inference.model_file import LoadInterrupted, ModelLoadError, read_info
from app.settings import Settings
from tests import servers
from tests.support import ROOT
from tests.versions import SHIPPED_VERSION, copy_version, shifted_version


def test_child_refusal_names_path_and_setting(tmp_path: Path) -> None:
    model = tmp_path / "model.keras"
    model.write_bytes(b"not a zip archive\n" * 10)
    with pytest.raises(ModelLoadError, match=r"not a readable .keras archive") as raised:
        convert_in_child(model, "MNIST_API_MODEL_REPOSITORY")
    assert str(model) in str(raised.value)
    assert "MNIST_API_MODEL_REPOSITORY" in str(raised.value)


def test_cached_makes_once(tmp_path: Path) -> None:
    made: list[int] = []

    def make() -> bytes:
        made.append(1)
        return b"flatbuffer"

    path = tmp_path / "cache" / "converted-abc.tflite"
    assert cached(path, make) == cached(path, make) == b"flatbuffer"
    assert len(made) == 1


def test_cached_keeps_nothing_when_making_fails(tmp_path: Path) -> None:
    def fail() -> bytes:
        raise ModelLoadError("broken")

    path = tmp_path / "converted-abc.tflite"
    with pytest.raises(ModelLoadError):
        cached(path, fail)
    assert not path.exists()


@pytest.mark.parametrize("policy", ["newest", "latest:0", "1,x"])
def test_settings_refuse_a_bad_policy(policy: str) -> None:
    with pytest.raises(ValueError, match="version policy"):
        Settings(version_policy=policy)


# -- the LiteRT file beside a model ----------------------------------------------------------


@pytest.fixture(scope="module")
def version(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shipped version folder: model, card (with its LiteRT record), LiteRT file."""
    return copy_version(SHIPPED_VERSION, tmp_path_factory.mktemp("repository"), 1)


def test_shipped_versions_carry_a_litert_file_their_card_vouches_for() -> None:
    for folder in sorted((ROOT / "models" / "mnist").iterdir()):
        flatbuffer, why = shipped_flatbuffer(read_info(folder / "model.keras"))
        assert flatbuffer is not None, f"{folder}: {why}"


def test_load_uses_the_litert_file_which_equals_a_fresh_conversion(
    version: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_conversion(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("converted although the LiteRT file was there")

    monkeypatch.setattr("app.inference.convert.convert_in_child", no_conversion)
    monkeypatch.setattr("app.inference.convert.litert_flatbuffer", no_conversion)
    model = version / "model.keras"
    classifier = load_litert(model, "SETTING", 1, None, hot=True)
    monkeypatch.undo()
    converted = Classifier(litert_flatbuffer(load_keras(model, "SETTING")), read_info(model))
    batch = np.random.default_rng(3).random((16, 784), dtype=np.float32)
    np.testing.assert_allclose(classifier.predict(batch), converted.predict(batch), atol=1e-6)


def test_litert_file_of_another_model_is_not_used(version: Path, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(version, tmp_path / "stale"))
    shifted = shifted_version(tmp_path / "shifted", litert=False)
    shutil.copy(shifted / "model.keras", folder / "model.keras")  # the old LiteRT file stays
    flatbuffer, why = shipped_flatbuffer(read_info(folder / "model.keras"))
    assert flatbuffer is None
    assert why == "model.tflite was made from another model file"
    # Loaded, it is the new model's answers, converted, not the stale file's.
    served = load_litert(folder / "model.keras", "SETTING", 1, None, hot=False)
    old = load_litert(version / "model.keras", "SETTING", 1, None, hot=False)
    upload = (ROOT / "docs" / "samples" / "digit.png").read_bytes()
    rows = prepare_image(upload, max_pixels=10**6).vector()[None]
    assert served.predict(rows).argmax() == (old.predict(rows).argmax() + 1) % 10


def test_truncated_litert_file_is_not_used(version: Path, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(version, tmp_path / "truncated"))
    litert = folder / "model.tflite"
    litert.write_bytes(litert.read_bytes()[:1000])  # half copied
    flatbuffer, why = shipped_flatbuffer(read_info(folder / "model.keras"))
    assert flatbuffer is None
    assert why == "model.tflite differs from the one its card records"
    assert load_litert(folder / "model.keras", "SETTING", 1, None, hot=False).predict(
        np.zeros((1, 784), np.float32)
    ).shape == (1, 10)


def test_card_without_a_record_is_converted(version: Path, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(version, tmp_path / "bare"))
    (folder / "model.card.json").unlink()
    flatbuffer, why = shipped_flatbuffer(read_info(folder / "model.keras"))
    assert flatbuffer is None
    assert why == "its card records no model.tflite"


def test_attach_writes_the_file_and_a_card_for_a_bare_model(tmp_path: Path) -> None:
    bare = shifted_version(tmp_path / "bare", litert=False)
    (bare / "model.card.json").unlink()
    assert main([str(bare)]) == 0
    record = json.loads((bare / "model.card.json").read_text())["litert"]
    assert record["file"] == "model.tflite"
    assert record["model_sha256"] == read_info(bare / "model.keras").sha256
    assert (bare / "model.tflite").stat().st_mode & 0o777 == 0o644  # readable by the service
    flatbuffer, _ = shipped_flatbuffer(read_info(bare / "model.keras"))
    assert flatbuffer == (bare / "model.tflite").read_bytes()


def test_cli_refuses_what_is_not_a_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "model.keras").write_bytes(b"not a zip archive\n")
    assert main([str(tmp_path)]) == 2
    assert "not a readable .keras archive" in capsys.readouterr().err
    assert not (tmp_path / "model.tflite").exists()


def test_litert_model_of_another_shape_is_refused(tmp_path: Path) -> None:
    model = servers.tiny_model(tmp_path / "model.keras", 784, 5)
    flatbuffer = litert_flatbuffer(load_keras_unchecked(model))
    with pytest.raises(ModelLoadError, match=r"maps \[\(784,\)\] -> \[\(5,\)\]"):
        Classifier(flatbuffer, read_info(model))


def test_bytes_litert_cannot_read_are_a_load_error(tmp_path: Path) -> None:
    model = tmp_path / "model.keras"
    model.write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="LiteRT cannot run this model"):
        Classifier(b"\0" * 64, read_info(model))


def load_keras_unchecked(path: Path) -> object:
    import keras

    return keras.saving.load_model(path, compile=False)


def test_attach_records_the_model_it_was_made_from(version: Path, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(version, tmp_path / "again"))
    record = attach_litert(folder / "model.keras")
    model = folder / "model.keras"
    assert (record["model_bytes"], record["model_sha256"]) == (
        model.stat().st_size,
        read_info(model).sha256,
    )
    assert record["bytes"] == (folder / "model.tflite").stat().st_size


def test_model_replaced_while_it_converts_is_refused_and_not_cached(
    version: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = Path(shutil.copytree(version, tmp_path / "swapped"))
    (folder / "model.tflite").unlink()  # so it is converted
    other = shifted_version(tmp_path / "other", litert=False) / "model.keras"

    def convert_then_replace(path: Path, setting: str, nice: bool = True) -> bytes:
        made = litert_flatbuffer(load_keras(path, setting))
        shutil.copy(other, path)  # a copy-in over the version while it converted
        return made

    monkeypatch.setattr("app.inference.convert.convert_in_child", convert_then_replace)
    cache = tmp_path / "cache"
    with pytest.raises(ModelLoadError, match="changed while it was converted"):
        load_litert(folder / "model.keras", "SETTING", 1, cache, hot=True)
    assert not list(cache.glob("converted-*.tflite"))


def test_killed_converter_is_an_interruption(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def killed(*args: object, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess([], -9, "", "")

    monkeypatch.setattr("app.inference.convert.subprocess.run", killed)
    with pytest.raises(LoadInterrupted, match="killed by signal 9"):
        convert_in_child(tmp_path / "model.keras", "SETTING")


def test_unusable_cache_only_costs_the_sharing(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    assert cached(blocked / "converted-abc.tflite", lambda: b"flatbuffer") == b"flatbuffer"


def test_card_nested_too_deep_is_no_card(tmp_path: Path) -> None:
    model = tmp_path / "model.keras"
    model.write_bytes(b"x")
    (tmp_path / "model.card.json").write_text("[" * 100_000 + "]" * 100_000)
    assert read_info(model).card == {}
