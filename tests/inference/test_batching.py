"""BatchingEngine with a fake model: merging, routing, latency, back-pressure, failures."""

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest
import uvloop
from fastapi.testclient import TestClient
from numpy.typing import NDArray

from app.imaging.pixels import INPUT_SIZE, to_model_input
from app.inference.batching import BatchingEngine, Overloaded
from training.data import Mnist


class FakeModel:
    """Answers row i with its first 10 values, records batch sizes, can block or fail on demand."""

    def __init__(self, fail_first: bool = False) -> None:
        self.batch_sizes: list[int] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.fail_first = fail_first

    def __call__(self, rows: NDArray[np.float32]) -> NDArray[np.float32]:
        self.batch_sizes.append(len(rows))
        self.entered.set()
        self.release.wait(timeout=10)
        if self.fail_first and len(self.batch_sizes) == 1:
            raise ValueError("the model blew up")
        return rows[:, :10] * 2


# Timers that would never fire within a test, and the guard that turns a wrongly armed one
# into a failure: the assertions are on order and state, not on measured durations.
FOREVER = 3600.0
GUARD_S = 10.0


def rows_of(value: float, count: int = 1) -> NDArray[np.float32]:
    return np.full((count, INPUT_SIZE), value, dtype=np.float32)


def run_engine(
    predict: Callable[[NDArray[np.float32]], NDArray[np.float32]],
    scenario: Callable[[BatchingEngine], Awaitable[Any]],
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
    **options: Any,
) -> Any:
    """Start an engine in a fresh event loop, run `scenario` against it, stop it."""

    async def main() -> Any:
        engine = BatchingEngine(predict, **options)
        engine.start()
        try:
            return await scenario(engine)
        finally:
            await engine.stop()

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(main())


async def wait_until(condition: threading.Event) -> None:
    """Wait, off the event loop, until the inference thread sets `condition`."""
    assert await asyncio.to_thread(condition.wait, GUARD_S), "the inference thread never got there"


def test_engine_merges_concurrent_requests_into_one_call() -> None:
    model = FakeModel()

    async def scenario(engine: BatchingEngine) -> None:
        await asyncio.gather(*(engine.predict(rows_of(i)) for i in range(20)))

    run_engine(model, scenario, max_batch=64, max_wait_s=0.05)
    assert model.batch_sizes == [20]


def test_engine_routes_each_caller_its_own_rows() -> None:
    async def scenario(engine: BatchingEngine) -> list[NDArray[np.float32]]:
        return await asyncio.gather(
            *(engine.predict(rows_of(i, count=i % 3 + 1)) for i in range(12))
        )

    results = run_engine(FakeModel(), scenario, max_batch=64, max_wait_s=0.05)
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result, np.full((i % 3 + 1, 10), 2.0 * i))


def test_engine_splits_work_larger_than_max_batch() -> None:
    model = FakeModel()

    async def scenario(engine: BatchingEngine) -> None:
        await asyncio.gather(*(engine.predict(rows_of(i)) for i in range(10)))

    run_engine(model, scenario, max_batch=4, max_wait_s=0.05)
    assert model.batch_sizes == [4, 4, 2]


@pytest.mark.parametrize("max_wait_s", [0.0, FOREVER])
def test_engine_lone_request_after_a_lone_one_goes_at_once(max_wait_s: float) -> None:
    """A lone client is never delayed: the last batch had no company, so no timer runs (with
    an hour-long wait, a timer would show as the guard's TimeoutError)."""
    model = FakeModel()

    async def scenario(engine: BatchingEngine) -> None:
        await engine.predict(rows_of(1))
        await asyncio.wait_for(engine.predict(rows_of(2)), GUARD_S)

    run_engine(model, scenario, max_batch=64, max_wait_s=max_wait_s)
    assert model.batch_sizes == [1, 1]


