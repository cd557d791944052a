"""Conversion in a child process: its refusals carry the parent's messages; results are cached."""

from pathlib import Path

import pytest

from app.inference.convert import cached, convert_in_child
from app.inference.model_file import ModelLoadError
from app.settings import Settings


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
