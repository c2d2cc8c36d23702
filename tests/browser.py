"""Debian's Chromium driven by Playwright, and the page served as a user serves it
(`python -m runtime serve`), for the web page's tests. Playwright never downloads a browser
here: it launches /usr/bin/chromium (apt package `chromium`, installed by scripts/setup.sh).
The fixtures `playwright` and `playwright_browser` are imported by the test modules that drive
the page (one browser per module)."""

from __future__ import annotations

import base64
import contextlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    # This machine's network is closed: without these, Chromium's own background connections
    # are refused many at a time. Playwright adds --headless and a fresh, empty profile
    # (--user-data-dir in a temporary folder) itself; chromium_sandbox=False adds --no-sandbox.
    "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


def launch(playwright, extra_args=()):
    """Headless Debian Chromium; a clear failure when it is not installed."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `bash scripts/setup.sh`, which installs Debian's chromium package")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), chromium_sandbox=False,
                                      args=CHROMIUM_ARGS + list(extra_args))


@contextlib.contextmanager
def serving(folder: Path):
    """`python -m runtime serve FOLDER --host 127.0.0.1 --port 0`; yields the URL it prints."""
    process = subprocess.Popen(
        [sys.executable, "-m", "runtime", "serve", str(folder), "--host", "127.0.0.1", "--port", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        header, address = process.stdout.readline(), process.stdout.readline()
        match = re.match(r"\s*(http://127\.0\.0\.1:\d+/)", address)
        if not header.startswith("Serving") or not match:
            process.kill()
            pytest.fail(f"runtime serve did not start: {header}{address}{process.stderr.read()}")
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(timeout=10)


def open_page(browser, url: str, **context_options):
    """A new page at `url` once it has loaded the model or shown why it could not; its console
    lines are kept in page.console, its requests as (method, URL) in page.requests."""
    page = browser.new_page(**context_options)
    page.console = []
    page.requests = []
    page.on("console", lambda message: page.console.append(f"{message.type}: {message.text}"))
    page.on("request", lambda request: page.requests.append((request.method, request.url)))
    page.goto(url)
    page.wait_for_function("document.body.dataset.state !== 'loading'")
    return page


def to_base64(array) -> str:
    return base64.b64encode(bytes(array)).decode("ascii")


def from_base64(text: str) -> bytes:
    return base64.b64decode(text)


@pytest.fixture(scope="module")
def playwright():
    """Playwright's driver, for one test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def playwright_browser(playwright):
    """One headless Chromium for the module's pages."""
    browser = launch(playwright)
    yield browser
    browser.close()
