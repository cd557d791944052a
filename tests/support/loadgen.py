"""A bounded load generator for the soak: a mix of valid and invalid requests, each with the
status it must get, sent by N asyncio clients until a deadline (or a request count)."""

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import numpy as np
from PIL import Image

from tests.support import poll, procfs
from tests.support.fuzz_corpus import digit, encode

MAX_REQUESTS = 1_000_000  # a bound on the loop besides the time
TIMEOUT = httpx.Timeout(30.0)
DIGIT_28 = encode(digit(28), "PNG")
# A 320x320 photo-like JPEG: too big for the inline path, so it goes through the thread pool.
PHOTO = encode(
    Image.fromarray(
        np.clip(
            np.asarray(digit(320), np.float64) * 0.7
            + np.random.default_rng(0).normal(40, 12, (320, 320)),
            0,
            255,
        ).astype(np.uint8)
    ),
    "JPEG",
)


@dataclass(frozen=True)
class Call:
    """One kind of request in the soak mix and the status it must get (503 is always allowed)."""

    name: str
    send: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]
    status: int


def v2_pixels(rows: int) -> dict[str, object]:
    data = (np.asarray(digit(28), np.float32) / 255).ravel().tolist() * rows
    return {"inputs": [{"name": "pixels", "shape": [rows, 784], "datatype": "FP32", "data": data}]}


MIX = [
    Call("digit-28", lambda c: c.post("/predict", files={"file": ("d.png", DIGIT_28)}), 200),
    Call("photo", lambda c: c.post("/predict", files={"file": ("p.jpg", PHOTO)}), 200),
    Call(
        "batch-8",
        lambda c: c.post("/predict/batch", files=[("files", ("d.png", DIGIT_28))] * 8),
        200,
    ),
    Call("v2-4-rows", lambda c: c.post("/v2/models/mnist/infer", json=v2_pixels(4)), 200),
    Call("garbage", lambda c: c.post("/predict", files={"file": ("x", b"\0junk" * 50)}), 415),
    Call("readyz", lambda c: c.get("/readyz"), 200),
]


@dataclass
class Load:
    statuses: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    requests: int = 0
    backpressure: int = 0


async def _load(url: str, seconds: float, concurrency: int, seed: int) -> Load:
    """`concurrency` clients each sending the mix in random order until `seconds` are up."""
    result = Load()
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT, limits=limits) as client:

        async def worker(rng: random.Random) -> None:
            while time.monotonic() < deadline and result.requests < MAX_REQUESTS:
                call = rng.choice(MIX)
                result.requests += 1
                try:
                    response = await call.send(client)
                except httpx.HTTPError as exc:
                    result.errors.append(f"{call.name}: {type(exc).__name__} {exc}")
                    continue
                result.statuses[f"{call.name} {response.status_code}"] += 1
                if response.status_code == 503 and "retry-after" in response.headers:
                    result.backpressure += 1
                elif response.status_code != call.status:
                    result.errors.append(f"{call.name}: {response.status_code} {response.text}")

        await asyncio.gather(*(worker(random.Random(seed + i)) for i in range(concurrency)))
    return result


def load(url: str, seconds: float, concurrency: int, seed: int = 0) -> Load:
    """Run the load on a loop of its own thread: the calling thread may hold a running loop
    (Playwright's sync API leaves one behind in the browser tests' session)."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, _load(url, seconds, concurrency, seed)).result()


def settled(pid: int, before: procfs.Holdings, timeout_s: float = 10) -> procfs.Holdings:
    """The server's holdings once closed connections are gone (or the timeout passed)."""

    def back() -> procfs.Holdings | None:
        now = procfs.holdings(pid)
        return now if now.fds <= before.fds and now.threads <= before.threads else None

    return poll(back, timeout_s, 0.25) or procfs.holdings(pid)
