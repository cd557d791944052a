"""Decoding off the event loop, in two lanes, so that costly uploads cannot starve the others.

An upload whose header declares at most HEAVY_PIXELS pixels (a photo of a digit, a canvas, a
scan) decodes in tens of milliseconds. Anything else (more pixels, or a format whose size is not
known before decoding) may take up to about a second, and goes through a second limiter with one
thread fewer than the decode threads: however many of those arrive, one thread stays free for
the first kind. (With a single decode thread nothing can be kept back.)
"""

from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from app.imaging.header import declared_pixels

HEAVY_PIXELS = 2_000_000
T = TypeVar("T")


def is_heavy(data: bytes) -> bool:
    """True unless the upload's header declares at most HEAVY_PIXELS pixels."""
    pixels = declared_pixels(data)
    return pixels is None or pixels > HEAVY_PIXELS


def heavy_lane(app: FastAPI) -> anyio.CapacityLimiter:
    """The app's limiter for heavy decodes: decode threads - 1 of them at once (at least 1)."""
    lane: anyio.CapacityLimiter | None = getattr(app.state, "heavy_decodes", None)
    if lane is None:
        lane = anyio.CapacityLimiter(max(1, app.state.settings.decode_threads - 1))
        app.state.heavy_decodes = lane
    return lane


async def decode_off_loop(
    app: FastAPI, heavy: bool, func: Callable[..., T], *args: Any, **kwargs: Any
) -> T:
    """`func(*args, **kwargs)` in the thread pool; a heavy one waits for a heavy-lane slot first."""
    if not heavy:
        return await run_in_threadpool(func, *args, **kwargs)
    async with heavy_lane(app):
        return await run_in_threadpool(func, *args, **kwargs)
