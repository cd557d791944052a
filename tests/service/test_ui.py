"""The drawing page and the docs, driven in headless Chromium against a real uvicorn server.

Needs Debian's Chromium at /usr/bin/chromium (`apt-get install chromium`) and the `playwright`
package (dev extra); Playwright's own browser download is never used. Screenshots go to
artifacts/screenshots/; UPDATE_DOCS_SCREENSHOT=1 also refreshes docs/screenshot.png.
"""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests import support
from tests.support import ROOT, png, servers
from tests.support.strokes import digit_strokes, smooth

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
expect = sync_api.expect

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
DOCS_SCREENSHOT = ROOT / "docs" / "screenshot.png"
TIMEOUT_MS = 15_000


@pytest.fixture(scope="session")
def server_process(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """`python -m app` starting on a free port of 127.0.0.1 (it boots while Chromium launches)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: `apt-get install chromium` for the browser tests")
    port = support.free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    env = {**os.environ, "MNIST_API_LOG_LEVEL": "warning"}
    command = [sys.executable, "-m", "app", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        yield f"http://127.0.0.1:{port}", process, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def browser(server_process: tuple[str, subprocess.Popen[bytes], Path]) -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def server(browser: Any, server_process: tuple[str, subprocess.Popen[bytes], Path]) -> str:
    """The ready server's base URL."""
    url, process, log = server_process
    support.wait_ready(process, url, log, timeout_s=90)
    return url


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    """A fresh tab on the drawing page; fails the test on a script error or a CSP violation."""
    context = browser.new_context(viewport={"width": 1024, "height": 860})
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    tab.on(
        "console",
        lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    tab.goto(f"{server}/")
    yield tab
    context.close()
    assert not problems


def first_of(mnist: Any, label: int) -> np.ndarray:
    return mnist.x_test[int(np.nonzero(mnist.y_test == label)[0][0])]


def draw(page: Any, pixels: np.ndarray) -> None:
    """Trace the digit's skeleton on the canvas with the mouse, one stroke at a time."""
    box = page.locator("#pad").bounding_box()
    scale = box["width"] / 28

    def at(point: tuple[float, float]) -> tuple[float, float]:
        row, col = point
        return box["x"] + (col + 0.5) * scale, box["y"] + (row + 0.5) * scale

    for stroke in digit_strokes(pixels):
        path = smooth(stroke)
        page.mouse.move(*at(path[0]))
        page.mouse.down()
        for point in path[1:]:
            page.mouse.move(*at(point), steps=2)
        page.mouse.up()


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / name, full_page=True)


def expect_result(page: Any, digit: int) -> None:
    expect(page.locator("#digit")).to_have_text(str(digit), timeout=TIMEOUT_MS)
    expect(page.locator("#error")).to_be_hidden()
    expect(page.locator("#summary")).to_contain_text(f"reads {digit}")
    bars = page.locator("#bars .bar")
    expect(bars).to_have_count(10)
    assert bars.locator(".bar-label").all_text_contents() == [f"digit {d}" for d in range(10)]
    values = [float(v.rstrip("%")) for v in bars.locator(".bar-value").all_inner_texts()]
    assert max(values) == values[digit]
    assert sum(values) == pytest.approx(100, abs=1)
    expect(page.locator("#bars .bar.top")).to_have_attribute("data-digit", str(digit))
    seen = page.locator("#seen")
    expect(seen).to_be_visible()
    assert seen.get_attribute("src").startswith("data:image/png;base64,")
    assert seen.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [28, 28]


@pytest.mark.parametrize("label", [1, 7])
def test_page_drawn_digit_is_predicted(page: Any, mnist: Any, label: int) -> None:
    draw(page, first_of(mnist, label))
    expect_result(page, label)
    screenshot(page, f"drawn-{label}.png")
    if label == 7 and os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
        page.screenshot(path=DOCS_SCREENSHOT)


def test_page_clear_resets_result_and_canvas(page: Any, mnist: Any) -> None:
    draw(page, first_of(mnist, 1))
    expect_result(page, 1)
    page.locator("#clear").focus()
    page.keyboard.press("Enter")  # the button works from the keyboard
    expect(page.locator("#digit")).to_have_text("")
    expect(page.locator("#seen")).to_be_hidden()
    assert set(page.locator("#bars .bar-value").all_inner_texts()) == {"0.0%"}
    ink = page.locator("#pad").evaluate(
        "c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some(v => v !== 0)"
    )
    assert ink is False
    page.wait_for_timeout(400)  # a late answer to the cleared drawing must not come back
    expect(page.locator("#digit")).to_have_text("")


def test_page_uploaded_mnist_png_is_predicted(page: Any, mnist: Any) -> None:
    label = int(mnist.y_test[0])
    payload = {"name": "mnist-0.png", "mimeType": "image/png", "buffer": png(mnist.x_test[0])}
    page.locator("#file").set_input_files(payload)
    expect_result(page, label)
    expect(page.locator("#summary")).to_contain_text("mnist-0.png")
    screenshot(page, "uploaded.png")


def test_page_broken_file_shows_service_detail(page: Any, server: str, mnist: Any) -> None:
    broken = png(mnist.x_test[0])[:60]  # a PNG cut off after its header
    answer = httpx.post(f"{server}/predict", files={"file": ("broken.png", broken, "image/png")})
    assert 400 <= answer.status_code < 500
    page.locator("#file").set_input_files(
        {"name": "broken.png", "mimeType": "image/png", "buffer": broken}
    )
    error = page.locator("#error")
    expect(error).to_be_visible()
    expect(error).to_contain_text(answer.json()["detail"])
    expect(error).to_contain_text(f"HTTP {answer.status_code}")
    expect(page.locator("#digit")).to_have_text("")
    screenshot(page, "error.png")


def test_page_shows_model_and_links_docs(page: Any, server: str) -> None:
    model = httpx.get(f"{server}/model").json()
    info = page.locator("#model-info")
    expect(info).to_contain_text(f"Model {model['name']}, version {model['version']}")
    expect(info).to_contain_text(f"test accuracy {model['test_accuracy'] * 100:.1f}%")
    assert page.get_by_role("link", name="API docs").first.get_attribute("href") == "/docs"
    expect(page.get_by_label("Or upload an image of a digit")).to_have_attribute(
        "accept", "image/*"
    )


def test_page_security_headers(server: str) -> None:
    headers = httpx.get(f"{server}/").headers
    assert "script-src 'self';" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"


def test_page_fits_a_phone_screen(browser: Any, server: str, mnist: Any) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 740}, has_touch=True)
    phone = context.new_page()
    phone.goto(f"{server}/")
    draw(phone, first_of(mnist, 7))
    expect_result(phone, 7)
    overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    screenshot(phone, "phone.png")
    context.close()


