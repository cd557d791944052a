"""The model repository's logic with stand-in models (no TensorFlow): policy, stability,
failures, swaps, draining, and load/unload requests shared by workers through the state dir."""

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from app.inference.batching import BatchingEngine
from app.inference.control import ControlFile
from app.inference.layout import Clock, Found, RepositoryUnreadable, Source
from app.inference.model_file import ModelInfo, ModelLoadError
from app.inference.plan import State
from app.inference.policy import PolicyError, VersionPolicy
from app.inference.repository import Repository
from app.inference.served import LoadFailed, VersionNotFound


@pytest.mark.parametrize(
    ("text", "available", "selected"),
    [
        ("latest", [1, 2, 3], {3}),
        ("latest:2", [1, 2, 3], {2, 3}),
        ("latest:5", [1, 3], {1, 3}),
        ("all", [1, 2, 3], {1, 2, 3}),
        ("1,3", [1, 2, 3], {1, 3}),
        ("2, 7", [1, 2, 3], {2}),
        ("LATEST", [4, 10], {10}),
        ("latest", [], set()),
    ],
)
def test_policy_selects(text: str, available: list[int], selected: set[int]) -> None:
    assert VersionPolicy.parse(text).select(available) == selected


@pytest.mark.parametrize("text", ["", "newest", "latest:0", "latest:x", "0", "1,-2", "1;2"])
def test_policy_refuses(text: str) -> None:
    with pytest.raises(PolicyError, match="is not one of"):
        VersionPolicy.parse(text)


@pytest.fixture(autouse=True)
def files_complete_at_first_sight(monkeypatch: pytest.MonkeyPatch) -> None:
    """Versions written a minute ago (write_version's default) count as complete at the first
    scan that sees them, so each scenario needs one reconcile per step; the tests of settling
    set RECHECK_S themselves."""
    monkeypatch.setattr("app.inference.layout.RECHECK_S", 0.0)


class FakeClock:
    """The repository's clocks, moved only by the test: monotonic from 0, wall-clock from the
    real time (the files' modification times are real)."""

    def __init__(self) -> None:
        self.elapsed, self.started = 0.0, time.time()

    def monotonic(self) -> float:
        return self.elapsed

    def wall(self) -> float:
        return self.started + self.elapsed

    def advance(self, seconds: float) -> None:
        self.elapsed += seconds


GUARD_S = 10.0  # bounds an await that would hang if the test failed


class FakeClassifier:
    """Answers the same probabilities for every row; `nan` models answer NaN."""

    def __init__(self, found: Found, probabilities: NDArray[np.float32]) -> None:
        self.info = ModelInfo("fake", "?", found.path, "0" * 64)
        self.probabilities = probabilities

    def predict(self, rows: NDArray[np.float32]) -> NDArray[np.float32]:
        return np.tile(self.probabilities, (len(rows), 1))


attempts: list[Path] = []


def fake_load(found: Found) -> FakeClassifier:
    """A model file holds `digit:N`, `nan` or anything else (not loadable)."""
    attempts.append(found.path)
    text = found.path.read_text()
    if text == "nan":
        return FakeClassifier(found, np.full(10, np.nan, np.float32))
    if not text.startswith("digit:"):
        raise ModelLoadError(f"model file {found.path} is not a readable .keras archive")
    return FakeClassifier(found, np.eye(10, dtype=np.float32)[int(text[6:])])


def write_version(root: Path, version: int, text: str, age_s: float = 60) -> Path:
    folder = root / "mnist" / str(version)
    folder.mkdir(parents=True, exist_ok=True)
    return write_beside(folder / "model.keras", "model.keras", text.encode(), age_s)


def write_beside(model: Path, name: str, data: bytes, age_s: float = 60) -> Path:
    """A file beside a version's model (its card, its LiteRT file), `age_s` old on disk."""
    path = model.with_name(name)
    path.write_bytes(data)
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


def litert_card(record: dict[str, object]) -> bytes:
    return json.dumps({"litert": record}).encode()


