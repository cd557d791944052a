"""Where an upload is decoded: the one owner of that decision.

A small PNG that the libspng fast path takes decodes in less time than a hand-off to a thread
costs, so it is decoded on the event loop. Everything else runs in the decoder's own threads:
their limiter bounds how many uploads are decoded (and held in memory) at once, and leaves the
process's default thread pool (static files, the metrics scrape) to everything else.
"""

from collections.abc import Callable
from functools import partial
from typing import TypeVar

import anyio
import anyio.to_thread

from app.imaging.png import FAST_MAX_SIDE, declared_png_pixels
from app.imaging.preprocessing import ImageError, PreparedImage, prepare_image

T = TypeVar("T")
# Larger uploads, or PNGs declaring more pixels, go to a thread: a 2 KB PNG can declare
# 4000x4000 pixels, and decoding that on the event loop would stall every other request.
INLINE_MAX_BYTES = 4096
INLINE_MAX_PIXELS = FAST_MAX_SIDE * FAST_MAX_SIDE


def decodes_inline(data: bytes) -> bool:
    """True for an upload cheap enough to decode on the event loop: a small PNG of few pixels."""
    if len(data) > INLINE_MAX_BYTES:
        return False
    pixels = declared_png_pixels(data)
    return pixels is not None and pixels <= INLINE_MAX_PIXELS


class Decoder:
    """Turns uploads into PreparedImages, inline or on at most `threads` threads at once."""

    def __init__(self, threads: int, max_pixels: int) -> None:
        self.limiter = anyio.CapacityLimiter(threads)
        self.max_pixels = max_pixels

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """Run blocking decode work (`function(*args)`) on the decoder's threads."""
        return await anyio.to_thread.run_sync(partial(function, *args), limiter=self.limiter)

    async def prepare(self, data: bytes, normalize: bool) -> PreparedImage:
        """One upload -> PreparedImage; ImageError (a 4xx) if it is not a usable image."""
        if decodes_inline(data):
            return prepare_image(data, max_pixels=self.max_pixels, normalize=normalize)
        return await self.run(self._prepare, data, normalize)

    async def prepare_all(
        self, payloads: list[bytes], normalize: bool
    ) -> list[PreparedImage | ImageError]:
        """Several uploads in one thread hop; each item is its image or its own error."""
        return await self.run(self._prepare_all, payloads, normalize)

    def _prepare(self, data: bytes, normalize: bool) -> PreparedImage:
        return prepare_image(data, max_pixels=self.max_pixels, normalize=normalize)

    def _prepare_all(
        self, payloads: list[bytes], normalize: bool
    ) -> list[PreparedImage | ImageError]:
        results: list[PreparedImage | ImageError] = []
        for data in payloads:
            try:
                results.append(self._prepare(data, normalize))
            except ImageError as exc:
                results.append(exc)
        return results
