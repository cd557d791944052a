"""bench.runner's choice of the reported round: pure, no servers."""

from bench.load import LoadResult
from bench.runner import median_round


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