def repository(root: Path, policy: str = "latest", **options: object) -> Repository:
    state_dir = options.pop("state_dir", None)
    if isinstance(clock := options.pop("clock", None), FakeClock):
        options["clock"] = Clock(monotonic=clock.monotonic, wall=clock.wall)
    return Repository(
        Source(root),
        VersionPolicy.parse(policy),
        ControlFile(state_dir),  # type: ignore[arg-type]
        fake_load,  # type: ignore[arg-type]
        lambda classifier: BatchingEngine(classifier.predict),
        **options,  # type: ignore[arg-type]
    )


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())


async def digit_of(repo: Repository, version: int | None = None) -> int:
    with repo.lease(version) as served:
        rows = await served.engine.predict(np.zeros((1, 784), np.float32))
    return int(rows[0].argmax())


def states(repo: Repository) -> dict[int, tuple[State, str]]:
    return {entry.version: (entry.state, entry.reason) for entry in repo.index()}


def test_latest_serves_the_newest_and_lists_the_others(tmp_path: Path) -> None:
    write_version(tmp_path, 1, "digit:1")
    write_version(tmp_path, 2, "digit:2")

    async def scenario() -> None:
        repo = repository(tmp_path)
        await repo.start()
        assert (repo.versions, await digit_of(repo)) == ([2], 2)
        assert states(repo)[1] == (State.UNAVAILABLE, "not selected by the version policy latest")
        assert repo.get().info.version == "2"  # the folder names the version
        await repo.stop()

    run(scenario)


def test_versions_side_by_side_answer_their_own(tmp_path: Path) -> None:
    for version in (1, 2, 3):
        write_version(tmp_path, version, f"digit:{version}")

    async def scenario() -> None:
        repo = repository(tmp_path, "1,3", pinned_default=1)
        await repo.start()
        assert repo.versions == [1, 3]
        assert [await digit_of(repo, v) for v in (None, 1, 3)] == [1, 1, 3]
        with pytest.raises(VersionNotFound, match=r"version 2 .* available versions: 1, 3"):
            repo.get(2)
        await repo.stop()

    run(scenario)


def test_broken_newest_keeps_the_old_serving_and_is_tried_once_per_change(
    tmp_path: Path,
) -> None:
    write_version(tmp_path, 1, "digit:1")

    async def scenario() -> None:
        repo = repository(tmp_path)
        await repo.start()
        model = write_version(tmp_path, 2, "garbage")
        attempts.clear()
        for _ in range(3):
            await repo.reconcile()
        assert attempts == [model]
        assert (repo.versions, await digit_of(repo)) == ([1], 1)
        state, reason = states(repo)[2]
        assert state == State.UNAVAILABLE
        assert "not a readable .keras archive" in reason
        write_version(tmp_path, 2, "digit:2")  # fixed: tried again, served
        await repo.reconcile()
        assert (repo.versions, await digit_of(repo)) == ([2], 2)
        await repo.stop()

    run(scenario)


def test_model_answering_nan_is_refused(tmp_path: Path) -> None:
    write_version(tmp_path, 1, "digit:1")
    write_version(tmp_path, 2, "nan")

    async def scenario() -> None:
        repo = repository(tmp_path)
        await repo.start()
        assert repo.versions == [1]
        assert "NaN" in states(repo)[2][1]
        await repo.stop()

    run(scenario)


def test_no_loadable_version_fails_start_naming_the_reasons(tmp_path: Path) -> None:
    write_version(tmp_path, 1, "garbage")

    async def scenario() -> None:
        with pytest.raises(ModelLoadError, match=r"not a readable .keras archive"):
            await repository(tmp_path).start()

    run(scenario)


