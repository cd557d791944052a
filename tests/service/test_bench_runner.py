"""bench.runner: the reported round, and servers taking turns (wrk and servers faked)."""

from dataclasses import replace
from pathlib import Path

import pytest

from bench import runner
from bench.load import Body, LoadError, LoadResult
from bench.runner import Config, ServerRun, Workload, median_round
from bench.servers import Server, ServerError, ServerSpec


def load(rps: float, p99_ms: float, **errors: int) -> LoadResult:
    return LoadResult(
        endpoint="/predict", connections=64, threads=1, images_per_request=1, duration_s=5.0,
        requests=int(rps * 5), rps=rps, images_per_s=rps, p50_ms=p99_ms / 2, p90_ms=p99_ms * 0.8,
        p99_ms=p99_ms, max_ms=p99_ms * 2,
        errors={"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0, **errors},
    )  # fmt: skip


def test_median_round_is_a_measured_round_with_the_middle_throughput() -> None:
    rounds = [load(3000, 30), load(2500, 45), load(3600, 25)]
    median = median_round(rounds)
    assert (median.rps, median.p99_ms, median.requests) == (3000, 30, 15000)


def test_median_round_of_an_even_count_is_the_lower_middle_one() -> None:
    assert median_round([load(4, 1), load(1, 1), load(3, 1), load(2, 1)]).rps == 2


def test_median_round_sums_every_rounds_errors() -> None:
    median = median_round([load(3000, 30, timeout=2), load(2500, 45), load(3600, 25, status=1)])
    assert median.errors["timeout"] == 2
    assert median.errors["status"] == 1
    assert median.error_count == 3


def test_one_round_is_its_own_median() -> None:
    only = load(1234, 12)
    assert median_round([only]) == only


# --- servers taking turns: wrk and the servers faked, the bookkeeping real -----------------------


def config(tmp_path: Path, rounds: int = 3) -> Config:
    return Config(
        npz=tmp_path / "mnist.npz", model=tmp_path / "m.keras", workers=[2],
        servers=["service", "baseline", "ceiling"], connections=[1, 64], duration_s=1,
        timeout_s=1, threads=1, warmup_s=0, batch_size=4, batch_connections=2, rounds=rounds,
        ready_timeout_s=1.0, service_env={}, work=tmp_path,
    )  # fmt: skip


def workload(tmp_path: Path) -> Workload:
    single, batch = Body(tmp_path / "s", "x", 1), Body(tmp_path / "b", "x", 4)
    return Workload(samples=[], load_digit=None, batch_digits=[], single=single, batch=batch)  # type: ignore[arg-type]


def fake_server(name: str) -> Server:
    return Server(ServerSpec(name, 2, []), None, 1, Path(name), 0.0)  # type: ignore[arg-type]


def test_servers_take_turns_and_a_dead_one_does_not_stop_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ["service", "baseline", "ceiling"]
    started = [(fake_server(name), ServerRun(name, 2)) for name in names]
    order: list[str] = []
    speed = {"service": 2000.0, "baseline": 10.0, "ceiling": 3000.0}

    def fake_wrk(url: str, body: Body, *, connections: int, **_: object) -> LoadResult:
        name = url.split("/")[0]
        order.append(name)
        if name == "baseline" and len(order) > 4:
            raise LoadError("wrk exited 1")
        # each round a little faster, so the median round is the middle one
        return replace(load(speed[name] + order.count(name), 10.0), connections=connections)

    def fake_idle(server: Server, timeout_s: float) -> bool:
        if server.spec.name == "ceiling" and order.count("ceiling") == 5:
            raise ServerError("ceiling exited with -9")
        return True

    monkeypatch.setattr(runner, "run_wrk", fake_wrk)
    monkeypatch.setattr(runner.servers, "wait_idle", fake_idle)
    for server, _ in started:
        monkeypatch.setattr(type(server), "url", property(lambda s: s.spec.name))
    runner._load_in_turns(started, config(tmp_path), workload(tmp_path))

    assert order[:6] == ["service", "baseline", "ceiling", "baseline", "ceiling", "service"]
    service, baseline, ceiling = (run for _, run in started)
    assert service.error is None
    assert [x.connections for x in service.loads] == [1, 64]
    assert len(service.rounds) == 3 * 3  # every point, every round, the batch point included
    assert service.batch is not None
    assert service.loads[0].rps == 2002.0  # the middle of rounds 2001, 2002, 2003
    assert baseline.error == "LoadError: wrk exited 1"
    assert ceiling.error == "ServerError: ceiling exited with -9"
    assert len(baseline.rounds) == 2  # what it measured before failing is kept
    assert [x.connections for x in baseline.loads] == [1]  # its median of those two