def test_docs_try_it_out_uploads_png(browser: Any, server: str, mnist: Any) -> None:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    docs = context.new_page()
    docs.set_default_timeout(TIMEOUT_MS)
    docs.goto(f"{server}/docs")
    operation = docs.locator("#operations-prediction-predict_predict_post")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.locator("input[type=file]").set_input_files(
        {"name": "digit.png", "mimeType": "image/png", "buffer": png(mnist.x_test[0])}
    )
    operation.get_by_role("button", name="Execute").click()
    status = operation.locator(".live-responses-table .response .response-col_status")
    expect(status).to_have_text("200")
    body = operation.locator(".live-responses-table .response .response-col_description")
    expect(body).to_contain_text(re.compile(rf'"digit": {int(mnist.y_test[0])}'))
    screenshot(docs, "docs-try-it-out.png")
    context.close()


def test_redoc_renders_offline(browser: Any, server: str) -> None:
    context = browser.new_context()
    redoc = context.new_page()
    redoc.goto(f"{server}/redoc")
    expect(redoc.locator("h1")).to_contain_text("MNIST digit classifier", timeout=TIMEOUT_MS)
    context.close()


# --- with an API key (MNIST_API_API_KEY): the page is public, the API asks for the key ---------

API_KEY = "page-k3y-0123456789"