def test_files_still_changing_wait_until_unchanged_for_the_settle_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.inference.layout.SETTLE_S", 0.3)
    write_version(tmp_path, 1, "digit:1")
    clock = FakeClock()

    async def scenario() -> None:
        repo = repository(tmp_path, clock=clock)
        await repo.start()
        write_version(tmp_path, 2, "digit:2", age_s=0)  # just written
        settles_in = await repo.reconcile()
        assert repo.versions == [1]
        assert states(repo)[2] == (State.UNAVAILABLE, "files still changing; loaded once complete")
        assert settles_in is not None
        assert 0 < settles_in <= 0.3  # the poller looks again then, not a poll interval later
        assert await repo.reconcile() is not None  # unchanged, but not for long enough
        assert repo.versions == [1]
        clock.advance(settles_in)
        assert await repo.reconcile() is None
        assert repo.versions == [2]
        await repo.stop()

    run(scenario)


def test_old_files_wait_for_a_second_look_so_a_file_still_to_come_is_not_missed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.inference.layout.RECHECK_S", 0.2)
    write_version(tmp_path, 1, "digit:1")
    clock = FakeClock()

    async def scenario() -> None:
        repo = repository(tmp_path, clock=clock)
        await repo.start()
        model = write_version(tmp_path, 2, "digit:2")  # copied with its old times kept (cp -a)
        settles_in = await repo.reconcile()
        assert repo.versions == [1]  # the card, say, may not be there yet
        assert settles_in is not None
        assert 0 < settles_in <= 0.2
        clock.advance(0.1)
        write_beside(model, "model.card.json", b"{}")  # ... and here it comes, old times kept
        await repo.reconcile()
        assert repo.versions == [1]  # a new file: look again
        clock.advance(0.2)
        assert await repo.reconcile() is None
        assert repo.versions == [2]
        await repo.stop()

    run(scenario)


