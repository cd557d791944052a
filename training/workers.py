"""Data preparation on every core: a spawn-started process pool, results in submission order.

Work is cut into fixed-size tasks, each with its own seed, so the result is the same whatever
the number of workers. Spawned (not forked) workers import only NumPy, SciPy, Pillow and app's
imaging, never a TensorFlow already running in the parent.
"""

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
from numpy.typing import NDArray

Task = tuple[Any, ...]
Batch = tuple[NDArray[Any], ...]  # arrays of the same length: images, labels, ...


def cpu_count() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run_tasks(function: Callable[..., Batch], tasks: Sequence[Task], workers: int = 0) -> Batch:
    """`function(*task)` for every task, on `workers` processes (0: every core); concatenated."""
    workers = workers or cpu_count()
    if workers == 1 or len(tasks) <= 1:
        results = [function(*task) for task in tasks]
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=context) as pool:
            futures = [pool.submit(function, *task) for task in tasks]
            results = [future.result() for future in futures]
    if not results:
        return np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8)
    return tuple(np.concatenate(arrays) for arrays in zip(*results, strict=True))


def seeds(root: np.random.SeedSequence, count: int) -> list[np.random.SeedSequence]:
    """`count` independent child seeds of `root`."""
    return root.spawn(count)  # type: ignore[no-any-return]
