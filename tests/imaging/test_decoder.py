"""app.imaging.decoder: which uploads are decoded inline, and the decoder's own thread limiter."""

import io
import threading
from functools import partial

import anyio
import anyio.to_thread
import numpy as np
import pytest
from PIL import Image

from app.imaging import decoder as decoder_module
from app.imaging import pipeline
from app.imaging.decoder import HEAVY_PIXELS, INLINE_MAX_BYTES, Decoder, decodes_inline, is_heavy
from app.imaging.errors import ImageError, NoInk
from app.imaging.header import Header, read_header
from app.imaging.pipeline import PreparedImage
from tests.support.fuzz_corpus import digit, encode, gif, jpeg_scans, png, tiff

MAX_PIXELS = 16_000_000
GUARD_S = 10.0  # bounds a wait that only a failing test reaches


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
    both_inside, release = threading.Event(), threading.Event()

    def work() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            if running == 2:
                both_inside.set()
        release.wait(GUARD_S)
        with lock:
            running -= 1

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(decoder.run, work)
            # Both threads inside `work`, not only holding a token.
            assert await anyio.to_thread.run_sync(both_inside.wait, GUARD_S)
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


# Issue 15, finding 3: two hostile JPEGs held both decode threads for minutes, and every other
# upload waited. Uploads that may be costly now leave one decode thread to the others.
@pytest.mark.parametrize(
    ("data", "heavy"),
    [
        (encode(digit(28), "PNG"), False),
        (encode(digit(1000).convert("RGB"), "JPEG"), False),
        (png(2000, 1000), False),
        (png(2000, 1001), True),
        (gif(8000, 2000), True),
        (jpeg_scans(1000, 5000), False),  # refused by its scan count, at once
        (tiff(100, 100), True),  # a TIFF's size is not known without Pillow
        (b"not an image", True),
    ],
    ids=["png-28", "jpeg-1000", "png-2mpx", "png-over", "gif-16mpx", "jpeg-scans", "tiff", "junk"],
)
def test_is_heavy(data: bytes, heavy: bool) -> None:
    assert HEAVY_PIXELS == 2_000_000
    assert is_heavy(data) is heavy


@pytest.mark.parametrize("threads", [2, 3])
def test_heavy_decodes_leave_a_thread_for_the_others(threads: int) -> None:
    decoder = Decoder(threads, MAX_PIXELS)
    heavy_inside, release = threading.Event(), threading.Event()
    running = {"heavy": 0, "most": 0}
    lock = threading.Lock()

    def heavy() -> None:
        with lock:
            running["heavy"] += 1
            running["most"] = max(running["most"], running["heavy"])
            if running["heavy"] == threads - 1:
                heavy_inside.set()
        release.wait(2 * GUARD_S)  # longer than the guard: none ends by itself while it runs
        with lock:
            running["heavy"] -= 1

    async def main() -> bool:
        async with anyio.create_task_group() as group:
            for _ in range(4 * threads):
                group.start_soon(partial(decoder.run, heavy, heavy=True))
            try:
                assert await anyio.to_thread.run_sync(heavy_inside.wait, GUARD_S)
                with anyio.fail_after(GUARD_S):  # an ordinary upload's decode, meanwhile
                    return await decoder.run(lambda: not release.is_set())
            finally:
                release.set()

    assert anyio.run(main)  # it ran while every heavy decode held its thread
    assert running["most"] == threads - 1


def test_decoder_prepare_all_keeps_an_unexpected_error_to_its_item(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = decoder_module.prepare_image

    def broken_on_junk(data: bytes, **options: object) -> PreparedImage:
        if data == b"bug":
            raise IndexError("index 0 is out of bounds for axis 0 with size 0")
        return real(data, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(decoder_module, "prepare_image", broken_on_junk)
    good = encoded((60, 60))
    results = anyio.run(Decoder(1, MAX_PIXELS).prepare_all, [good, b"bug", good], True)
    assert [type(item) for item in results] == [PreparedImage, IndexError, PreparedImage]
    assert "batch item 1" in caplog.text


def test_decodes_inline_and_is_heavy_use_the_header_they_are_given() -> None:
    data = encoded((28, 28))
    assert decodes_inline(data, read_header(data))
    assert not decodes_inline(data, Header("PNG", (4000, 4000)))
    assert not is_heavy(data, read_header(data))
    assert is_heavy(data, Header(None, None))


@pytest.mark.parametrize("size", [(28, 28), (300, 300)], ids=["inline", "on-a-thread"])
def test_decoder_prepare_reads_the_header_once(
    size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[bytes] = []

    def counting(data: bytes) -> Header:
        reads.append(data)
        return read_header(data)

    monkeypatch.setattr(decoder_module, "read_header", counting)
    monkeypatch.setattr(pipeline, "read_header", counting)
    data = encoded(size)
    prepared = anyio.run(Decoder(1, MAX_PIXELS).prepare, data, True)
    assert prepared.pixels.shape == (28, 28)
    assert reads == [data]
