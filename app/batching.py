"""Dynamic micro-batching: requests arriving together share one forward pass, off the event loop."""

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

logger = logging.getLogger(__name__)

Predict = Callable[[NDArray[np.float32]], NDArray[np.float32]]
BatchObserver = Callable[[int, float], None]  # (rows in the batch, seconds the oldest waited)


class Overloaded(RuntimeError):
    """The inference queue is full; the client should retry after `retry_after` seconds."""

    def __init__(self, queued: int, limit: int, retry_after: int = 1) -> None:
        super().__init__(f"inference queue is full ({queued} of {limit} rows waiting)")
        self.retry_after = retry_after


@dataclass
class _Pending:
    rows: NDArray[np.float32]
    future: asyncio.Future[NDArray[np.float32]]
    enqueued: float = field(default_factory=time.perf_counter)


class BatchingEngine:
    """Queue rows, run up to `max_batch` per call of `predict`, hand each caller its own rows."""

    def __init__(
        self,
        predict: Predict,
        *,
        max_batch: int = 64,
        max_wait_s: float = 0.001,
        max_queue: int = 1024,
        observe: BatchObserver | None = None,
    ) -> None:
        self._predict = predict
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self._observe = observe
        self._queue: deque[_Pending] = deque()
        self._queued_rows = 0
        self._last_rows = 0  # rows in the latest batch: > 1 means clients are concurrent
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self._task: asyncio.Task[None] | None = None

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="batching-engine")

    async def stop(self) -> None:
        """Finish what is queued, then stop the loop and the inference thread."""
        while self._queue and self._task is not None and not self._task.done():
            await asyncio.sleep(0.001)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=True)

    async def predict(self, rows: NDArray[np.float32]) -> NDArray[np.float32]:
        """Probabilities (N, 10) for rows (N, 784); raise Overloaded when the queue is full."""
        if self._task is None or self._task.done():
            raise RuntimeError("batching engine is not running")
        if self._queued_rows + len(rows) > self.max_queue and self._queued_rows > 0:
            raise Overloaded(self._queued_rows, self.max_queue)
        pending = _Pending(rows, asyncio.get_running_loop().create_future())
        self._queue.append(pending)
        self._queued_rows += len(rows)
        self._wakeup.set()
        return await pending.future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            batch = await self._collect()
            await self._execute(loop, batch)

    async def _collect(self) -> list[_Pending]:
        """Take queued requests up to `max_batch` rows, waiting at most `max_wait_s` for more.

        The wait is only worth it under concurrency: after a batch of one row (a lone client)
        the next request runs at once, so a lone request is never delayed by batching.
        """
        if self._last_rows > 1:
            deadline = asyncio.get_running_loop().time() + self.max_wait_s
            while self._queued_rows < self.max_batch:
                self._wakeup.clear()
                try:
                    async with asyncio.timeout_at(deadline):
                        await self._wakeup.wait()
                except TimeoutError:
                    break
        batch: list[_Pending] = []
        rows = 0
        while self._queue and (not batch or rows + len(self._queue[0].rows) <= self.max_batch):
            item = self._queue.popleft()
            rows += len(item.rows)
            batch.append(item)
        self._queued_rows -= rows
        self._last_rows = rows
        return batch

    async def _execute(self, loop: asyncio.AbstractEventLoop, batch: list[_Pending]) -> None:
        live = [item for item in batch if not item.future.done()]  # skip cancelled callers
        if not live:
            return
        rows = live[0].rows if len(live) == 1 else np.concatenate([item.rows for item in live])
        waited = time.perf_counter() - live[0].enqueued
        try:
            probabilities = await loop.run_in_executor(self._executor, self._predict, rows)
        except Exception as exc:
            logger.exception("inference failed for a batch of %d rows", len(rows))
            for item in live:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        if self._observe is not None:
            self._observe(len(rows), waited)
        start = 0
        for item in live:
            end = start + len(item.rows)
            if not item.future.done():
                item.future.set_result(probabilities[start:end])
            start = end