def test_engine_full_queue_raises_overloaded() -> None:
    model = FakeModel()
    model.release.clear()

    async def scenario(engine: BatchingEngine) -> Overloaded:
        in_flight = asyncio.ensure_future(engine.predict(rows_of(0)))
        await wait_until(model.entered)  # the engine is busy: what follows stays queued
        queued = [asyncio.ensure_future(engine.predict(rows_of(i))) for i in (1, 2)]
        await asyncio.sleep(0)
        with pytest.raises(Overloaded) as caught:
            await engine.predict(rows_of(3))
        model.release.set()
        await asyncio.gather(in_flight, *queued)
        return caught.value

    error = run_engine(model, scenario, max_batch=1, max_wait_s=0.0, max_queue=2)
    assert error.retry_after >= 1
    assert "2 of 2" in str(error)


def test_engine_oversized_request_on_empty_queue_is_accepted() -> None:
    async def scenario(engine: BatchingEngine) -> NDArray[np.float32]:
        return await engine.predict(rows_of(1, count=5))

    result = run_engine(FakeModel(), scenario, max_batch=64, max_wait_s=0.0, max_queue=2)
    assert result.shape == (5, 10)


def test_engine_predict_error_reaches_every_caller_of_the_batch() -> None:
    async def scenario(engine: BatchingEngine) -> list[object]:
        return await asyncio.gather(
            *(engine.predict(rows_of(i)) for i in range(3)), return_exceptions=True
        )

    results = run_engine(FakeModel(fail_first=True), scenario, max_batch=64, max_wait_s=0.05)
    assert all(isinstance(result, ValueError) for result in results)


def test_engine_keeps_running_after_a_predict_error() -> None:
    async def scenario(engine: BatchingEngine) -> NDArray[np.float32]:
        with pytest.raises(ValueError, match="blew up"):
            await engine.predict(rows_of(1))
        return await engine.predict(rows_of(3))

    result = run_engine(FakeModel(fail_first=True), scenario, max_batch=64, max_wait_s=0.0)
    np.testing.assert_array_equal(result, np.full((1, 10), 6.0))


def test_engine_skips_cancelled_callers() -> None:
    model = FakeModel()
    model.release.clear()

    async def scenario(engine: BatchingEngine) -> NDArray[np.float32]:
        in_flight = asyncio.ensure_future(engine.predict(rows_of(0)))
        await wait_until(model.entered)
        cancelled = asyncio.ensure_future(engine.predict(rows_of(1, count=4)))
        kept = asyncio.ensure_future(engine.predict(rows_of(2)))
        await asyncio.sleep(0)
        cancelled.cancel()
        model.release.set()
        await in_flight
        return await kept

    result = run_engine(model, scenario, max_batch=64, max_wait_s=0.0)
    assert model.batch_sizes == [1, 1]
    np.testing.assert_array_equal(result, np.full((1, 10), 4.0))


def test_engine_refuses_work_when_not_started() -> None:
    engine = BatchingEngine(FakeModel())
    with pytest.raises(RuntimeError, match="not running"):
        asyncio.run(engine.predict(rows_of(1)))


def test_engine_with_real_classifier_equals_keras(
    client: TestClient, mnist: Mnist, keras_model: Any
) -> None:
    classifier = client.app.state.serving.models.get().classifier  # type: ignore[attr-defined]
    x = to_model_input(mnist.x_test[:48])

    async def scenario(engine: BatchingEngine) -> list[NDArray[np.float32]]:
        # Requests of 1, 2 and 3 rows, merged into a few forward passes.
        sizes = [1, 2, 3] * 8
        starts = np.cumsum([0, *sizes[:-1]])
        return await asyncio.gather(
            *(engine.predict(x[s : s + n]) for s, n in zip(starts, sizes, strict=True))
        )

    results = run_engine(classifier.predict, scenario, max_batch=16, max_wait_s=0.01)
    expected = keras_model.predict(x, verbose=0)
    np.testing.assert_allclose(np.concatenate(results), expected, atol=1e-5)


