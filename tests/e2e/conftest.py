"""End-to-end harness: a real Courtyard server in a subprocess and Debian's Chromium driven by
Playwright (plain ``playwright.sync_api``, no pytest plugin, never ``playwright install``).

Environment:
- COURTYARD_CHROMIUM: the Chromium binary (default /usr/bin/chromium).
- COURTYARD_TEST_REQUIRE_BROWSER=1: a missing browser fails the run instead of skipping it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from courtyard.testing import ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "e2e"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVER_START_SECONDS = 30


def _browser_required() -> bool:
    return os.environ.get("COURTYARD_TEST_REQUIRE_BROWSER", "") in {"1", "true", "yes"}


def _unavailable(reason: str) -> NoReturn:
    if _browser_required():
        pytest.fail(f"{reason} (COURTYARD_TEST_REQUIRE_BROWSER is set)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("COURTYARD_CHROMIUM", "/usr/bin/chromium")
    if not Path(path).exists():
        _unavailable(
            f"Chromium not found at {path}: install Debian's chromium package "
            "(apt-get install chromium) or set COURTYARD_CHROMIUM"
        )
    return path


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server (``courtyard serve``) on a free loopback port, over a fresh SQLite file."""
    data = tmp_path_factory.mktemp("e2e-server")
    with ServerProcess(database_url=f"sqlite:///{data / 'courtyard.db'}", data_dir=data) as server:
        server.wait_ready(SERVER_START_SECONDS)
        yield server.url


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Browser]:
    """Chromium for one test module. Playwright's sync API keeps an asyncio loop running while
    it is open, which would stop the async tests that follow: close it with the module."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is a dev dependency
        _unavailable("playwright for Python is not installed")
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(
                executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
            )
        except PlaywrightError as exc:
            _unavailable(f"Chromium at {chromium_path} did not start: {exc}")
        try:
            yield launched
        finally:
            launched.close()


class Shots:
    """One screenshot per page visited, numbered in visiting order; each page must also fit its
    viewport's width (no sideways scrolling on a phone)."""

    def __init__(self, prefix: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.prefix = prefix
        self.count = 0

    def __call__(self, page: Page, name: str) -> Path:
        self.count += 1
        path = ARTIFACTS / f"{self.prefix}-{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        widths = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1], f"{name} scrolls sideways: {widths}"
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    return Shots(request.node.name.removeprefix("test_"))


ConsoleErrors = Callable[["Page"], list[str]]


@pytest.fixture
def console_errors() -> ConsoleErrors:
    """Collect a page's console errors (a CSP violation or a script error shows up here)."""

    def watch(page: Page) -> list[str]:
        errors: list[str] = []

        def on_console(message: Any) -> None:
            if message.type != "error":
                return
            url = str((message.location or {}).get("url", ""))
            # A page answered with its own 4xx (an inline form error) is expected; a missing
            # stylesheet, script, icon or image is not.
            page_status = message.text.startswith("Failed to load resource") and not (
                "/static/" in url or url.endswith("/favicon.ico")
            )
            if page_status:
                return
            errors.append(f"{message.text} ({url})")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return errors

    return watch
