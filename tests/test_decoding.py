"""app.http.decoding: heavy decodes never take every decode thread (issue 15, finding 3)."""

import threading
import time
from types import SimpleNamespace

import anyio
import anyio.to_thread
import pytest

from app.http.decoding import HEAVY_PIXELS, decode_off_loop, is_heavy
from tests.fuzz_corpus import digit, encode, gif, jpeg_scans, png, tiff


@pytest.mark.parametrize(
    ("data", "heavy"),
    [
        (encode(digit(28), "PNG"), False),
        (encode(digit(1000).convert("RGB"), "JPEG"), False),
        (png(2000, 1000), False),
        (png(2000, 1001), True),
        (gif(8000, 2000), True),
        (jpeg_scans(1000, 5000), False),  # refused by its scan count, in the light lane
        (tiff(100, 100), True),  # the size of a TIFF is not known without Pillow
        (b"not an image", True),
    ],
    ids=[
        "png-28",
        "jpeg-1000",
        "png-at-limit",
        "png-over",
        "gif-16mpx",
        "jpeg-scans",
        "tiff",
        "junk",
    ],
)
def test_is_heavy(data: bytes, heavy: bool) -> None:
    assert HEAVY_PIXELS == 2_000_000
    assert is_heavy(data) is heavy


@pytest.mark.parametrize("threads", [2, 3])
def test_heavy_decodes_leave_a_thread_for_light_ones(threads: int) -> None:
    app = SimpleNamespace(state=SimpleNamespace(settings=SimpleNamespace(decode_threads=threads)))
    release = threading.Event()
    running = {"heavy": 0, "most": 0}
    lock = threading.Lock()

    def heavy() -> None:
        with lock:
            running["heavy"] += 1
            running["most"] = max(running["most"], running["heavy"])
        release.wait(5)
        with lock:
            running["heavy"] -= 1

    async def main() -> float:
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        async with anyio.create_task_group() as tasks:
            for _ in range(4 * threads):
                tasks.start_soon(decode_off_loop, app, True, heavy)  # type: ignore[arg-type]
            await anyio.sleep(0.2)  # every heavy one that can run is running
            started = time.perf_counter()
            await decode_off_loop(app, False, time.sleep, 0.01)  # type: ignore[arg-type]
            light = time.perf_counter() - started
            release.set()
        return light

    assert anyio.run(main) < 0.5
    assert running["most"] == threads - 1
