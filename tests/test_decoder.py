"""app.imaging.decoder: which uploads are decoded inline, and the decoder's own thread limiter."""

import io
import threading

import anyio
import anyio.to_thread
import numpy as np
import pytest
from PIL import Image

from app.imaging import decoder as decoder_module
from app.imaging.decoder import INLINE_MAX_BYTES, Decoder, decodes_inline
from app.imaging.preprocessing import ImageError, NoInk, PreparedImage

MAX_PIXELS = 16_000_000


def encoded(size: tuple[int, int], mode: str = "L", fmt: str = "PNG", ink: bool = True) -> bytes:
    image = Image.new(mode, size, 0)
    if ink:
        image.paste(255 if mode == "L" else (255, 255, 255), (size[0] // 4, 2, size[0] // 2, 20))
    buffer = io.BytesIO()
    image.save(buffer, fmt, optimize=True)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "inline"),
    [
        ("28x28 gray PNG", encoded((28, 28)), True),
        ("128x128 gray PNG", encoded((128, 128)), True),
        ("129x128 PNG: more pixels than the fast path takes", encoded((129, 128)), False),
        ("tiny PNG declaring 4000x4000", encoded((4000, 4000), mode="1", ink=False), False),
        ("28x28 JPEG", encoded((28, 28), fmt="JPEG"), False),
        ("not an image", b"hello", False),
        ("empty", b"", False),
        ("PNG signature, cut short", encoded((28, 28))[:20], False),
    ],
)
def test_decodes_inline(name: str, data: bytes, inline: bool) -> None:
    assert decodes_inline(data) is inline, name


def test_decodes_inline_refuses_large_bodies() -> None:
    data = encoded((28, 28))
    padded = data + b"\0" * (INLINE_MAX_BYTES - len(data) + 1)
    assert decodes_inline(data)
    assert not decodes_inline(padded)


def run_prepare(decoder: Decoder, data: bytes) -> tuple[PreparedImage, str]:
    threads: list[str] = []
    real = decoder_module.prepare_image

    def recording(*args: object, **kwargs: object) -> PreparedImage:
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    original, decoder_module.prepare_image = decoder_module.prepare_image, recording
    try:
        prepared = anyio.run(decoder.prepare, data, True)
    finally:
        decoder_module.prepare_image = original
    return prepared, threads[0]


def test_decoder_prepares_small_png_on_the_calling_thread() -> None:
    prepared, thread = run_prepare(Decoder(1, MAX_PIXELS), encoded((28, 28)))
    assert thread == threading.current_thread().name
    assert prepared.pixels.shape == (28, 28)


def test_decoder_prepares_larger_upload_on_a_worker_thread() -> None:
    prepared, thread = run_prepare(Decoder(1, MAX_PIXELS), encoded((300, 300)))
    assert thread != threading.current_thread().name
    assert prepared.pixels.dtype == np.uint8


def test_decoder_has_its_own_limiter_and_leaves_the_default_one_alone() -> None:
    async def check() -> tuple[float, float, float]:
        default = anyio.to_thread.current_default_thread_limiter()
        before = default.total_tokens
        decoder = Decoder(2, MAX_PIXELS)
        return before, default.total_tokens, decoder.limiter.total_tokens

    before, after, own = anyio.run(check)
    assert before == after
    assert own == 2


def test_decoder_runs_at_most_its_threads_at_once() -> None:
    decoder = Decoder(2, MAX_PIXELS)
    running = 0
    peak = 0
    lock = threading.Lock()
    release = threading.Event()

    def work() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        release.wait(5)
        with lock:
            running -= 1

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(decoder.run, work)
            while decoder.limiter.borrowed_tokens < 2:
                await anyio.sleep(0.001)
            assert decoder.limiter.statistics().tasks_waiting == 3
            release.set()

    anyio.run(main)
    assert peak == 2


def test_decoder_prepare_all_keeps_each_items_error() -> None:
    good, blank = encoded((60, 60)), encoded((60, 60), ink=False)
    results = anyio.run(Decoder(1, MAX_PIXELS).prepare_all, [good, blank, b"junk", good], True)
    assert [type(item) for item in results[::3]] == [PreparedImage, PreparedImage]
    assert isinstance(results[1], NoInk)
    assert isinstance(results[2], ImageError)
