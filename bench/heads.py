"""Per HTTP setting of uvicorn: a 16 MB header, a 1 MB query, 1,000 header fields, a body of
one-byte chunks; the answer (or what happened) and the worst /healthz latency meanwhile.

Run from the repository root: python -m bench.heads
"""

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = str(Path(__file__).resolve().parents[1])
PY = sys.executable
VARIANTS = {
    "httptools (uvicorn's)": ["--http", "httptools"],
    "h11 + h11_max_incomplete_event_size": [
        "--http",
        "h11",
        "--h11-max-incomplete-event-size",
        str(128 * 1024),
    ],
    "BoundedHttpToolsProtocol": ["--http", "app.http.server_protocol:BoundedHttpToolsProtocol"],
}


def attack_header(n):
    return b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: " + b"y" * n + b"\r\n\r\n"


def attack_query(n):
    return b"GET /healthz?" + b"a=1&" * (n // 4) + b" HTTP/1.1\r\nHost: x\r\n\r\n"


def attack_fields(n):
    return b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X: y\r\n" * n + b"\r\n"


def attack_chunks(n):
    head = (
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    return head + b"1\r\nx\r\n" * n + b"0\r\n\r\n"


ATTACKS = {
    "16 MB header value": attack_header(16 << 20),
    "1 MB query": attack_query(1 << 20),
    "1,000 header fields": attack_fields(1000),
    "100,000 one-byte chunks": attack_chunks(100_000),
}


def send(port, data):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(30)
    t = time.perf_counter()
    try:
        s.sendall(data)
        answer = s.recv(200)
    except OSError as e:
        answer = repr(e).encode()
    s.close()
    return answer.split(b"\r\n")[0].decode(errors="replace") or "closed", time.perf_counter() - t


def probe(port, stop, worst):
    with httpx.Client(timeout=30, trust_env=False) as c:
        while not stop.is_set():
            t = time.perf_counter()
            c.get(f"http://127.0.0.1:{port}/healthz")
            worst[0] = max(worst[0], time.perf_counter() - t)
            time.sleep(0.002)


rows = []
for name, args in VARIANTS.items():
    port = 18500 + len(rows)
    env = {
        **os.environ,
        "MNIST_API_VERSION_POLICY": "2",
        "MNIST_API_MODEL_REPOSITORY": ROOT + "/models",
    }
    p = subprocess.Popen(
        [
            PY,
            "-m",
            "uvicorn",
            "app.main:create_app",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
            *args,
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", trust_env=False).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    for attack, data in ATTACKS.items():
        stop, worst = threading.Event(), [0.0]
        th = threading.Thread(target=probe, args=(port, stop, worst))
        th.start()
        time.sleep(0.2)
        status, seconds = send(port, data)
        time.sleep(0.1)
        stop.set()
        th.join()
        rows.append((name, attack, status, seconds, worst[0]))
        print(
            f"| {name} | {attack} | {status} | {seconds * 1000:.0f} | {worst[0] * 1000:.1f} |",
            flush=True,
        )
    p.terminate()
    p.wait(20)
