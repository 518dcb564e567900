"""Headless Debian Chromium for the browser tests (Playwright drives it; its own browser
download is not needed). Missing tools skip a test on a developer's machine and fail it in CI
(``CI`` set), where .ci/run installs them."""

from __future__ import annotations

import contextlib
import os
import shutil

import pytest


def need(what: str, ok: bool) -> None:
    if not ok:
        msg = f"{what} is missing (apt-get install chromium; pip install -e \".[dev]\")"
        pytest.fail(msg) if os.environ.get("CI") else pytest.skip(msg)


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 900):
    """A fresh page in headless Chromium."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    need("Debian's chromium", path is not None)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need("playwright", False)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()
