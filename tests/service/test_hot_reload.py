"""Hot reload under load, against a real `python -m app`: versions copied in, a broken one, a
rollback and a roll-forward through the repository API, the old version removed. Several
clients send uploads for the whole run: no request may fail, /readyz must stay 200, and the
answers must switch to the new version within the poll interval (plus the load itself) of each
change. A version without its LiteRT file goes live after a conversion in a child process, and
the worker never imports TensorFlow."""

import shutil
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests import support
from tests.support import procfs, servers
from tests.support.loadgen import DIGIT_28
from tests.support.versions import SHIPPED_VERSION, broken_version, copy_version, shifted_version

pytestmark = pytest.mark.server

POLL_S = 2.0  # the default
LOAD_BUDGET_S = 1.0  # reading, checking and warming a version with its LiteRT file: ~0.05 s idle
CLIENTS = 4
SWITCH_TIMEOUT_S = 120.0  # converting in a nice-19 child (~4 CPU-s): slow on a busy machine
MAX_RUN_S = 240.0  # every load loop stops by then, whatever happens
QUIET_ANSWERS = 200  # answered before the first change (the baseline), and after the last
QUIET_TIMEOUT_S = 60.0


@dataclass
class Answer:
    started: float
    seconds: float
    status: int
    version: str | None
    digit: int | None


@dataclass
class Load:
    """CLIENTS threads posting a digit to /predict, and one polling /readyz, until stopped."""

    url: str
    answers: list[Answer] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    readiness: list[int] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def client(self) -> None:
        deadline = time.monotonic() + MAX_RUN_S
        sent = 0
        while not self.stop.is_set() and time.monotonic() < deadline:
            # A fresh connection now and then, so that every worker gets requests.
            with httpx.Client(base_url=self.url, timeout=30, trust_env=False) as http:
                for _ in range(25):
                    if self.stop.is_set():
                        return
                    self.post(http)
                    sent += 1

    def post(self, http: httpx.Client) -> None:
        started = time.monotonic()
        try:
            response = http.post("/predict", files={"file": ("d.png", DIGIT_28, "image/png")})
        except httpx.HTTPError as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")
            return
        seconds = time.monotonic() - started
        if response.status_code != 200:
            self.errors.append(f"{response.status_code} {response.text}")
            self.answers.append(Answer(started, seconds, response.status_code, None, None))
            return
        body = response.json()
        self.answers.append(Answer(started, seconds, 200, body["model"]["version"], body["digit"]))

    def ready_poller(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30, trust_env=False) as http:

            def sample() -> bool:
                """One look at /readyz; True (done) once the load is stopped."""
                try:
                    self.readiness.append(http.get("/readyz").status_code)
                except httpx.HTTPError as exc:
                    self.errors.append(f"readyz: {type(exc).__name__}")
                return self.stop.is_set()

            support.poll(sample, MAX_RUN_S)

    def since(self, moment: float) -> list[Answer]:
        return [a for a in list(self.answers) if a.started >= moment]


@contextmanager
def loaded(url: str) -> Iterator[Load]:
    load = Load(url)
    threads = [threading.Thread(target=load.client) for _ in range(CLIENTS)]
    threads.append(threading.Thread(target=load.ready_poller))
    for thread in threads:
        thread.start()
    try:
        yield load
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(timeout=60)


def switched(load: Load, version: str, changed: float, settle_answers: int = 40) -> float:
    """Seconds from `changed` until every answer (`settle_answers` in a row) comes from
    `version`; fails after SWITCH_TIMEOUT_S."""

    def first_of_the_run() -> Answer | None:
        answers = load.since(changed)
        last_other = max((i for i, a in enumerate(answers) if a.version != version), default=-1)
        return answers[last_other + 1] if len(answers) - last_other - 1 >= settle_answers else None

    late = f"answers did not switch to version {version} in {SWITCH_TIMEOUT_S} s"
    remaining = changed + SWITCH_TIMEOUT_S - time.monotonic()
    return support.eventually(first_of_the_run, remaining, late).started - changed


def repository_request(url: str, action: str, version: str) -> None:
    """POST a load or unload of `version` to the repository API; it must answer 200."""
    response = httpx.post(
        f"{url}/v2/repository/models/mnist/{action}",
        json={"parameters": {"version": version}},
        trust_env=False,
        timeout=60,
    )
    assert response.status_code == 200, response.text


def index(url: str, times: int = 6) -> list[list[dict[str, str]]]:
    """The repository index as answered by (likely) every worker: fresh connections."""
    return [httpx.post(f"{url}/v2/repository/index", trust_env=False).json() for _ in range(times)]


def wait_for(check: Callable[[], bool], timeout: float = SWITCH_TIMEOUT_S) -> None:
    support.eventually(check, timeout, interval_s=0.1)