@pytest.fixture(scope="module")
def keyed_server(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {"MNIST_API_API_KEY": API_KEY, "MNIST_API_LOG_LEVEL": "warning"}
    with servers.running(tmp_path_factory.mktemp("keyed"), env=env) as running:
        yield running.url


def keyed_page(browser: Any, url: str, answer: str) -> tuple[Any, list[str]]:
    """A new tab on the page that answers every key prompt with `answer`; also its prompts."""
    tab = browser.new_context().new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    prompts: list[str] = []

    def on_dialog(dialog: Any) -> None:
        prompts.append(dialog.message)
        dialog.accept(answer)

    tab.on("dialog", on_dialog)
    tab.goto(f"{url}/")
    return tab, prompts


def test_page_asks_for_the_api_key_once_then_predicts(
    browser: Any, keyed_server: str, mnist: Any
) -> None:
    tab, prompts = keyed_page(browser, keyed_server, API_KEY)
    expect(tab.locator("#model-info")).to_contain_text("Model mnist")
    tab.locator("#file").set_input_files(
        {"name": "mnist-0.png", "mimeType": "image/png", "buffer": png(mnist.x_test[0])}
    )
    expect(tab.locator("#digit")).to_have_text(str(int(mnist.y_test[0])))
    assert prompts == ["This service needs an API key:"]
    tab.context.close()


def test_page_with_a_wrong_api_key_shows_the_refusal(
    browser: Any, keyed_server: str, mnist: Any
) -> None:
    tab, _ = keyed_page(browser, keyed_server, "wrong")
    expect(tab.locator("#model-info")).to_contain_text("the API key is not valid")
    tab.locator("#file").set_input_files(
        {"name": "mnist-0.png", "mimeType": "image/png", "buffer": png(mnist.x_test[0])}
    )
    expect(tab.locator("#error")).to_contain_text("HTTP 401")
    tab.context.close()


# --- with an abstention threshold (MNIST_API_ABSTAIN_THRESHOLD): "not a digit" ----------------


@pytest.fixture(scope="module")
def abstaining_server(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {"MNIST_API_ABSTAIN_THRESHOLD": "0.9", "MNIST_API_LOG_LEVEL": "warning"}
    with servers.running(tmp_path_factory.mktemp("abstaining"), env=env) as running:
        yield running.url


def test_page_shows_not_a_digit_with_the_reason(
    browser: Any, abstaining_server: str, mnist: Any
) -> None:
    noise = np.zeros((28, 28), np.uint8)  # MNIST-style noise: the model is unsure of it
    noise[4:24, 4:24] = np.random.default_rng(0).integers(0, 256, (20, 20))
    answer = httpx.post(
        f"{abstaining_server}/predict", files={"file": ("noise.png", png(noise), "image/png")}
    ).json()
    assert answer["digit"] is None
    tab = browser.new_context().new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    tab.goto(f"{abstaining_server}/")
    tab.locator("#file").set_input_files(
        {"name": "noise.png", "mimeType": "image/png", "buffer": png(noise)}
    )
    expect(tab.locator("#digit")).to_have_text("not a digit")
    expect(tab.locator("#confidence")).to_have_text("too unsure")
    expect(tab.locator("#summary")).to_contain_text(
        f"The model sees no digit in noise.png: {answer['not_a_digit']['detail']}"
    )
    expect(tab.locator("#error")).to_be_hidden()
    expect(tab.locator("#bars .bar.top")).to_have_count(0)
    screenshot(tab, "not-a-digit.png")
    tab.locator("#file").set_input_files(  # a digit after it is shown as a digit again
        {"name": "mnist-0.png", "mimeType": "image/png", "buffer": png(mnist.x_test[0])}
    )
    expect_result(tab, int(mnist.y_test[0]))
    assert "not-digit" not in (tab.locator("#digit").get_attribute("class") or "")
    tab.context.close()