def test_a_whole_version_with_old_files_loads_at_first_sight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Renamed into place by the training CLI: the card records the LiteRT file that is there,
    so no file is still to come."""
    monkeypatch.setattr("app.inference.layout.RECHECK_S", 10.0)
    write_version(tmp_path, 1, "digit:1")

    async def scenario() -> None:
        repo = repository(tmp_path)
        await repo.start()
        model = write_version(tmp_path, 2, "digit:2")
        write_beside(model, "model.tflite", b"\0" * 100)
        record = {"file": "model.tflite", "bytes": 100, "model_bytes": len("digit:2")}
        write_beside(model, "model.card.json", litert_card(record))
        assert await repo.reconcile() is None
        assert repo.versions == [2]
        await repo.stop()

    run(scenario)


@pytest.mark.parametrize(
    ("record", "size"),
    [
        ({"file": "model.tflite", "bytes": 100, "model_bytes": 7}, 99),  # LiteRT file growing
        ({"file": "other.tflite", "bytes": 100, "model_bytes": 7}, 100),
        ({"file": "model.tflite", "bytes": 100, "model_bytes": 8}, 100),  # the old model yet
        ({"file": "model.tflite", "bytes": 100}, 100),  # no model size recorded
    ],
)
def test_a_version_whose_card_awaits_other_files_waits_by_the_services_clock(
    tmp_path: Path, record: dict[str, object], size: int
) -> None:
    """Even with its files old on disk and no second look asked for (RECHECK_S 0 here)."""
    write_version(tmp_path, 1, "digit:1")

    async def scenario() -> None:
        repo = repository(tmp_path)
        await repo.start()
        model = write_version(tmp_path, 2, "digit:2")
        write_beside(model, "model.tflite", b"\0" * size)
        write_beside(model, "model.card.json", litert_card(record))
        settles_in = await repo.reconcile()
        assert repo.versions == [1]
        assert settles_in is not None
        assert settles_in > 0.5  # SETTLE_S (1 s) by the service's clock
        await repo.stop()

    run(scenario)


def test_files_dated_in_the_future_settle_by_the_services_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.inference.layout.SETTLE_S", 0.3)
    write_version(tmp_path, 1, "digit:1")
    clock = FakeClock()

    async def scenario() -> None:
        repo = repository(tmp_path, clock=clock)
        await repo.start()
        write_version(tmp_path, 2, "digit:2", age_s=-3600)  # a skewed clock on a shared volume
        await repo.reconcile()
        assert repo.versions == [1]
        clock.advance(0.35)
        await repo.reconcile()  # the same size and time for 0.3 s by this process's clock
        assert repo.versions == [2]
        await repo.stop()

    run(scenario)


def test_removed_version_is_stopped_only_after_its_requests(tmp_path: Path) -> None:
    write_version(tmp_path, 1, "digit:1")
    write_version(tmp_path, 2, "digit:2")

    async def scenario() -> None:
        repo = repository(tmp_path, "all")
        await repo.start()
        with repo.lease(1) as served:
            (tmp_path / "mnist" / "1" / "model.keras").unlink()
            await repo.reconcile()
            assert repo.versions == [2]
            await asyncio.sleep(0)  # the retiring task runs: it must wait for this lease
            row = np.zeros((1, 784), np.float32)
            rows = await asyncio.wait_for(served.engine.predict(row), GUARD_S)  # still runs
            assert int(rows[0].argmax()) == 1
        await repo.retired()  # the lease is over: the engine stops
        with pytest.raises(RuntimeError, match="not running"):
            await served.engine.predict(np.zeros((1, 784), np.float32))
        await repo.stop()

    run(scenario)


def test_pinned_default_is_served_beside_the_policy(tmp_path: Path) -> None:
    write_version(tmp_path, 1, "digit:1")
    write_version(tmp_path, 2, "digit:2")

    async def scenario() -> None:
        repo = repository(tmp_path, pinned_default=1)
        await repo.start()
        assert (repo.versions, await digit_of(repo)) == ([1, 2], 1)
        await repo.stop()

    run(scenario)


def test_unload_and_load_requests_reach_every_worker(tmp_path: Path) -> None:
    write_version(tmp_path, 1, "digit:1")
    write_version(tmp_path, 2, "digit:2")
    state_dir = tmp_path / "state"

    async def scenario() -> None:
        one, two = (repository(tmp_path, state_dir=state_dir) for _ in range(2))
        await one.start()
        await two.start()
        await one.request_unload(2)  # a roll back: the policy picks 1 among the rest
        assert one.versions == [1]
        await two.reconcile()  # its next poll
        assert two.versions == [1]
        assert states(two)[2] == (State.UNAVAILABLE, "unloaded by request")
        await two.request_load(2)
        await one.reconcile()
        assert one.versions == two.versions == [2]
        with pytest.raises(VersionNotFound, match="version 9"):
            await one.request_load(9)
        await one.stop()
        await two.stop()

    run(scenario)


def test_load_request_of_a_broken_version_says_why(tmp_path: Path) -> None:
    write_version(tmp_path, 1, "digit:1")
    write_version(tmp_path, 2, "garbage")

    async def scenario() -> None:
        repo = repository(tmp_path, "all")
        await repo.start()
        attempts.clear()
        with pytest.raises(LoadFailed, match=r"version 2 not loaded: .*not a readable"):
            await repo.request_load(2)
        assert len(attempts) == 1  # a load request tries again
        await repo.stop()

    run(scenario)


def test_unreadable_repository_keeps_what_is_served(tmp_path: Path) -> None:
    write_version(tmp_path, 1, "digit:1")

    async def scenario() -> None:
        repo = repository(tmp_path)
        await repo.start()
        (tmp_path / "mnist").rename(tmp_path / "elsewhere")  # an unmounted volume, say
        with pytest.raises(RepositoryUnreadable, match="cannot read"):
            await repo.reconcile()
        assert (repo.versions, await digit_of(repo)) == ([1], 1)
        await repo.stop()

    run(scenario)


def test_a_card_nested_too_deep_for_json_is_no_card(tmp_path: Path) -> None:
    model = write_version(tmp_path, 1, "digit:1")
    model.with_name("model.card.json").write_text("[" * 100_000 + "]" * 100_000)
    found = Source(tmp_path).scan()  # no RecursionError
    assert found[1].fingerprint is not None
    assert found[1].fingerprint.card_says == "unrecorded"
