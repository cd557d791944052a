"""Where an upload is decoded and a request body parsed: the one owner of that decision.

A small PNG that the libspng fast path takes decodes in less time than a hand-off to a thread
costs, so it is decoded on the event loop. Everything else runs in the decoder's own threads:
their limiter bounds how many uploads are decoded (and held in memory) at once, and leaves the
process's default thread pool (static files, the metrics scrape) to everything else.

An upload whose header declares at most HEAVY_PIXELS pixels decodes quickly. Anything else
(more pixels, or a format whose size is unknown before decoding) may take far longer, and also
needs a slot of a second limiter with one thread fewer: however many such uploads arrive, one
decode thread stays free for ordinary ones (with a single decode thread nothing can be kept
back).
"""

import logging
from collections.abc import Callable
from functools import partial
from typing import TypeVar

import anyio
import anyio.to_thread

from app.imaging.errors import ImageError
from app.imaging.header import Header, read_header
from app.imaging.pipeline import PreparedImage, prepare_image
from app.imaging.png import FAST_MAX_SIDE

logger = logging.getLogger(__name__)
T = TypeVar("T")
# Larger uploads, or PNGs declaring more pixels, go to a thread: a 2 KB PNG can declare
# 4000x4000 pixels, and decoding that on the event loop would stall every other request.
INLINE_MAX_BYTES = 4096
INLINE_MAX_PIXELS = FAST_MAX_SIDE * FAST_MAX_SIDE
HEAVY_PIXELS = 2_000_000
# Request bodies up to this size are parsed on the event loop: the parsers bound their work,
# so a small body is cheap even when built to be slow; a larger one is parsed in a thread.
INLINE_PARSE_MAX_BYTES = 16 * 1024


def decodes_inline(data: bytes, header: Header | None = None) -> bool:
    """True for an upload cheap enough to decode on the event loop: a small PNG of few pixels."""
    if len(data) > INLINE_MAX_BYTES:
        return False
    header = header or read_header(data)
    pixels = header.pixels
    return header.format == "PNG" and pixels is not None and pixels <= INLINE_MAX_PIXELS


def is_heavy(data: bytes, header: Header | None = None) -> bool:
    """True unless the upload's header declares at most HEAVY_PIXELS pixels."""
    pixels = (header or read_header(data)).pixels
    return pixels is None or pixels > HEAVY_PIXELS


class Decoder:
    """Turns uploads into PreparedImages, inline or on at most `threads` threads at once, of
    which heavy uploads take at most `threads - 1` (at least 1)."""

    def __init__(self, threads: int, max_pixels: int) -> None:
        self.limiter = anyio.CapacityLimiter(threads)
        self.heavy = anyio.CapacityLimiter(max(1, threads - 1))
        self.max_pixels = max_pixels

    async def run(self, function: Callable[..., T], *args: object, heavy: bool = False) -> T:
        """Run blocking decode work (`function(*args)`) on the decoder's threads; heavy work
        first waits for a slot in the heavy lane."""
        call = partial(function, *args)
        if not heavy:
            return await anyio.to_thread.run_sync(call, limiter=self.limiter)
        async with self.heavy:
            return await anyio.to_thread.run_sync(call, limiter=self.limiter)

    async def parse(self, function: Callable[..., T], body: bytes, *args: object) -> T:
        """`function(body, *args)`: a bounded parser of a request body, inline for a small body,
        else on the decoder's threads."""
        if len(body) <= INLINE_PARSE_MAX_BYTES:
            return function(body, *args)
        return await self.run(function, body, *args)

    async def run_images(self, images: list[bytes], function: Callable[..., T], *args: object) -> T:
        """`function(*args)` that decodes `images`, on the decoder's threads (the heavy lane
        when any of them is heavy)."""
        return await self.run(function, *args, heavy=any(is_heavy(data) for data in images))

    async def prepare(self, data: bytes, normalize: bool) -> PreparedImage:
        """One upload -> PreparedImage; ImageError (a 4xx) if it is not a usable image."""
        header = read_header(data)
        if decodes_inline(data, header):
            return self._prepare(data, normalize, header)
        return await self.run(self._prepare, data, normalize, header, heavy=is_heavy(data, header))

    async def prepare_all(
        self, payloads: list[bytes], normalize: bool
    ) -> list[PreparedImage | Exception]:
        """Several uploads in one thread hop; each item is its image or its own error: an
        ImageError, or any other exception (logged: a bug), so one item never fails the rest."""
        return await self.run_images(payloads, self._prepare_all, payloads, normalize)

    def _prepare(self, data: bytes, normalize: bool, header: Header | None = None) -> PreparedImage:
        return prepare_image(data, max_pixels=self.max_pixels, normalize=normalize, header=header)

    def _prepare_all(
        self, payloads: list[bytes], normalize: bool
    ) -> list[PreparedImage | Exception]:
        results: list[PreparedImage | Exception] = []
        for index, data in enumerate(payloads):
            try:
                results.append(self._prepare(data, normalize))
            except ImageError as exc:
                results.append(exc)
            except Exception as exc:  # a bug: logged here, that item's 500; the others go on
                logger.exception("unhandled error preparing batch item %d", index)
                results.append(exc)
        return results
