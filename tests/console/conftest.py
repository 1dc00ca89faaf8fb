"""Fixtures of the console's browser suite (tests/console).

One idplane server per session (tests/idplane_server.py), started on a free port with a fresh store and a random
bootstrap token; Playwright drives Debian's Chromium (the path is IDPLANE_CHROMIUM, which scripts/sdk-tests sets from
scripts/browser; no `playwright install`). Without a Chromium every test is skipped, with the reason.

Every test gets a fresh browser context; `signed_in` signs it in through the sign-in page with the admin token.
`shot(page, name)` saves a screenshot of the page into target/console-screenshots/ (git-ignored), the record of every
page the suite visits.
"""

import os
import secrets
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from idplane_server import REPO, Server, idplane_binary, no_proxy, start  # noqa: E402, F401 (after the path it is found on; no_proxy is a fixture)

SCREENSHOTS = REPO / "target" / "console-screenshots"


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    started = start(idplane_binary(), tmp_path_factory.mktemp("idplane"), "dapi" + secrets.token_hex(32))
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def browser():
    chromium = os.environ.get("IDPLANE_CHROMIUM", "")
    if not chromium or not os.access(chromium, os.X_OK):
        pytest.skip("no Chromium: run through scripts/sdk-tests --suite console, which installs it (scripts/browser)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def context(browser, server):
    ctx = browser.new_context(base_url=server.origin, viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context):
    return context.new_page()


def sign_in(page, token: str, next_path: str = "/console") -> None:
    page.goto(next_path)
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


@pytest.fixture
def signed_in(page, server):
    sign_in(page, server.token)
    return page


def shot(page, name: str) -> Path:
    """Saves a full-page screenshot as target/console-screenshots/NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
