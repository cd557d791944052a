"""training.repository: the next free version, written whole and renamed into place."""

import json
from pathlib import Path

import pytest

from training.repository import MODEL_FILE, next_version, publish, versions


def writer(folder: Path, version: str) -> None:
    (folder / MODEL_FILE).write_bytes(b"weights")
    (folder / "model.card.json").write_text(json.dumps({"version": version}))


def test_next_version_of_a_new_repository_is_1(tmp_path: Path) -> None:
    assert next_version(tmp_path / "mnist") == 1


def test_next_version_ignores_other_entries(tmp_path: Path) -> None:
    for name in ("1", "7", ".3-x.partial", "latest"):
        (tmp_path / name).mkdir()
    (tmp_path / "12").write_text("a file, not a version")
    assert (versions(tmp_path), next_version(tmp_path)) == ([1, 7], 8)


def test_publish_writes_successive_versions(tmp_path: Path) -> None:
    first, second = publish(tmp_path, writer), publish(tmp_path, writer)
    assert (first.name, second.name) == ("1", "2")
    assert json.loads((second / "model.card.json").read_text())["version"] == "2"


def test_publish_leaves_no_temporary_folder(tmp_path: Path) -> None:
    publish(tmp_path, writer)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1"]


def test_publish_never_overwrites_a_version_taken_while_writing(tmp_path: Path) -> None:
    def slow_writer(folder: Path, version: str) -> None:
        writer(folder, version)
        (tmp_path / version).mkdir()  # another trainer published this number meanwhile
        (tmp_path / version / MODEL_FILE).write_bytes(b"theirs")

    target = publish(tmp_path, slow_writer)
    assert target.name == "2"
    assert (tmp_path / "1" / MODEL_FILE).read_bytes() == b"theirs"
    assert json.loads((target / "model.card.json").read_text())["version"] == "2"


def test_publish_removes_its_folder_when_writing_fails(tmp_path: Path) -> None:
    def failing(folder: Path, version: str) -> None:
        (folder / MODEL_FILE).write_bytes(b"half")
        raise RuntimeError("training failed")

    with pytest.raises(RuntimeError, match="training failed"):
        publish(tmp_path, failing)
    assert list(tmp_path.iterdir()) == []


def test_publish_version_appears_complete(tmp_path: Path) -> None:
    seen: list[list[str]] = []

    def watching_writer(folder: Path, version: str) -> None:
        writer(folder, version)
        seen.append(sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")))

    target = publish(tmp_path, watching_writer)
    assert seen == [[]]  # nothing numbered is visible while the version is written
    assert sorted(p.name for p in target.iterdir()) == ["model.card.json", MODEL_FILE]