def test_engine_requests_arriving_while_busy_go_in_the_next_batch_without_a_timer() -> None:
    model = FakeModel()
    model.release.clear()

    async def scenario(engine: BatchingEngine) -> None:
        in_flight = asyncio.ensure_future(engine.predict(rows_of(0)))
        await wait_until(model.entered)  # the inference thread holds the first batch
        queued = [asyncio.ensure_future(engine.predict(rows_of(i))) for i in range(1, 6)]
        for _ in range(10):
            await asyncio.sleep(0)
        assert model.batch_sizes == [1]  # nothing goes while the thread is busy
        model.release.set()
        await asyncio.wait_for(asyncio.gather(in_flight, *queued), GUARD_S)

    run_engine(model, scenario, max_batch=64, max_wait_s=FOREVER)
    assert model.batch_sizes == [1, 5]


def test_engine_lone_request_after_a_shared_batch_waits_for_company() -> None:
    model = FakeModel()

    async def scenario(engine: BatchingEngine) -> None:
        await asyncio.gather(engine.predict(rows_of(1)), engine.predict(rows_of(2)))
        lone = asyncio.ensure_future(engine.predict(rows_of(3)))
        for _ in range(10):
            await asyncio.sleep(0)
        assert not lone.done()  # still waiting for company (had it gone, the batches below show it)
        assert model.batch_sizes == [2]
        company = engine.predict(rows_of(4))  # fills the batch: both go at once
        await asyncio.wait_for(asyncio.gather(lone, company), GUARD_S)

    run_engine(model, scenario, max_batch=2, max_wait_s=FOREVER)
    assert model.batch_sizes == [2, 2]


# uvloop is what the service runs on: its timer handles are not asyncio.TimerHandle.
@pytest.mark.parametrize("loop_factory", [None, uvloop.new_event_loop], ids=["asyncio", "uvloop"])
def test_engine_queue_reaching_max_batch_does_not_wait_out_the_timer(
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None,
) -> None:
    model = FakeModel()

    async def scenario(engine: BatchingEngine) -> None:
        await asyncio.gather(engine.predict(rows_of(1)), engine.predict(rows_of(2)))
        first = asyncio.ensure_future(engine.predict(rows_of(3)))
        for _ in range(10):
            await asyncio.sleep(0)  # the timer is running for this lone request
        assert not first.done()
        rest = (engine.predict(rows_of(i)) for i in range(4, 7))
        await asyncio.wait_for(asyncio.gather(first, *rest), GUARD_S)

    run_engine(model, scenario, loop_factory, max_batch=4, max_wait_s=FOREVER)
    assert model.batch_sizes == [2, 4]


def test_engine_stop_finishes_queued_work() -> None:
    model = FakeModel()
    model.release.clear()

    async def scenario(engine: BatchingEngine) -> list[NDArray[np.float32]]:
        in_flight = asyncio.ensure_future(engine.predict(rows_of(0)))
        await wait_until(model.entered)
        queued = [asyncio.ensure_future(engine.predict(rows_of(i))) for i in range(1, 4)]
        await asyncio.sleep(0)
        asyncio.get_running_loop().call_soon(model.release.set)  # once stop() is waiting
        await engine.stop()
        callers = [in_flight, *queued]
        assert [caller.done() for caller in callers] == [True] * 4  # before any further await
        return [caller.result() for caller in callers]

    results = run_engine(model, scenario, max_batch=64, max_wait_s=0.0)
    assert model.batch_sizes == [1, 3]
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result, np.full((1, 10), 2.0 * i))


def test_engine_refuses_work_after_stop() -> None:
    async def scenario(engine: BatchingEngine) -> None:
        await engine.predict(rows_of(1))
        await engine.stop()
        with pytest.raises(RuntimeError, match="not running"):
            await engine.predict(rows_of(1))

    run_engine(FakeModel(), scenario, max_batch=64, max_wait_s=0.0)
