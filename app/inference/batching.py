"""Dynamic micro-batching: requests arriving together share one forward pass, off the event loop."""

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from queue import SimpleQueue

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
    """Queue rows, run up to `max_batch` per call of `predict`, hand each caller its own rows.

    One inference thread runs one batch at a time; what arrives meanwhile queues and goes in the
    next batch as soon as the thread is free, so under load batches grow by themselves. With the
    thread idle, a request goes at the end of the event loop's current pass (with whatever else
    arrived in it), or, if the last batch had company, after up to `max_wait_s` for more.
    The event loop pays one timer or callback per batch, not per request.
    """

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
        self._last_requests = 0  # callers in the latest batch: > 1 means clients are concurrent
        self._busy = False  # a batch is in the inference thread
        self._scheduled: asyncio.Handle | None = None  # the next dispatch, once arranged
        self._waiting = False  # ... and it is a timer waiting for company
        self._loop: asyncio.AbstractEventLoop | None = None
        self._jobs: SimpleQueue[list[_Pending] | None] = SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._work, name="inference", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Finish what is queued, then stop the inference thread."""
        while (self._queue or self._busy) and self._thread is not None:
            await asyncio.sleep(0.001)
        if self._thread is not None:
            self._jobs.put(None)
            await asyncio.to_thread(self._thread.join)
            self._thread = None

    async def predict(self, rows: NDArray[np.float32]) -> NDArray[np.float32]:
        """Probabilities (N, 10) for rows (N, 784); raise Overloaded when the queue is full."""
        loop = self._loop
        if loop is None or self._thread is None:
            raise RuntimeError("batching engine is not running")
        if self._queued_rows + len(rows) > self.max_queue and self._queued_rows > 0:
            raise Overloaded(self._queued_rows, self.max_queue)
        pending = _Pending(rows, loop.create_future())
        self._queue.append(pending)
        self._queued_rows += len(rows)
        if not self._busy:
            self._schedule(loop)
        return await pending.future

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        """Arrange the next dispatch: now-ish when the batch is full or nobody else is around."""
        full = self._queued_rows >= self.max_batch
        if self._scheduled is not None:
            if not (full and self._waiting):
                return
            self._scheduled.cancel()  # full: do not wait out the timer
        self._waiting = not full and self._last_requests > 1 and self.max_wait_s > 0
        if self._waiting:
            self._scheduled = loop.call_at(loop.time() + self.max_wait_s, self._dispatch)
        else:
            self._scheduled = loop.call_soon(self._dispatch)

    def _dispatch(self) -> None:
        self._scheduled, self._waiting = None, False
        batch: list[_Pending] = []
        rows = 0
        while self._queue and (not batch or rows + len(self._queue[0].rows) <= self.max_batch):
            item = self._queue.popleft()
            self._queued_rows -= len(item.rows)
            if not item.future.done():  # skip callers that were cancelled while queued
                rows += len(item.rows)
                batch.append(item)
        if not batch:
            return
        self._last_requests = len(batch)
        self._busy = True
        self._jobs.put(batch)

    def _work(self) -> None:
        """The inference thread: run each batch, hand the outcome back to the event loop."""
        assert self._loop is not None
        while (batch := self._jobs.get()) is not None:
            waited = time.perf_counter() - batch[0].enqueued
            rows = batch[0].rows if len(batch) == 1 else np.concatenate([i.rows for i in batch])
            try:
                outcome: NDArray[np.float32] | BaseException = self._predict(rows)
            except Exception as exc:
                logger.exception("inference failed for a batch of %d rows", len(rows))
                outcome = exc
            self._loop.call_soon_threadsafe(self._finish, batch, outcome, len(rows), waited)

    def _finish(
        self,
        batch: list[_Pending],
        outcome: NDArray[np.float32] | BaseException,
        rows: int,
        waited: float,
    ) -> None:
        self._busy = False
        if self._queue:  # these waited for the thread already: no timer for them
            self._dispatch()
        if isinstance(outcome, BaseException):
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(outcome)
            return
        if self._observe is not None:
            self._observe(rows, waited)
        start = 0
        for item in batch:
            end = start + len(item.rows)
            if not item.future.done():
                item.future.set_result(outcome[start:end])
            start = end