def p99(answers: list[Answer]) -> float:
    return statistics.quantiles([a.seconds for a in answers], n=100)[98] * 1000


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second version, made outside the repository: answers (d + 1) % 10 for version 1's d."""
    return shifted_version(tmp_path_factory.mktemp("staged") / "shifted")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_versions_swap_under_load_without_a_failed_request(
    tmp_path: Path, staged: Path, workers: str
) -> None:
    repository = tmp_path / "repository"
    copy_version(SHIPPED_VERSION, repository, 1)
    env = {"MNIST_API_MODEL_REPOSITORY": str(repository), "MNIST_API_POLL_INTERVAL_S": str(POLL_S)}
    with (
        servers.running(tmp_path, "--workers", workers, env=env) as server,
        loaded(server.url) as load,
    ):
        support.poll(lambda: len(load.answers) >= QUIET_ANSWERS, QUIET_TIMEOUT_S)
        quiet = load.since(0)
        assert quiet, load.errors[:5]
        assert {a.version for a in quiet} == {"1"}
        digit = quiet[0].digit
        assert digit is not None
        timings = {}

        changed = time.monotonic()  # a new version, copied in file by file (not atomic)
        copy_version(staged, repository, 2)
        timings["copy in v2"] = switched(load, "2", changed)
        assert timings["copy in v2"] < POLL_S + LOAD_BUDGET_S, timings
        assert {a.digit for a in load.since(changed) if a.version == "2"} == {(digit + 1) % 10}

        changed = time.monotonic()  # a broken version: v2 keeps serving
        broken_version(repository / "mnist" / "3")
        wait_for(
            lambda: all(
                {"name": "mnist", "version": "3", "state": "UNAVAILABLE"}.items()
                <= entries[0].items()
                and "LiteRT cannot run this model" in entries[0]["reason"]
                for entries in index(server.url)
            )
        )
        timings["broken v3 marked"] = time.monotonic() - changed
        assert timings["broken v3 marked"] < POLL_S + LOAD_BUDGET_S, timings

        changed = time.monotonic()  # roll back through the API: unload v2, v1 serves again
        repository_request(server.url, "unload", "2")
        timings["unload v2 (rollback)"] = switched(load, "1", changed)
        assert timings["unload v2 (rollback)"] < POLL_S + LOAD_BUDGET_S, timings

        changed = time.monotonic()  # and forward again
        repository_request(server.url, "load", "2")
        timings["load v2"] = switched(load, "2", changed)
        assert timings["load v2"] < POLL_S + LOAD_BUDGET_S, timings

        changed = time.monotonic()  # the old version's folder goes
        shutil.rmtree(repository / "mnist" / "1")
        wait_for(
            lambda: all(
                [e["version"] for e in entries] == ["3", "2"] for entries in index(server.url)
            )
        )
        timings["remove v1"] = time.monotonic() - changed
        assert timings["remove v1"] < POLL_S + LOAD_BUDGET_S, timings
        removed = time.monotonic()  # the load goes on a while without version 1
        support.poll(lambda: len(load.since(removed)) >= QUIET_ANSWERS, QUIET_TIMEOUT_S)
    baseline, everything = p99(quiet), p99(load.answers)
    print(f"\nworkers={workers}: {len(load.answers)} requests, timings (s): {timings}")
    print(f"p99 before any change {baseline:.1f} ms, over the whole run {everything:.1f} ms")
    assert load.errors == []
    assert set(load.readiness) == {200}
    assert all(a.status == 200 for a in load.answers)
    log = server.log.read_text()
    assert log.count("model version 3 not loaded") == int(workers)  # logged once per worker
    assert "Traceback" not in log


def test_a_version_without_its_litert_file_is_unavailable_until_exported(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A bare model.keras (trained elsewhere, say) is UNAVAILABLE with the export command while
    version 1 serves on; once `python -m training export` gives it its LiteRT file, it goes live.
    The worker never imports TensorFlow."""
    from training.export import export

    bare = shifted_version(tmp_path_factory.mktemp("bare") / "shifted", litert=False)
    assert not (bare / "model.tflite").exists()
    repository = tmp_path / "repository"
    copy_version(SHIPPED_VERSION, repository, 1)
    env = {"MNIST_API_MODEL_REPOSITORY": str(repository), "MNIST_API_POLL_INTERVAL_S": str(POLL_S)}
    with servers.running(tmp_path, env=env) as server, loaded(server.url) as load:
        pid = server.process.pid
        folder = copy_version(bare, repository, 2)
        command = f"python -m training export {folder}"
        wait_for(lambda: command in index(server.url, times=1)[0][0].get("reason", ""))
        (entry,) = [e for e in index(server.url, times=1)[0] if e["version"] == "2"]
        assert entry["state"] == "UNAVAILABLE"
        assert {a.version for a in load.since(0)} == {"1"}
        changed = time.monotonic()
        export(folder / "model.keras", np.zeros((8, 784), np.float32), "zeros")
        switched(load, "2", changed)
        assert "libtensorflow" not in Path(f"/proc/{pid}/maps").read_text()
        assert procfs.rss_mb(pid) < 150, "a worker holds ~100 MiB"
    assert load.errors == []
    assert set(load.readiness) == {200}
    assert "Traceback" not in server.log.read_text()
